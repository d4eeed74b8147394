"""Reader of Ref-DAVIS17 as converted by ReferFormer to the Ref-YouTube-VOS layout.

ReferFormer's converter stores, for each object in turn, four expressions with consecutive ids:
annotator 1 first-frame, annotator 1 full-video, annotator 2 first-frame, annotator 2 full-video
(so ``int(exp_id) % 4`` is the annotation kind). Evaluation protocols report J&F per kind and
average; ``annotation`` selects one kind. Annotations are DAVIS palette PNGs for every frame.
"""

from __future__ import annotations

from pathlib import Path

from training.data.types import RefScene
from training.data.ytvos import load_meta_expressions

DAVIS_SPLITS = ("train", "valid")
DAVIS_ANNOTATIONS = ("annot1_first_frame", "annot1_full_video", "annot2_first_frame", "annot2_full_video")


def load_davis(root: Path, split: str = "valid", annotation: str | None = None) -> list[RefScene]:
    """Read one split of Ref-DAVIS17.

    Args:
        root: folder holding ``meta_expressions/``, ``train/``, ``valid/``.
        split: "train" or "valid".
        annotation: one of ``DAVIS_ANNOTATIONS`` to keep only that kind of expression;
            ``None`` keeps all four per object.

    Raises:
        ValueError: unknown split or annotation kind.
    """
    if annotation is None:
        return load_meta_expressions(root, split, DAVIS_SPLITS, "ref-davis")
    if annotation not in DAVIS_ANNOTATIONS:
        raise ValueError(f"unknown Ref-DAVIS17 annotation {annotation!r}; expected one of {DAVIS_ANNOTATIONS}")
    kind = DAVIS_ANNOTATIONS.index(annotation)
    return load_meta_expressions(root, split, DAVIS_SPLITS, "ref-davis",
                                 keep=lambda vid, exp_id, exp: int(exp_id) % 4 == kind)
