"""`vatex data check`: is a dataset folder laid out as the readers expect, complete, and of the published size?

For each dataset kind it checks, in order: the annotation files the reader opens (and that they parse),
the splits they hold, that every image or frame they name is on disk (first image of each split decoded),
the counts per split against the figures the dataset's authors published, and finally that the reader of
:mod:`training.data` itself reads every split and decodes the first scene's pixels and mask. What is missing
comes with how to get it. Nothing is downloaded.

Published figures (images, referred objects, expressions per split): RefCOCO / RefCOCO+ (unc) and
RefCOCOg (umd) as tabulated by REFER (Yu et al. 2016) and MAttNet (Yu et al. 2018); gRefCOCO totals from
GRES (Liu et al. 2023); Ref-YouTube-VOS from URVOS (Seo et al. 2020) as ReferFormer restates it; Ref-DAVIS17
from Khoreva et al. 2018. A count that differs is a warning (``strict`` makes it an error): a partial
download or another release differs, and training on it still works.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from training.data.davis import DAVIS_SPLITS, load_davis
from training.data.grefcoco import load_grefcoco
from training.data.refer import SPLITS, SPLITS_BY, load_refer
from training.data.types import RefScene
from training.data.ytvos import load_ytvos

logger = logging.getLogger(__name__)

DATASETS = ("refcoco", "refcoco+", "refcocog", "grefcoco", "ytvos", "davis")
_COCO_IMAGES = ("COCO train2014 images: http://images.cocodataset.org/zips/train2014.zip, unzipped into ROOT/images/ "
                "(ROOT/images/train2014/COCO_train2014_*.jpg)")
HOW_TO_GET = {
    "refcoco": "refs and instances: https://bvisionweb1.cs.unc.edu/licheng/referit/data/refcoco.zip (REFER, "
               "github.com/lichengunc/refer), unzipped into ROOT/ (ROOT/refcoco/refs(unc).p, instances.json); "
               + _COCO_IMAGES,
    "refcoco+": "refs and instances: https://bvisionweb1.cs.unc.edu/licheng/referit/data/refcoco+.zip (REFER), "
                "unzipped into ROOT/ (ROOT/refcoco+/refs(unc).p, instances.json); " + _COCO_IMAGES,
    "refcocog": "refs and instances: https://bvisionweb1.cs.unc.edu/licheng/referit/data/refcocog.zip (REFER; "
                "refs(umd).p is the umd partition), unzipped into ROOT/ (ROOT/refcocog/refs(umd).p, instances.json); "
                + _COCO_IMAGES,
    "grefcoco": "grefs(unc).json and instances.json of the gRefCOCO release (github.com/henghuiding/gRefCOCO) into "
                "ROOT/grefcoco/; " + _COCO_IMAGES,
    "ytvos": "Ref-YouTube-VOS (youtube-vos.org, Referring Video Object Segmentation track, CodaLab): train.zip and "
             "valid.zip unzipped into ROOT/ (ROOT/train/JPEGImages, ROOT/train/Annotations, ROOT/valid/JPEGImages) and "
             "meta_expressions.zip into ROOT/ (ROOT/meta_expressions/<split>/meta_expressions.json)",
    "davis": "DAVIS-2017 trainval 480p (davischallenge.org) and the Ref-DAVIS17 expressions "
             "(davis_text_annotations.zip, Khoreva et al.), converted to the Ref-YouTube-VOS layout by ReferFormer's "
             "tools/data/convert_davis_to_ytvos.py into ROOT/ (ROOT/meta_expressions/valid/meta_expressions.json, "
             "ROOT/valid/JPEGImages, ROOT/valid/Annotations)",
}


@dataclass(frozen=True)
class Counts:
    """Size of one split: images (videos for video datasets), referred objects, expressions; None = not published."""

    images: int | None = None
    objects: int | None = None
    expressions: int | None = None


PUBLISHED: dict[str, dict[str, Counts]] = {
    "refcoco": {"train": Counts(16994, 42404, 120624), "val": Counts(1500, 3811, 10834),
                "testA": Counts(750, 1975, 5657), "testB": Counts(750, 1810, 5095)},
    "refcoco+": {"train": Counts(16992, 42278, 120191), "val": Counts(1500, 3805, 10758),
                 "testA": Counts(750, 1975, 5726), "testB": Counts(750, 1798, 4889)},
    "refcocog": {"train": Counts(21899, 42226, 80512), "val": Counts(1300, 2573, 4896),
                 "test": Counts(2600, 5023, 9602)},
    "grefcoco": {"all": Counts(19994, None, 278232)},  # GRES gives totals over the four splits
    "ytvos": {"train": Counts(3471, None, 12913), "valid": Counts(202)},  # videos; valid's masks are withheld
    "davis": {"train": Counts(60), "valid": Counts(30)},  # videos
}
# The splits a dataset must have (training and local evaluation); others are reported when absent.
REQUIRED_SPLITS = {"refcoco": SPLITS["unc"], "refcoco+": SPLITS["unc"], "refcocog": SPLITS["umd"],
                   "grefcoco": ("train", "val", "testA", "testB"), "ytvos": ("train",), "davis": ("valid",)}
OPTIONAL_SPLITS = {"ytvos": ("valid",), "davis": ("train",)}
_SHOWN = 3  # missing files named in a message


@dataclass
class Finding:
    """One result of the check: ``level`` is "error" (training or evaluation would fail), "warning" or "ok"."""

    level: str
    message: str


@dataclass
class CheckReport:
    """Everything :func:`check_dataset` found, in the order it looked."""

    dataset: str
    root: Path
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=dict)  # split -> what is on disk

    def add(self, level: str, message: str) -> None:
        self.findings.append(Finding(level, message))
        logger.debug("%s: %s", level, message)

    @property
    def errors(self) -> list[str]:
        return [f.message for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[str]:
        return [f.message for f in self.findings if f.level == "warning"]

    def format(self) -> str:
        """The report as printed by the command: one line per finding, a count table, the verdict."""
        marks = {"ok": "ok  ", "warning": "WARN", "error": "FAIL"}
        lines = [f"{self.dataset} in {self.root}"]
        lines += [f"  {marks[f.level]} {f.message}" for f in self.findings]
        if self.counts:
            lines.append(f"  {'split':<8} {'images/videos':>18} {'objects':>18} {'expressions':>20}   (published)")
            for split, counts in self.counts.items():
                published = PUBLISHED[self.dataset].get(split, Counts())
                lines.append(f"  {split:<8} {_fmt(counts.images, published.images):>18} "
                             f"{_fmt(counts.objects, published.objects):>18} "
                             f"{_fmt(counts.expressions, published.expressions):>20}")
        if self.errors:
            lines.append(f"  {len(self.errors)} problem(s); how to get {self.dataset}: {HOW_TO_GET[self.dataset]}")
        else:
            lines.append(f"  ready ({len(self.warnings)} warning(s))")
        return "\n".join(lines)


def check_dataset(dataset: str, root: str | Path, split_by: str | None = None, strict: bool = False) -> CheckReport:
    """Checks a dataset folder against the layout its reader expects and the published counts.

    Args:
        dataset: one of DATASETS.
        root: the folder given to the reader (``data.root`` of a training config).
        split_by: REFER partition (default: unc, umd for refcocog).
        strict: counts that differ from the published ones are errors, not warnings.

    Returns:
        The report; ``report.errors`` is empty when training and evaluation can start.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    root = Path(root)
    report = CheckReport(dataset, root)
    if not root.is_dir():
        report.add("error", f"{root} is not a folder")
        return report
    if dataset in SPLITS_BY:
        split_by = split_by or ("umd" if dataset == "refcocog" else "unc")
        _check_refer(report, dataset, root, split_by)
    elif dataset == "grefcoco":
        _check_refer(report, dataset, root, split_by or "unc")
    else:
        _check_videos(report, dataset, root)
    _compare_counts(report, strict)
    return report


# --- RefCOCO / RefCOCO+ / RefCOCOg / gRefCOCO -------------------------------------------------------------------


def _check_refer(report: CheckReport, dataset: str, root: Path, split_by: str) -> None:
    """Refs file, instances, splits, images and the reader, for the COCO-based datasets."""
    if dataset == "grefcoco":
        refs_path = root / "grefcoco" / f"grefs({split_by}).json"
    else:
        if split_by not in SPLITS_BY[dataset]:
            report.add("error", f"{dataset} has no {split_by!r} partition; it has {', '.join(SPLITS_BY[dataset])}")
            return
        refs_path = root / dataset / f"refs({split_by}).p"
    refs = _load(report, refs_path, "refs file")
    instances = _load(report, refs_path.parent / "instances.json", "COCO instances file")
    if refs is None or instances is None:
        return
    try:
        images = {image["id"]: image for image in instances["images"]}
        annotations = {ann["id"] for ann in instances["annotations"]}
        by_split: dict[str, list[dict]] = {}
        for ref in refs:
            by_split.setdefault(ref["split"], []).append(ref)
    except (KeyError, TypeError) as err:
        report.add("error", f"{refs_path.parent}: unexpected structure ({type(err).__name__}: {err})")
        return
    expected = SPLITS[split_by] if dataset != "grefcoco" else REQUIRED_SPLITS["grefcoco"]
    _check_splits(report, refs_path, expected, by_split)

    dangling = [ref["ref_id"] for ref in refs if not set(_ann_ids(ref)) <= annotations | {-1}]
    unknown_images = sorted({ref["image_id"] for ref in refs} - set(images))
    if dangling:
        report.add("error", f"{len(dangling)} ref(s) name annotations absent from instances.json (ref ids "
                            f"{_first(dangling)}): refs and instances of different releases?")
    if unknown_images:
        report.add("error", f"{len(unknown_images)} image id(s) of the refs are absent from instances.json "
                            f"({_first(unknown_images)})")

    image_dir = root / "images" / "train2014"
    on_disk = _names_in(image_dir)
    if on_disk is None:
        report.add("error", f"image folder {image_dir} not found")
    for split in [s for s in expected if s in by_split]:
        split_refs = by_split[split]
        image_ids = {ref["image_id"] for ref in split_refs}
        report.counts[split] = Counts(len(image_ids), len(split_refs), sum(len(ref["sentences"]) for ref in split_refs))
        if on_disk is None:
            continue
        names = [images[i].get("file_name", f"COCO_train2014_{i:012d}.jpg") for i in sorted(image_ids) if i in images]
        missing = [name for name in names if name not in on_disk]
        if missing:
            report.add("error", f"{split}: {len(missing)} of {len(names)} images missing from {image_dir} "
                                f"({_first(missing)})")
        else:
            report.add("ok", f"{split}: all {len(names)} images present")
            _check_decodes(report, image_dir / names[0])
    if dataset == "grefcoco" and report.counts:
        no_target = sum(1 for ref in refs if _ann_ids(ref) == [-1])
        report.add("ok", f"{no_target} no-target ref(s) of {len(refs)}")
        report.counts = {"all": Counts(len({ref["image_id"] for ref in refs}), len(refs),
                                       sum(len(ref["sentences"]) for ref in refs)), **report.counts}
    if not report.errors:
        read = (lambda split: load_grefcoco(root, split, split_by)) if dataset == "grefcoco" else \
            (lambda split: load_refer(root, dataset, split, split_by))
        _check_reader(report, read, [s for s in expected if s in by_split])


def _ann_ids(ref: dict) -> list[int]:
    ids = ref["ann_id"] if isinstance(ref["ann_id"], list) else [ref["ann_id"]]
    return [int(i) for i in ids]


# --- Ref-YouTube-VOS / Ref-DAVIS17 ------------------------------------------------------------------------------


def _check_videos(report: CheckReport, dataset: str, root: Path) -> None:
    """Expressions files, frames and annotations of each split, and the reader, for the video datasets."""
    splits = [*REQUIRED_SPLITS[dataset], *OPTIONAL_SPLITS[dataset]]
    present = []
    for split in splits:
        meta_path = root / "meta_expressions" / split / "meta_expressions.json"
        required = split in REQUIRED_SPLITS[dataset]
        if not meta_path.is_file():
            report.add("error" if required else "warning",
                       f"{split}: expressions file {meta_path} not found" + ("" if required else " (optional split)"))
            continue
        meta = _load(report, meta_path, "expressions file")
        if meta is None:
            continue
        try:
            videos = meta["videos"]
            expressions = sum(len(video["expressions"]) for video in videos.values())
            has_masks = all("obj_id" in e for video in videos.values() for e in video["expressions"].values())
        except (KeyError, TypeError, AttributeError) as err:
            report.add("error", f"{meta_path}: unexpected structure ({type(err).__name__}: {err})")
            continue
        objects = sum(len({e.get("obj_id") for e in video["expressions"].values()}) for video in videos.values())
        report.counts[split] = Counts(len(videos), objects if has_masks else None, expressions)
        problems = _missing_frames(root / split, videos, has_masks)
        if problems:
            report.add("error", f"{split}: " + "; ".join(problems))
        else:
            frames = sum(len(video["frames"]) for video in videos.values())
            report.add("ok", f"{split}: {len(videos)} videos, all {frames} frames present"
                             + (" with their annotations" if has_masks else " (no public masks: not for training)"))
            if has_masks:
                present.append(split)
    read = (lambda split: load_ytvos(root, split)) if dataset == "ytvos" else (lambda split: load_davis(root, split))
    if not report.errors and present:
        _check_reader(report, read, [s for s in present if dataset != "davis" or s in DAVIS_SPLITS])


def _missing_frames(split_dir: Path, videos: dict, has_masks: bool) -> list[str]:
    """What is missing of each video's frames (JPEGImages) and, with masks, annotations (Annotations)."""
    problems = []
    folders = [("JPEGImages", ".jpg")] + ([("Annotations", ".png")] if has_masks else [])
    for folder, suffix in folders:
        missing: list[str] = []
        for vid, video in videos.items():
            names = _names_in(split_dir / folder / vid)
            wanted = [f"{frame}{suffix}" for frame in video["frames"]]
            missing += [f"{vid}/{name}" for name in wanted if names is None or name not in names]
        total = sum(len(video["frames"]) for video in videos.values())
        if missing:
            problems.append(f"{len(missing)} of {total} files missing from {split_dir / folder} ({_first(missing)})")
        elif videos:
            first_vid, first = next(iter(videos.items()))
            if first["frames"]:
                path = split_dir / folder / first_vid / f"{first['frames'][0]}{suffix}"
                if (error := _decode_error(path)) is not None:
                    problems.append(error)
    return problems


# --- shared ------------------------------------------------------------------------------------------------------


def _check_splits(report: CheckReport, refs_path: Path, expected: Iterable[str], found: dict) -> None:
    missing = [split for split in expected if split not in found]
    extra = sorted(set(found) - set(expected))
    if missing:
        report.add("error", f"{refs_path.name}: no refs of split(s) {', '.join(missing)} "
                            f"(has {', '.join(sorted(found))})")
    else:
        report.add("ok", f"{refs_path.name}: splits {', '.join(expected)}")
    if extra:
        report.add("warning", f"{refs_path.name}: unexpected split(s) {', '.join(extra)}")


def _check_reader(report: CheckReport, read: Callable[[str], list[RefScene]], splits: list[str]) -> None:
    """The training reader reads each split; the first scene's frames and first mask decode."""
    for split in splits:
        try:
            scenes = read(split)
            if not scenes:
                report.add("error", f"{split}: the reader finds no scene")
                continue
            scene = scenes[0]
            frames = scene.load_frames([0])
            mask = scene.load_mask(scene.objects[0].object_id, [0])
        except (OSError, ValueError, KeyError) as err:
            report.add("error", f"{split}: the reader fails: {type(err).__name__}: {' '.join(str(err).split())[:200]}")
            continue
        if frames.shape[1:3] != mask.shape[1:3]:
            report.add("error", f"{split}: scene {scene.scene_id}: image {frames.shape[1:3]} "
                                f"but mask {mask.shape[1:3]}")
        else:
            report.add("ok", f"{split}: the reader reads {len(scenes)} scene(s); {scene.scene_id} decodes")


def _compare_counts(report: CheckReport, strict: bool) -> None:
    level = "error" if strict else "warning"
    for split, counts in report.counts.items():
        published = PUBLISHED[report.dataset].get(split)
        if published is None:
            continue
        differ = [f"{what} {ours} (published {theirs})"
                  for what, ours, theirs in (("images/videos", counts.images, published.images),
                                             ("objects", counts.objects, published.objects),
                                             ("expressions", counts.expressions, published.expressions))
                  if theirs is not None and ours is not None and ours != theirs]
        if differ:
            report.add(level, f"{split}: {', '.join(differ)}")
        else:
            report.add("ok", f"{split}: counts match the published figures")


def _load(report: CheckReport, path: Path, what: str):
    """A JSON or REFER pickle file, or None with an error in the report."""
    if not path.is_file():
        report.add("error", f"{what} {path} not found")
        return None
    try:
        with open(path, "rb") as handle:
            if path.suffix == ".p":
                return pickle.load(handle, encoding="latin1")  # REFER's Python 2 pickles (trusted files only)
            return json.load(handle)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError) as err:
        report.add("error", f"{what} {path} is unreadable: {type(err).__name__}: {' '.join(str(err).split())[:160]}")
        return None


def _names_in(folder: Path) -> set[str] | None:
    """The file names in a folder (one listing instead of a stat per file), None if it is not there."""
    if not folder.is_dir():
        return None
    with os.scandir(folder) as entries:
        return {entry.name for entry in entries}


def _check_decodes(report: CheckReport, path: Path) -> None:
    if (error := _decode_error(path)) is not None:
        report.add("error", error)


def _decode_error(path: Path) -> str | None:
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, ValueError) as err:
        return f"{path} does not decode ({type(err).__name__}: {err})"
    return None


def _first(items: list) -> str:
    shown = ", ".join(str(item) for item in items[:_SHOWN])
    return shown + (f", ... {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _fmt(ours: int | None, published: int | None) -> str:
    text = "-" if ours is None else f"{ours:,}"
    return text + (f" ({published:,})" if published is not None else "")

