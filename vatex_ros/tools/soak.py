"""Soak and flood benchmark: a `vatex node` process fed a steady camera stream for minutes, then faster ones.

The soak phase publishes ``minutes`` of frames at ``rate`` and samples the node's resident memory (RSS, from
``/proc``) every second; memory is flat when the least-squares slope of RSS over time is near zero. Latency
(frame stamp to mask arrival, both on this machine's wall clock) is summarised per minute. The flood phase
then publishes at each of ``sweep_rates`` for ``sweep_seconds`` and counts masks per second: the node always
processes the newest frame, so a faster camera must get at least as many masks as a slower one. The rates take
turns in ``sweep_rounds`` rounds (20, 50, 100, 20, 50, 100, ...), so a change in what else the machine runs
lands on every rate, not on the last one; each rate's per-round masks/s are reported beside its total. Frames are
best effort, so a frame replaced by a newer one before the node took it is "unanswered", not an error; in the
soak (one frame per inference time or slower) every frame should be answered.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vatex_ros.node import topics
from vatex_ros.node.params import NodeParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SoakConfig:
    """What to run."""

    minutes: float = 5.0  # soak phase length
    rate: float = 10.0  # soak camera rate (frames/s)
    width: int = 640
    height: int = 480
    sweep_rates: tuple[float, ...] = (20.0, 50.0, 100.0)  # flood camera rates (frames/s)
    sweep_seconds: float = 30.0  # per flood rate, split over the rounds
    sweep_rounds: int = 3  # the rates take turns this many times, so a drift of the machine hits every rate alike
    warmup_seconds: float = 10.0  # at the soak rate, before anything is measured
    node_timeout: float = 120.0  # seconds for the node to come up (model loading)
    drain_seconds: float = 3.0  # after a phase, wait this long for the last masks


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB) from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (s), from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # after "pid (comm)"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def slope_per_minute(times: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` over ``times`` (seconds), per minute."""
    if len(times) < 2:
        return 0.0
    return float(np.polyfit(np.asarray(times) / 60.0, np.asarray(values), 1)[0])


def percentiles_ms(latencies: list[float]) -> dict[str, float | None]:
    """p50/p95 (ms) of latencies in seconds; None when empty."""
    if not latencies:
        return {"p50": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(np.asarray(latencies) * 1000, [50, 95])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "n": len(latencies)}


def prebuilt_frames(frames: list[np.ndarray]) -> list[tuple[Any, bytes]]:
    """Each frame as a sensor_msgs/Image and its CDR bytes, serialized once (see :func:`stamped`)."""
    from vatex_ros.tools.bench import image_msg

    return [(msg, msg.serialize()) for msg in (image_msg(rgb, 0.0) for rgb in frames)]


def stamped(msg: Any, raw: bytes, stamp: float) -> Any:
    """A copy of a prebuilt frame stamped ``stamp`` whose serialization is ``raw`` with the stamp patched in
    (one copy of the pixels), so the camera side keeps up with 100 Hz of 640x480 and the measured rates are
    the node's, not those of a Python CDR serializer on the publishing side."""
    from dataclasses import replace

    from vatex_ros.messages.idl import Header, Time

    sec = int(stamp)
    nanosec = min(int((stamp - sec) * 1e9), 999_999_999)
    buffer = bytearray(raw)
    struct.pack_into("<iI", buffer, 4, sec, nanosec)  # after the 4-byte encapsulation: Header.stamp sec, nanosec
    out = replace(msg, header=Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=msg.header.frame_id))
    out.serialize = lambda *args, **kwargs: bytes(buffer)  # what DataWriter.write sends
    return out


class _Stream:
    """Publishes frames at a rate through a NodeClient and matches the masks that come back by stamp."""

    def __init__(self, client: Any, frames: list[np.ndarray]):
        self._client = client
        self._frames = prebuilt_frames(frames)
        self.sent: dict[tuple[int, int], float] = {}  # stamp key -> publication wall time
        self._index = 0

    def play(self, rate: float, seconds: float, every_second=None) -> list[tuple[int, int]]:
        """Publish at ``rate`` for ``seconds``; ``every_second(elapsed)`` is called about once a second.

        Returns:
            The stamp keys sent.
        """
        from vatex_ros.dds.client import stamp_key

        keys, start = [], time.monotonic()
        next_frame = next_tick = start
        while (now := time.monotonic()) - start < seconds:
            if now >= next_tick and every_second is not None:
                every_second(now - start)
                next_tick += 1.0
            if now < next_frame:
                time.sleep(min(next_frame - now, max(next_tick - now, 0.0)) if every_second else next_frame - now)
                continue
            msg = stamped(*self._frames[self._index % len(self._frames)], time.time())
            self._index += 1
            key = stamp_key(msg.header)
            self.sent[key] = time.time()
            self._client.publish_image(msg)
            keys.append(key)
            next_frame = max(next_frame + 1.0 / rate, now - 1.0 / rate)  # behind: do not burst to catch up
        return keys

    def answered(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """Stamp key -> latency (s) of the masks received for ``keys``."""
        from vatex_ros.dds.client import stamp_key

        wanted = set(keys)
        return {key: r.wall_time - self.sent[key] for r in list(self._client.received[topics.MASK.name])
                if (key := stamp_key(r.msg.header)) in wanted}


def run_soak(cfg: SoakConfig, params: NodeParams, frames: list[np.ndarray], expression: str,
             workdir: Path) -> dict[str, Any]:
    """The soak then the flood phases against a `vatex node` child process.

    Args:
        cfg: phases and frame size.
        params: node parameters (``expression`` is set to ``expression``; frame age check off).
        frames: RGB uint8 (H, W, 3) frames, played in a loop.
        expression: what the node segments.
        workdir: node log and parameters file.

    Returns:
        A JSON-able result: conditions, soak (RSS start/peak/end/slope, latency per minute, unanswered frames)
        and flood (masks per second and latency per input rate).

    Raises:
        RuntimeError: the node did not come up or exited during the run.
    """
    from vatex_ros.dds.client import NodeClient
    from vatex_ros.tools.node_process import NodeProcess, child_env

    seconds = cfg.minutes * 60
    budget = (cfg.node_timeout + cfg.warmup_seconds + seconds + 60
              + len(cfg.sweep_rates) * (cfg.sweep_seconds + cfg.sweep_rounds * (cfg.drain_seconds + 10)))
    params = params.replace(expression=expression, max_frame_age=0.0, publish_overlay=False)
    conditions = {"cpus": os.cpu_count(), "loadavg_start": [round(v, 2) for v in os.getloadavg()]}
    with NodeProcess(params, workdir, budget, child_env({})) as node:
        client = NodeClient(outputs=(topics.MASK,))
        try:
            if not client.wait_for_node(cfg.node_timeout):
                raise RuntimeError(f"the node did not come up in {cfg.node_timeout:.0f} s; see {node.log_path}")
            stream = _Stream(client, frames)
            warm = stream.play(cfg.rate, cfg.warmup_seconds)
            if not client.wait(lambda: stream.answered(warm), cfg.node_timeout):
                raise RuntimeError(f"no mask came back during the warm-up; see {node.log_path}")
            samples: list[tuple[float, float]] = []  # (seconds into the soak, RSS MB)

            def sample(elapsed: float) -> None:
                if not node.running():
                    raise RuntimeError(f"the node exited during the soak; see {node.log_path}")
                samples.append((elapsed, rss_mb(node.pid)))

            logger.info("soak: %.1f min at %.0f Hz, %dx%d", cfg.minutes, cfg.rate, cfg.width, cfg.height)
            soak_keys = stream.play(cfg.rate, seconds, every_second=sample)
            time.sleep(cfg.drain_seconds)
            samples.append((seconds + cfg.drain_seconds, rss_mb(node.pid)))
            soak = _soak_summary(stream, soak_keys, samples, cfg)
            flood = _flood(cfg, stream, node)
        finally:
            client.close()
    conditions["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    return {"config": {"minutes": cfg.minutes, "rate": cfg.rate, "size": f"{cfg.width}x{cfg.height}",
                       "sweep_rates": list(cfg.sweep_rates), "sweep_seconds": cfg.sweep_seconds,
                       "sweep_rounds": cfg.sweep_rounds,
                       "expression": expression, "weights": params.weights or "embedded"},
            "conditions": conditions, "soak": soak, "flood": flood}


def _flood(cfg: SoakConfig, stream: _Stream, node: Any) -> list[dict[str, Any]]:
    """Each sweep rate for ``sweep_seconds`` in all, in ``sweep_rounds`` interleaved turns."""
    turn = cfg.sweep_seconds / cfg.sweep_rounds
    keys: dict[float, list] = {rate: [] for rate in cfg.sweep_rates}
    cpu = dict.fromkeys(cfg.sweep_rates, 0.0)
    per_round: dict[float, list[float]] = {rate: [] for rate in cfg.sweep_rates}
    for round_index in range(cfg.sweep_rounds):
        for rate in cfg.sweep_rates:
            logger.info("flood round %d/%d: %.0f s at %.0f Hz", round_index + 1, cfg.sweep_rounds, turn, rate)
            cpu_before = cpu_seconds(node.pid)
            sent = stream.play(rate, turn)
            cpu[rate] += cpu_seconds(node.pid) - cpu_before  # the node's own CPU while the camera played
            time.sleep(cfg.drain_seconds)  # the last masks of this turn arrive before the next rate starts
            keys[rate] += sent
            per_round[rate].append(round(len(stream.answered(sent)) / turn, 2))
    rows = []
    for rate in cfg.sweep_rates:
        answered = stream.answered(keys[rate])
        rows.append({"input_rate": rate, "achieved_input_rate": round(len(keys[rate]) / cfg.sweep_seconds, 1),
                     "masks_per_second": round(len(answered) / cfg.sweep_seconds, 2),
                     "masks_per_second_per_round": per_round[rate],
                     "latency_ms": percentiles_ms(list(answered.values())),
                     "node_cpu_percent": round(100 * cpu[rate] / cfg.sweep_seconds, 1),
                     "node_cpu_ms_per_mask": round(1000 * cpu[rate] / len(answered), 1) if answered else None})
    return rows


def _soak_summary(stream: _Stream, keys: list[tuple[int, int]], samples: list[tuple[float, float]],
                  cfg: SoakConfig) -> dict[str, Any]:
    answered = stream.answered(keys)
    start = min(stream.sent[k] for k in keys) if keys else 0.0
    per_minute = []
    for minute in range(max(1, int(np.ceil(cfg.minutes)))):
        window = [lat for key, lat in answered.items() if minute * 60 <= stream.sent[key] - start < (minute + 1) * 60]
        per_minute.append({"minute": minute + 1, **percentiles_ms(window)})
    times, rss = [t for t, _ in samples], [m for _, m in samples]
    return {"frames_sent": len(keys), "frames_answered": len(answered), "frames_unanswered": len(keys) - len(answered),
            "rss_mb": {"start": round(rss[0], 1), "peak": round(max(rss), 1), "end": round(rss[-1], 1),
                       "slope_mb_per_min": round(slope_per_minute(times, rss), 3)},
            "latency_ms_per_minute": per_minute}


def format_result(result: dict[str, Any]) -> str:
    """The result as plain-text lines."""
    soak, rss = result["soak"], result["soak"]["rss_mb"]
    cfg = result["config"]
    lines = [f"soak {cfg['minutes']} min at {cfg['rate']:g} Hz, {cfg['size']}: {soak['frames_answered']} of "
             f"{soak['frames_sent']} frames answered ({soak['frames_unanswered']} lost)",
             f"RSS MB: start {rss['start']}, peak {rss['peak']}, end {rss['end']}, slope {rss['slope_mb_per_min']} "
             "MB/min",
             "latency ms per minute (p50 / p95): " + ", ".join(f"{m['p50']} / {m['p95']}"
                                                               for m in soak["latency_ms_per_minute"])]
    for row in result["flood"]:
        rounds = ", ".join(str(v) for v in row["masks_per_second_per_round"])
        lines.append(f"input {row['input_rate']:g} Hz (achieved {row['achieved_input_rate']:g}): "
                     f"{row['masks_per_second']} masks/s (rounds: {rounds}), "
                     f"latency p50 {row['latency_ms']['p50']} ms, node CPU "
                     f"{row['node_cpu_percent']}% ({row['node_cpu_ms_per_mask']} ms per mask)")
    cond = result["conditions"]
    lines.append(f"conditions: {cond['cpus']} CPUs, load average {cond['loadavg_start']} -> {cond['loadavg_end']}")
    return "\n".join(lines)
