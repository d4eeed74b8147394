"""Writers of small hand-built datasets in the exact real on-disk formats, with known contents.

Each writer returns the expected parse (expressions and pixel-exact masks) so tests compare
readers against values fixed here, not against another implementation.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

IMAGE_H, IMAGE_W = 40, 60


def _rect(height: int, width: int, rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[rows, cols] = True
    return mask


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE by hand: run lengths of the column-major flattening, starting with zeros."""
    flat = mask.flatten(order="F").astype(np.int64)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"size": list(mask.shape), "counts": counts}


def _ref(ref_id: int, ann_id: int, image_id: int, split: str, sents: list[str]) -> dict:
    sentences = [{"sent": s, "raw": s.capitalize(), "tokens": s.split(), "sent_id": 100 * ref_id + k}
                 for k, s in enumerate(sents)]
    return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "split": split, "sentences": sentences,
            "category_id": 1, "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg"}


def write_refer(root: Path) -> dict:
    """RefCOCO (unc) + RefCOCOg (umd) with three images and polygon, uncompressed and compressed RLE masks.

    Returns:
        {"root": root, "masks": {ann_id: (H, W) bool}, "colours": {image_id: RGB}}.
    """
    square = _rect(IMAGE_H, IMAGE_W, slice(10, 30), slice(10, 30))  # polygon (10,10)-(30,30): 400 px
    block = _rect(IMAGE_H, IMAGE_W, slice(5, 15), slice(40, 50))  # uncompressed RLE, 100 px
    ell = _rect(IMAGE_H, IMAGE_W, slice(30, 38), slice(35, 38)) | _rect(IMAGE_H, IMAGE_W, slice(35, 38), slice(35, 55))
    compressed = mask_utils.encode(np.asfortranarray(ell.astype(np.uint8)))
    compressed["counts"] = compressed["counts"].decode("ascii")
    triangle_poly = [[0, 0, 20, 0, 0, 20]]
    annotations = [
        {"id": 10, "image_id": 1, "category_id": 1, "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]], "iscrowd": 0},
        {"id": 11, "image_id": 1, "category_id": 1, "segmentation": _uncompressed_rle(block), "iscrowd": 1},
        {"id": 12, "image_id": 1, "category_id": 1, "segmentation": compressed, "iscrowd": 0},
        {"id": 20, "image_id": 2, "category_id": 1, "segmentation": triangle_poly, "iscrowd": 0},
        {"id": 30, "image_id": 3, "category_id": 1, "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]], "iscrowd": 0},
    ]
    colours = {1: (200, 30, 30), 2: (30, 200, 30), 3: (30, 30, 200)}
    images = [{"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "height": IMAGE_H, "width": IMAGE_W}
              for i in colours]
    instances = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]}
    unc = [
        _ref(0, 10, 1, "train", ["red square", "square in the middle"]),
        _ref(1, 11, 1, "train", ["top right block"]),
        _ref(2, 10, 1, "train", ["the big square"]),  # second ref of annotation 10: sentences merge
        _ref(3, 12, 1, "train", ["the l shape"]),
        _ref(4, 20, 2, "val", ["green triangle"]),
        _ref(5, 30, 3, "testA", ["blue corner"]),
    ]
    umd = [_ref(0, 10, 1, "train", ["a square"]), _ref(1, 20, 2, "test", ["a triangle"])]
    for dataset, refs_name, refs in (("refcoco", "refs(unc).p", unc), ("refcocog", "refs(umd).p", umd)):
        (root / dataset).mkdir(parents=True, exist_ok=True)
        (root / dataset / "instances.json").write_text(json.dumps(instances))
        with open(root / dataset / refs_name, "wb") as f:
            pickle.dump(refs, f, protocol=2)
    image_dir = root / "images" / "train2014"
    image_dir.mkdir(parents=True, exist_ok=True)
    for image_id, colour in colours.items():
        Image.new("RGB", (IMAGE_W, IMAGE_H), colour).save(image_dir / f"COCO_train2014_{image_id:012d}.jpg")
    with warnings.catch_warnings():  # pycocotools 2.0.11 vs numpy 2 copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        rle = mask_utils.merge(mask_utils.frPyObjects(triangle_poly, IMAGE_H, IMAGE_W))
        triangle = mask_utils.decode(rle).astype(bool)
    return {"root": root, "masks": {10: square, 11: block, 12: ell, 20: triangle}, "colours": colours}


def _palette_png(path: Path, labels: np.ndarray) -> None:
    image = Image.fromarray(labels.astype(np.uint8))
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12))
    image.save(path)


def write_video_dataset(root: Path, split: str, videos: dict[str, dict]) -> None:
    """Write videos {vid: {"expressions": {...}, "labels": (T, H, W) uint8, "colours": [RGB per frame],
    "frames": [names]}} in the Ref-YouTube-VOS layout."""
    meta = {"videos": {}}
    for vid, video in videos.items():
        image_dir, annotation_dir = root / split / "JPEGImages" / vid, root / split / "Annotations" / vid
        image_dir.mkdir(parents=True, exist_ok=True)
        annotation_dir.mkdir(parents=True, exist_ok=True)
        for name, labels, colour in zip(video["frames"], video["labels"], video["colours"]):
            Image.new("RGB", labels.shape[::-1], colour).save(image_dir / f"{name}.jpg", quality=100)
            _palette_png(annotation_dir / f"{name}.png", labels)
        meta["videos"][vid] = {"expressions": video["expressions"], "frames": video["frames"]}
    (root / "meta_expressions" / split).mkdir(parents=True, exist_ok=True)
    (root / "meta_expressions" / split / "meta_expressions.json").write_text(json.dumps(meta))


def two_object_labels(num_frames: int, height: int = 16, width: int = 24) -> np.ndarray:
    """Object 1: fixed block rows 2-5, cols 1-4; object 2: 3x3 block moving right 2 px per frame."""
    labels = np.zeros((num_frames, height, width), dtype=np.uint8)
    labels[:, 2:6, 1:5] = 1
    for t in range(num_frames):
        labels[t, 10:13, 8 + 2 * t:11 + 2 * t] = 2
    return labels


def write_ytvos(root: Path) -> dict:
    """Ref-YouTube-VOS train split (two videos) and a valid split without obj_id (as released).

    Returns:
        {"root": root, "labels": {vid: (T, H, W) uint8}, "colours": {vid: [RGB per frame]}}.
    """
    labels = {"vidA": two_object_labels(3), "vidB": two_object_labels(2)}
    colours = {"vidA": [(250, 0, 0), (0, 250, 0), (0, 0, 250)], "vidB": [(100, 100, 100), (200, 200, 200)]}
    train = {
        "vidA": {"expressions": {"0": {"exp": "a cat", "obj_id": "1"}, "1": {"exp": "a dog running", "obj_id": "2"},
                                 "2": {"exp": "the cat on the left", "obj_id": "1"}},
                 "frames": ["00000", "00005", "00010"], "labels": labels["vidA"], "colours": colours["vidA"]},
        "vidB": {"expressions": {"10": {"exp": "a moving box", "obj_id": "2"},
                                 "9": {"exp": "a still box", "obj_id": "2"}},
                 "frames": ["00000", "00005"], "labels": labels["vidB"], "colours": colours["vidB"]},
    }
    write_video_dataset(root, "train", train)
    valid = {"vidC": {"expressions": {"0": {"exp": "a person"}}, "frames": ["00000"],
                      "labels": two_object_labels(1), "colours": [(0, 0, 0)]}}
    write_video_dataset(root, "valid", valid)
    return {"root": root, "labels": labels, "colours": colours}


def write_davis(root: Path) -> dict:
    """Ref-DAVIS17 valid split (ReferFormer layout): 2 objects x 4 annotations, ids obj*4 + kind."""
    kinds = ("a1 first", "a1 full", "a2 first", "a2 full")
    expressions = {str(4 * (obj - 1) + k): {"exp": f"object {obj} {kind}", "obj_id": str(obj)}
                   for obj in (1, 2) for k, kind in enumerate(kinds)}
    labels = two_object_labels(4)
    valid = {"bike": {"expressions": expressions, "frames": [f"{t:05d}" for t in range(4)], "labels": labels,
                      "colours": [(50, 50, 50)] * 4}}
    write_video_dataset(root, "valid", valid)
    return {"root": root, "labels": labels}


def _gref(ref_id: int, ann_ids: list[int], image_id: int, split: str, sents: list[str]) -> dict:
    """A gRefCOCO ref as the release writes it: ann_id/category_id lists, no_target flag, [-1] if none."""
    sentences = [{"raw": s, "sent": s, "sent_id": 100 * ref_id + k, "tokens": s.split()} for k, s in enumerate(sents)]
    return {"ann_id": ann_ids, "category_id": [-1] if ann_ids == [-1] else [1] * len(ann_ids),
            "file_name": f"COCO_train2014_{image_id:012d}.jpg", "image_id": image_id,
            "no_target": ann_ids == [-1], "ref_id": ref_id, "sent_ids": [s["sent_id"] for s in sentences],
            "sentences": sentences, "split": split}


def write_grefcoco(root: Path) -> dict:
    """gRefCOCO (unc) with two images: single-, multi- (one crowd part) and no-target refs.

    Returns:
        {"root": root, "masks": {object_id: (H, W) bool}} (empty masks for no-target refs).
    """
    left = _rect(IMAGE_H, IMAGE_W, slice(5, 15), slice(5, 15))  # polygon, 100 px
    right = _rect(IMAGE_H, IMAGE_W, slice(20, 30), slice(40, 55))  # compressed RLE, 150 px
    crowd = _rect(IMAGE_H, IMAGE_W, slice(0, 4), slice(0, 60))  # a crowd region: left out of unions
    compressed = mask_utils.encode(np.asfortranarray(right.astype(np.uint8)))
    compressed["counts"] = compressed["counts"].decode("ascii")
    annotations = [
        {"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]], "iscrowd": 0,
         "area": 100.0, "bbox": [5.0, 5.0, 10.0, 10.0]},
        {"id": 8, "image_id": 1, "category_id": 1, "segmentation": compressed, "iscrowd": 0,
         "area": 150.0, "bbox": [40.0, 20.0, 15.0, 10.0]},
        {"id": 9, "image_id": 1, "category_id": 1, "segmentation": _uncompressed_rle(crowd), "iscrowd": 1,
         "area": 240.0, "bbox": [0.0, 0.0, 60.0, 4.0]},
        {"id": 20, "image_id": 2, "category_id": 1, "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]], "iscrowd": 0,
         "area": 100.0, "bbox": [0.0, 0.0, 10.0, 10.0]},
    ]
    images = [{"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "height": IMAGE_H, "width": IMAGE_W}
              for i in (1, 2)]
    instances = {"images": images, "annotations": annotations,
                 "categories": [{"id": 1, "name": "thing", "supercategory": "object"}]}
    refs = [
        _gref(0, [7], 1, "train", ["left box"]),
        _gref(1, [7, 8, 9], 1, "train", ["all the boxes", "both boxes"]),
        _gref(2, [-1], 1, "train", ["the purple cat"]),
        _gref(3, [20], 2, "val", ["corner box"]),
        _gref(4, [-1], 2, "val", ["the dog on the sofa"]),
    ]
    refs[0]["ann_id"] = 7  # single targets may be a plain id, as ReLA's reader allows
    (root / "grefcoco").mkdir(parents=True, exist_ok=True)
    (root / "grefcoco" / "instances.json").write_text(json.dumps(instances))
    (root / "grefcoco" / "grefs(unc).json").write_text(json.dumps(refs))
    image_dir = root / "images" / "train2014"
    image_dir.mkdir(parents=True, exist_ok=True)
    for image_id, colour in ((1, (200, 30, 30)), (2, (30, 200, 30))):
        Image.new("RGB", (IMAGE_W, IMAGE_H), colour).save(image_dir / f"COCO_train2014_{image_id:012d}.jpg")
    empty = np.zeros((IMAGE_H, IMAGE_W), dtype=bool)
    corner = _rect(IMAGE_H, IMAGE_W, slice(0, 10), slice(0, 10))
    return {"root": root, "masks": {"ref0": left, "ref1": left | right, "ref2": empty, "ref3": corner, "ref4": empty}}


def complete_refer_splits(root: Path) -> None:
    """Adds the splits :func:`write_refer` leaves out (RefCOCO testB, RefCOCOg val) and a gRefCOCO testA/testB,
    each on an image already there, so that every split a release has is present (``vatex data check`` passes)."""
    for dataset, refs_name, extra in (("refcoco", "refs(unc).p", [_ref(6, 30, 3, "testB", ["blue corner again"])]),
                                      ("refcocog", "refs(umd).p", [_ref(2, 30, 3, "val", ["a corner"])])):
        path = root / dataset / refs_name
        if not path.is_file():
            continue
        with open(path, "rb") as f:
            refs = pickle.load(f)
        with open(path, "wb") as f:
            pickle.dump(refs + extra, f, protocol=2)
    grefs = root / "grefcoco" / "grefs(unc).json"
    if grefs.is_file():
        refs = json.loads(grefs.read_text())
        refs += [_gref(5, [20], 2, "testA", ["the box in the corner"]), _gref(6, [-1], 2, "testB", ["a red bus"])]
        grefs.write_text(json.dumps(refs))
