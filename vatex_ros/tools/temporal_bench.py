"""What the temporal memory costs a frame: a stream's step with memory against the same frame without it.

``vatex bench --temporal`` runs two predictors of one network on the frames of a synthetic video,
alternating frame by frame (so a change in the machine's load hits both alike), on a worker thread
as the node's inference runs:

- ``with memory``: the temporal model's stream step (motion encoder, memory update, target id);
- ``with memory, motion words``: the same with the expression followed by "moving left" (a motion logit
  measures each query's motion only for expressions whose words ask for motion);
- ``single image``: the same weights without the temporal module, one frame at a time (the per-frame
  model's call, what the node ran before the memory existed).

Weights of a per-frame model get an untrained memory of ``memory_frames`` for the first (it costs
what a trained one costs); a temporal model's weights lose theirs for the second. Reported: median
milliseconds of each and their ratio, with the load average beside them.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from vatex_core import Predictor, Vatex, build_vatex, load_vatex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemporalBenchConfig:
    """What to measure."""

    weights: str | None = None  # safetensors file; None = the embedded model
    width: int = 640  # camera frame size
    height: int = 480
    frames: int = 40  # timed frames per predictor
    warmup: int = 5  # untimed frames first
    memory_frames: int = 2  # memory of the temporal model built on per-frame weights


def _pair(model: Vatex, memory_frames: int) -> tuple[Vatex, Vatex]:
    """(temporal, per-frame) versions of one network."""
    if model.temporal is not None:
        per_frame = copy.deepcopy(model)
        per_frame.temporal = None
        per_frame.cfg.temporal.memory_frames = 0
        return model, per_frame
    cfg = copy.deepcopy(model.cfg)
    cfg.temporal.memory_frames = memory_frames
    temporal = build_vatex(cfg).to(model.device)
    temporal.load_state_dict(model.state_dict(), strict=False)  # every tensor but the (zero) motion encoder's
    return temporal.eval(), model


def measure_temporal_cost(cfg: TemporalBenchConfig) -> dict:
    """Median step times with and without the memory, and their ratio (see the module docstring)."""
    from vatex_ros.tools.bench import BenchConfig, bench_frames

    temporal, per_frame = _pair(load_vatex(cfg.weights), cfg.memory_frames)
    frames, expression = bench_frames(BenchConfig(width=cfg.width, height=cfg.height, frames=cfg.frames,
                                                  warmup=cfg.warmup))
    streams = {"with memory": Predictor(temporal).stream(expression),
               "with memory, motion words": Predictor(temporal).stream(f"{expression} moving left"),
               "single image": Predictor(per_frame).stream(expression)}
    times: dict[str, list[float]] = {name: [] for name in streams}

    def run() -> None:  # on a worker thread, as the node's inference
        for index, frame in enumerate(frames):
            for name, session in streams.items():
                started = time.perf_counter()
                session.step(frame, stamp=index * 0.1)
                if index >= cfg.warmup:
                    times[name].append(time.perf_counter() - started)

    worker = threading.Thread(target=run, name="vatex-temporal-bench")
    worker.start()
    worker.join()
    medians = {name: 1000 * float(np.median(values)) for name, values in times.items()}
    return {
        "config": {**cfg.__dict__, "weights": cfg.weights or "embedded", "expression": expression},
        "ms": medians,
        "ratio": medians["with memory"] / medians["single image"],
        "ratio_motion_words": medians["with memory, motion words"] / medians["single image"],
        "load_average": os.getloadavg(),
    }


def format_temporal(result: dict) -> str:
    """The two medians and the ratio, one line each."""
    load = ", ".join(f"{value:.2f}" for value in result["load_average"])
    size = f"{result['config']['width']}x{result['config']['height']}"
    return "\n".join([
        f"temporal memory cost at {size} ({result['config']['frames']} frames, load average {load}):",
        *(f"  {name:<27}{ms:>8.1f} ms" for name, ms in result["ms"].items()),
        f"  ratio {result['ratio']:.3f} (with memory / single image), "
        f"{result['ratio_motion_words']:.3f} with motion words",
    ])
