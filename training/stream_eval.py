"""What time buys on video: a stream (memory carried frame to frame) against the same frames one by one.

For every expression of every video scene, the predictor runs the frames twice: as one stream
(``Predictor.stream``: a temporal model remembers the past) and frame by frame (a new stream
per frame: nothing remembered, the per-frame path). Reported per mode:

- ``J&F`` over the target expressions, and ``J&F motion`` over those with a motion word
  ("moving", "fastest", ...): each sequence's mean over its frames, frames where the named object
  is out of view included (an empty mask there scores 1, anything else 0); the motion subset also
  by kind: ``J&F direction`` ("moving left/right/up/down"), ``J&F moving or still`` ("that is
  moving", "that is not moving"), ``J&F speed`` ("fastest", "slowest");
- ``N-acc``, ``T-acc`` per frame: the named object out of view (or named nothing) and not found,
  in view and found;
- ``switches``: identity switches per 100 found frames. A found frame's mask belongs to the object
  of the scene it overlaps most (IoU >= 0.5); a switch is a found frame whose object differs from
  the previous found frame's;
- ``frames to found`` / ``frames to lost``: after the named object comes into view (the first frame,
  or after frames out of view), frames until it is found (0 = on that frame); after it leaves the
  view, frames until it is not found. Events the clip ends before resolving count their frames up
  to the end.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from training.data.types import RefScene
from training.metrics import boundary_f_measure, mask_iou, region_similarity
from training.synthetic.language import MOTIONS, SPEEDS
from vatex_core import Prediction, Predictor
from vatex_core.image_input import mask_to_input_size, resized_size

MODES = ("stream", "per-frame")
MOTION_KINDS = {  # kind -> the phrases that name it
    "direction": tuple(MOTIONS[key] for key in ("left", "right", "up", "down")),
    "moving or still": (MOTIONS["moving"], MOTIONS["still"]),
    "speed": SPEEDS,
}


def motion_kind(expression: str) -> str | None:
    """How the expression names its object by motion (a key of ``MOTION_KINDS``), None when it does not."""
    return next((kind for kind, phrases in MOTION_KINDS.items() if any(p in expression for p in phrases)), None)


def is_motion_expression(expression: str) -> bool:
    """Whether the expression names its object by how it moves."""
    return motion_kind(expression) is not None


def query_ious(predictor: Predictor, frame: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """IoU with ``truth`` (H, W) of every query's mask in the predictor's newest forward (one stream, ``frame``
    (H, W, 3)), not only the picked query's -> (N,)."""
    height, width = frame.shape[:2]
    resized = resized_size(height, width, predictor.short_side, predictor.max_size)
    logits = predictor.last_output["pred_masks"][0, :, 0].float()  # (N, H/4, W/4) of the padded input
    masks = (mask_to_input_size(logits, resized, (height, width)) > 0).cpu().numpy()  # (N, H, W)
    return np.array([mask_iou(mask, truth) for mask in masks])


def _latencies(present: np.ndarray, found: np.ndarray) -> tuple[list[int], list[int]]:
    """Frames from each appearance to found, and from each disappearance to not found."""
    to_found, to_lost = [], []
    for t in range(len(present)):
        if present[t] and (t == 0 or not present[t - 1]):
            waited = next((k for k in range(t, len(present)) if found[k] or not present[k]), len(present))
            to_found.append(waited - t)
        if not present[t] and t > 0 and present[t - 1]:
            waited = next((k for k in range(t, len(present)) if not found[k] or present[k]), len(present))
            to_lost.append(waited - t)
    return to_found, to_lost


def _identities(predictions: Sequence[Prediction], objects: dict[str, np.ndarray]) -> list[str | None]:
    """The scene object each found mask covers (IoU >= 0.5), None for the rest."""
    owners = []
    for t, prediction in enumerate(predictions):
        best, owner = 0.5, None
        if prediction.found and prediction.mask.any():
            for object_id, masks in objects.items():
                iou = mask_iou(prediction.mask, masks[t])
                if iou >= best:
                    best, owner = iou, object_id
        owners.append(owner)
    return owners


class StreamReport:
    """Accumulates the metrics of one mode (see the module docstring)."""

    def __init__(self) -> None:
        self.jf: dict[str, list[float]] = defaultdict(list)  # "all" / "motion" / motion kind -> per-sequence J&F
        self.frames = {"no_target": [0, 0], "target": [0, 0]}  # kind -> [right, total]
        self.switches, self.found_frames = 0, 0
        self.to_found: list[int] = []
        self.to_lost: list[int] = []

    def update(self, expression: str, predictions: Sequence[Prediction], gt: np.ndarray,
               objects: dict[str, np.ndarray], no_target: bool) -> None:
        """One expression's sequence: predictions per frame, its truth (T, H, W), every object's masks."""
        found = np.array([p.found for p in predictions])
        present = gt.reshape(len(gt), -1).any(1) & (not no_target)
        for kind, rows in (("no_target", ~present), ("target", present)):
            self.frames[kind][0] += int((found[rows] == present[rows]).sum())
            self.frames[kind][1] += int(rows.sum())
        if no_target:
            return
        pred = np.stack([p.mask for p in predictions])
        score = 50 * (float(np.mean(region_similarity(pred, gt))) + float(np.mean(boundary_f_measure(pred, gt))))
        self.jf["all"].append(score)
        kind = motion_kind(expression)
        if kind is not None:
            self.jf["motion"].append(score)
            self.jf[kind].append(score)
        owners = [o for o in _identities(predictions, objects) if o is not None]
        self.switches += sum(a != b for a, b in zip(owners, owners[1:]))
        self.found_frames += int(found.sum())
        waits = _latencies(present, found)
        self.to_found += waits[0]
        self.to_lost += waits[1]

    def summary(self) -> dict[str, float]:
        def mean(values: list) -> float:
            return float(np.mean(values)) if values else math.nan

        def rate(kind: str) -> float:
            right, total = self.frames[kind]
            return 100 * right / total if total else math.nan

        return {
            "J&F": mean(self.jf["all"]), "J&F motion": mean(self.jf["motion"]),
            **{f"J&F {kind}": mean(self.jf[kind]) for kind in MOTION_KINDS},
            "sequences": len(self.jf["all"]), "motion sequences": len(self.jf["motion"]),
            "N-acc": rate("no_target"), "T-acc": rate("target"),
            "switches": 100 * self.switches / self.found_frames if self.found_frames else math.nan,
            "frames to found": mean(self.to_found), "frames to lost": mean(self.to_lost),
        }


def evaluate_streams(predictor: Predictor, scenes: Sequence[RefScene], max_items: int | None = None,
                     stamp_step: float = 0.1) -> dict[str, dict[str, float]]:
    """Runs every expression of ``scenes`` as a stream and frame by frame; returns each mode's summary.

    Args:
        predictor: the model under test and its found threshold.
        scenes: video scenes (e.g. ``make_motion_scenes``); every object's masks are read for identities.
        max_items: stop after this many expressions.
        stamp_step: seconds between frames given to the stream (within its memory's ``max_gap``).
    """
    reports = {mode: StreamReport() for mode in MODES}
    items = [(scene, obj, expression) for scene in scenes for obj in scene.objects for expression in obj.expressions]
    for scene, obj, expression in tqdm(items[:max_items], desc="streams", dynamic_ncols=True):
        frames = scene.load_frames()  # (T, H, W, 3)
        objects = {o.object_id: scene.load_mask(o.object_id) for o in scene.objects if not o.no_target}
        gt = scene.load_mask(obj.object_id)
        session = predictor.stream(expression)
        streamed = [session.step(frame, stamp=t * stamp_step) for t, frame in enumerate(frames)]
        single = [predictor.stream(expression).step(frame) for frame in frames]
        for mode, predictions in zip(MODES, (streamed, single)):
            reports[mode].update(expression, predictions, gt, objects, obj.no_target)
    return {mode: report.summary() for mode, report in reports.items()}


def format_streams(results: dict[str, dict[str, float]]) -> str:
    """The two modes side by side as a small text table."""
    keys = list(next(iter(results.values())))
    lines = [f"{'':<20}" + "".join(f"{mode:>12}" for mode in results)]
    for key in keys:
        lines.append(f"{key:<20}" + "".join(f"{results[mode][key]:>12.2f}" for mode in results))
    return "\n".join(lines)
