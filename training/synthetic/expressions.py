"""Generation of unambiguous referring expressions for the objects of a synthetic scene.

Candidates of four kinds are built from each target's own attributes and geometry
(attributes, superlatives, spatial words, relations to a uniquely described landmark); the
checker of :mod:`training.synthetic.language` keeps only those picking exactly the target on
every frame. Kinds are visited round-robin so an object's expressions mix kinds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations

import numpy as np

from training.synthetic.language import RELATIONS, SPATIAL, SUPERLATIVES, Description, Expression, picks_exactly
from training.synthetic.layout import ObjectTruth


def descriptions(obj: ObjectTruth, max_attributes: int) -> list[Description]:
    """Descriptions of ``obj`` with up to ``max_attributes`` attributes, by its shape or as "shape"."""
    attributes = {"size": obj.size, "colour": obj.colour, "texture": obj.texture}
    result = []
    for count in range(max_attributes + 1):
        for chosen in combinations(attributes, count):
            slots = {name: attributes[name] for name in chosen}
            result.append(Description(obj.shape, **slots))
            if slots:  # "the shape" alone says nothing
                result.append(Description("shape", **slots))
    return result


def _unique_description(obj: ObjectTruth, objects: Sequence[ObjectTruth]) -> Description | None:
    """Shortest description matching ``obj`` only (the landmark of a relation), or None."""
    for description in descriptions(obj, 3):
        if [o for o in objects if description.matches(o)] == [obj]:
            return description
    return None


def _candidates(target: ObjectTruth, objects: Sequence[ObjectTruth],
                rng: np.random.Generator) -> list[list[Expression]]:
    """Candidate expressions for ``target``, one shuffled list per kind."""
    short = descriptions(target, 1)
    kinds = [
        [Expression(d) for d in descriptions(target, 2)],
        [Expression(d, superlative=s) for d in short for s in SUPERLATIVES],
        [Expression(d, spatial=s) for d in short for s in SPATIAL],
    ]
    relations = []
    for other in objects:
        landmark = None if other is target else _unique_description(other, objects)
        if landmark is not None:
            relations += [Expression(d, relation=r, landmark=landmark) for d in short for r in RELATIONS]
    kinds.append(relations)
    return [[kind[i] for i in rng.permutation(len(kind))] for kind in kinds]


def _valid(kind: list[Expression], target: ObjectTruth, objects: Sequence[ObjectTruth],
           image_size: tuple[int, int]) -> Iterator[str]:
    """Lazily yield the texts of the expressions of one kind that pick exactly ``target``."""
    for expression in kind:
        if picks_exactly(expression, objects, image_size, target.object_id):
            yield expression.text()


def describe(target: ObjectTruth, objects: Sequence[ObjectTruth], image_size: tuple[int, int],
             max_expressions: int, rng: np.random.Generator) -> tuple[str, ...]:
    """Up to ``max_expressions`` distinct unambiguous expressions for ``target`` (maybe none).

    Args:
        target: the object to describe.
        objects: all objects of the scene (including ``target``).
        image_size: (H, W).
        max_expressions: cap on the number returned.
        rng: drives the choice among valid candidates.
    """
    streams = [_valid(kind, target, objects, image_size) for kind in _candidates(target, objects, rng)]
    streams = [streams[i] for i in rng.permutation(len(streams))]
    chosen: list[str] = []
    while streams and len(chosen) < max_expressions:
        for stream in list(streams):
            text = next(stream, None)
            if text is None:
                streams.remove(stream)
            elif text not in chosen and len(chosen) < max_expressions:
                chosen.append(text)
    return tuple(chosen)
