"""`vatex info`: a preset's configuration and parameter counts per component."""

from __future__ import annotations

import argparse
import json

HELP = "print a model preset's configuration and parameter counts (paper: 251M total, 165M trainable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="paper", help="model preset: paper or tiny (default: paper)")
    parser.add_argument("--config", action="store_true", help="also print the full configuration as JSON")


def run(args: argparse.Namespace) -> int:
    from vatex_core import build_vatex, preset
    from vatex_core.summary import format_counts, parameter_counts

    cfg = preset(args.preset)
    if args.config:
        print(json.dumps(cfg.to_dict(), indent=2))
    print(f"VATEX preset {cfg.name!r}")
    print(format_counts(parameter_counts(build_vatex(cfg)), compare_to_paper=cfg.name == "paper"))
    return 0
