"""Where a frame's time goes: the node's per-frame latency split, and node end-to-end vs the bare model call.

Three measurements in one run, on the same frames and expression:

1. In process, per frame: DDS serialize + deserialize of the Image in; the node core's step
   (decoding, the predictor, hysteresis, 3D if enabled) with the model's stages timed by forward
   hooks; building the output messages; DDS serialize + deserialize of the mask out. The
   predictor call inside the core is also timed alone: the *bare model call*.
2. Over DDS: a `vatex node` child process on loopback; one frame published at a time, latency
   from publishing to the mask's arrival here. Interleaved with 1, frame by frame, so that a
   change in machine load shows in both.
3. Frames lost in transport: a best-effort stream at 15 Hz to a subscriber in another process.
4. The transport floor: the same measurement as 2 against a node whose model answers at once (an empty mask of
   the frame's size): what moving the frame in and the mask out over DDS costs at this size, model aside.

The in-process frame builds the outputs the node publishes when nobody subscribes to ``overlay`` or ``labels``
(both are drawn only for a subscriber), so node in process / bare model is what the node adds to the model call.

The 3D step (``use_depth``: depth decoding, robust centroid/extent/points, the cloud message) runs only for
found targets, which an untrained model rarely has; so it is timed on a synthetic target at the bench size
(:func:`~vatex_ros.tools.depth_scene.time_3d_step`) and reported as a share of the in-process frame latency.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

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
    stream_rate: float = 15.0  # Hz of the best-effort stream whose lost frames are counted
    stream_frames: int = 45  # frames in that stream (0: not measured)


class _TimedPredictor:
    """Wraps a predictor so the node core's calls of ``stream(...).step(rgb)`` are timed (the bare model call)."""

    def __init__(self, predictor: Any):
        self._predictor = predictor
        self.seconds = 0.0  # wall time of the last step

    def stream(self, expression: str, max_gap: float) -> _TimedPredictor._Session:
        return self._Session(self, self._predictor.stream(expression, max_gap))

    class _Session:
        def __init__(self, owner: _TimedPredictor, session: Any):
            self._owner, self._session = owner, session

        @property
        def resets(self) -> Any:
            return self._session.resets

        @property
        def max_gap(self) -> float:
            return self._session.max_gap

        @max_gap.setter
        def max_gap(self, seconds: float) -> None:
            self._session.max_gap = seconds

        def step(self, image: np.ndarray, stamp: float | None = None) -> Any:
            started = time.perf_counter()
            prediction = self._session.step(image, stamp)
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


class InProcess:
    """The node core in this process, measured frame by frame: the per-stage split and the bare model call.

    Frames run on one worker thread, as the node's inference does (``NodeCore``'s worker): torch's intra-op
    threads differ between Python's main thread and others, and on this loaded 2-core machine the same model
    call took 5-10 s on the main thread against about 0.1 s on a worker. A context manager (the model's stage
    hooks are removed and the worker stopped on exit).

    Args:
        predictor: ``vatex_core.Predictor`` (its ``model`` is hooked for the stage times).
        params: node parameters (frame-age check off here: frames are processed right away).
        expression: the referring expression of every frame.
    """

    def __init__(self, predictor: Any, params: NodeParams, expression: str):
        self._timed = _TimedPredictor(predictor)
        self._core = NodeCore(self._timed, params.replace(max_frame_age=0.0), on_result=lambda result: None)
        self._core.set_expression(expression)
        self._stages = StageTimer(predictor.model)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-inference")

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc) -> None:
        self._worker.shutdown()
        self._stages.__exit__(*exc)

    def frame(self, rgb: np.ndarray) -> tuple[dict[str, float], float]:
        """One frame through DDS serialization, the core and the output messages, on the worker thread.

        Returns:
            (seconds per stage of :data:`STAGES` plus ``total``, seconds of the bare model call).
        """
        return self._worker.submit(self._frame, rgb).result()

    def _frame(self, rgb: np.ndarray) -> tuple[dict[str, float], float]:
        msg = image_msg(rgb, time.time())
        started = time.perf_counter()
        received = Image.deserialize(msg.serialize())
        decoded = time.perf_counter()
        self._stages.reset()
        self._core.submit_frame(received)
        result = self._core.step()
        stepped = time.perf_counter()
        if result is None:
            raise RuntimeError(f"the node core skipped a benchmark frame: {self._core.diagnostics.counts()}")
        outputs = build_outputs(result, with_overlay=False)  # the node draws it only for a subscriber
        built = time.perf_counter()
        Image.deserialize(outputs.mask.serialize())
        done = time.perf_counter()
        timings = result.timings  # the predictor's stages plus the node's decode, track and depth
        model, depth = timings["model"], timings.get("depth", 0.0)
        post = timings["postprocess"] + timings["track"]  # model output -> mask, then hysteresis and geometry
        sample = {"transport_in": decoded - started,
                  "preprocess": (stepped - decoded) - model - post - depth,  # decode, text, resize
                  **dict(self._stages.seconds),
                  "model_other": model - sum(self._stages.seconds.values()),
                  "postprocess": post + (built - stepped),
                  "transport_out": done - built,
                  "total": done - started}
        if "depth" in timings:
            sample["depth"] = depth
        return sample, self._timed.seconds


def measure(predictor: Any, params: NodeParams, frames: list[np.ndarray], expression: str, cfg: BenchConfig,
            workdir: Path) -> tuple[dict[str, list[float]], list[float], list[float], int]:
    """The in-process split, the bare model call and node end to end, interleaved frame by frame.

    Each frame runs in this process first, then through a `vatex node` process (one frame in flight, latency
    from publishing to the mask's arrival here), so both see the same machine load.

    Returns:
        (seconds per stage, bare model call seconds, node end-to-end seconds: all over ``frames[cfg.warmup:]``;
        frames whose mask never came back within ``cfg.frame_timeout``).

    Raises:
        RuntimeError: the node did not come up or did not take the expression.
    """
    from tqdm import tqdm

    from vatex_ros.dds.client import NodeClient, stamp_key
    from vatex_ros.tools.node_process import NodeProcess, child_env

    split: dict[str, list[float]] = defaultdict(list)
    bare, latencies, lost = [], [], 0
    budget = cfg.node_timeout + (cfg.warmup + cfg.frames) * cfg.frame_timeout + 30
    with NodeProcess(params.replace(max_frame_age=0.0, found_after=1), workdir, budget, child_env({})) as node, \
            InProcess(predictor, params, expression) as in_process:
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
            for index, rgb in enumerate(tqdm(frames, desc=f"{cfg.width}x{cfg.height}", unit="frame")):
                sample, model_call = in_process.frame(rgb)
                msg = image_msg(rgb, time.time())
                key = stamp_key(msg.header)
                client.publish_image(msg)
                masks = client.received[topics.MASK.name]
                arrived = client.wait(lambda: any(stamp_key(r.msg.header) == key for r in masks[-3:]),
                                      cfg.frame_timeout)
                if not arrived:
                    lost += 1
                if index < cfg.warmup:
                    continue
                for stage, seconds in sample.items():
                    split[stage].append(seconds)
                bare.append(model_call)
                if arrived:
                    mask = next(r for r in reversed(masks) if stamp_key(r.msg.header) == key)
                    latencies.append(mask.wall_time - (key[0] + key[1] * 1e-9))
        finally:
            client.close()
    logger.info("node end to end: %d frames measured, %d lost", len(latencies), lost)
    return dict(split), bare, latencies, lost


def round_trips(client: Any, frames: list[np.ndarray], cfg: BenchConfig) -> tuple[list[float], int]:
    """Publish ``frames`` one at a time; seconds from stamp to the mask's arrival at ``client`` for each one after
    ``cfg.warmup``, and the frames whose mask never came back within ``cfg.frame_timeout``."""
    from vatex_ros.dds.client import stamp_key

    latencies, lost = [], 0
    for index, rgb in enumerate(frames):
        msg = image_msg(rgb, time.time())
        key = stamp_key(msg.header)
        client.publish_image(msg)
        masks = client.received[topics.MASK.name]
        if not client.wait(lambda: any(stamp_key(r.msg.header) == key for r in masks[-3:]), cfg.frame_timeout):
            lost += 1
            continue
        if index >= cfg.warmup:
            mask = next(r for r in reversed(masks) if stamp_key(r.msg.header) == key)
            latencies.append(mask.wall_time - (key[0] + key[1] * 1e-9))
    return latencies, lost


class _NoModel:
    """A predictor that answers at once: an empty mask of the frame's size, not found (the transport floor)."""

    @dataclass
    class _Prediction:
        mask: np.ndarray
        score: float = 0.0
        found: bool = False
        target_id: int = 0
        timings: dict = field(default_factory=dict)

    class _Session:
        max_gap = 1.0
        resets: dict = {}

        def step(self, image: np.ndarray, stamp: float | None = None) -> Any:
            return _NoModel._Prediction(np.zeros(image.shape[:2], dtype=bool))

    def stream(self, expression: str, max_gap: float = 1.0) -> Any:
        return self._Session()


_FLOOR_NAMESPACE = "/vatex_bench_floor"


def _serve_without_model(params: NodeParams, seconds: float, ready: Any, stop: Any) -> None:
    """Child of :func:`measure_transport_floor`: the DDS node with :class:`_NoModel`, until ``stop`` or ``seconds``."""
    from vatex_ros.dds.transport import DdsNode

    node = DdsNode(_NoModel(), params, namespace=_FLOOR_NAMESPACE)
    ready.set()
    try:
        stop.wait(seconds)
    finally:
        node.close()


def measure_transport_floor(params: NodeParams, frames: list[np.ndarray], cfg: BenchConfig) -> list[float]:
    """Stamp-to-mask seconds over DDS of a node in another process whose model answers at once (no model cost).

    Raises:
        RuntimeError: the node did not come up or did not take the expression.
    """
    import multiprocessing

    from vatex_ros.dds.client import NodeClient

    context = multiprocessing.get_context("spawn")  # a fresh Cyclone instance with its own sockets, as a node
    ready, stop = context.Event(), context.Event()
    budget = cfg.node_timeout + len(frames) * cfg.frame_timeout
    child = context.Process(target=_serve_without_model, args=(params.replace(max_frame_age=0.0), budget, ready, stop),
                            name="vatex-bench-floor", daemon=True)
    child.start()
    client = NodeClient(namespace=_FLOOR_NAMESPACE, outputs=(topics.MASK, topics.ACTIVE_EXPRESSION))
    try:
        if not ready.wait(cfg.node_timeout) or not client.wait_for_node(cfg.node_timeout):
            raise RuntimeError("the transport-floor node did not come up")
        for _ in range(10):  # the expression topic is volatile: repeat until the node says it took it
            client.say("anything")
            if client.wait(lambda: client.active_expression() == "anything", 3.0):
                break
        else:
            raise RuntimeError("the transport-floor node did not take the expression")
        latencies, lost = round_trips(client, frames, cfg)
    finally:
        client.close()
        stop.set()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    logger.info("transport floor: %d frames measured, %d lost", len(latencies), lost)
    return latencies


class StreamCount(NamedTuple):
    """What :func:`measure_stream` saw."""

    published: int
    received: int
    kernel_drops: int  # UDP datagrams the kernel dropped on the subscriber's sockets (0 where it does not say)
    receive_buffer: int | None  # bytes of the subscriber's largest socket receive buffer, as the kernel granted it


def measure_stream(frames: list[np.ndarray], cfg: BenchConfig) -> StreamCount:
    """Frames published best effort at ``cfg.stream_rate`` Hz to a subscriber in another process that only counts.

    What it never receives was lost in transport (socket buffers): its reader keeps every sample, so a slow
    taker loses nothing, and the kernel counts the datagrams it drops on the subscriber's full receive buffer
    (:mod:`vatex_ros.dds.socket_drops`). The subscriber uses this process's Cyclone configuration
    (``CYCLONEDDS_URI``). The stream starts once both sides have matched each other.
    """
    import multiprocessing

    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic as DdsTopic

    from vatex_ros.dds.transport import dds_qos
    from vatex_ros.dds.participant import domain_id_from_env

    count = cfg.stream_frames
    context = multiprocessing.get_context("spawn")  # a fresh Cyclone instance with its own sockets
    results = context.Queue()
    counter = context.Process(target=_count_frames, args=(count, count / cfg.stream_rate + 10.0, results))
    counter.start()
    try:
        if _next(results, cfg.node_timeout) != "ready":
            raise RuntimeError("the counting subscriber did not start")
        participant = DomainParticipant(domain_id_from_env())
        writer = DataWriter(participant, DdsTopic(participant, _STREAM_TOPIC, Image), qos=dds_qos(topics.IMAGE, 1))
        deadline = time.monotonic() + cfg.node_timeout
        while not writer.get_publication_matched_status().current_count and time.monotonic() < deadline:
            time.sleep(0.05)
        if _next(results, cfg.node_timeout) != "matched":  # discovery is per side: the reader has matched us too
            raise RuntimeError("the counting subscriber did not match the stream")
        started = time.monotonic()
        for index in range(count):
            writer.write(image_msg(frames[index % len(frames)], index + 1.0))  # stamp = sequence number
            time.sleep(max(0.0, started + (index + 1) / cfg.stream_rate - time.monotonic()))
        received, kernel_drops, receive_buffer = _next(results, count / cfg.stream_rate + 30.0)
    finally:
        counter.join(timeout=30)
        if counter.is_alive():
            counter.kill()
    logger.info("stream at %.0f Hz: %d of %d frames received (%d datagrams dropped by the kernel)", cfg.stream_rate,
                received, count, kernel_drops)
    return StreamCount(count, received, kernel_drops, receive_buffer)


_STREAM_TOPIC = "rt/vatex_bench/stream"


def _next(results: Any, timeout: float) -> Any:
    """The next message of the counting subscriber; RuntimeError if none comes within ``timeout`` s."""
    import queue

    try:
        return results.get(timeout=timeout)
    except queue.Empty:
        raise RuntimeError(f"the stream's counting subscriber sent nothing in {timeout:.0f} s") from None


def _count_frames(expected: int, seconds: float, results: Any) -> None:
    """Child of :func:`measure_stream`: count distinct frames on the stream topic until all came or time is up."""
    from cyclonedds.core import Policy, Qos
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic as DdsTopic

    from vatex_ros.dds.participant import domain_id_from_env
    from vatex_ros.dds.socket_drops import DropWatch, largest_udp_receive_buffer

    participant = DomainParticipant(domain_id_from_env())
    qos = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(expected),  # keeps what arrives
              Policy.DataRepresentation(use_cdrv0_representation=True))
    reader = DataReader(participant, DdsTopic(participant, _STREAM_TOPIC, Image), qos=qos)
    drops = DropWatch()
    results.put("ready")
    deadline = time.monotonic() + 60
    while not reader.get_subscription_matched_status().current_count and time.monotonic() < deadline:
        time.sleep(0.02)
    results.put("matched")
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    while len(seen) < expected and time.monotonic() < deadline:
        seen.update(sample.header.stamp.sec for sample in reader.take(expected))
        time.sleep(0.01)
    results.put((len(seen), drops.new_drops(), largest_udp_receive_buffer()))


def bench_size(predictor: Any, params: NodeParams, cfg: BenchConfig) -> dict:
    """Every measurement at one frame size (a node process of its own); :func:`summarize`'s JSON.

    Raises:
        RuntimeError: the node did not come up, did not take the expression, or the stream's subscriber failed.
    """
    from vatex_ros.tools.depth_scene import time_3d_step

    frames, expression = bench_frames(cfg)
    with tempfile.TemporaryDirectory(prefix="vatex-bench-") as workdir:
        split, bare, node, lost = measure(predictor, params, frames, expression, cfg, Path(workdir))
    floor = measure_transport_floor(params, frames, cfg)
    depth_step = time_3d_step(cfg.width, cfg.height, cfg.depth_object_fraction)
    stream = measure_stream(frames, cfg) if cfg.stream_frames else None
    result = summarize(cfg, split, bare, node, lost, depth_step, stream, floor)
    result["config"]["expression"] = expression
    return result


def summarize(cfg: BenchConfig, split: dict[str, list[float]], bare: list[float], node: list[float],
              lost: int, depth_step: float, stream: StreamCount | None = None,
              floor: list[float] | None = None) -> dict:
    """The benchmark's JSON: stage statistics (ms), bare model call, node in process and end to end and their
    ratios to it, 3D step, frames lost in a best-effort stream, the DDS transport floor.

    Args:
        depth_step: seconds of the 3D step for one frame (:func:`~vatex_ros.tools.depth_scene.time_3d_step`).
        stream: what :func:`measure_stream` saw; None if not measured.
        floor: stamp-to-mask seconds of a node without model cost (:func:`measure_transport_floor`); None if not
            measured.
    """
    bare_ms, node_ms = percentiles(bare), percentiles(node)
    ratio = {key: node_ms[key] / bare_ms[key] if node_ms[key] and bare_ms[key] else None for key in ("p50", "mean")}
    total_ms, step_ms = percentiles(split["total"])["p50"], depth_step * 1000
    in_process = total_ms / bare_ms["p50"] if total_ms and bare_ms["p50"] else None
    return {
        "config": {"size": f"{cfg.width}x{cfg.height}", "frames": cfg.frames, "warmup": cfg.warmup},
        "stages_ms": {stage: percentiles(split[stage]) for stage in (*STAGES, "total") if stage in split},
        "bare_model_ms": bare_ms,
        "node_end_to_end_ms": node_ms,
        "node_lost_frames": lost,
        "ratio_node_to_bare_model": ratio,
        "ratio_in_process_to_bare_model": in_process,  # p50: the node's own work, no transport
        "transport_floor_ms": None if floor is None else percentiles(floor),
        "stream": None if stream is None else {"rate_hz": cfg.stream_rate, "published": stream.published,
                                                "lost_frames": stream.published - stream.received,
                                                "kernel_dropped_datagrams": stream.kernel_drops,
                                                "receive_buffer_bytes": stream.receive_buffer},
        "depth_3d": {"step_ms": step_ms, "object_fraction": cfg.depth_object_fraction,
                     "share_of_in_process_frame": step_ms / total_ms if total_ms else None,  # vs total p50
                     "share_of_node_end_to_end": step_ms / node_ms["p50"] if node_ms["p50"] else None},
    }


def format_sizes(results: list[dict]) -> str:
    """One line per frame size (ms, p50): bare model call, node end to end, their ratio, the node in process over
    the bare model, the DDS transport floor, lost frames."""
    lines = [f"{'size':<11}{'bare model':>12}{'node e2e':>10}{'ratio':>8}{'in process':>12}{'DDS floor':>11}"
             f"{'lost (1 in flight)':>20}{'lost (stream)':>15}"]
    for result in results:
        ratio, stream = result["ratio_node_to_bare_model"]["p50"], result.get("stream")
        in_process, floor = result.get("ratio_in_process_to_bare_model"), result.get("transport_floor_ms")
        ratio_text = "n/a" if ratio is None else f"{ratio:.2f}x"
        in_process_text = "n/a" if in_process is None else f"{in_process:.2f}x"
        floor_text = "n/a" if not floor else _ms(floor["p50"])
        stream_text = "n/a" if not stream else f"{stream['lost_frames']}/{stream['published']}"
        lines.append(f"{result['config']['size']:<11}{_ms(result['bare_model_ms']['p50']):>12}"
                     f"{_ms(result['node_end_to_end_ms']['p50']):>10}{ratio_text:>8}{in_process_text:>12}"
                     f"{floor_text:>11}{result['node_lost_frames']:>20}{stream_text:>15}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
