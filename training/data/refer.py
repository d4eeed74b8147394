"""Reader of RefCOCO, RefCOCO+ and RefCOCOg in the REFER layout (refs pickle + COCO instances).

Layout::

    root/<dataset>/refs(<split_by>).p     pickled list of refs (trusted files only: it is a pickle)
    root/<dataset>/instances.json         COCO: images, annotations (polygon or RLE), categories
    root/images/train2014/COCO_train2014_%012d.jpg

A scene is one COCO image; its objects are the annotations referred to in the split, with
``object_id = str(ann_id)`` and every sentence of every ref of that annotation.
"""

from __future__ import annotations

import json
import logging
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from training.data.types import RefObject, RefScene

logger = logging.getLogger(__name__)

# dataset -> split_by values the REFER release ships for it
SPLITS_BY = {"refcoco": ("unc", "google"), "refcoco+": ("unc",), "refcocog": ("umd", "google")}
# split_by -> splits of that partition
SPLITS = {"unc": ("train", "val", "testA", "testB"), "umd": ("train", "val", "test"), "google": ("train", "val")}


def decode_segmentation(segmentation: list | dict, height: int, width: int) -> np.ndarray:
    """Decode a COCO segmentation (polygons, uncompressed or compressed RLE).

    Returns:
        (H, W) bool.
    """
    if isinstance(segmentation, list):  # polygons: [[x0, y0, x1, y1, ...], ...]
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:  # compressed RLE (counts str or bytes)
        rle = segmentation
    with warnings.catch_warnings():  # pycocotools 2.0.11 calls __array__ without numpy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


class ReferScene(RefScene):
    """One COCO image with the annotations referred to in a split."""

    def __init__(self, scene_id: str, image_path: Path, image_size: tuple[int, int],
                 objects: Sequence[RefObject], segmentations: dict[str, list | dict]) -> None:
        """Store what is needed to load pixels lazily; ``image_size`` is (H, W)."""
        self.scene_id = scene_id
        self.objects = tuple(objects)
        self.num_frames = 1
        self.image_path = image_path
        self.image_size = image_size
        self._segmentations = segmentations

    def load_frames(self, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """Return (T, H, W, 3) uint8 RGB (the image repeated for each requested index)."""
        indices = self._frame_list(frame_indices)
        if not self.image_path.is_file():
            raise FileNotFoundError(f"image of scene {self.scene_id!r} not found: {self.image_path}")
        with Image.open(self.image_path) as image:
            rgb = np.asarray(image.convert("RGB"))
        return np.repeat(rgb[None], len(indices), axis=0)

    def load_mask(self, object_id: str, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """Return (T, H, W) bool decoded from the COCO annotation ``object_id``."""
        self.get_object(object_id)
        indices = self._frame_list(frame_indices)
        mask = decode_segmentation(self._segmentations[object_id], *self.image_size)
        return np.repeat(mask[None], len(indices), axis=0)


def _check_args(dataset: str, split: str, split_by: str) -> None:
    if dataset not in SPLITS_BY:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(SPLITS_BY)}")
    if split_by not in SPLITS_BY[dataset]:
        raise ValueError(f"{dataset} has no {split_by!r} partition; expected one of {SPLITS_BY[dataset]}")
    if split not in SPLITS[split_by]:
        raise ValueError(f"unknown split {split!r} for {dataset}({split_by}); expected one of {SPLITS[split_by]}")


def _read(path: Path, what: str):
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    with open(path, "rb") as f:
        if path.suffix == ".p":
            return pickle.load(f, encoding="latin1")  # the REFER pickles were written by Python 2
        return json.load(f)


def load_refer(root: Path, dataset: str, split: str, split_by: str | None = None,
               images_dir: Path | None = None) -> list[RefScene]:
    """Read one split of RefCOCO / RefCOCO+ / RefCOCOg.

    Args:
        root: the REFER data folder (holding ``<dataset>/`` and ``images/``).
        dataset: "refcoco", "refcoco+" or "refcocog".
        split: "train"/"val"/"testA"/"testB" (unc), "train"/"val"/"test" (umd), "train"/"val" (google).
        split_by: partition; default "umd" for refcocog, "unc" otherwise.
        images_dir: folder of the COCO images; default ``root/images/train2014``.

    Returns:
        One scene per image, in order of first appearance in the refs file.

    Raises:
        ValueError: unknown dataset, partition or split.
        FileNotFoundError: refs pickle or instances.json missing (the message names the file).
    """
    root = Path(root)
    split_by = split_by or ("umd" if dataset == "refcocog" else "unc")
    _check_args(dataset, split, split_by)
    images_dir = Path(images_dir) if images_dir is not None else root / "images" / "train2014"
    refs = _read(root / dataset / f"refs({split_by}).p", "refs file")
    instances = _read(root / dataset / "instances.json", "COCO instances file")
    images = {img["id"]: img for img in instances["images"]}
    annotations = {ann["id"]: ann for ann in instances["annotations"]}

    sentences: dict[int, dict[int, list[str]]] = {}  # image_id -> ann_id -> sentences (insertion ordered)
    for ref in refs:
        if ref["split"] != split:
            continue
        if ref["ann_id"] not in annotations:
            raise ValueError(f"ref {ref['ref_id']} points to annotation {ref['ann_id']} absent from instances.json")
        per_image = sentences.setdefault(ref["image_id"], {})
        per_image.setdefault(ref["ann_id"], []).extend(s["sent"] for s in ref["sentences"])

    scenes: list[RefScene] = []
    for image_id, per_ann in sentences.items():
        image = images[image_id]
        file_name = image.get("file_name", f"COCO_train2014_{image_id:012d}.jpg")
        objects = [RefObject(str(ann_id), tuple(sents)) for ann_id, sents in per_ann.items()]
        segmentations = {str(ann_id): annotations[ann_id]["segmentation"] for ann_id in per_ann}
        scenes.append(ReferScene(f"{dataset}/{image_id}", images_dir / file_name,
                                 (int(image["height"]), int(image["width"])), objects, segmentations))
    logger.info("%s(%s) %s: %d images, %d objects", dataset, split_by, split, len(scenes),
                sum(len(s.objects) for s in scenes))
    return scenes
