"""`vatex demo`: the whole loop on this machine, over DDS as a robot would run it.

A `vatex node` process (the product) loads the model; a camera process plays synthetic video
scenes as sensor_msgs/Image with aligned depth and CameraInfo, and a scripted person names objects
in them; this process listens to the node's outputs, scores the masks and the 3D target points
against the generator's truth and writes an overlay GIF and ``summary.json``. Without
``CYCLONEDDS_URI`` everything stays on loopback, on a random private domain unless
``ROS_DOMAIN_ID`` is set. Example::

    vatex demo --frames 60 --fps 5 --out runs/demo
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vatex_ros.commands.arg_types import frame_size

if TYPE_CHECKING:
    from vatex_ros.tools.demo_stream import DemoConfig
    from vatex_ros.node.params import NodeParams

HELP = "run node + camera + person over DDS on this machine; writes an overlay GIF and summary.json"
logger = logging.getLogger(__name__)

_DRAIN_SECONDS = 5.0  # after the last frame, wait this long at most for the node's last answers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, default=60, help="frames to publish (default 60)")
    length.add_argument("--duration", type=float, help="seconds of camera stream (instead of --frames)")
    parser.add_argument("--fps", type=float, default=5.0, help="camera rate (default 5)")
    parser.add_argument("--size", type=frame_size, default="160x128", help="camera frame size WxH (default 160x128)")
    parser.add_argument("--weights", type=Path, help="safetensors weights (default: the embedded tiny model)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    parser.add_argument("--seed", type=int, default=0, help="scenes and expressions (default 0)")


def run(args: argparse.Namespace) -> int:
    from vatex_ros.tools.demo_report import format_summary, match_answers, summarize, write_gif
    from vatex_ros.tools.demo_stream import DemoConfig, build_script
    from vatex_ros.tools.node_process import NodeProcess, loopback_env
    from vatex_ros.node.params import NodeParams

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    width, height = args.size
    frames = round(args.duration * args.fps) if args.duration is not None else args.frames
    cfg = DemoConfig(frames=frames, fps=args.fps, seed=args.seed, width=width, height=height)
    params = NodeParams(weights=str(args.weights.resolve()) if args.weights else "", use_depth=True)
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate like Ctrl-C: children are stopped
    os.environ.update(loopback_env(os.environ))  # before any participant: Cyclone reads it once per process
    scenes, steps = build_script(cfg)
    try:
        sent, received = _play_and_listen(cfg, params, args.out)
    except RuntimeError as err:
        logger.error("%s", err)
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted; node and camera stopped")
        return 130

    answers = match_answers(steps, sent, received)
    summary = summarize(cfg, scenes, len(sent), answers)
    gif = args.out / "demo.gif"
    summary["gif_frames"] = write_gif(gif, scenes, answers, cfg.fps)
    summary["files"] = {"gif": str(gif), "node_log": str(args.out / NodeProcess.LOG_NAME)}
    summary["weights"] = params.weights or "embedded"
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(format_summary(summary))
    print(f"wrote {gif} and {args.out / 'summary.json'}")
    return 0


def _play_and_listen(cfg: DemoConfig, params: NodeParams,
                     out: Path) -> tuple[dict[tuple[int, int], int], dict[str, list]]:
    """Run node and camera, listen to the node; children are stopped whatever happens.

    Returns:
        (stamp -> script step of every frame sent, the node's outputs by topic name).

    Raises:
        RuntimeError: the node or the camera failed, or nothing was published.
    """
    import multiprocessing

    from vatex_ros.tools.demo_stream import play
    from vatex_ros.tools.node_process import NodeProcess, child_env
    from vatex_ros.dds.client import NodeClient

    budget = cfg.node_timeout + 2 * cfg.seconds + _DRAIN_SECONDS + 30  # the node exits by itself after this
    spawn = multiprocessing.get_context("spawn")  # no fork: DDS threads do not survive it
    published, stop = spawn.Queue(), spawn.Event()
    camera = spawn.Process(target=play, args=(cfg, published, stop), name="vatex-demo-camera", daemon=True)
    sent: dict[tuple[int, int], int] = {}
    with NodeProcess(params, out, budget, child_env({})) as node:
        client = NodeClient()
        camera.start()
        try:
            _collect(published, sent, node, camera, deadline=time.monotonic() + budget)
            client.wait(lambda: len(client.received["mask"]) >= len(sent) or not node.running(), _DRAIN_SECONDS)
        finally:
            stop.set()
            camera.join(timeout=10)
            if camera.is_alive():
                camera.terminate()
                camera.join()
            client.close()
    if not sent:
        raise RuntimeError(f"no frame was published: the node did not come up (see {node.log_path})")
    return sent, client.received


def _collect(published, sent: dict[tuple[int, int], int], node, camera, deadline: float) -> None:
    """Record ``stamp -> step`` for every frame the camera sends, until it says it is done.

    Raises:
        RuntimeError: the node or the camera process died, or the run exceeded ``deadline``.
    """
    while True:
        try:
            item = published.get(timeout=0.5)
        except queue.Empty:
            if not node.running():
                raise RuntimeError(f"the node exited early; see {node.log_path}") from None
            if not camera.is_alive() and published.empty():
                raise RuntimeError(f"the camera process died (exit code {camera.exitcode})") from None
            if time.monotonic() > deadline:
                raise RuntimeError("demo did not finish in time") from None
            continue
        if item is None:
            return
        index, stamp = item
        sent[stamp] = index

