"""No-target expressions: phrases of the synthetic grammar that name nothing in the scene.

Generalized referring segmentation (GRES, gRefCOCO) asks the model to say "not here". The
generator draws two kinds of candidates, in the same grammar as the target expressions:

- attribute: an object's description with one attribute (shape, colour, size or texture)
  changed, optionally with one more of its attributes kept, e.g. "the blue circle" when the
  only circle is red and nothing else is a blue circle; with ``absent_kept_prob`` its other
  attributes are said too, each with that chance ("the small blue striped circle" when the
  small striped circle is red), so that a phrase of several attributes is not always a target;
- place: a description of one object with a spatial phrase that contradicts where it is, e.g.
  "the red circle on the left" when the one red circle is on the right.

A candidate is kept only if the checker finds no referent on any frame and no borderline
reading (``referents`` returns the empty set, without ``UNSURE``), so "matches nothing" is
decided by the same code that makes the target expressions unambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.synthetic.config import SIZES, SyntheticConfig
from training.synthetic.language import SPATIAL, Description, Expression, referents
from training.synthetic.layout import ObjectTruth

ABSENT_ID = "absent"  # object id of a scene's no-target expressions (their mask is empty)


def _changed(obj: ObjectTruth, cfg: SyntheticConfig, rng: np.random.Generator) -> Description:
    """``obj``'s description with one attribute (or its shape) swapped for another value; with
    ``cfg.absent_kept_prob`` each of its other attributes is said too, as it is ("the small red striped
    circle" when the small red circle is dotted)."""
    attributes = {"size": obj.size, "colour": obj.colour, "texture": obj.texture}
    vocabularies = {"shape": cfg.shapes, "size": SIZES, "colour": cfg.colours, "texture": cfg.textures}
    swappable = [name for name, words in vocabularies.items() if len(words) > 1]  # all four in the default config
    swapped = swappable[rng.integers(len(swappable))]
    alternatives = [v for v in vocabularies[swapped] if v != getattr(obj, swapped)]
    value = alternatives[rng.integers(len(alternatives))]
    if swapped == "shape":  # "the square", or with one of the object's own attributes: "the red square"
        kept = tuple(attributes)[rng.integers(len(attributes))]
        said = {kept: attributes[kept]} if rng.random() < 0.7 else {}
        return Description(value, **said, **_also_said(attributes, said, cfg.absent_kept_prob, rng))
    said = {swapped: value}
    return Description(obj.shape if rng.random() < 0.7 else "shape", **said,
                       **_also_said(attributes, said, cfg.absent_kept_prob, rng))


def _also_said(attributes: dict[str, str], said: dict[str, str], chance: float,
               rng: np.random.Generator) -> dict[str, str]:
    """Each of ``attributes`` not in ``said``, with ``chance`` (no draw at all when it is 0: scenes unchanged)."""
    if chance <= 0:
        return {}
    return {name: value for name, value in attributes.items() if name not in said and rng.random() < chance}


def _misplaced(obj: ObjectTruth, rng: np.random.Generator) -> Expression:
    """``obj`` by shape (and maybe colour) with a random spatial phrase (the checker rejects true ones)."""
    head = Description(obj.shape, colour=obj.colour if rng.random() < 0.6 else None)
    return Expression(head, spatial=tuple(SPATIAL)[rng.integers(len(SPATIAL))])


def absent_expressions(objects: Sequence[ObjectTruth], image_size: tuple[int, int], count: int,
                       cfg: SyntheticConfig, rng: np.random.Generator,
                       tries_per_expression: int = 20) -> tuple[str, ...]:
    """Up to ``count`` distinct expressions that pick nothing on any frame of the scene.

    Args:
        objects: the scene's truth records.
        image_size: (H, W).
        count: how many to draw; fewer come back if the tries run out.
        cfg: the generator's vocabulary (shapes, colours, textures).
        rng: drives every choice (a stream of its own, so target expressions are unchanged).
        tries_per_expression: candidates tried per expression wanted.
    """
    num_frames = len(objects[0].centers)
    chosen: list[str] = []
    for _ in range(count * tries_per_expression):
        if len(chosen) == count:
            break
        obj = objects[rng.integers(len(objects))]
        place = rng.random() < 0.4
        expression = _misplaced(obj, rng) if place else Expression(_changed(obj, cfg, rng))
        text = expression.text()
        if text in chosen:
            continue
        if all(referents(expression, objects, image_size, t) == frozenset() for t in range(num_frames)):
            chosen.append(text)
    return tuple(chosen)

