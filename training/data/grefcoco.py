"""Reader of gRefCOCO (GRES, CVPR 2023): referring expressions for no, one or several objects.

Layout (the release's, as ReLA's ``G_REFER`` reads it)::

    root/grefcoco/grefs(unc).json       list of refs (a JSON file, unlike RefCOCO's pickle)
    root/grefcoco/instances.json        COCO: images, annotations (polygon or RLE), categories
    root/images/train2014/COCO_train2014_%012d.jpg

A ref is ``{"ref_id", "image_id", "ann_id": [ids] (or one id), "category_id", "split",
"sentences": [{"sent", "raw", "tokens", "sent_id"}], "sent_ids", "file_name", "no_target"}``;
a no-target ref has ``"no_target": true`` and ``"ann_id": [-1]``. A scene is one COCO image; its
objects are its refs in the split (``object_id = "ref<ref_id>"``): the target of a multi-object
ref is the union of its annotations' masks (crowd annotations left out, as in ReLA), a
no-target ref is a ``RefObject`` with ``no_target=True`` and an empty mask.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.data.refer import ReferScene, decode_segmentation
from training.data.types import RefObject, RefScene

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "testA", "testB")
NO_ANNOTATION = -1  # the ann_id of a no-target ref


class GReferScene(ReferScene):
    """One COCO image with its gRefCOCO refs; a target is the union of several annotations."""

    def load_mask(self, object_id: str, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """Return (T, H, W) bool: the union of the ref's annotation masks (empty for no-target refs)."""
        self.get_object(object_id)
        indices = self._frame_list(frame_indices)
        mask = np.zeros(self.image_size, dtype=bool)
        for segmentation in self._segmentations[object_id]:
            mask |= decode_segmentation(segmentation, *self.image_size)
        return np.repeat(mask[None], len(indices), axis=0)


def _ann_ids(ref: dict) -> list[int]:
    ids = ref["ann_id"] if isinstance(ref["ann_id"], list) else [ref["ann_id"]]
    return [int(i) for i in ids]


def _is_no_target(ref: dict) -> bool:
    """The ref's no-target flag, checked against its annotation ids."""
    ids = _ann_ids(ref)
    no_target = bool(ref.get("no_target", ids == [NO_ANNOTATION]))
    if no_target != (ids == [NO_ANNOTATION]):
        raise ValueError(f"ref {ref['ref_id']}: no_target is {no_target} but ann_id is {ref['ann_id']}")
    return no_target


def load_grefcoco(root: Path, split: str, split_by: str = "unc", images_dir: Path | None = None) -> list[RefScene]:
    """Read one split of gRefCOCO.

    Args:
        root: the data folder (holding ``grefcoco/`` and ``images/``).
        split: "train", "val", "testA" or "testB".
        split_by: partition in the refs file name; the release has "unc".
        images_dir: folder of the COCO images; default ``root/images/train2014``.

    Returns:
        One scene per image, in order of first appearance in the refs file.

    Raises:
        ValueError: unknown split, an annotation missing from instances.json, or a no_target
            flag that disagrees with the ref's ann_id.
        FileNotFoundError: refs file or instances.json missing (the message names the file).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown gRefCOCO split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    images_dir = Path(images_dir) if images_dir is not None else root / "images" / "train2014"
    refs = _read(root / "grefcoco" / f"grefs({split_by}).json", "gRefCOCO refs file")
    instances = _read(root / "grefcoco" / "instances.json", "COCO instances file")
    images = {img["id"]: img for img in instances["images"]}
    annotations = {ann["id"]: ann for ann in instances["annotations"]}

    per_image: dict[int, list[tuple[RefObject, list]]] = {}  # image_id -> (object, segmentations), ref order
    for ref in refs:
        if ref["split"] != split:
            continue
        no_target = _is_no_target(ref)
        ids = [] if no_target else _ann_ids(ref)
        missing = [i for i in ids if i not in annotations]
        if missing:
            raise ValueError(f"ref {ref['ref_id']} points to annotations {missing} absent from instances.json")
        segmentations = [annotations[i]["segmentation"] for i in ids if not annotations[i].get("iscrowd", 0)]
        obj = RefObject(f"ref{ref['ref_id']}", tuple(s["sent"] for s in ref["sentences"]), no_target=no_target)
        per_image.setdefault(ref["image_id"], []).append((obj, segmentations))

    scenes: list[RefScene] = []
    for image_id, entries in per_image.items():
        image = images[image_id]
        file_name = image.get("file_name", f"COCO_train2014_{image_id:012d}.jpg")
        scenes.append(GReferScene(f"grefcoco/{image_id}", images_dir / file_name,
                                  (int(image["height"]), int(image["width"])), [o for o, _ in entries],
                                  {o.object_id: segs for o, segs in entries}))
    refs_in_split = [o for s in scenes for o in s.objects]
    logger.info("grefcoco(%s) %s: %d images, %d refs (%d no-target)", split_by, split, len(scenes),
                len(refs_in_split), sum(o.no_target for o in refs_in_split))
    return scenes


def _read(path: Path, what: str) -> list | dict:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return json.loads(path.read_text())
