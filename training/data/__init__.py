"""Referring-segmentation datasets: readers of the real on-disk formats, MCC triplets, transforms.

Every reader returns ``list[RefScene]`` (see :mod:`training.data.types`), so the training loop
serves RefCOCO/+/g, gRefCOCO, Ref-YouTube-VOS, Ref-DAVIS17 and the synthetic generator alike.
"""

from training.data.davis import load_davis
from training.data.grefcoco import load_grefcoco
from training.data.refer import load_refer
from training.data.transforms import AugmentConfig, ReferTransform
from training.data.triplets import EvalDataset, TripletDataset, collate_triplets
from training.data.types import ArrayScene, RefObject, RefScene
from training.data.ytvos import load_ytvos

__all__ = [
    "ArrayScene",
    "AugmentConfig",
    "EvalDataset",
    "RefObject",
    "RefScene",
    "ReferTransform",
    "TripletDataset",
    "collate_triplets",
    "load_davis",
    "load_grefcoco",
    "load_refer",
    "load_ytvos",
]
