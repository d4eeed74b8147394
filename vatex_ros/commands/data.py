"""`vatex data check`: is a dataset folder ready for training and evaluation? (layout, splits, files, counts)"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

HELP = "datasets: `vatex data check --dataset refcoco --root data/refer` verifies a folder before a long run"
DATASETS = ("refcoco", "refcoco+", "refcocog", "grefcoco", "ytvos", "davis")  # training.data.check.DATASETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="verify layout, splits, image presence and counts against the published "
                                             "figures; print what is missing and how to get it (exit 1 if not ready)")
    check.add_argument("--dataset", required=True, choices=DATASETS)
    check.add_argument("--root", required=True, type=Path, help="the dataset folder (data.root of a training config)")
    check.add_argument("--split-by", default=None, help="REFER partition (default: unc; umd for refcocog)")
    check.add_argument("--strict", action="store_true", help="counts that differ from the published ones fail too")
    check.add_argument("--json", type=Path, default=None, help="also write the findings and counts here")


def run(args: argparse.Namespace) -> int:
    from training.data.check import check_dataset

    report = check_dataset(args.dataset, args.root, args.split_by, args.strict)
    print(report.format())
    if args.json is not None:
        args.json.write_text(json.dumps({
            "dataset": report.dataset, "root": str(report.root), "ready": not report.errors,
            "findings": [asdict(f) for f in report.findings],
            "counts": {split: asdict(counts) for split, counts in report.counts.items()},
        }, indent=2) + "\n")
    return 1 if report.errors else 0
