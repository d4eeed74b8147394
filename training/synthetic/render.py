"""Vectorised numpy rendering of shapes, textures and cluttered backgrounds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.synthetic.config import COLOURS, SyntheticConfig

RING_INNER = 0.55  # inner radius of a ring, fraction of its outer radius
STAR_INNER = 0.45  # inner vertex radius of a star


def _regular(radii: list[float], start_deg: float) -> np.ndarray:
    """Vertices (K, 2) (x, y; y down) at equal angle steps from ``start_deg``, radii cycling."""
    angles = np.deg2rad(start_deg + 360.0 * np.arange(len(radii)) / len(radii))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.asarray(radii)[:, None]


POLYGONS = {  # unit circumradius; all star-shaped around the origin
    "square": _regular([1.0] * 4, 45.0),
    "diamond": _regular([1.0] * 4, 0.0),
    "triangle": _regular([1.0] * 3, -90.0),  # apex up
    "star": _regular([1.0, STAR_INNER] * 5, -90.0),
}


def _polygon_area(vertices: np.ndarray) -> float:
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


AREA_FACTOR = {  # area of the shape at unit circumradius
    "circle": math.pi,
    "ring": math.pi * (1 - RING_INNER**2),
    **{name: _polygon_area(vertices) for name, vertices in POLYGONS.items()},
}


def _inside_polygon(u: np.ndarray, v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Points (u, v) inside a polygon that is star-shaped around the origin.

    The ray from the origin at the point's angle leaves the polygon through the edge between
    the two vertices whose angles bracket it; compare the point's radius with that exit distance.
    """
    vert_angles = np.arctan2(vertices[:, 1], vertices[:, 0])
    order = np.argsort(vert_angles)
    vertices, vert_angles = vertices[order], vert_angles[order]
    theta = np.arctan2(v, u)
    k = (np.searchsorted(vert_angles, theta, side="right") - 1) % len(vertices)  # edge start index
    a, b = vertices[k], vertices[(k + 1) % len(vertices)]  # (..., 2) edge endpoints
    edge = b - a
    cross_a_edge = a[..., 0] * edge[..., 1] - a[..., 1] * edge[..., 0]
    cross_dir_edge = np.cos(theta) * edge[..., 1] - np.sin(theta) * edge[..., 0]
    exit_radius = cross_a_edge / cross_dir_edge
    return np.hypot(u, v) <= exit_radius


def shape_mask(shape: str, center: tuple[float, float], radius: float, height: int, width: int,
               angle: float = 0.0, stretch: float = 1.0) -> np.ndarray:
    """Rasterise one shape (pixel centres inside it).

    Args:
        shape: a name of ``config.SHAPES``.
        center: (x, y) in pixels.
        radius: circumradius in pixels (of the un-stretched shape).
        angle: rotation about the centre, radians (clockwise on screen, y down).
        stretch: width factor; the height is divided by it, so the area (``AREA_FACTOR``) is kept.

    Returns:
        (H, W) bool.
    """
    cx, cy = center
    extent = radius * max(stretch, 1.0 / stretch)  # a rotation keeps the shape inside this circle
    x0, x1 = max(0, int(cx - extent) - 1), min(width, int(cx + extent) + 2)
    y0, y1 = max(0, int(cy - extent) - 1), min(height, int(cy + extent) + 2)
    mask = np.zeros((height, width), dtype=bool)
    if x0 >= x1 or y0 >= y1:
        return mask
    v, u = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    u, v = (u + 0.5 - cx) / radius, (v + 0.5 - cy) / radius  # unit local coordinates, pixel centres
    if angle != 0.0 or stretch != 1.0:  # back into the shape's own frame: un-rotate, then un-stretch
        cos, sin = math.cos(angle), math.sin(angle)
        u, v = (cos * u + sin * v) / stretch, (cos * v - sin * u) * stretch
    if shape == "circle":
        inside = u * u + v * v <= 1.0
    elif shape == "ring":
        rho2 = u * u + v * v
        inside = (rho2 <= 1.0) & (rho2 >= RING_INNER**2)
    else:
        inside = _inside_polygon(u, v, POLYGONS[shape])
    mask[y0:y1, x0:x1] = inside
    return mask


@dataclass(frozen=True)
class TexturePattern:
    """How a striped or dotted object's pattern is drawn; the defaults are the generator's own look."""

    period: float = 0.45  # stripe or dot spacing, fraction of the object's radius (never below MIN_PERIOD_PX)
    stripe_duty: float = 0.4  # fraction of each stripe period in the second colour
    dot_radius: float = 0.28  # dot radius, fraction of the period
    darken: float = 0.65  # light colours: the second colour is the base times (1 - darken)
    lighten: float = 0.6  # dark colours: the second colour is the base moved this far towards white


PLAIN_PATTERN = TexturePattern()
MIN_PERIOD_PX = 4.0  # a finer pattern only aliases


def secondary_colour(colour: str, pattern: TexturePattern = PLAIN_PATTERN) -> np.ndarray:
    """Contrasting shade of a colour for stripes and dots: darker for light colours, lighter for dark."""
    rgb = np.asarray(COLOURS[colour], dtype=np.float64)
    luminance = float(rgb @ np.array([0.299, 0.587, 0.114]))
    return rgb * (1 - pattern.darken) if luminance > 128 else rgb + (255 - rgb) * pattern.lighten


def texture_fill(texture: str, colour: str, center: tuple[float, float], radius: float, angle: float,
                 height: int, width: int, pattern: TexturePattern = PLAIN_PATTERN) -> np.ndarray:
    """Colour image of an object's texture in its own frame (it moves with the object).

    Returns:
        (H, W, 3) float64 RGB; only pixels under the object's mask are used.
    """
    base = np.asarray(COLOURS[colour], dtype=np.float64)
    fill = np.broadcast_to(base, (height, width, 3)).copy()
    if texture == "solid":
        return fill
    # Only the object's surroundings are textured (its mask lies inside them): cheap on large images.
    reach = 1.5 * radius + 2
    x0, x1 = max(0, int(center[0] - reach)), min(width, int(center[0] + reach) + 1)
    y0, y1 = max(0, int(center[1] - reach)), min(height, int(center[1] + reach) + 1)
    y, x = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    x, y = x + 0.5 - center[0], y + 0.5 - center[1]
    period = max(MIN_PERIOD_PX, radius * pattern.period)
    if texture == "striped":
        phase = (x * math.cos(angle) + y * math.sin(angle)) / period
        second = (phase - np.floor(phase)) < pattern.stripe_duty
    else:  # dotted
        px, py = (x / period) % 1.0 - 0.5, (y / period) % 1.0 - 0.5
        second = px * px + py * py < pattern.dot_radius**2
    fill[y0:y1, x0:x1][second] = secondary_colour(colour, pattern)
    return fill


def render_background(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Cluttered background: grey gradient + noise + faint random shapes (flat grey if not ``cfg.clutter``).

    Returns:
        (H, W, 3) float64 RGB in [0, 255].
    """
    height, width = cfg.height, cfg.width
    if not cfg.clutter:
        return np.full((height, width, 3), 128.0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (x / width - 0.5) * math.cos(direction) + (y / height - 0.5) * math.sin(direction)  # (H, W) in ~[-0.7, 0.7]
    grey = rng.uniform(95, 165) + rng.uniform(20, 45) * ramp
    tint = rng.uniform(-12, 12, size=3)
    image = grey[..., None] + tint + rng.normal(0, 6, size=(height, width, 3))
    side = min(height, width)
    for _ in range(int(rng.integers(3, 7))):  # faint clutter
        shape = str(rng.choice(list(AREA_FACTOR)))
        center = (rng.uniform(0, width), rng.uniform(0, height))
        mask = shape_mask(shape, center, rng.uniform(0.05, 0.25) * side, height, width)
        alpha = rng.uniform(0.08, 0.18)
        image[mask] = (1 - alpha) * image[mask] + alpha * rng.uniform(0, 255, size=3)
    return np.clip(image, 0, 255)
