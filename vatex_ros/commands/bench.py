"""`vatex bench`: per-frame latency split of the node and its end-to-end latency vs the bare model call.

Example::

    vatex bench --size 640x480 --frames 20 --out runs/bench.json
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
from vatex_ros.tools.model_bench import add_arguments as add_model_arguments

HELP = "measure per-stage latency (transport, preprocess, model stages, postprocess, 3D step) and node/model ratio"
logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, help="safetensors weights (default: the embedded tiny model)")
    parser.add_argument("--size", type=frame_size, default="640x480", help="frame size WxH (default 640x480)")
    parser.add_argument("--frames", type=int, default=20, help="measured frames per measurement (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted frames first (default 3)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench.json"),
                        help="JSON result (default runs/bench.json)")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.model_only or args.preset:  # the bare model call: no node, no DDS (vatex_ros.tools.model_bench)
        return run_model_only(args)
    import torch

    from vatex_ros.tools.bench import BenchConfig, bench_frames, measure_in_process, measure_node, summarize
    from vatex_ros.tools.depth_scene import time_3d_step
    from vatex_ros.tools.node_process import loopback_env
    from vatex_ros.node.params import NodeParams
    from vatex_ros.node.predictor_loading import load_predictor

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    if args.frames < 1 or args.warmup < 0:
        raise ValueError(f"need --frames >= 1 and --warmup >= 0, got {args.frames}, {args.warmup}")
    width, height = args.size
    cfg = BenchConfig(width=width, height=height, frames=args.frames, warmup=args.warmup)
    params = NodeParams(weights=str(args.weights.resolve()) if args.weights else "", device=args.device,
                        precision=args.precision, compile=args.compile)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate like Ctrl-C: children are stopped
    os.environ.update(loopback_env(os.environ))  # before any participant: Cyclone reads it once per process

    frames, expression = bench_frames(cfg)
    try:
        split, bare = measure_in_process(load_predictor(params), params, frames, expression, cfg.warmup)
        depth_step = time_3d_step(width, height, cfg.depth_object_fraction)
        with tempfile.TemporaryDirectory(prefix="vatex-bench-") as workdir:
            node, lost = measure_node(params, frames, expression, cfg, Path(workdir))
    except RuntimeError as err:
        logger.error("%s", err)
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted; node stopped")
        return 130
    result = summarize(cfg, split, bare, node, lost, depth_step)
    result["config"].update(expression=expression, weights=params.weights or "embedded",
                            torch_threads=torch.get_num_threads(), cpus=os.cpu_count())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"wrote {args.out}")
    return 0


def run_model_only(args: argparse.Namespace) -> int:
    """``--model-only``: latency per stage, FPS, peak memory, streams, compiled, training step of the bare model."""
    from vatex_ros.tools.model_bench import config_from_args, format_model_table, run_model_bench

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    result = run_model_bench(config_from_args(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_model_table(result))
    print(f"wrote {args.out}")
    return 0


def format_table(result: dict) -> str:
    """The result as a plain-text table (ms)."""
    def row(name: str, stats: dict) -> str:
        if stats["p50"] is None:
            return f"{name:<26}{'n/a':>9}{'n/a':>9}{'n/a':>9}"
        return f"{name:<26}{stats['p50']:>9.1f}{stats['p95']:>9.1f}{stats['mean']:>9.1f}"

    lines = [f"frames {result['config']['size']}, {result['config']['frames']} measured "
             f"(+{result['config']['warmup']} warm-up)", f"{'stage (ms)':<26}{'p50':>9}{'p95':>9}{'mean':>9}"]
    lines += [row(stage, stats) for stage, stats in result["stages_ms"].items()]
    lines += [row("bare model call", result["bare_model_ms"]),
              row("node end to end (DDS)", result["node_end_to_end_ms"])]
    ratio = result["ratio_node_to_bare_model"]
    if ratio["p50"] is not None:
        lines.append(f"node end to end / bare model call: {ratio['p50']:.2f}x (p50), {ratio['mean']:.2f}x (mean); "
                     f"{result['node_lost_frames']} frames lost")
    depth = result["depth_3d"]
    share = "n/a" if depth["share_of_in_process_frame"] is None else f"{100 * depth['share_of_in_process_frame']:.1f}%"
    lines.append(f"3D step (use_depth, target {100 * depth['object_fraction']:.0f}% of the frame): "
                 f"{depth['step_ms']:.1f} ms = {share} of the in-process frame latency (p50)")
    return "\n".join(lines)

