"""Sampling of object attributes, positions and trajectories, and the per-object truth records."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.synthetic.config import RandomizeConfig, SyntheticConfig
from training.synthetic.render import AREA_FACTOR, shape_mask


@dataclass(frozen=True, eq=False)
class ObjectTruth:
    """Everything known about one synthetic object (attributes and per-frame geometry)."""

    object_id: str  # "1", "2", ... in depth order (later objects are in front)
    shape: str
    colour: str
    size: str  # "small" or "big"
    texture: str
    radius: float  # circumradius in pixels
    texture_angle: float  # stripe direction, radians
    area: float  # un-occluded area in pixels (analytic), used by "biggest"/"smallest"
    centers: np.ndarray  # (T, 2) float (x, y) shape centre per frame, used by spatial language
    centroids: np.ndarray  # (T, 2) float (x, y) centroid of the visible mask per frame
    bboxes: np.ndarray  # (T, 4) int (x0, y0, x1, y1) of the visible mask, exclusive end
    visible_fraction: np.ndarray  # (T,) float visible area / full area


@dataclass(frozen=True)
class _Attributes:
    shape: str
    colour: str
    size: str
    texture: str
    radius: float
    texture_angle: float
    angle: float = 0.0  # rotation of the shape, radians (domain randomization only; else 0)
    stretch: float = 1.0  # width factor of the shape, area kept (domain randomization only; else 1)


POINTED = ("triangle", "star")  # shapes with an apex up: they may rotate further than squares


def _pose(cfg: RandomizeConfig, shape: str, rng: np.random.Generator) -> tuple[float, float]:
    """One object's (angle radians, stretch); three draws every time, the identity when its coin fails."""
    limit = cfg.pointed_rotation_deg if shape in POINTED else cfg.rotation_deg
    angle = math.radians(rng.uniform(-limit, limit))
    stretch = math.exp(rng.uniform(math.log(cfg.stretch[0]), math.log(cfg.stretch[1])))
    return (angle, stretch) if rng.random() < cfg.shape_prob else (0.0, 1.0)


def sample_attributes(cfg: SyntheticConfig, rng: np.random.Generator,
                      poses: np.random.Generator | None = None) -> list[_Attributes]:
    """Draw 2..N objects; with ``cfg.repeat_prob`` one copies an earlier object's shape and colour.

    ``poses`` (``SceneStyle.shape_stream``, own stream; None = upright, unstretched shapes) draws
    each object's rotation and stretch; ``rng`` makes the same draws either way.
    """
    side = min(cfg.height, cfg.width)
    objects: list[_Attributes] = []
    for k in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1))):
        if k > 0 and rng.random() < cfg.repeat_prob:
            source = objects[int(rng.integers(k))]
            shape, colour = source.shape, source.colour
        else:
            shape, colour = str(rng.choice(cfg.shapes)), str(rng.choice(cfg.colours))
        size = "big" if rng.random() < 0.5 else "small"
        radius = rng.uniform(*(cfg.big_radius if size == "big" else cfg.small_radius)) * side
        angle, stretch = (0.0, 1.0) if poses is None else _pose(cfg.randomize, shape, poses)
        objects.append(_Attributes(shape, colour, size, str(rng.choice(cfg.textures)), float(radius),
                                   float(rng.uniform(0, np.pi)), angle, stretch))
    return objects


def _reflect(position: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Fold positions into [low, high] as a ball bouncing off the walls (triangle wave)."""
    span = high - low
    phase = np.mod(position - low, 2 * span)
    return low + span - np.abs(phase - span)


def sample_centers(cfg: SyntheticConfig, objects: list[_Attributes], num_frames: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Centres per object and frame: uniform start inside the image, constant velocity, bouncing.

    Returns:
        (N, T, 2) float (x, y); shapes stay fully inside the image.
    """
    side = min(cfg.height, cfg.width)
    t = np.arange(num_frames, dtype=np.float64)[:, None]  # (T, 1)
    centers = []
    for obj in objects:
        low = np.array([obj.radius, obj.radius])
        high = np.array([cfg.width - obj.radius, cfg.height - obj.radius])
        start = rng.uniform(low, high)
        heading = rng.uniform(0, 2 * np.pi)
        speed = cfg.motion_speed * side * rng.uniform(0.5, 1.0)
        velocity = speed * np.array([np.cos(heading), np.sin(heading)])
        centers.append(_reflect(start + t * velocity, low, high))  # (T, 2)
    return np.stack(centers)


def visible_masks(cfg: SyntheticConfig, objects: list[_Attributes],
                  centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full and visible masks; objects later in the list are drawn in front.

    Returns:
        full (N, T, H, W) bool and visible (N, T, H, W) bool.
    """
    num_frames = centers.shape[1]
    full = np.stack([np.stack([shape_mask(obj.shape, tuple(centers[n, t]), obj.radius, cfg.height, cfg.width,
                                          obj.angle, obj.stretch)
                               for t in range(num_frames)]) for n, obj in enumerate(objects)])
    covered = np.zeros(full.shape[1:], dtype=bool)  # (T, H, W) union of masks in front
    visible = np.zeros_like(full)
    for n in range(len(objects) - 1, -1, -1):
        visible[n] = full[n] & ~covered
        covered |= full[n]
    return full, visible


def build_truth(objects: list[_Attributes], centers: np.ndarray, full: np.ndarray,
                visible: np.ndarray) -> tuple[ObjectTruth, ...]:
    """Per-object truth records from attributes and rendered masks (an empty mask: NaN centroid, empty box)."""
    records = []
    for n, obj in enumerate(objects):
        centroids, bboxes = [], []
        for mask in visible[n]:
            ys, xs = np.nonzero(mask)
            if xs.size == 0:  # hidden or out of view on this frame (motion videos)
                centroids.append((np.nan, np.nan))
                bboxes.append((0, 0, 0, 0))
                continue
            centroids.append((xs.mean() + 0.5, ys.mean() + 0.5))
            bboxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        fraction = visible[n].sum(axis=(1, 2)) / np.maximum(full[n].sum(axis=(1, 2)), 1)
        records.append(ObjectTruth(
            object_id=str(n + 1), shape=obj.shape, colour=obj.colour, size=obj.size, texture=obj.texture,
            radius=obj.radius, texture_angle=obj.texture_angle, area=AREA_FACTOR[obj.shape] * obj.radius**2,
            centers=centers[n].copy(), centroids=np.asarray(centroids), bboxes=np.asarray(bboxes, dtype=np.int64),
            visible_fraction=fraction))
    return tuple(records)
