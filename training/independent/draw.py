"""Drawing of the independent renderer: anti-aliased PIL shapes with shading, shadows and outlines,
over flat, gradient, paper-like or photographic backgrounds.

Nothing here comes from ``training.synthetic``: shapes have their own proportions (a square's
half side is its size, a diamond is taller than wide, the star is fatter), colours their own
shades, textures their own periods, and objects are drawn at 4x and box-filtered down. An
object's mask is the set of pixels it covers at least half of.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SUPERSAMPLE = 4  # objects are drawn at this many times the resolution, then averaged down
SHADES = {  # several shades per colour name, none of them the training generator's
    "red": ((205, 35, 40), (225, 50, 45), (180, 25, 35)),
    "green": ((45, 150, 65), (35, 175, 85), (85, 165, 45)),
    "blue": ((35, 85, 205), (45, 115, 225), (25, 55, 170)),
    "yellow": ((245, 210, 45), (250, 230, 80), (232, 200, 25)),
    "purple": ((125, 55, 175), (150, 65, 195), (100, 40, 150)),
    "orange": ((240, 125, 30), (250, 150, 45), (225, 105, 20)),
    "white": ((246, 246, 246), (236, 236, 232), (252, 252, 252)),
    "black": ((22, 22, 22), (38, 38, 44), (10, 10, 10)),
}
PHOTOS = ("stereo_motorcycle", "hubble_deep_field", "immunohistochemistry", "moon")  # none used in training


@dataclass(frozen=True)
class Look:
    """How one object is drawn (its attributes aside)."""

    rgb: tuple[int, int, int]  # base colour (a shade of its colour name)
    angle: float  # rotation, degrees (small: a rotated square must stay a square)
    stripe_angle: float  # degrees
    period: float  # texture period, fraction of the object's size
    shading: float  # brightness change across the object, +- this
    outline: bool
    shadow: bool


def _outline_points(shape: str, size: float) -> list[list[tuple[float, float]]]:
    """Polygons (x, y around the origin, y down) of a shape whose size (half extent) is ``size``."""
    if shape == "square":
        return [[(-size, -size), (size, -size), (size, size), (-size, size)]]
    if shape == "diamond":
        return [[(0, -size), (0.72 * size, 0), (0, size), (-0.72 * size, 0)]]
    if shape == "triangle":  # equilateral, apex up, centred on its bounding box
        half = size * 1.1
        return [[(0, -size), (half, size * 0.9), (-half, size * 0.9)]]
    if shape == "star":
        points = []
        for k in range(10):
            radius = size * (1.08 if k % 2 == 0 else 0.52)
            theta = -math.pi / 2 + k * math.pi / 5
            points.append((radius * math.cos(theta), radius * math.sin(theta)))
        return [points]
    raise ValueError(f"no polygon for {shape!r}")


def _rotate(points: list[tuple[float, float]], degrees: float) -> list[tuple[float, float]]:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return [(c * x - s * y, s * x + c * y) for x, y in points]


def coverage(shape: str, center: tuple[float, float], size: float, angle: float, height: int,
             width: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Fraction of each pixel covered by the shape, on the shape's bounding box.

    Args:
        shape: a shape name; center: (x, y) pixels; size: half extent in pixels; angle: degrees.

    Returns:
        (h, w) float32 coverage in [0, 1] and the (y0, x0) of that box in the image (clipped).
    """
    reach = int(math.ceil(size * 1.2)) + 2
    x0, y0 = int(center[0]) - reach, int(center[1]) - reach
    box = 2 * reach + 1
    canvas = Image.new("L", (box * SUPERSAMPLE, box * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(canvas)
    ox, oy = (center[0] - x0) * SUPERSAMPLE, (center[1] - y0) * SUPERSAMPLE  # centre on the canvas
    big = size * SUPERSAMPLE
    if shape in ("circle", "ring"):
        draw.ellipse((ox - big, oy - big, ox + big, oy + big), fill=255)
        if shape == "ring":
            inner = 0.6 * big
            draw.ellipse((ox - inner, oy - inner, ox + inner, oy + inner), fill=0)
    else:
        for polygon in _outline_points(shape, big):
            draw.polygon([(ox + x, oy + y) for x, y in _rotate(polygon, angle)], fill=255)
    alpha = np.asarray(canvas, dtype=np.float32).reshape(box, SUPERSAMPLE, box, SUPERSAMPLE).mean(axis=(1, 3)) / 255
    ys, xs = slice(max(0, -y0), min(box, height - y0)), slice(max(0, -x0), min(box, width - x0))
    return alpha[ys, xs], (max(0, y0), max(0, x0))


def object_colour(texture: str, look: Look, center: tuple[float, float], size: float, y0: int, x0: int,
                  shape_hw: tuple[int, int]) -> np.ndarray:
    """The object's colour on its box: base shade, texture and shading.

    Returns:
        (h, w, 3) float32 RGB.
    """
    h, w = shape_hw
    y, x = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    x, y = (x + 0.5 - center[0]) / size, (y + 0.5 - center[1]) / size  # in object sizes
    base = np.asarray(look.rgb, dtype=np.float32)
    light = float(base @ np.array([0.3, 0.59, 0.11])) > 140
    second = base * 0.55 if light else base + (255 - base) * 0.5  # stripes and dots: same hue, other value
    colour = np.broadcast_to(base, (h, w, 3)).copy()
    if texture == "striped":
        t = math.radians(look.stripe_angle)
        phase = (x * math.cos(t) + y * math.sin(t)) / look.period
        colour[(phase - np.floor(phase)) < 0.5] = second
    elif texture == "dotted":
        px, py = (x / look.period) % 1.0 - 0.5, (y / look.period) % 1.0 - 0.5
        colour[px * px + py * py < 0.3**2] = second
    return colour * (1.0 + look.shading * np.clip(-(x + y) / 2, -1, 1))[..., None]  # lit from the top left


def paint_object(image: np.ndarray, shape: str, texture: str, look: Look, center: tuple[float, float],
                 size: float) -> np.ndarray:
    """Paint one object (shadow, body, outline) into ``image`` in place.

    Args:
        image: (H, W, 3) float32 RGB.

    Returns:
        (H, W) bool: the object's mask (pixels at least half covered).
    """
    height, width = image.shape[:2]
    if look.shadow:
        offset = max(1.5, 0.12 * size)
        alpha, (y0, x0) = coverage(shape, (center[0] + offset, center[1] + offset), size, look.angle, height, width)
        soft = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(offset / 2)),
                          dtype=np.float32) / 255
        patch = image[y0 : y0 + soft.shape[0], x0 : x0 + soft.shape[1]]
        patch *= 1.0 - 0.4 * soft[..., None]
    alpha, (y0, x0) = coverage(shape, center, size, look.angle, height, width)
    colour = object_colour(texture, look, center, size, y0, x0, alpha.shape)
    if look.outline:
        eroded = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.MinFilter(3)),
                            dtype=np.float32) / 255
        edge = np.clip(alpha - eroded, 0, 1)[..., None]
        colour = colour * (1 - edge) + colour * 0.4 * edge
    patch = image[y0 : y0 + alpha.shape[0], x0 : x0 + alpha.shape[1]]
    patch[:] = patch * (1 - alpha[..., None]) + colour * alpha[..., None]
    mask = np.zeros((height, width), dtype=bool)
    mask[y0 : y0 + alpha.shape[0], x0 : x0 + alpha.shape[1]] = alpha >= 0.5
    return mask


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    image = np.asarray(image[0] if isinstance(image, tuple) else image)  # the stereo pair's left view
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One of: flat, linear gradient, radial gradient, paper-like noise, a blurred photograph.

    Returns:
        (H, W, 3) float32 RGB in [0, 255].
    """
    kind = rng.choice(["flat", "linear", "radial", "paper", "photo"], p=[0.25, 0.2, 0.15, 0.15, 0.25])
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)

    def muted() -> np.ndarray:  # a low-saturation colour: never one of the vocabulary's
        grey = rng.uniform(40, 215)
        return np.clip(grey + rng.uniform(-22, 22, size=3), 0, 255).astype(np.float32)

    if kind == "flat":
        return np.broadcast_to(muted(), (height, width, 3)).copy()
    if kind == "linear":
        t = math.radians(rng.uniform(0, 360))
        ramp = np.clip((x / width - 0.5) * math.cos(t) + (y / height - 0.5) * math.sin(t) + 0.5, 0, 1)[..., None]
        return muted() * (1 - ramp) + muted() * ramp
    if kind == "radial":
        r = np.hypot(x / width - rng.uniform(0.3, 0.7), y / height - rng.uniform(0.3, 0.7))
        ramp = np.clip(r / 0.75, 0, 1)[..., None]
        return muted() * (1 - ramp) + muted() * ramp
    if kind == "paper":
        coarse = rng.normal(0, 1, size=(max(2, height // 24), max(2, width // 24))).astype(np.float32)
        grain = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC))
        return np.clip(muted() + rng.uniform(6, 16) * grain[..., None], 0, 255)
    photo = _photo(str(rng.choice(PHOTOS)))
    rows, cols = photo.shape[:2]
    crop_w = min(cols, rows * width / height) * rng.uniform(0.4, 1.0)
    crop_h = crop_w * height / width
    left, top = rng.uniform(0, cols - crop_w), rng.uniform(0, rows - crop_h)
    crop = Image.fromarray(photo).resize((width, height), Image.BICUBIC, box=(left, top, left + crop_w, top + crop_h))
    crop = crop.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 2.0)))
    image = np.asarray(crop, dtype=np.float32)
    mean = image.mean(axis=(0, 1))
    return mean + rng.uniform(0.5, 0.9) * (image - mean)
