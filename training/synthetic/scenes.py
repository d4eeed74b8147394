"""Seeded synthetic referring scenes (images and short videos) behind the ``RefScene`` interface.

Determinism and split disjointness: scene ``i`` of split ``s`` with base seed ``seed`` is drawn
from ``np.random.SeedSequence([seed, SPLIT_CODES[s], kind, i])`` (kind 0 = image, 1 = video),
so the same arguments give identical pixels and expressions, and train/val/test scenes come from
different seeds: no test scene is a train scene. (Short expressions such as "the red circle"
naturally occur in every split; what differs is the scene they are grounded in.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from training.data.types import ArrayScene, RefObject
from training.synthetic.config import SPLIT_CODES, SyntheticConfig
from training.synthetic.expressions import describe
from training.synthetic.layout import ObjectTruth, build_truth, sample_attributes, sample_centers, visible_masks
from training.synthetic.render import render_background, texture_fill

logger = logging.getLogger(__name__)


class SyntheticScene(ArrayScene):
    """An in-memory scene that also carries the truth of every object (for checks and demos)."""

    def __init__(self, scene_id: str, objects: Sequence[RefObject], frames: np.ndarray,
                 masks: dict[str, np.ndarray], truth: tuple[ObjectTruth, ...]) -> None:
        """Like :class:`ArrayScene`, plus ``truth`` (one record per object, same order and ids)."""
        super().__init__(scene_id, objects, frames, masks)
        self.truth = truth
        self.image_size = frames.shape[1:3]


def _composite(cfg: SyntheticConfig, background: np.ndarray, truth: tuple[ObjectTruth, ...],
               visible: np.ndarray) -> np.ndarray:
    """Paint each object's texture over its visible pixels: (T, H, W, 3) uint8."""
    frames = np.repeat(background[None], visible.shape[1], axis=0)  # (T, H, W, 3)
    for obj, masks in zip(truth, visible):
        for t, mask in enumerate(masks):
            fill = texture_fill(obj.texture, obj.colour, tuple(obj.centers[t]), obj.radius, obj.texture_angle,
                                cfg.height, cfg.width)
            frames[t][mask] = fill[mask]
    return np.round(frames).astype(np.uint8)


def generate_scene(cfg: SyntheticConfig, scene_id: str, num_frames: int,
                   seed: np.random.SeedSequence) -> SyntheticScene:
    """Draw layouts until every object is visible enough and has an unambiguous expression.

    Raises:
        RuntimeError: no valid layout within ``cfg.max_attempts``.
    """
    rng = np.random.default_rng(seed)
    background = render_background(cfg, rng)
    image_size = (cfg.height, cfg.width)
    for _ in range(cfg.max_attempts):
        attributes = sample_attributes(cfg, rng)
        centers = sample_centers(cfg, attributes, num_frames, rng)
        full, visible = visible_masks(cfg, attributes, centers)
        fractions = visible.sum(axis=(2, 3)) / np.maximum(full.sum(axis=(2, 3)), 1)  # (N, T)
        if fractions.min() < 1 - cfg.max_occlusion:
            continue
        truth = build_truth(attributes, centers, full, visible)
        expressions = [describe(obj, truth, image_size, cfg.max_expressions, rng) for obj in truth]
        if all(expressions):
            objects = [RefObject(obj.object_id, exps) for obj, exps in zip(truth, expressions)]
            masks = {obj.object_id: visible[n] for n, obj in enumerate(truth)}
            return SyntheticScene(scene_id, objects, _composite(cfg, background, truth, visible), masks, truth)
    raise RuntimeError(f"no valid layout for {scene_id} in {cfg.max_attempts} attempts; loosen the config")


def _make(cfg: SyntheticConfig, split: str, count: int, seed: int, num_frames: int, kind: int) -> list[SyntheticScene]:
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLIT_CODES)}")
    prefix = "synthetic" if kind == 0 else "synthetic-video"
    scenes = [generate_scene(cfg, f"{prefix}/{split}/{seed}/{i:06d}", num_frames,
                             np.random.SeedSequence([seed, SPLIT_CODES[split], kind, i])) for i in range(count)]
    logger.info("%s %s: %d scenes, %d expressions", prefix, split, len(scenes),
                sum(len(o.expressions) for s in scenes for o in s.objects))
    return scenes


def make_scenes(cfg: SyntheticConfig, split: str, count: int, seed: int = 0) -> list[SyntheticScene]:
    """``count`` single-image scenes of ``split`` ("train", "val" or "test")."""
    return _make(cfg, split, count, seed, num_frames=1, kind=0)


def make_video_scenes(cfg: SyntheticConfig, split: str, count: int, seed: int = 0) -> list[SyntheticScene]:
    """``count`` video scenes of ``cfg.num_frames`` frames; objects glide and bounce off the borders.

    Every expression holds on every frame (the checker runs per frame).
    """
    return _make(cfg, split, count, seed, num_frames=cfg.num_frames, kind=1)
