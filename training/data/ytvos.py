"""Reader of Ref-YouTube-VOS, and the loader of its layout shared with Ref-DAVIS17.

Layout::

    root/meta_expressions/<split>/meta_expressions.json
        {"videos": {vid: {"expressions": {"0": {"exp": str, "obj_id": "1"}, ...},
                          "frames": ["00000", ...]}}}
    root/<split>/JPEGImages/<vid>/<frame>.jpg
    root/<split>/Annotations/<vid>/<frame>.png     palette PNG, pixel value = obj_id (0 = background)

A scene is one video; its objects are the ``obj_id`` values with all their expressions, in
the numeric order of the expression ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from training.data.types import RefObject, RefScene

logger = logging.getLogger(__name__)

YTVOS_SPLITS = ("train", "valid", "test")

# (video id, expression id, expression dict) -> keep it?
ExpressionFilter = Callable[[str, str, dict], bool]


def read_palette_png(path: Path) -> np.ndarray:
    """Read an annotation PNG as its index values.

    Returns:
        (H, W) uint8 object ids (palette indices; 0 = background).
    """
    if not path.is_file():
        raise FileNotFoundError(f"annotation not found: {path}")
    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise ValueError(f"{path}: expected a palette (P) or grey (L) PNG of object ids, got mode {image.mode}")
        return np.asarray(image)


class VideoScene(RefScene):
    """One video of a Ref-YouTube-VOS-layout dataset."""

    def __init__(self, scene_id: str, frame_names: Sequence[str], image_dir: Path, annotation_dir: Path,
                 objects: Sequence[RefObject]) -> None:
        """Store the frame list and folders; pixels load lazily."""
        self.scene_id = scene_id
        self.objects = tuple(objects)
        self.num_frames = len(frame_names)
        self.frame_names = tuple(frame_names)
        self.image_dir = image_dir
        self.annotation_dir = annotation_dir

    def load_frames(self, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """Return (T, H, W, 3) uint8 RGB."""
        frames = []
        for i in self._frame_list(frame_indices):
            path = self.image_dir / f"{self.frame_names[i]}.jpg"
            if not path.is_file():
                raise FileNotFoundError(f"frame not found: {path}")
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        return np.stack(frames)

    def load_mask(self, object_id: str, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """Return (T, H, W) bool: pixels of the annotation PNGs equal to ``int(object_id)``."""
        self.get_object(object_id)
        value = int(object_id)
        return np.stack([read_palette_png(self.annotation_dir / f"{self.frame_names[i]}.png") == value
                         for i in self._frame_list(frame_indices)])


def load_meta_expressions(root: Path, split: str, splits: Sequence[str], name: str,
                          keep: ExpressionFilter | None = None) -> list[RefScene]:
    """Read any dataset in the Ref-YouTube-VOS layout.

    Args:
        root: dataset folder.
        split: split folder name, one of ``splits``.
        splits: the splits this dataset has.
        name: dataset name for messages and scene ids (``f"{name}/{vid}"``).
        keep: optional filter of expressions.

    Returns:
        One scene per video that keeps at least one expression, in file order.

    Raises:
        ValueError: unknown split, or an expression without ``obj_id`` (splits without public masks).
        FileNotFoundError: the meta_expressions.json is missing.
    """
    if split not in splits:
        raise ValueError(f"unknown {name} split {split!r}; expected one of {tuple(splits)}")
    root = Path(root)
    meta_path = root / "meta_expressions" / split / "meta_expressions.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{name} expressions file not found: {meta_path}")
    videos = json.loads(meta_path.read_text(encoding="utf-8"))["videos"]

    scenes: list[RefScene] = []
    for vid, video in videos.items():
        per_object: dict[str, list[str]] = {}
        for exp_id in sorted(video["expressions"], key=int):
            expression = video["expressions"][exp_id]
            if "obj_id" not in expression:
                raise ValueError(f"{meta_path}: expression {exp_id} of {vid} has no obj_id; "
                                 f"split {split!r} has no public masks to train or evaluate on")
            if keep is None or keep(vid, exp_id, expression):
                per_object.setdefault(str(expression["obj_id"]), []).append(expression["exp"])
        if not per_object:
            continue
        objects = [RefObject(obj_id, tuple(exps))
                   for obj_id, exps in sorted(per_object.items(), key=lambda kv: int(kv[0]))]
        scenes.append(VideoScene(f"{name}/{vid}", video["frames"], root / split / "JPEGImages" / vid,
                                 root / split / "Annotations" / vid, objects))
    logger.info("%s %s: %d videos, %d objects", name, split, len(scenes), sum(len(s.objects) for s in scenes))
    return scenes


def load_ytvos(root: Path, split: str = "train") -> list[RefScene]:
    """Read one split of Ref-YouTube-VOS (only "train" ships masks; "valid"/"test" raise ValueError).

    Args:
        root: folder holding ``meta_expressions/``, ``train/``, ``valid/``.
        split: "train", "valid" or "test".
    """
    return load_meta_expressions(root, split, YTVOS_SPLITS, "ref-youtube-vos")
