"""Synthetic videos where time matters: motion expressions among look-alikes, occlusion, exits, shake.

A motion scene is a short video (``MotionConfig.num_frames``) in which each object is either still or
moves at a constant velocity (no bounces, so its motion is the same on every stretch of the clip):
- look-alikes: with ``lookalike_prob`` an object copies another's shape and colour, so only its
  motion (or its place) tells them apart: "the red circle moving left" beside one moving right;
- exits and entries: with ``exit_prob`` one moving object's path starts or ends outside the view,
  so the named object is absent for a while (its mask is empty there; found must follow it);
- occlusion: with ``occluder_prob`` a static band (not an object of the vocabulary) stands in front
  of everything; objects passing behind it vanish and reappear;
- camera shake: with ``shake_prob`` every frame is shifted by up to ``shake`` of the short side (the
  scene does not move: motion words are read in scene coordinates);
- domain randomization (``SyntheticConfig.randomize``) as for image scenes, before the shake.

Expressions: motion kinds ("the red circle moving left", "the blue square that is not moving",
"the fastest green star") checked by :mod:`training.synthetic.language` like every other kind, mixed
with the image kinds of :mod:`training.synthetic.expressions`; no-target expressions include motion
phrases that no object fulfils ("the red circle moving up" when both red circles move sideways).
Randomness is drawn from the scene's seed, as for image and video scenes (kind 2).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from training.data.types import RefObject
from training.synthetic.absent import ABSENT_ID, absent_expressions
from training.synthetic.config import MotionConfig, SyntheticConfig
from training.synthetic.expressions import describe, descriptions
from training.synthetic.language import MOTIONS, SPEEDS, Description, Expression, picks_exactly, referents
from training.synthetic.layout import ObjectTruth, build_truth, sample_attributes, visible_masks
from training.synthetic.randomize import scene_style
from training.synthetic.render import TexturePattern, render_background, texture_fill

OCCLUDER_RGB = (118, 96, 74)  # a brown no colour word names


def _velocities(cfg: SyntheticConfig, count: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 2) per-frame displacement: still objects, and moving ones mostly along an axis."""
    motion, side = cfg.motion, min(cfg.height, cfg.width)
    velocities = np.zeros((count, 2))
    for n in range(count):
        if rng.random() < motion.still_prob:
            continue
        if rng.random() < motion.axis_prob:
            heading = rng.integers(4) * math.pi / 2 + rng.normal(0, math.radians(12))
        else:
            heading = rng.uniform(0, 2 * math.pi)
        speed = rng.uniform(*motion.speed) * side
        velocities[n] = speed * np.array([math.cos(heading), math.sin(heading)])
    return velocities


def _path(cfg: SyntheticConfig, radius: float, velocity: np.ndarray, exits: bool,
          rng: np.random.Generator) -> np.ndarray | None:
    """(T, 2) centres at constant velocity: inside the view throughout, or (``exits``) out of it for a while."""
    steps = np.arange(cfg.motion.num_frames, dtype=np.float64)[:, None] - (cfg.motion.num_frames - 1) / 2
    low, high = np.array([radius, radius]), np.array([cfg.width - radius, cfg.height - radius])
    for _ in range(30):
        if exits:  # centre of the clip anywhere in a wider box: some frames leave the view
            middle = rng.uniform(low - 0.5 * (high - low), high + 0.5 * (high - low))
        else:
            middle = rng.uniform(low, high)
        centers = middle + steps * velocity
        inside = np.all((centers >= low) & (centers <= high), axis=1)  # (T,) fully in view
        outside = np.any((centers < -radius) | (centers > np.array([cfg.width, cfg.height]) + radius), axis=1)
        if not exits and inside.all():
            return centers
        if exits and inside.sum() >= 3 and outside.sum() >= 2:
            return centers
    return None


def _occluder(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool: a vertical or horizontal band across the view."""
    side = min(cfg.height, cfg.width)
    thickness = rng.uniform(0.15, 0.3) * side
    mask = np.zeros((cfg.height, cfg.width), dtype=bool)
    if rng.random() < 0.5:
        start = rng.uniform(0.15 * cfg.width, 0.85 * cfg.width - thickness)
        mask[:, int(start):int(start + thickness)] = True
    else:
        start = rng.uniform(0.15 * cfg.height, 0.85 * cfg.height - thickness)
        mask[int(start):int(start + thickness)] = True
    return mask


def _shift(frame: np.ndarray, dx: int, dy: int, fill_edge: bool) -> np.ndarray:
    """``frame`` (H, W[, 3]) moved by (dx, dy) pixels; edges repeated (image) or empty (mask)."""
    height, width = frame.shape[:2]
    pad = ((abs(dy), abs(dy)), (abs(dx), abs(dx))) + ((0, 0),) * (frame.ndim - 2)
    padded = np.pad(frame, pad, mode="edge" if fill_edge else "constant")
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[top : top + height, left : left + width]


def _motion_expressions(target: ObjectTruth, objects: Sequence[ObjectTruth], image_size: tuple[int, int],
                        limit: int, rng: np.random.Generator) -> list[str]:
    """Up to ``limit`` motion expressions that pick exactly ``target``."""
    candidates = [Expression(d, motion=m) for d in descriptions(target, 1) for m in MOTIONS]
    candidates += [Expression(d, superlative=s) for d in descriptions(target, 1) for s in SPEEDS]
    chosen: list[str] = []
    for index in rng.permutation(len(candidates)):
        if len(chosen) == limit:
            break
        if picks_exactly(candidates[index], objects, image_size, target.object_id):
            chosen.append(candidates[index].text())
    return chosen


def _still_expressions(target: ObjectTruth, objects: Sequence[ObjectTruth], image_size: tuple[int, int],
                       limit: int, exits: bool, rng: np.random.Generator) -> list[str]:
    """Image kinds of expressions; attributes only when an object leaves the view (places outside it mislead)."""
    if not exits:
        return list(describe(target, objects, image_size, limit, rng))
    candidates = descriptions(target, 2)
    chosen: list[str] = []
    for index in rng.permutation(len(candidates)):
        expression = Expression(candidates[index])
        if len(chosen) < limit and picks_exactly(expression, objects, image_size, target.object_id):
            chosen.append(expression.text())
    return chosen


def _absent_motion(objects: Sequence[ObjectTruth], image_size: tuple[int, int], count: int,
                   rng: np.random.Generator) -> list[str]:
    """Up to ``count`` motion phrases about the scene's objects that no object fulfils."""
    chosen: list[str] = []
    for _ in range(count * 20):
        if len(chosen) == count:
            break
        obj = objects[rng.integers(len(objects))]
        head = Description(obj.shape, colour=obj.colour if rng.random() < 0.8 else None)
        expression = Expression(head, motion=tuple(MOTIONS)[rng.integers(len(MOTIONS))])
        text = expression.text()
        if text not in chosen and referents(expression, objects, image_size) == frozenset():
            chosen.append(text)
    return chosen


def _layout(cfg: SyntheticConfig, rng: np.random.Generator, poses: np.random.Generator | None = None):
    """Attributes, centres (N, T, 2) and visible masks (N, T, H, W) of a valid layout, or None.

    ``poses``: the scene's shape rotation/stretch stream (``SceneStyle.shape_stream``), if any.
    """
    attributes = sample_attributes(dataclasses.replace(cfg, repeat_prob=cfg.motion.lookalike_prob), rng, poses)
    velocities = _velocities(cfg, len(attributes), rng)
    moving = [n for n in range(len(attributes)) if velocities[n].any()]
    exiting = int(rng.choice(moving)) if moving and rng.random() < cfg.motion.exit_prob else -1
    centers = []
    for n, obj in enumerate(attributes):
        path = _path(cfg, obj.radius, velocities[n], n == exiting, rng)
        if path is None:
            return None
        centers.append(path)
    centers = np.stack(centers)  # (N, T, 2)
    full, visible = visible_masks(cfg, attributes, centers)
    in_view = full.sum(axis=(2, 3))  # (N, T) pixels inside the image
    whole = in_view.max(axis=1, keepdims=True)
    shown = in_view > 0.5 * whole  # frames where most of the object is in view
    fractions = visible.sum(axis=(2, 3)) / np.maximum(in_view, 1)
    if np.any(shown & (fractions < 1 - cfg.max_occlusion)):  # objects hide each other too much
        return None
    return attributes, centers, full, visible, exiting >= 0


def generate_motion_scene(cfg: SyntheticConfig, scene_id: str, seed: np.random.SeedSequence):
    """One motion video; raises RuntimeError if no valid layout comes within ``cfg.max_attempts``."""
    from training.synthetic.scenes import SyntheticScene

    rng = np.random.default_rng(seed)
    cfg, style = scene_style(cfg, seed)  # domain randomization: this scene's size and scale, its effects
    motion: MotionConfig = cfg.motion
    background = style.background(render_background(cfg, rng))
    image_size = (cfg.height, cfg.width)
    poses = style.shape_stream()
    for _ in range(cfg.max_attempts):
        layout = _layout(cfg, rng, poses)
        if layout is None:
            continue
        attributes, centers, full, visible, exits = layout
        occluder = _occluder(cfg, rng) if rng.random() < motion.occluder_prob else None
        if occluder is not None:
            visible = visible & ~occluder
        if not visible.any(axis=(2, 3)).any(axis=1).all():  # every object seen at least once
            continue
        truth = build_truth(attributes, centers, full, visible)
        expressions = []
        for obj in truth:
            moving = _motion_expressions(obj, truth, image_size, motion.motion_expressions, rng)
            still = _still_expressions(obj, truth, image_size, cfg.max_expressions - len(moving), exits, rng)
            expressions.append(tuple(dict.fromkeys([*moving, *still])))
        if not all(expressions):
            continue
        objects = [RefObject(obj.object_id, exps) for obj, exps in zip(truth, expressions)]
        masks = {obj.object_id: visible[n] for n, obj in enumerate(truth)}
        absent = _no_target(cfg, truth, sum(len(e) for e in expressions), seed)
        if absent:
            objects.append(RefObject(ABSENT_ID, absent, no_target=True))
            masks[ABSENT_ID] = np.zeros_like(visible[0])
        patterns = style.texture_patterns(len(truth))
        frames = style.frames(_composite(cfg, background, truth, visible, patterns, occluder, rng), truth, visible)
        frames, masks = _shake(cfg, frames, masks, rng)
        return SyntheticScene(scene_id, objects, frames, masks, truth)
    raise RuntimeError(f"no valid motion layout for {scene_id} in {cfg.max_attempts} attempts; loosen the config")


def _no_target(cfg: SyntheticConfig, truth: tuple[ObjectTruth, ...], num_targets: int,
               seed: np.random.SeedSequence) -> tuple[str, ...]:
    """Binomial(num_targets, no_target_rate) no-target expressions, about half of them motion phrases."""
    if cfg.no_target_rate <= 0:
        return ()
    rng = np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 1)))
    count = int(rng.binomial(num_targets, cfg.no_target_rate))
    image_size = (cfg.height, cfg.width)
    moving = _absent_motion(truth, image_size, (count + 1) // 2, rng)
    still = absent_expressions(truth, image_size, count - len(moving), cfg, rng)
    return tuple(dict.fromkeys([*moving, *still]))


def _composite(cfg: SyntheticConfig, background: np.ndarray, truth: tuple[ObjectTruth, ...], visible: np.ndarray,
               patterns: Sequence[TexturePattern], occluder: np.ndarray | None,
               rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) uint8: background, objects' textures (in their patterns), then the occluding band in front."""
    frames = np.repeat(background[None], visible.shape[1], axis=0)  # (T, H, W, 3)
    for obj, masks, pattern in zip(truth, visible, patterns):
        for t, mask in enumerate(masks):
            if mask.any():
                fill = texture_fill(obj.texture, obj.colour, tuple(obj.centers[t]), obj.radius, obj.texture_angle,
                                    cfg.height, cfg.width, pattern)
                frames[t][mask] = fill[mask]
    if occluder is not None:
        band = np.asarray(OCCLUDER_RGB, dtype=np.float64) + rng.normal(0, 5, size=(int(occluder.sum()), 3))
        frames[:, occluder] = band
    return np.round(np.clip(frames, 0, 255)).astype(np.uint8)


def _shake(cfg: SyntheticConfig, frames: np.ndarray, masks: dict[str, np.ndarray],
           rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frames and masks moved together by a random integer offset per frame (camera shake), or unchanged."""
    if rng.random() >= cfg.motion.shake_prob:
        return frames, masks
    amplitude = cfg.motion.shake * min(cfg.height, cfg.width)
    offsets = np.round(rng.uniform(-amplitude, amplitude, size=(len(frames), 2))).astype(int)
    shaken = np.stack([_shift(frame, dx, dy, True) for frame, (dx, dy) in zip(frames, offsets)])
    moved = {key: np.stack([_shift(m, dx, dy, False) for m, (dx, dy) in zip(mask, offsets)])
             for key, mask in masks.items()}
    return shaken, moved
