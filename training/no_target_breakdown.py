"""Where the found decision fails on a synthetic split: N-acc by kind of no-target expression, T-acc by form and size.

Run command (the figures of docs/model.md, "Expressions that name nothing")::

    python -m training.no_target_breakdown --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml \\
        --split val --min-t-acc 98 --weights W

Kinds of no-target expression (``training.synthetic.absent``): "place" ones carry a spatial
phrase ("the ring at the top" when the ring is lower down), "attribute" ones name an object with
one attribute changed; each kind is split into expressions with a bare noun ("the triangle") and
those that also name an attribute ("the red triangle", "the striped shape"). Target expressions are
split twice: by the form of the expression (``training.synthetic.language``: a description alone,
with a spatial phrase, with a superlative, with a relation) and into thirds by the area of their
mask. The threshold is the one ``vatex eval --calibrate`` picks on the same items with the same
rule, or ``--found-threshold``; scores come from the deployed path (``vatex_core.Predictor``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from training.calibration import calibrate_threshold
from training.config import load_config, load_scenes
from training.data import EvalDataset
from training.synthetic.language import parse
from vatex_core import Predictor, load_vatex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemScore:
    score: float  # object probability of the chosen query
    no_target: bool
    expression: str
    area: int  # target mask pixels (0 for no-target expressions)


def expression_form(text: str) -> str:
    """The grammar's form of an expression: "relation", "superlative", "place" or "description"."""
    expression = parse(text)
    if expression.relation:
        return "relation"
    return "superlative" if expression.superlative else "place" if expression.spatial else "description"


def _no_target_kind(text: str) -> str:
    """"attribute" or "place" (``training.synthetic.absent``), and whether the noun stands alone."""
    expression = parse(text)
    named = "bare noun" if expression.head.words() == [expression.head.noun] else "with attribute"
    return f"{'place' if expression.spatial else 'attribute'}, {named}"


@torch.inference_mode()
def score_items(predictor: Predictor, dataset: EvalDataset, max_items: int | None = None) -> list[ItemScore]:
    """The predictor's score of every image item (first frame), with its expression and target area."""
    total = min(len(dataset), max_items or len(dataset))
    items = []
    for index in tqdm(range(total), desc="score", dynamic_ncols=True):
        item = dataset[index]
        frame = (item["frames"][0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()  # (H, W, 3)
        items.append(ItemScore(predictor.predict(frame, item["expression"]).score, bool(item["no_target"]),
                               item["expression"], int(item["mask"][0].sum())))
    return items


def breakdown(items: Sequence[ItemScore], threshold: float) -> dict[str, tuple[int, float]]:
    """{group: (items, accuracy in percent)}: N-acc of the four no-target kinds, T-acc of the four target
    forms and of the three size thirds (two partitions of the target expressions)."""
    groups: dict[str, list[bool]] = {f"no-target, {kind}, {named}": [] for kind in ("attribute", "place")
                                     for named in ("bare noun", "with attribute")}
    groups.update({f"target, {form}": [] for form in ("description", "place", "superlative", "relation")})
    for item in items:
        if item.no_target:
            groups[f"no-target, {_no_target_kind(item.expression)}"].append(item.score < threshold)
        else:
            groups[f"target, {expression_form(item.expression)}"].append(item.score >= threshold)
    targets = [item for item in items if not item.no_target]
    if targets:
        bounds = np.quantile([item.area for item in targets], [1 / 3, 2 / 3])  # area < first: smallest third
        thirds = [f"target, {size} third" for size in ("smallest", "middle", "largest")]
        for name in thirds:
            groups[name] = []
        for item in targets:
            groups[thirds[int(np.searchsorted(bounds, item.area, side="right"))]].append(item.score >= threshold)
    return {name: (len(hits), 100 * float(np.mean(hits)) if hits else float("nan")) for name, hits in groups.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="training config whose synthetic data to score")
    parser.add_argument("--weights", required=True, help="VATEX .safetensors")
    parser.add_argument("--split", default="val")
    parser.add_argument("--max-items", type=int, default=None, help="score only the first N expressions")
    parser.add_argument("--found-threshold", type=float, default=None, help="default: calibrated on these items")
    parser.add_argument("--min-t-acc", type=float, default=None, help="calibration rule, as `vatex eval --min-t-acc`")
    parser.add_argument("--confidence", type=float, default=None, help="calibration rule, as `vatex eval --confidence`")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = load_config(args.config).data
    if data.kind != "synthetic":
        raise SystemExit(f"{args.config} has dataset kind {data.kind!r}; the breakdown needs the synthetic images")
    items = score_items(Predictor(load_vatex(args.weights)), EvalDataset(load_scenes(data, args.split)), args.max_items)
    threshold = args.found_threshold
    if threshold is None:
        calibration = calibrate_threshold(np.array([i.score for i in items]), np.array([i.no_target for i in items]),
                                          args.min_t_acc, args.confidence)
        threshold = calibration.threshold
        print(f"calibrated found threshold {threshold:.4f}: {calibration.summary()} on {args.split}")
    for name, (count, accuracy) in breakdown(items, threshold).items():
        print(f"{name:<38}{count:>6} items  {'N-acc' if name.startswith('no-target') else 'T-acc'} {accuracy:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
