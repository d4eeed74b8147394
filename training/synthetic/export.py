"""Writers of scenes in the real on-disk formats (REFER/COCO and Ref-YouTube-VOS).

They let the real readers be tested end to end (generator -> disk -> reader) and let external
tools consume the synthetic data. Files are merged into existing ones, so several splits can
be exported into one root one after the other.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from training.synthetic.scenes import SyntheticScene

logger = logging.getLogger(__name__)


def voc_palette() -> list[int]:
    """The 256-colour PASCAL VOC / DAVIS palette as a flat [r, g, b, ...] list."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette += [r, g, b]
    return palette


def write_palette_png(path: Path, labels: np.ndarray) -> None:
    """Save (H, W) uint8 object ids as a palette PNG (pixel value = object id)."""
    image = Image.fromarray(labels.astype(np.uint8))  # mode "L"; putpalette turns it into "P"
    image.putpalette(voc_palette())
    image.save(path)


def _load_or(path: Path, default, loader):
    if not path.is_file():
        return default
    with open(path, "rb") as f:
        return loader(f)


def export_refer(scenes: Sequence[SyntheticScene], root: Path, dataset: str = "refcoco", split: str = "train",
                 split_by: str | None = None) -> None:
    """Write single-image scenes as a REFER dataset readable by :func:`training.data.refer.load_refer`.

    Writes ``root/<dataset>/refs(<split_by>).p``, ``root/<dataset>/instances.json`` (masks as
    compressed RLE, category = shape) and ``root/images/train2014/COCO_train2014_%012d.jpg``.

    Args:
        scenes: image scenes (``num_frames == 1``) with truth records.
        root: output folder.
        dataset: folder name under ``root``.
        split: split recorded in each ref.
        split_by: partition name; default "umd" for refcocog, "unc" otherwise.
    """
    root = Path(root)
    split_by = split_by or ("umd" if dataset == "refcocog" else "unc")
    (root / dataset).mkdir(parents=True, exist_ok=True)
    image_dir = root / "images" / "train2014"
    image_dir.mkdir(parents=True, exist_ok=True)
    refs_path, instances_path = root / dataset / f"refs({split_by}).p", root / dataset / "instances.json"
    refs = _load_or(refs_path, [], pickle.load)
    instances = _load_or(instances_path, {"images": [], "annotations": [], "categories": []}, json.load)
    categories = {c["name"]: c["id"] for c in instances["categories"]}
    next_image = max((img["id"] for img in instances["images"]), default=0) + 1
    next_ann = max((ann["id"] for ann in instances["annotations"]), default=0) + 1
    next_sent = max((s["sent_id"] for ref in refs for s in ref["sentences"]), default=-1) + 1

    for scene in scenes:
        if scene.num_frames != 1:
            raise ValueError(f"{scene.scene_id} has {scene.num_frames} frames; REFER holds single images")
        height, width = scene.image_size
        file_name = f"COCO_train2014_{next_image:012d}.jpg"
        Image.fromarray(scene.load_frames()[0]).save(image_dir / file_name, quality=95)
        instances["images"].append({"id": next_image, "file_name": file_name, "height": height, "width": width})
        real = [obj for obj in scene.objects if not obj.no_target]  # REFER has no no-target expressions
        for obj, truth in zip(real, scene.truth, strict=True):
            category = categories.setdefault(truth.shape, len(categories) + 1)
            mask = scene.load_mask(obj.object_id)[0]
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            instances["annotations"].append({
                "id": next_ann, "image_id": next_image, "category_id": category, "iscrowd": 0,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
                "area": float(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)]})
            sentences = [{"sent": e, "raw": e, "tokens": e.split(), "sent_id": next_sent + k}
                         for k, e in enumerate(obj.expressions)]
            next_sent += len(sentences)
            refs.append({"ref_id": len(refs), "ann_id": next_ann, "image_id": next_image, "split": split,
                         "sentences": sentences, "sent_ids": [s["sent_id"] for s in sentences],
                         "category_id": category, "file_name": f"COCO_train2014_{next_image:012d}_{next_ann}.jpg"})
            next_ann += 1
        next_image += 1
    instances["categories"] = [{"id": i, "name": name, "supercategory": "shape"} for name, i in categories.items()]
    with open(refs_path, "wb") as f:
        pickle.dump(refs, f)
    instances_path.write_text(json.dumps(instances))
    logger.info("exported %d scenes to %s (%s, %s)", len(scenes), root, dataset, split)


def export_ytvos(scenes: Sequence[SyntheticScene], root: Path, split: str = "train") -> None:
    """Write scenes as a Ref-YouTube-VOS dataset readable by :func:`training.data.ytvos.load_ytvos`.

    Video ids are the scene ids with "/" replaced by "-"; frames are named "00000", "00001", ...;
    annotations are palette PNGs whose pixel value is the object id.
    """
    root = Path(root)
    meta_path = root / "meta_expressions" / split / "meta_expressions.json"
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"videos": {}}
    for scene in scenes:
        vid = scene.scene_id.replace("/", "-")
        frame_names = [f"{t:05d}" for t in range(scene.num_frames)]
        image_dir, annotation_dir = root / split / "JPEGImages" / vid, root / split / "Annotations" / vid
        image_dir.mkdir(parents=True, exist_ok=True)
        annotation_dir.mkdir(parents=True, exist_ok=True)
        labels = np.zeros(scene.load_frames([0]).shape[:3], dtype=np.uint8).repeat(scene.num_frames, axis=0)
        expressions = {}
        for obj in (o for o in scene.objects if not o.no_target):  # Ref-YouTube-VOS has no no-target ones
            mask = scene.load_mask(obj.object_id)  # (T, H, W)
            if (labels[mask] != 0).any():
                raise ValueError(f"{scene.scene_id}: object {obj.object_id} overlaps another; "
                                 "palette PNGs need disjoint masks")
            labels[mask] = int(obj.object_id)
            for e in obj.expressions:
                expressions[str(len(expressions))] = {"exp": e, "obj_id": obj.object_id}
        for name, frame, label in zip(frame_names, scene.load_frames(), labels):
            Image.fromarray(frame).save(image_dir / f"{name}.jpg", quality=95)
            write_palette_png(annotation_dir / f"{name}.png", label)
        meta["videos"][vid] = {"expressions": expressions, "frames": frame_names}
    meta_path.write_text(json.dumps(meta))
    logger.info("exported %d videos to %s (%s)", len(scenes), root, split)
