"""`vatex bench`: per-frame latency split of the node and its end-to-end latency vs the bare model call.

Example::

    vatex bench --size 640x480 --frames 20 --out runs/bench.json
    vatex bench --sizes 320x240,640x480,1280x720,1920x1080 --out runs/bench_sizes.json
    vatex bench --streams 2x2 --out runs/bench_streams.json   # 2 cameras x 2 expressions: one node vs one at a time
    vatex bench --temporal --size 640x480 --frames 40    # what the temporal memory costs a frame
    vatex bench --backend onnxruntime --size 640x480     # the node with the model in onnxruntime
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from pathlib import Path

from vatex_ros.commands.arg_types import frame_size, frame_sizes, thread_counts
from vatex_ros.tools.model_bench import add_arguments as add_model_arguments

HELP = "measure per-stage latency (transport, preprocess, model stages, postprocess, 3D step) and node/model ratio"
logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, help="safetensors weights (default: the embedded tiny model)")
    parser.add_argument("--size", type=frame_size, default="640x480", help="frame size WxH (default 640x480)")
    parser.add_argument("--sizes", type=frame_sizes,
                        help="several frame sizes in one run, e.g. 320x240,640x480,1920x1080 (overrides --size)")
    parser.add_argument("--frames", type=int, default=20, help="measured frames per measurement (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted frames first (default 3)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench.json"),
                        help="JSON result (default runs/bench.json)")
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                        help="the node's backend parameter (default torch)")
    parser.add_argument("--threads", type=thread_counts, default=None, metavar="N[,N...]",
                        help="--streams CxE: torch threads each way of serving is measured at (default 1 and the "
                             "number of cores; the best of each is compared)")
    parser.add_argument("--temporal", action="store_true",
                        help="per-frame cost of the temporal memory: a stream step with it / the same frame without")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.temporal:
        return run_temporal(args)
    if args.model_only or args.preset:  # the bare model call: no node, no DDS (vatex_ros.tools.model_bench)
        return run_model_only(args)
    if args.streams != "1":  # without --model-only, --streams CxE: the node's stream throughput
        return run_streams(args)
    import torch

    from vatex_ros.tools.bench import BenchConfig, bench_size, format_sizes
    from vatex_ros.tools.node_process import loopback_env
    from vatex_ros.node.params import NodeParams
    from vatex_ros.node.predictor_loading import load_predictor

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    if args.frames < 1 or args.warmup < 0:
        raise ValueError(f"need --frames >= 1 and --warmup >= 0, got {args.frames}, {args.warmup}")
    sizes = args.sizes or [args.size]
    params = NodeParams(weights=str(args.weights.resolve()) if args.weights else "", device=args.device,
                        precision=args.precision, compile=args.compile, backend=args.backend,
                        compile_frame_size="{}x{}".format(*sizes[0]))  # warmed up (exported) for the first size
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate like Ctrl-C: children are stopped
    os.environ.update(loopback_env(os.environ))  # before any participant: Cyclone reads it once per process

    predictor, results = load_predictor(params), []
    try:
        for width, height in sizes:
            cfg = BenchConfig(width=width, height=height, frames=args.frames, warmup=args.warmup)
            results.append(bench_size(predictor, params, cfg))
            results[-1]["config"].update(weights=params.weights or "embedded", backend=params.backend,
                                         torch_threads=torch.get_num_threads(),
                                         cpus=os.cpu_count())
            print(format_table(results[-1]))
    except RuntimeError as err:
        logger.error("%s", err)
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted; node stopped")
        return 130
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written = results[0] if args.sizes is None else {"sizes": {r["config"]["size"]: r for r in results}}
    args.out.write_text(json.dumps(written, indent=2) + "\n")
    if args.sizes is not None:
        print(format_sizes(results))
    print(f"wrote {args.out}")
    return 0


def run_temporal(args: argparse.Namespace) -> int:
    """``--temporal``: a temporal stream's step against the same weights' single-image call (tools.temporal_bench)."""
    from vatex_ros.tools.temporal_bench import TemporalBenchConfig, format_temporal, measure_temporal_cost

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    width, height = args.size
    result = measure_temporal_cost(TemporalBenchConfig(str(args.weights) if args.weights else None, width, height,
                                                       args.frames, args.warmup))
    print(format_temporal(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
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


def run_streams(args: argparse.Namespace) -> int:
    """``--streams CxE``: masks/s of C cameras x E expressions in one node vs the same streams one at a time."""
    from vatex_ros.node.params import NodeParams
    from vatex_ros.node.predictor_loading import load_predictor
    from vatex_ros.tools.stream_bench import StreamBenchConfig, format_streams, measure_streams, parse_streams

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    cameras, expressions = parse_streams(args.streams)
    width, height = args.size
    params = NodeParams(weights=str(args.weights.resolve()) if args.weights else "", device=args.device,
                        precision=args.precision, compile=args.compile)
    threads = args.threads or tuple(dict.fromkeys((1, os.cpu_count() or 1)))
    cfg = StreamBenchConfig(cameras=cameras, expressions=expressions, width=width, height=height,
                            rounds=args.frames, warmup=args.warmup, threads=threads)
    try:
        result = measure_streams(load_predictor(params), params, cfg)
    except RuntimeError as err:
        logger.error("%s", err)
        return 1
    result["config"].update(weights=params.weights or "embedded", cpus=os.cpu_count())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_streams(result))
    print(f"wrote {args.out}")
    return 0


def format_table(result: dict) -> str:
    """The result as a plain-text table (ms)."""
    def row(name: str, stats: dict) -> str:
        if stats["p50"] is None:
            return f"{name:<26}{'n/a':>9}{'n/a':>9}{'n/a':>9}"
        return f"{name:<26}{stats['p50']:>9.1f}{stats['p95']:>9.1f}{stats['mean']:>9.1f}"

    lines = [f"frames {result['config']['size']}, {result['config']['frames']} measured "
             f"(+{result['config']['warmup']} warm-up), {result['config'].get('backend', 'torch')} backend",
             f"{'stage (ms)':<26}{'p50':>9}{'p95':>9}{'mean':>9}"]
    lines += [row(stage, stats) for stage, stats in result["stages_ms"].items()]
    lines += [row("bare model call", result["bare_model_ms"]),
              row("node end to end (DDS)", result["node_end_to_end_ms"])]
    ratio = result["ratio_node_to_bare_model"]
    if ratio["p50"] is not None:
        lines.append(f"node end to end / bare model call: {ratio['p50']:.2f}x (p50), {ratio['mean']:.2f}x (mean); "
                     f"{result['node_lost_frames']} frames lost")
    if result.get("ratio_in_process_to_bare_model"):
        lines.append(f"node in process (core + outputs, no transport) / bare model call: "
                     f"{result['ratio_in_process_to_bare_model']:.2f}x (p50)")
    if result.get("transport_floor_ms") and result["transport_floor_ms"]["p50"] is not None:
        floor = result["transport_floor_ms"]
        lines.append(f"DDS transport floor (the same node, a model that answers at once): p50 {floor['p50']:.1f} ms, "
                     f"p95 {floor['p95']:.1f} ms")
    lines.append(f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())} (1/5/15 min, at the end)")
    if result.get("stream"):
        stream = result["stream"]
        lines.append(f"best-effort stream at {stream['rate_hz']:.0f} Hz: {stream['lost_frames']} of "
                     f"{stream['published']} frames lost in transport")
    depth = result["depth_3d"]
    share = "n/a" if depth["share_of_in_process_frame"] is None else f"{100 * depth['share_of_in_process_frame']:.1f}%"
    lines.append(f"3D step (use_depth, target {100 * depth['object_fraction']:.0f}% of the frame): "
                 f"{depth['step_ms']:.1f} ms = {share} of the in-process frame latency (p50)")
    return "\n".join(lines)

