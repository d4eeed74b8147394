"""`vatex soak`: memory and latency of a `vatex node` over minutes, and masks per second at faster cameras.

Example::

    vatex soak --minutes 5 --rate 10 --size 640x480 --out runs/soak.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import tempfile
from pathlib import Path

from vatex_ros.commands.arg_types import frame_size

HELP = "soak (RSS start/peak/end/slope, latency per minute) and flood (masks/s per input rate) a node over DDS"
logger = logging.getLogger(__name__)


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected rates like 20,50,100, got {text!r}") from None
    if not rates or any(not 0 < r <= 1000 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be in (0, 1000] Hz, got {text!r}")
    return rates


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=5.0, help="soak length (default 5)")
    parser.add_argument("--rate", type=float, default=10.0, help="soak camera rate, frames/s (default 10)")
    parser.add_argument("--size", type=frame_size, default="640x480", help="frame size WxH (default 640x480)")
    parser.add_argument("--sweep-rates", type=_rates, default=(20.0, 50.0, 100.0),
                        help="flood camera rates, frames/s (default 20,50,100)")
    parser.add_argument("--sweep-seconds", type=float, default=30.0,
                        help="seconds per flood rate, over all rounds (default 30)")
    parser.add_argument("--sweep-rounds", type=int, default=3,
                        help="the flood rates take turns this many times (default 3)")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds first (default 10)")
    parser.add_argument("--weights", type=Path, help="safetensors weights (default: the embedded tiny model)")
    parser.add_argument("--out", type=Path, default=Path("runs/soak.json"), help="JSON result (default runs/soak.json)")


def run(args: argparse.Namespace) -> int:
    from vatex_ros.node.params import NodeParams
    from vatex_ros.tools.bench import BenchConfig, bench_frames
    from vatex_ros.tools.node_process import loopback_env
    from vatex_ros.tools.soak import SoakConfig, format_result, run_soak

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    if args.minutes <= 0 or args.rate <= 0 or args.sweep_seconds <= 0 or args.sweep_rounds < 1 or args.warmup < 0:
        raise ValueError("need --minutes, --rate and --sweep-seconds > 0, --sweep-rounds >= 1 and --warmup >= 0")
    width, height = args.size
    cfg = SoakConfig(minutes=args.minutes, rate=args.rate, width=width, height=height, sweep_rates=args.sweep_rates,
                     sweep_seconds=args.sweep_seconds, sweep_rounds=args.sweep_rounds, warmup_seconds=args.warmup)
    params = NodeParams(weights=str(args.weights.resolve()) if args.weights else "")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate like Ctrl-C: the node is stopped
    os.environ.update(loopback_env(os.environ))  # before any participant: Cyclone reads it once per process
    frames, expression = bench_frames(BenchConfig(width=width, height=height, frames=8, warmup=0))
    try:
        with tempfile.TemporaryDirectory(prefix="vatex-soak-") as workdir:
            result = run_soak(cfg, params, frames, expression, Path(workdir))
    except RuntimeError as err:
        logger.error("%s", err)
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted; node stopped")
        return 130
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_result(result))
    print(f"wrote {args.out}")
    return 0
