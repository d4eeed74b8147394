"""Where a frame's time goes: the node's per-frame latency split, and node end-to-end vs the bare model call.

Two measurements in one run, on the same frames and expression:

1. In process, per frame: DDS serialize + deserialize of the Image in; the node core's step
   (decoding, the predictor, hysteresis, 3D if enabled) with the model's stages timed by forward
   hooks; building the output messages; DDS serialize + deserialize of the mask out. The
   predictor call inside the core is also timed alone: the *bare model call*.
2. Over DDS: a `vatex node` child process on loopback; one frame published at a time, latency
   from publishing to the mask's arrival here.

The 3D step (``use_depth``: depth decoding, robust centroid/extent/points, the cloud message) runs only for
found targets, which an untrained model rarely has; so it is timed on a synthetic target at the bench size
(:func:`~vatex_ros.tools.depth_scene.time_3d_step`) and reported as a share of the in-process frame latency.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vatex_ros.node import topics
from vatex_ros.messages.images import array_to_image
from vatex_ros.tools.latency import StageTimer, percentiles
from vatex_ros.messages.idl import Header, Image, Time
from vatex_ros.node.core import NodeCore
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NodeParams

logger = logging.getLogger(__name__)

# Columns of the split, in pipeline order; "depth" (the 3D step) appears when the node reports it.
STAGES = ("transport_in", "preprocess", "backbone", "clip_prior", "cmd", "decoder", "model_other", "postprocess",
          "depth", "transport_out")


@dataclass(frozen=True)
class BenchConfig:
    """What to measure."""

    width: int = 640  # frame size
    height: int = 480
    frames: int = 20  # measured frames per measurement
    warmup: int = 3  # frames run first and not counted (allocations, caches)
    seed: int = 0  # the synthetic scene
    node_timeout: float = 180.0  # seconds for the node process to come up
    frame_timeout: float = 10.0  # seconds to wait for one frame's mask before counting it lost
    depth_object_fraction: float = 0.1  # share of the frame the target covers when timing the 3D step


class _TimedPredictor:
    """Wraps a predictor so the node core's calls of ``stream(...).step(rgb)`` are timed (the bare model call)."""

    def __init__(self, predictor: Any):
        self._predictor = predictor
        self.seconds = 0.0  # wall time of the last step

    def stream(self, expression: str) -> _TimedPredictor._Session:
        return self._Session(self, self._predictor.stream(expression))

    class _Session:
        def __init__(self, owner: _TimedPredictor, session: Any):
            self._owner, self._session = owner, session

        def step(self, image: np.ndarray) -> Any:
            started = time.perf_counter()
            prediction = self._session.step(image)
            self._owner.seconds = time.perf_counter() - started
            return prediction


def bench_frames(cfg: BenchConfig) -> tuple[list[np.ndarray], str]:
    """Frames of a synthetic video scene at the configured size, and an expression naming one of its objects."""
    from training.synthetic import SyntheticConfig, make_video_scenes

    scene = make_video_scenes(SyntheticConfig(height=cfg.height, width=cfg.width, num_frames=8), "test", 1,
                              cfg.seed)[0]
    frames = scene.load_frames()
    return [frames[i % len(frames)] for i in range(cfg.warmup + cfg.frames)], scene.objects[0].expressions[0]


def image_msg(rgb: np.ndarray, stamp: float, frame_id: str = "bench_camera") -> Image:
    """sensor_msgs/Image rgb8 of ``rgb`` stamped ``stamp`` (seconds)."""
    sec = int(stamp)
    return array_to_image(rgb, "rgb8", Header(stamp=Time(sec=sec, nanosec=int((stamp - sec) * 1e9)),
                                              frame_id=frame_id))


def measure_in_process(predictor: Any, params: NodeParams, frames: list[np.ndarray], expression: str,
                       warmup: int) -> tuple[dict[str, list[float]], list[float]]:
    """The per-frame split (seconds per stage) and the bare model call times, over ``frames[warmup:]``.

    Args:
        predictor: ``vatex_core.Predictor`` (its ``model`` is hooked for the stage times).
        params: node parameters (frame-age check off here: frames are processed right away).
    """
    from tqdm import tqdm

    timed = _TimedPredictor(predictor)
    core = NodeCore(timed, params.replace(max_frame_age=0.0), on_result=lambda result: None)
    core.set_expression(expression)
    split: dict[str, list[float]] = defaultdict(list)
    bare: list[float] = []
    with StageTimer(predictor.model) as stages:
        for index, rgb in enumerate(tqdm(frames, desc="in process", unit="frame")):
            msg = image_msg(rgb, time.time())
            started = time.perf_counter()
            received = Image.deserialize(msg.serialize())
            decoded = time.perf_counter()
            stages.reset()
            core.submit_frame(received)
            result = core.step()
            stepped = time.perf_counter()
            if result is None:
                raise RuntimeError(f"the node core skipped a benchmark frame: {core.diagnostics.counts()}")
            outputs = build_outputs(result, with_overlay=params.publish_overlay)
            built = time.perf_counter()
            Image.deserialize(outputs.mask.serialize())
            done = time.perf_counter()
            if index < warmup:
                continue
            timings = result.timings  # the predictor's stages plus the node's decode, track and depth
            model, depth = timings["model"], timings.get("depth", 0.0)
            post = timings["postprocess"] + timings["track"]  # model output -> mask, then hysteresis and geometry
            sample = {"transport_in": decoded - started,
                      "preprocess": (stepped - decoded) - model - post - depth,  # decode, text, resize
                      **dict(stages.seconds),
                      "model_other": model - sum(stages.seconds.values()),
                      "postprocess": post + (built - stepped),
                      "transport_out": done - built}
            if "depth" in result.timings:
                sample["depth"] = depth
            for stage, seconds in sample.items():
                split[stage].append(seconds)
            split["total"].append(done - started)
            bare.append(timed.seconds)
    return dict(split), bare


def measure_node(params: NodeParams, frames: list[np.ndarray], expression: str, cfg: BenchConfig,
                 workdir: Path) -> tuple[list[float], int]:
    """End-to-end latencies (s) through a `vatex node` process, one frame in flight at a time.

    Returns:
        (latencies of ``frames[cfg.warmup:]``, frames whose mask never came back within ``cfg.frame_timeout``).

    Raises:
        RuntimeError: the node did not come up or did not take the expression.
    """
    from vatex_ros.tools.node_process import NodeProcess, child_env
    from vatex_ros.dds.client import NodeClient, stamp_key

    latencies, lost = [], 0
    budget = cfg.node_timeout + (cfg.warmup + cfg.frames) * cfg.frame_timeout + 30
    with NodeProcess(params.replace(max_frame_age=0.0, found_after=1), workdir, budget, child_env({})) as node:
        client = NodeClient(outputs=(topics.MASK, topics.ACTIVE_EXPRESSION))
        try:
            if not client.wait_for_node(cfg.node_timeout):
                raise RuntimeError(f"the node did not come up in {cfg.node_timeout:.0f} s; see {node.log_path}")
            for _ in range(10):  # the expression topic is volatile: repeat until the node says it took it
                client.say(expression)
                if client.wait(lambda: client.active_expression() == expression, 3.0):
                    break
            else:
                raise RuntimeError(f"the node did not take the expression; see {node.log_path}")
            for index, rgb in enumerate(frames):
                msg = image_msg(rgb, time.time())
                key = stamp_key(msg.header)
                client.publish_image(msg)
                masks = client.received[topics.MASK.name]
                arrived = client.wait(lambda: any(stamp_key(r.msg.header) == key for r in masks[-3:]),
                                      cfg.frame_timeout)
                if not arrived:
                    lost += 1
                elif index >= cfg.warmup:
                    mask = next(r for r in reversed(masks) if stamp_key(r.msg.header) == key)
                    latencies.append(mask.wall_time - (key[0] + key[1] * 1e-9))
        finally:
            client.close()
    logger.info("node end to end: %d frames measured, %d lost", len(latencies), lost)
    return latencies, lost


def summarize(cfg: BenchConfig, split: dict[str, list[float]], bare: list[float], node: list[float],
              lost: int, depth_step: float) -> dict:
    """The benchmark's JSON: stage statistics (ms), bare model call, node end to end and their ratio, 3D step.

    Args:
        depth_step: seconds of the 3D step for one frame (:func:`~vatex_ros.tools.depth_scene.time_3d_step`).
    """
    bare_ms, node_ms = percentiles(bare), percentiles(node)
    ratio = {key: node_ms[key] / bare_ms[key] if node_ms[key] and bare_ms[key] else None for key in ("p50", "mean")}
    total_ms, step_ms = percentiles(split["total"])["p50"], depth_step * 1000
    return {
        "config": {"size": f"{cfg.width}x{cfg.height}", "frames": cfg.frames, "warmup": cfg.warmup},
        "stages_ms": {stage: percentiles(split[stage]) for stage in (*STAGES, "total") if stage in split},
        "bare_model_ms": bare_ms,
        "node_end_to_end_ms": node_ms,
        "node_lost_frames": lost,
        "ratio_node_to_bare_model": ratio,
        "depth_3d": {"step_ms": step_ms, "object_fraction": cfg.depth_object_fraction,
                     "share_of_in_process_frame": step_ms / total_ms if total_ms else None,  # vs total p50
                     "share_of_node_end_to_end": step_ms / node_ms["p50"] if node_ms["p50"] else None},
    }
