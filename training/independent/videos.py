"""Short videos of the independent renderer, named by motion only (issue 28's cross-renderer check).

Scene ``i`` of split ``s`` comes from ``scenes.scene_seed(s, 1, i)`` (kind 1 = video): the same
arguments give the same pixels and phrases. Each video has ``FRAMES`` frames over one static
background; every object is still or moves at a constant velocity, mostly along an axis, and:

- look-alikes (same shape and colour) are common and then move differently, so only motion tells
  them apart ("the red circle moving left" beside a still red circle);
- with ``EXIT_PROB`` one moving object enters or leaves the view (its mask is empty there);
- with ``CARD_PROB`` a static card stands in front of everything and objects pass behind it;
- objects never overlap each other, so every visible pixel has one owner.

Phrases are the five motion forms of ``training.independent.motion``, made only when its checker
says they pick exactly their object (or, for no-target phrases, nothing). Masks are the pixels an
object covers at least half of, minus the card; every object's masks are stored, also on frames
where it is out of view or hidden (empty there).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from training.data.types import ArrayScene, RefObject
from training.independent.draw import background, paint_object
from training.independent.grammar import Noun
from training.independent.motion import MOTION_WORDS, SPEED_WORDS, MotionPhrase, Mover, pick_motion
from training.independent.scenes import ABSENT_ID, SIZE_RANGE, nouns, random_look, sample_attributes, scene_seed
from training.synthetic.config import SHAPES

logger = logging.getLogger(__name__)

SPLIT_VIDEOS = {"val": 40, "test": 40}  # videos per split for `vatex eval --dataset independent_motion`
FRAMES = (10, 12)  # frames per video, inclusive range
VIDEO_SIZES = ((320, 240), (256, 256), (400, 300), (240, 320), (384, 216))  # (W, H)
SPEED_RANGE = (0.015, 0.045)  # moving objects, fraction of the short side per frame
STILL_PROB = 0.35
EXIT_PROB = 0.4
CARD_PROB = 0.4
PHRASES = 3  # target phrases per object, at most
ABSENT_PHRASES = (1, 3)  # no-target phrases per video, inclusive range
CARD_RGB = ((150, 128, 104), (120, 124, 130), (170, 160, 140))  # muted: no colour word names them


class IndependentVideo(ArrayScene):
    """An in-memory video that also keeps its objects' attributes and velocities."""

    def __init__(self, scene_id: str, objects: list[RefObject], frames: np.ndarray, masks: dict[str, np.ndarray],
                 movers: list[Mover], card: np.ndarray | None) -> None:
        """Like :class:`ArrayScene`, plus ``movers`` (one per real object) and ``card`` ((H, W) bool or None)."""
        super().__init__(scene_id, objects, frames, masks)
        self.movers = movers
        self.card = card


def _velocity(rng: np.random.Generator, side: float, avoid: tuple[float, float] | None) -> tuple[float, float]:
    """A still or axis-bound velocity (pixels per frame); a look-alike's differs from ``avoid``."""
    for _ in range(20):
        if rng.random() < STILL_PROB:
            velocity = (0.0, 0.0)
        else:
            heading = math.radians(90 * int(rng.integers(4)) + rng.uniform(-8, 8))
            speed = rng.uniform(*SPEED_RANGE) * side
            velocity = (speed * math.cos(heading), speed * math.sin(heading))
        if avoid is None or _differs(velocity, avoid, side):
            return velocity
    return (0.0, 0.0) if avoid != (0.0, 0.0) else (SPEED_RANGE[1] * side, 0.0)


def _differs(a: tuple[float, float], b: tuple[float, float], side: float) -> bool:
    """Clearly different motions: one still and one moving, or headings 60+ degrees apart."""
    moving_a, moving_b = math.hypot(*a) > 0, math.hypot(*b) > 0
    if moving_a != moving_b:
        return True
    if not moving_a:
        return False
    cos = (a[0] * b[0] + a[1] * b[1]) / (math.hypot(*a) * math.hypot(*b))
    return cos < 0.5


def _paths(rng: np.random.Generator, extents: list[float], velocities: list[tuple[float, float]], exiting: int,
           frames: int, width: int, height: int) -> np.ndarray | None:
    """(N, T, 2) centres: in view throughout (the exiting object: in view >= 3 frames, out >= 2), or None."""
    steps = np.arange(frames, dtype=np.float64)[:, None]  # (T, 1)
    paths = []
    for n, (extent, velocity) in enumerate(zip(extents, velocities)):
        reach = extent * 1.25 + 1  # shadows and anti-aliasing included
        low, high = np.array([reach, reach]), np.array([width - reach, height - reach])
        for _ in range(60):
            if n == exiting:  # start anywhere in a box twice the view's size
                start = rng.uniform(low - (high - low) / 2, high + (high - low) / 2)
            else:
                start = rng.uniform(low, high)
            path = start + steps * np.asarray(velocity)  # (T, 2)
            inside = np.all((path >= low) & (path <= high), axis=1)
            outside = np.any((path < -reach) | (path > np.array([width, height]) + reach), axis=1)
            if (inside.sum() >= 3 and outside.sum() >= 2) if n == exiting else inside.all():
                paths.append(path)
                break
        else:
            return None
    return np.stack(paths)


def _apart(paths: np.ndarray, extents: list[float], side: float) -> bool:
    """No two objects come near each other on any frame (so no object hides another)."""
    for a in range(len(paths)):
        for b in range(a + 1, len(paths)):
            gap = np.hypot(*(paths[a] - paths[b]).T) - 1.3 * (extents[a] + extents[b])  # (T,)
            if gap.min() < 0.02 * side:
                return False
    return True


def _card(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A static card in front of everything: its (H, W) bool mask and (H, W, 3) float32 colour."""
    vertical = rng.random() < 0.5
    length, span = (width, height) if vertical else (height, width)
    thick = rng.uniform(0.14, 0.24) * length
    start = rng.uniform(0.2 * length, 0.8 * length - thick)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    along = x if vertical else y
    mask = (along >= start) & (along < start + thick)
    base = np.asarray(CARD_RGB[int(rng.integers(len(CARD_RGB)))], dtype=np.float32)
    grain = 1.0 + 0.06 * np.sin((y if vertical else x) / rng.uniform(3, 7) + rng.uniform(0, 6))
    return mask, base * grain[..., None]


def _phrases(target: Mover, movers: list[Mover], side: float, rng: np.random.Generator) -> list[str]:
    """Up to ``PHRASES`` phrases picking exactly ``target``, short descriptions first (motion must tell)."""
    thing_nouns = nouns(target, 2)  # duck-typed: Mover has the attributes nouns() reads
    chosen: list[str] = []
    for most in (1, 2):
        short = [n for n in thing_nouns if sum(w is not None for w in (n.size, n.colour, n.texture)) <= most]
        candidates = [MotionPhrase(n, motion=m) for n in short for m in MOTION_WORDS]
        candidates += [MotionPhrase(n, speed=s) for n in short for s in SPEED_WORDS]
        for index in rng.permutation(len(candidates)):
            text = candidates[index].text()
            if len(chosen) < PHRASES and text not in chosen and pick_motion(candidates[index], movers, side) == {
                    target.object_id}:
                chosen.append(text)
        if chosen:
            break
    return chosen


def _absent(movers: list[Mover], side: float, count: int, rng: np.random.Generator) -> list[str]:
    """Motion phrases naming nothing: a present object's description with a motion none of them has,
    or a description nothing fits."""
    chosen: list[str] = []
    for _ in range(40 * count):
        if len(chosen) == count:
            break
        mover = movers[int(rng.integers(len(movers)))]
        if rng.random() < 0.7:
            noun = Noun(mover.shape, colour=mover.colour if rng.random() < 0.8 else None)
        else:  # another shape in the object's colour
            noun = Noun(str(rng.choice([s for s in SHAPES if s != mover.shape])), colour=mover.colour)
        phrase = MotionPhrase(noun, motion=str(rng.choice(list(MOTION_WORDS))))
        text = phrase.text()
        if text not in chosen and pick_motion(phrase, movers, side) == set():
            chosen.append(text)
    return chosen


def generate_video(scene_id: str, seed: np.random.SeedSequence, max_attempts: int = 80) -> IndependentVideo:
    """One video with its motion phrases (module docstring).

    Raises:
        RuntimeError: no layout gave every object a phrase within ``max_attempts``.
    """
    rng = np.random.default_rng(seed)
    width, height = VIDEO_SIZES[int(rng.integers(len(VIDEO_SIZES)))]
    frames = int(rng.integers(FRAMES[0], FRAMES[1] + 1))
    side = float(min(width, height))
    for _ in range(max_attempts):
        count = int(rng.integers(2, 6))
        attributes = sample_attributes(rng, count)
        velocities: list[tuple[float, float]] = []
        for k, (shape, colour, _, _) in enumerate(attributes):
            twin = next((velocities[j] for j in range(k) if attributes[j][:2] == (shape, colour)), None)
            velocities.append(_velocity(rng, side, twin))
        moving = [n for n, v in enumerate(velocities) if v != (0.0, 0.0)]
        exiting = int(rng.choice(moving)) if moving and rng.random() < EXIT_PROB else -1
        extents = [float(rng.uniform(*SIZE_RANGE[size]) * side) for _, _, size, _ in attributes]
        paths = _paths(rng, extents, velocities, exiting, frames, width, height)
        if paths is None or not _apart(paths, extents, side):
            continue
        ids = [str(n + 1) for n in range(count)]
        movers = [Mover(i, *a, vx=v[0], vy=v[1]) for i, a, v in zip(ids, attributes, velocities)]
        phrases = [_phrases(m, movers, side, rng) for m in movers]
        if not all(phrases):
            continue
        card = _card(rng, width, height) if rng.random() < CARD_PROB else None
        looks = [random_look(rng, colour) for _, colour, _, _ in attributes]
        video, masks, areas = _render(rng, attributes, looks, extents, paths, card, width, height)
        seen = masks.sum(axis=(2, 3)) >= 0.6 * areas[:, None]  # (N, T) most of the object in view and not hidden
        if seen.sum(axis=1).min() < 3:  # every object well seen on 3 frames or more
            continue
        objects = [RefObject(i, tuple(p)) for i, p in zip(ids, phrases)]
        mask_of = {i: m for i, m in zip(ids, masks)}
        absent = _absent(movers, side, int(rng.integers(ABSENT_PHRASES[0], ABSENT_PHRASES[1] + 1)), rng)
        if absent:
            objects.append(RefObject(ABSENT_ID, tuple(absent), no_target=True))
            mask_of[ABSENT_ID] = np.zeros((frames, height, width), dtype=bool)
        return IndependentVideo(scene_id, objects, video, mask_of, movers, None if card is None else card[0])
    raise RuntimeError(f"no valid video layout for {scene_id} in {max_attempts} attempts")


def _render(rng: np.random.Generator, attributes: list[tuple[str, str, str, str]], looks: list, extents: list[float],
            paths: np.ndarray, card: tuple[np.ndarray, np.ndarray] | None, width: int,
            height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8, visible masks (N, T, H, W) bool and each object's whole area (N,) in pixels."""
    still = background(rng, height, width)
    num_frames = paths.shape[1]
    video = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((len(attributes), num_frames, height, width), dtype=bool)
    areas = np.zeros(len(attributes))
    for t in range(num_frames):
        image = still + rng.normal(0, 1.5, size=still.shape).astype(np.float32)  # fresh sensor noise
        for n, ((shape, _, _, texture), look, extent) in enumerate(zip(attributes, looks, extents)):
            x, y = paths[n, t]
            if x + extent < 0 or y + extent < 0 or x - extent > width or y - extent > height:
                continue  # (nearly) wholly out of view: not drawn (draw.coverage needs its box to start inside)
            masks[n, t] = paint_object(image, shape, texture, look, (float(x), float(y)), extent)
            areas[n] = max(areas[n], float(masks[n, t].sum()))  # before the card: in view on some frames
        if card is not None:
            image[card[0]] = card[1][card[0]]
            masks[:, t] &= ~card[0]
        video[t] = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return video, masks, areas


def make_independent_videos(split: str, count: int | None = None) -> list[IndependentVideo]:
    """The first ``count`` videos of a split (default ``SPLIT_VIDEOS[split]``);
    video ``i`` does not depend on ``count``.

    Args:
        split: "val" or "test".
        count: number of videos.
    """
    scene_seed(split, 1, 0)  # an unknown split is an error, even for no videos
    count = SPLIT_VIDEOS[split] if count is None else count
    videos = [generate_video(f"independent-motion/{split}/{i:06d}", scene_seed(split, 1, i)) for i in range(count)]
    logger.info("independent-motion %s: %d videos, %d expressions (%d no-target)", split, len(videos),
                sum(len(o.expressions) for v in videos for o in v.objects),
                sum(len(o.expressions) for v in videos for o in v.objects if o.no_target))
    return videos
