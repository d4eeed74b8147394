"""Masks per second of several streams in one node: C cameras x E expressions batched vs served one at a time.

``vatex bench --streams 2x2`` runs the node core in this process (no transport: the same per-mask transport
cost on both sides would only dilute the ratio) on the inference worker thread, as the node does, in rounds:

- **one node**: a core with ``cameras`` = C names and the E expressions in force; each round every camera offers
  its next frame and one ``step_cameras`` answers all C*E streams in one batched forward (each camera frame
  encoded once); the output messages of every result are built as the node publishes them;
- **one at a time**: C*E cores of one camera and one expression each, on the same model; each round every one of
  them takes its camera's frame and answers it alone (a forward per stream), outputs built the same way.

Each is measured at each torch thread count of ``threads`` (the node's ``cpu_threads``): one stream's forward is too
small to split over cores, a batched one is not, so each way of serving has its own best setting. All of them
alternate round by round, so a change in machine load shows in all; masks/s of each and the ratio of the best
of each (total masks / total seconds, and the median of the per-round ratios) come from the same run, with the
load average before and after it (this machine is shared: read ratios, not absolute figures).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from vatex_ros.node.core import NodeCore
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NodeParams
from vatex_ros.tools.bench import image_msg

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamBenchConfig:
    """What to measure."""

    cameras: int = 2
    expressions: int = 2  # per camera (the same list on every camera, as the node has it)
    width: int = 640
    height: int = 480
    rounds: int = 10  # measured rounds per mode
    warmup: int = 2  # uncounted rounds first
    seed: int = 0
    threads: tuple[int, ...] = (1,)  # torch intra-op threads each mode is measured at


def parse_streams(text: str) -> tuple[int, int]:
    """``"2x2"`` -> (2 cameras, 2 expressions); ValueError for anything else."""
    try:
        cameras, expressions = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--streams for the node is CxE (cameras x expressions), e.g. 2x2; got {text!r}") from None
    if not (1 <= cameras <= 16 and 1 <= expressions <= 8):
        raise ValueError(f"--streams {text}: need 1..16 cameras and 1..8 expressions")
    return cameras, expressions


def stream_frames(cfg: StreamBenchConfig) -> tuple[list[list[np.ndarray]], list[str]]:
    """Per camera, frames of its own synthetic video scene; and ``cfg.expressions`` expressions naming objects of the
    first camera's scene (each expression stands for a target a task names; the model runs them all anyway)."""
    from training.synthetic import SyntheticConfig, make_video_scenes

    scenes = make_video_scenes(SyntheticConfig(height=cfg.height, width=cfg.width, num_frames=8,
                                               min_objects=max(2, cfg.expressions)), "test", cfg.cameras, cfg.seed)
    frames = [scene.load_frames() for scene in scenes]
    expressions = [obj.expressions[0] for obj in scenes[0].objects][:cfg.expressions]
    return frames, expressions


class _Mode:
    """One way of serving the streams: cores, and a round that feeds each its frames and answers them."""

    def __init__(self, cores: list[tuple[NodeCore, int, str]]):
        self.cores = cores  # (core, camera index, camera name in that core)
        self.seconds: list[float] = []
        self.masks: list[int] = []

    def round(self, frames: list[np.ndarray], stamp: float, threads: int) -> None:
        torch.set_num_threads(threads)  # in the worker: an OpenMP thread keeps its own count
        started, masks = time.perf_counter(), 0
        for core, camera, _ in self.cores:
            if core.cameras != [""]:  # the batched core: every camera offers its frame, then one step
                for index, name in enumerate(core.cameras):
                    core.submit_frame(image_msg(frames[index], stamp, name), name)
            else:
                core.submit_frame(image_msg(frames[camera], stamp))
            for result in core.step_cameras():
                build_outputs(result, with_overlay=False)  # mask and detections, as published
                masks += sum(1 for _ in result.targets)
        self.seconds.append(time.perf_counter() - started)
        self.masks.append(masks)


def measure_streams(predictor: Any, params: NodeParams, cfg: StreamBenchConfig) -> dict:
    """Both modes, alternating round by round on one worker thread; :func:`format_streams`'s JSON.

    Raises:
        RuntimeError: a round answered fewer masks than it has streams (a frame was skipped).
    """
    frames, expressions = stream_frames(cfg)
    names = [f"camera{index}" for index in range(cfg.cameras)]
    base = params.replace(max_frame_age=0.0, found_after=1)  # frames answered as they come, no age check
    batched = NodeCore(predictor, base.replace(cameras=names), on_result=lambda result: None)
    batched.set_expressions(expressions)
    single = []
    for camera in range(cfg.cameras):
        for expression in expressions:
            core = NodeCore(predictor, base, on_result=lambda result: None)
            core.set_expression(expression)
            single.append((core, camera, ""))
    modes = {(name, threads): _Mode(cores) for threads in cfg.threads
             for name, cores in (("one_node", [(batched, 0, "")]), ("one_at_a_time", single))}
    streams = cfg.cameras * len(expressions)
    load_before = os.getloadavg()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-inference") as worker:  # as the node's worker
        for index in range(cfg.warmup + cfg.rounds):
            round_frames = [camera_frames[index % len(camera_frames)] for camera_frames in frames]
            for (_, threads), mode in modes.items():
                worker.submit(mode.round, round_frames, 1000.0 + index / 10, threads).result()
                if mode.masks[-1] != streams:
                    raise RuntimeError(f"a round answered {mode.masks[-1]} of {streams} streams: "
                                       f"{[core.diagnostics.counts() for core, _, _ in mode.cores]}")
    load_after = os.getloadavg()
    result = {"config": {**asdict(cfg), "expression_list": expressions, "streams": streams},
              "load_average_before": list(load_before), "load_average_after": list(load_after), "threads": {}}
    for (name, threads), mode in modes.items():
        seconds, masks = mode.seconds[cfg.warmup:], mode.masks[cfg.warmup:]
        result["threads"].setdefault(str(threads), {})[name] = {
            "masks_per_s": sum(masks) / sum(seconds), "round_ms_p50": 1000 * float(np.median(seconds))}
    for name in ("one_node", "one_at_a_time"):  # each way of serving at its best thread count
        best = max(cfg.threads, key=lambda threads: result["threads"][str(threads)][name]["masks_per_s"])
        result[name] = {**result["threads"][str(best)][name], "threads": best}
    result["ratio"] = result["one_node"]["masks_per_s"] / result["one_at_a_time"]["masks_per_s"]
    pairs = (np.array(modes["one_at_a_time", result["one_at_a_time"]["threads"]].seconds[cfg.warmup:])
             / np.array(modes["one_node", result["one_node"]["threads"]].seconds[cfg.warmup:]))
    result["ratio_round_median"] = float(np.median(pairs))
    for entry in result["threads"].values():
        entry["ratio"] = entry["one_node"]["masks_per_s"] / entry["one_at_a_time"]["masks_per_s"]
    logger.info("streams: one node %.2f masks/s (%d threads), one at a time %.2f masks/s (%d threads)",
                result["one_node"]["masks_per_s"], result["one_node"]["threads"],
                result["one_at_a_time"]["masks_per_s"], result["one_at_a_time"]["threads"])
    return result


def format_streams(result: dict) -> str:
    """The stream benchmark as a few plain-text lines."""
    cfg = result["config"]
    load = ", ".join(f"{value:.1f}" for value in result["load_average_before"] + result["load_average_after"][:1])
    return "\n".join([
        f"{cfg['streams']} streams = {cfg['cameras']} cameras x {cfg['expressions']} expressions, "
        f"{cfg['width']}x{cfg['height']}, {cfg['rounds']} rounds (+{cfg['warmup']} warm-up)",
        *(f"{threads} thread(s): one node, one batched forward a round {entry['one_node']['masks_per_s']:.2f} masks/s; "
          f"one at a time {entry['one_at_a_time']['masks_per_s']:.2f} masks/s ({entry['ratio']:.2f}x)"
          for threads, entry in result["threads"].items()),
        f"each at its best: one node {result['one_node']['masks_per_s']:.2f} masks/s ({result['one_node']['threads']} "
        f"thread(s)), one at a time {result['one_at_a_time']['masks_per_s']:.2f} masks/s "
        f"({result['one_at_a_time']['threads']} thread(s))",
        f"ratio {result['ratio']:.2f}x (median of per-round ratios {result['ratio_round_median']:.2f}x); "
        f"load average {load} (1/5/15 min before, 1 min after)",
    ])
