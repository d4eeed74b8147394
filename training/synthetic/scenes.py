"""Seeded synthetic referring scenes (images and short videos) behind the ``RefScene`` interface.

Determinism and split disjointness: scene ``i`` of split ``s`` with base seed ``seed`` is drawn
from ``np.random.SeedSequence([seed, SPLIT_CODES[s], kind, i])`` (kind 0 = image, 1 = video, 2 = motion video),
so the same arguments give identical pixels and expressions, and train/val/test scenes come from
different seeds: no test scene is a train scene. (Short expressions such as "the red circle"
naturally occur in every split; what differs is the scene they are grounded in.)

With ``no_target_rate`` > 0 a scene also holds no-target expressions (one extra object,
``no_target=True``, id ``absent``, empty mask; see :mod:`training.synthetic.absent`). They are
drawn from a child of the scene's seed, after the scene is complete, so the pixels and the
target expressions of a scene do not depend on the rate.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from training.data.types import ArrayScene, RefObject
from training.synthetic.absent import ABSENT_ID, absent_expressions
from training.synthetic.config import SPLIT_CODES, SyntheticConfig
from training.synthetic.expressions import describe
from training.synthetic.layout import ObjectTruth, build_truth, sample_attributes, sample_centers, visible_masks
from training.synthetic.randomize import scene_style
from training.synthetic.render import TexturePattern, render_background, texture_fill

logger = logging.getLogger(__name__)

MIN_SCENES_PER_WORKER = 64  # fewer scenes than this per process: starting one (~2 s: imports) costs more than it saves
PARENT_CHECK_S = 1.0  # how often a drawing process checks that the process that started it is still there


class SyntheticScene(ArrayScene):
    """An in-memory scene that also carries the truth of every object (for checks and demos)."""

    def __init__(self, scene_id: str, objects: Sequence[RefObject], frames: np.ndarray,
                 masks: dict[str, np.ndarray], truth: tuple[ObjectTruth, ...]) -> None:
        """Like :class:`ArrayScene`, plus ``truth`` (one record per real object, same order and ids;
        the no-target object, if any, comes last and has no record)."""
        super().__init__(scene_id, objects, frames, masks)
        self.truth = truth
        self.image_size = frames.shape[1:3]


def _composite(cfg: SyntheticConfig, background: np.ndarray, truth: tuple[ObjectTruth, ...],
               visible: np.ndarray, patterns: Sequence[TexturePattern]) -> np.ndarray:
    """Paint each object's texture (in its pattern) over its visible pixels: (T, H, W, 3) uint8."""
    frames = np.repeat(background[None], visible.shape[1], axis=0)  # (T, H, W, 3)
    for obj, masks, pattern in zip(truth, visible, patterns):
        for t, mask in enumerate(masks):
            fill = texture_fill(obj.texture, obj.colour, tuple(obj.centers[t]), obj.radius, obj.texture_angle,
                                cfg.height, cfg.width, pattern)
            frames[t][mask] = fill[mask]
    return np.round(frames).astype(np.uint8)


def generate_scene(cfg: SyntheticConfig, scene_id: str, num_frames: int,
                   seed: np.random.SeedSequence) -> SyntheticScene:
    """Draw layouts until every object is visible enough and has an unambiguous expression.

    Raises:
        RuntimeError: no valid layout within ``cfg.max_attempts``.
    """
    rng = np.random.default_rng(seed)
    cfg, style = scene_style(cfg, seed)  # domain randomization: this scene's size and scale, its effects
    background = style.background(render_background(cfg, rng))
    image_size = (cfg.height, cfg.width)
    poses = style.shape_stream()
    for _ in range(cfg.max_attempts):
        attributes = sample_attributes(cfg, rng, poses)
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
            absent = _no_target(cfg, truth, image_size, sum(len(e) for e in expressions), seed)
            if absent:
                objects.append(RefObject(ABSENT_ID, absent, no_target=True))
                masks[ABSENT_ID] = np.zeros_like(visible[0])
            patterns = style.texture_patterns(len(truth))
            frames = style.frames(_composite(cfg, background, truth, visible, patterns), truth, visible)
            return SyntheticScene(scene_id, objects, frames, masks, truth)
    raise RuntimeError(f"no valid layout for {scene_id} in {cfg.max_attempts} attempts; loosen the config")


def _no_target(cfg: SyntheticConfig, truth: tuple[ObjectTruth, ...], image_size: tuple[int, int],
               num_targets: int, seed: np.random.SeedSequence) -> tuple[str, ...]:
    """The scene's no-target expressions: Binomial(num_targets, no_target_rate) of them, own RNG stream."""
    if cfg.no_target_rate <= 0:
        return ()
    rng = np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 1)))
    return absent_expressions(truth, image_size, int(rng.binomial(num_targets, cfg.no_target_rate)), cfg, rng)


def _draw(job: tuple[SyntheticConfig, str, int, np.random.SeedSequence, int]) -> SyntheticScene:
    """One scene of a ``_make`` job: (cfg, scene id, frames, seed, kind); kind 2 = a motion video."""
    cfg, scene_id, num_frames, seed, kind = job
    if kind == 2:
        from training.synthetic.motion import generate_motion_scene

        return generate_motion_scene(cfg, scene_id, seed)
    return generate_scene(cfg, scene_id, num_frames, seed)


def _make(cfg: SyntheticConfig, split: str, count: int, seed: int, num_frames: int, kind: int,
          workers: int) -> list[SyntheticScene]:
    """Scenes 0..count-1 of a split and kind, drawn by ``workers`` processes (the same scenes for any number)."""
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLIT_CODES)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    prefix = ("synthetic", "synthetic-video", "synthetic-motion")[kind]
    jobs = [(cfg, f"{prefix}/{split}/{seed}/{i:06d}", num_frames,
             np.random.SeedSequence([seed, SPLIT_CODES[split], kind, i]), kind) for i in range(count)]
    workers = min(workers, max(1, count // MIN_SCENES_PER_WORKER))
    if workers == 1:
        scenes = [_draw(job) for job in jobs]
    else:  # spawn, not fork: the parent may hold torch's threads
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
            scenes = list(pool.map(_draw, jobs, chunksize=max(1, count // (4 * workers))))
    logger.info("%s %s: %d scenes, %d expressions (%d no-target)", prefix, split, len(scenes),
                sum(len(o.expressions) for s in scenes for o in s.objects),
                sum(len(o.expressions) for s in scenes for o in s.objects if o.no_target))
    return scenes


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: the drawing process exits as soon as ``parent`` is gone (a training run killed while it
    draws would otherwise leave its workers drawing, each holding gigabytes of scenes nobody will read)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def make_scenes(cfg: SyntheticConfig, split: str, count: int, seed: int = 0, workers: int = 1) -> list[SyntheticScene]:
    """``count`` single-image scenes of ``split`` ("train", "val" or "test"), drawn by ``workers`` processes."""
    return _make(cfg, split, count, seed, num_frames=1, kind=0, workers=workers)


def make_video_scenes(cfg: SyntheticConfig, split: str, count: int, seed: int = 0,
                      workers: int = 1) -> list[SyntheticScene]:
    """``count`` video scenes of ``cfg.num_frames`` frames; objects glide and bounce off the borders.

    Every expression holds on every frame (the checker runs per frame).
    """
    return _make(cfg, split, count, seed, num_frames=cfg.num_frames, kind=1, workers=workers)


def make_motion_scenes(cfg: SyntheticConfig, split: str, count: int, seed: int = 0,
                       workers: int = 1) -> list[SyntheticScene]:
    """``count`` motion videos of ``cfg.motion.num_frames`` frames (see :mod:`training.synthetic.motion`).

    Scene ``i`` is drawn from ``SeedSequence([seed, split code, 2, i])``: disjoint from image (kind 0)
    and gliding-video (kind 1) scenes.
    """
    return _make(cfg, split, count, seed, num_frames=cfg.motion.num_frames, kind=2, workers=workers)
