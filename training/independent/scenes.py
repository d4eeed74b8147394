"""Seeded evaluation scenes of the independent renderer: images with present and absent objects.

Scene ``i`` of split ``s`` comes from ``SeedSequence([ROOT_SEED, SPLIT_CODES[s], kind, i])``
(kind 0 = image, 1 = video): the same arguments give the same pixels and phrases, and the val
and test splits never share a scene. There is no train split: this renderer is for evaluation
only. Phrases naming nothing are the scene's last object, id ``absent``, with an empty mask
(the repository's no-target convention).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from training.data.types import ArrayScene, RefObject
from training.independent.draw import SHADES, Look, background, paint_object
from training.independent.grammar import PLACES, RELATION_WORDS, SUPERLATIVE_WORDS, Noun, Phrase, Thing, pick, things_of
from training.synthetic.config import SHAPES, SIZES, TEXTURES

logger = logging.getLogger(__name__)

ROOT_SEED = 290029  # never a seed of the synthetic generator's splits (those are small integers)
SPLIT_CODES = {"val": 1, "test": 2}
SPLIT_SCENES = {"val": 150, "test": 150}  # scenes per split for `vatex eval --dataset independent`
IMAGE_SIZES = ((320, 240), (400, 300), (256, 256), (480, 360), (240, 320), (512, 288), (640, 480), (300, 200))  # (W, H)
SIZE_RANGE = {"small": (0.045, 0.075), "big": (0.12, 0.18)}  # half extent, fraction of the short side
ABSENT_ID = "absent"
TARGET_PHRASES = 4  # at most, per object
ABSENT_PHRASES = (2, 4)  # per scene, inclusive range (fewer when not enough are clearly false)
ABSENT_CHANGES = ("shape", "colour", "size", "texture", "place")  # what an absent phrase changed of a present object


@dataclass(frozen=True)
class Drawn:
    """An object to draw: attributes, look and place."""

    shape: str
    colour: str
    size: str
    texture: str
    look: Look
    extent: float  # half extent, pixels
    x: float
    y: float


class IndependentScene(ArrayScene):
    """An in-memory scene that also keeps what the checker saw (for tests and cross-checks)."""

    def __init__(self, scene_id: str, objects: list[RefObject], frames: np.ndarray, masks: dict[str, np.ndarray],
                 things: list[list[Thing]], absent_changes: dict[str, str] | None = None) -> None:
        """Like :class:`ArrayScene`, plus ``things``: the objects' attributes and geometry per frame, and
        ``absent_changes``: for each phrase naming nothing, what of a present object it changed (``ABSENT_CHANGES``)."""
        super().__init__(scene_id, objects, frames, masks)
        self.things = things
        self.absent_changes = absent_changes or {}


def scene_seed(split: str, kind: int, index: int) -> np.random.SeedSequence:
    """The seed of scene ``index`` of a split (kind 0 = image, 1 = video)."""
    if split not in SPLIT_CODES:
        raise ValueError(f"the independent renderer has splits {tuple(SPLIT_CODES)} (evaluation only), not {split!r}")
    return np.random.SeedSequence([ROOT_SEED, SPLIT_CODES[split], kind, index])


def random_look(rng: np.random.Generator, colour: str) -> Look:
    """A random look for an object of that colour name."""
    shades = SHADES[colour]
    return Look(rgb=shades[int(rng.integers(len(shades)))], angle=float(rng.uniform(-8, 8)),
                stripe_angle=float(rng.uniform(0, 180)), period=float(rng.uniform(0.45, 0.7)),
                shading=float(rng.uniform(0, 0.15)), outline=bool(rng.random() < 0.3), shadow=bool(rng.random() < 0.5))


def sample_attributes(rng: np.random.Generator, count: int) -> list[tuple[str, str, str, str]]:
    """(shape, colour, size, texture) per object; look-alikes (same shape and colour) on purpose."""
    chosen: list[tuple[str, str, str, str]] = []
    colours = tuple(SHADES)
    for k in range(count):
        if k > 0 and rng.random() < 0.4:
            shape, colour = chosen[int(rng.integers(k))][:2]
        else:
            shape, colour = str(rng.choice(SHAPES)), str(rng.choice(colours))
        chosen.append((shape, colour, str(rng.choice(SIZES)), str(rng.choice(TEXTURES, p=[0.5, 0.25, 0.25]))))
    return chosen


def place_objects(rng: np.random.Generator, attributes: list[tuple[str, str, str, str]], width: int,
                  height: int, tries: int = 200) -> list[tuple[float, float, float]] | None:
    """(x, y, extent) per object, inside the image and apart from each other (no occlusion), or None."""
    side = min(width, height)
    placed: list[tuple[float, float, float]] = []
    for _, _, size, _ in attributes:
        extent = rng.uniform(*SIZE_RANGE[size]) * side
        reach = extent * 1.25 + 2
        for _ in range(tries):
            x, y = rng.uniform(reach, width - reach), rng.uniform(reach, height - reach)
            if all(math.hypot(x - px, y - py) > (reach + pe * 1.25 + 2 + 0.03 * side) for px, py, pe in placed):
                placed.append((x, y, extent))
                break
        else:
            return None
    return placed


def nouns(thing: Thing, most: int) -> list[Noun]:
    """Nouns naming ``thing`` with up to ``most`` attributes (by shape, or "shape" with attributes)."""
    slots = {"size": thing.size, "colour": thing.colour, "texture": thing.texture}
    result = []
    for count in range(most + 1):
        for names in combinations(slots, count):
            chosen = {name: slots[name] for name in names}
            result.append(Noun(thing.shape, **chosen))
            if chosen:
                result.append(Noun("shape", **chosen))
    return result


def target_phrases(target: Thing, things: list[Thing], image_size: tuple[int, int],
                   rng: np.random.Generator) -> list[str]:
    """Up to ``TARGET_PHRASES`` phrases picking exactly ``target``, of mixed kinds."""
    short = nouns(target, 1)
    kinds = [[Phrase(n) for n in nouns(target, 2)],
             [Phrase(n, superlative=s) for n in short for s in SUPERLATIVE_WORDS],
             [Phrase(n, place=p) for n in short for p in PLACES]]
    relations = []
    for other in things:
        if other is target:
            continue
        unique = [n for n in nouns(other, 2) if [t for t in things if n.fits(t)] == [other]]
        if unique:
            relations += [Phrase(n, relation=r, landmark=unique[0]) for n in short for r in RELATION_WORDS]
    kinds.append(relations)
    chosen: list[str] = []
    for k in rng.permutation(len(kinds)):
        for i in rng.permutation(len(kinds[k])):
            if pick(kinds[k][i], things, image_size) == {target.object_id}:
                chosen.append(kinds[k][i].text())
                break  # one per kind, so an object's phrases mix kinds
    return chosen[:TARGET_PHRASES]


def absent_phrases(things: list[Thing], image_size: tuple[int, int], count: int, rng: np.random.Generator,
                   tries: int = 60) -> dict[str, str]:
    """Phrases naming nothing: a present object with one attribute changed, or misplaced.

    Returns:
        each phrase (in the order drawn) -> what it changed: "place" or the attribute (``ABSENT_CHANGES``).
    """
    vocabulary = {"shape": SHAPES, "colour": tuple(SHADES), "size": SIZES, "texture": TEXTURES}
    chosen: dict[str, str] = {}
    for _ in range(tries):
        if len(chosen) == count:
            break
        thing = things[int(rng.integers(len(things)))]
        if rng.random() < 0.3:  # "the red circle on the left" when the one red circle is on the right
            phrase = Phrase(Noun(thing.shape, colour=thing.colour if rng.random() < 0.7 else None),
                            place=str(rng.choice(list(PLACES))))
            changed = "place"
        else:  # "the green star" when the star is red and nothing else is a green star
            changed = str(rng.choice(list(vocabulary)))
            value = str(rng.choice([v for v in vocabulary[changed] if v != getattr(thing, changed)]))
            slots = {"shape": thing.shape, "colour": thing.colour, "size": thing.size, "texture": thing.texture}
            slots[changed] = value
            kept = [n for n in ("colour", "size", "texture") if n != changed and rng.random() < 0.35]
            noun = slots["shape"] if changed == "shape" or rng.random() < 0.8 else "shape"
            words = {n: slots[n] for n in ("colour", "size", "texture") if n == changed or n in kept}
            phrase = Phrase(Noun(noun, **words))
        text = phrase.text()
        if text not in chosen and pick(phrase, things, image_size) == set():
            chosen[text] = changed
    return chosen


def generate_image_scene(scene_id: str, seed: np.random.SeedSequence, max_attempts: int = 50) -> IndependentScene:
    """One image scene with its target and no-target phrases.

    Raises:
        RuntimeError: no layout gave every object a phrase within ``max_attempts``.
    """
    rng = np.random.default_rng(seed)
    width, height = IMAGE_SIZES[int(rng.integers(len(IMAGE_SIZES)))]
    for _ in range(max_attempts):
        count = int(rng.integers(1, 7))
        attributes = sample_attributes(rng, count)
        places = place_objects(rng, attributes, width, height)
        if places is None:
            continue
        image = background(rng, height, width)
        masks = np.stack([paint_object(image, shape, texture, random_look(rng, colour), (x, y), extent)
                          for (shape, colour, _, texture), (x, y, extent) in zip(attributes, places)])  # (N, H, W)
        if not masks.any(axis=(1, 2)).all():
            continue
        ids = [str(n + 1) for n in range(count)]
        things = things_of(ids, attributes, masks)
        phrases = [target_phrases(t, things, (height, width), rng) for t in things]
        if not all(phrases):
            continue
        objects = [RefObject(i, tuple(p)) for i, p in zip(ids, phrases)]
        mask_of = {i: m[None] for i, m in zip(ids, masks)}
        absent_count = int(rng.integers(ABSENT_PHRASES[0], ABSENT_PHRASES[1] + 1))
        absent = absent_phrases(things, (height, width), absent_count, rng)
        if absent:
            objects.append(RefObject(ABSENT_ID, tuple(absent), no_target=True))
            mask_of[ABSENT_ID] = np.zeros((1, height, width), dtype=bool)
        frames = np.clip(np.round(image), 0, 255).astype(np.uint8)[None]  # (1, H, W, 3)
        return IndependentScene(scene_id, objects, frames, mask_of, [things], absent)
    raise RuntimeError(f"no valid layout for {scene_id} in {max_attempts} attempts")


def make_independent_scenes(split: str, count: int | None = None) -> list[IndependentScene]:
    """The first ``count`` image scenes of a split (default ``SPLIT_SCENES[split]``).

    Args:
        split: "val" or "test".
        count: number of scenes; scene ``i`` does not depend on ``count``.
    """
    scene_seed(split, 0, 0)  # an unknown split is an error, even for no scenes
    count = SPLIT_SCENES[split] if count is None else count
    scenes = [generate_image_scene(f"independent/{split}/{i:06d}", scene_seed(split, 0, i)) for i in range(count)]
    logger.info("independent %s: %d scenes, %d expressions (%d no-target)", split, len(scenes),
                sum(len(o.expressions) for s in scenes for o in s.objects),
                sum(len(o.expressions) for s in scenes for o in s.objects if o.no_target))
    return scenes
