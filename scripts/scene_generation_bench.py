"""Times drawing synthetic scenes with 1..N worker processes (``data.scene_workers``), and checks they are the same.

    python scripts/scene_generation_bench.py --config training/configs/tiny-1.4.0/ablation/all_on.yaml \\
        --images 2000 --motion 120 --workers 1 2

Prints seconds per configuration, the speed-up against the first worker count and the load average. Run it on an
idle machine (pause training with SIGSTOP): other work on the cores distorts both.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time

from training.config import load_config
from training.synthetic import make_motion_scenes, make_scenes


def digest(scenes) -> str:
    """One hash over every scene's pixels and expressions."""
    hasher = hashlib.sha256()
    for scene in scenes:
        hasher.update(scene.load_frames().tobytes())
        hasher.update(repr([o.expressions for o in scene.objects]).encode())
    return hasher.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="training config whose data.synthetic draws the scenes")
    parser.add_argument("--images", type=int, default=2000, help="image scenes to draw (0: none)")
    parser.add_argument("--motion", type=int, default=120, help="motion videos to draw (0: none)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    data = load_config(args.config).data
    jobs = [("images", make_scenes, args.images), ("motion videos", make_motion_scenes, args.motion)]
    for name, make, count in jobs:
        if not count:
            continue
        baseline, reference = None, None
        for workers in args.workers:
            start = time.perf_counter()
            scenes = make(data.synthetic, "train", count, data.synthetic_seed, workers)
            seconds = time.perf_counter() - start
            same = digest(scenes)
            reference = reference or same
            baseline = baseline or seconds
            print(f"{count} {name}, {workers} worker(s): {seconds:.1f} s, {baseline / seconds:.2f}x, "
                  f"same scenes: {same == reference}, load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
