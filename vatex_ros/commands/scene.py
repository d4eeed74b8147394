"""`vatex scene OUT.png`: write a synthetic test scene and list what can be said about it."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write a held-out synthetic scene as a PNG and print its expressions (try them with `vatex segment`)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--index", type=int, default=0, help="which scene of the split (default 0)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="default: test (held out)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0, as in training)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from training.synthetic import SyntheticConfig, make_scenes

    if args.index < 0:
        raise ValueError(f"--index must be >= 0, got {args.index}")
    scene = make_scenes(SyntheticConfig(height=args.size, width=args.size), args.split, args.index + 1, args.seed)[-1]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scene.load_frames()[0]).save(args.out)
    print(f"wrote {args.out}; each line names one object:")
    for obj in scene.objects:
        for expression in obj.expressions:
            print(f"  {expression}")
    return 0
