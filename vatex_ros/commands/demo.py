"""`vatex demo`: the whole loop on this machine, over DDS as a robot would run it.

A `vatex node` process (the product) loads the model; a camera process plays synthetic video
scenes as sensor_msgs/Image with aligned depth and CameraInfo, and a scripted person names objects
in them; this process listens to the node's outputs, scores the masks and the 3D target points
against the generator's truth and writes an overlay GIF and ``summary.json``. Without
``CYCLONEDDS_URI`` everything stays on loopback, on a random private domain unless
``ROS_DOMAIN_ID`` is set. Example::

    vatex demo --frames 60 --fps 5 --out runs/demo
    vatex demo --cameras 2     # one node, two cameras (the second sees each scene a few frames later)
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
CAMERA_OFFSET = 3  # frames between what two neighbouring demo cameras see of a scene


def add_arguments(parser: argparse.ArgumentParser) -> None:
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, default=60, help="frames to publish (default 60)")
    length.add_argument("--duration", type=float, help="seconds of camera stream (instead of --frames)")
    parser.add_argument("--fps", type=float, default=5.0, help="camera rate (default 5)")
    parser.add_argument("--size", type=frame_size, default="160x128", help="camera frame size WxH (default 160x128)")
    parser.add_argument("--weights", type=Path, help="safetensors weights (default: the embedded tiny model)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    parser.add_argument("--seed", type=int, default=0, help="scenes and expressions (default 0)")
    parser.add_argument("--cameras", type=int, default=1, choices=range(1, 5), metavar="N",
                        help="cameras of the one node (1-4, default 1); camera k sees each scene k*%d frames later"
                        % CAMERA_OFFSET)


def run(args: argparse.Namespace) -> int:
    from vatex_ros.tools.demo_report import format_summary, match_answers, summarize, write_gif
    from vatex_ros.tools.demo_stream import DemoConfig, build_script, camera_steps
    from vatex_ros.tools.node_process import NodeProcess, loopback_env
    from vatex_ros.node.params import NodeParams

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    width, height = args.size
    frames = round(args.duration * args.fps) if args.duration is not None else args.frames
    cfg = DemoConfig(frames=frames, fps=args.fps, seed=args.seed, width=width, height=height)
    cameras = tuple(f"camera{index}" for index in range(args.cameras)) if args.cameras > 1 else ("",)
    params = NodeParams(weights=str(args.weights.resolve()) if args.weights else "", use_depth=True,
                        cameras=cameras if args.cameras > 1 else ())
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate like Ctrl-C: children are stopped
    os.environ.update(loopback_env(os.environ))  # before any participant: Cyclone reads it once per process
    scenes, steps = build_script(cfg)
    try:
        sent, received = _play_and_listen(cfg, params, cameras, args.out)
    except RuntimeError as err:
        logger.error("%s", err)
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted; node and camera stopped")
        return 130

    summaries = {}
    for index, camera in enumerate(cameras):
        answers = match_answers(camera_steps(cfg, steps, index * CAMERA_OFFSET), sent[camera], received[camera])
        summaries[camera] = summarize(cfg, scenes, len(sent[camera]), answers)
        if index == 0:  # the first camera's picture
            gif = args.out / "demo.gif"
            summaries[camera]["gif_frames"] = write_gif(gif, scenes, answers, cfg.fps)
    summary = summaries[""] if args.cameras == 1 else {"cameras": summaries}
    summary["files"] = {"gif": str(gif), "node_log": str(args.out / NodeProcess.LOG_NAME)}
    summary["weights"] = params.weights or "embedded"
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for camera, camera_summary in summaries.items():
        if camera:
            print(f"{camera} (sees each scene {cameras.index(camera) * CAMERA_OFFSET} frames later):")
        print(format_summary(camera_summary))
    print(f"wrote {gif} ({cameras[0] or 'the camera'}) and {args.out / 'summary.json'}")
    return 0


def _play_and_listen(cfg: DemoConfig, params: NodeParams, cameras: tuple[str, ...],
                     out: Path) -> tuple[dict[str, dict[tuple[int, int], int]], dict[str, dict[str, list]]]:
    """Run the node and a camera process per camera (the first one is also the person), listen to the node;
    children are stopped whatever happens.

    Returns:
        per camera: (stamp -> script step of every frame sent, the node's outputs by topic name).

    Raises:
        RuntimeError: the node or a camera failed, or nothing was published.
    """
    import multiprocessing

    from vatex_ros.tools.demo_stream import play
    from vatex_ros.tools.node_process import NodeProcess, child_env
    from vatex_ros.dds.client import NodeClient

    budget = cfg.node_timeout + 2 * cfg.seconds + _DRAIN_SECONDS + 30  # the node exits by itself after this
    spawn = multiprocessing.get_context("spawn")  # no fork: DDS threads do not survive it
    published, stop = spawn.Queue(), spawn.Event()
    players = [spawn.Process(target=play, args=(cfg, published, stop, camera, index * CAMERA_OFFSET, index == 0),
                             name=f"vatex-demo-camera{index}", daemon=True) for index, camera in enumerate(cameras)]
    sent: dict[str, dict[tuple[int, int], int]] = {camera: {} for camera in cameras}
    with NodeProcess(params, out, budget, child_env({})) as node:
        clients = {camera: NodeClient(camera=camera) for camera in cameras}
        for player in players:
            player.start()
        try:
            _collect(published, sent, node, players, deadline=time.monotonic() + budget)
            for camera, client in clients.items():
                client.wait(lambda: len(client.received["mask"]) >= len(sent[camera]) or not node.running(),
                            _DRAIN_SECONDS)
        finally:
            stop.set()
            for player in players:
                player.join(timeout=10)
                if player.is_alive():
                    player.terminate()
                    player.join()
            for client in clients.values():
                client.close()
    if not any(sent.values()):
        raise RuntimeError(f"no frame was published: the node did not come up (see {node.log_path})")
    return sent, {camera: client.received for camera, client in clients.items()}


def _collect(published, sent: dict[str, dict[tuple[int, int], int]], node, players, deadline: float) -> None:
    """Record ``stamp -> step`` for every frame each camera sends, until all of them say they are done.

    Raises:
        RuntimeError: the node or a camera process died, or the run exceeded ``deadline``.
    """
    playing = set(sent)
    while playing:
        try:
            camera, index, stamp = published.get(timeout=0.5)
        except queue.Empty:
            if not node.running():
                raise RuntimeError(f"the node exited early; see {node.log_path}") from None
            dead = [player for player in players if not player.is_alive() and player.exitcode]
            if dead and published.empty():
                raise RuntimeError(f"a camera process died (exit code {dead[0].exitcode})") from None
            if time.monotonic() > deadline:
                raise RuntimeError("demo did not finish in time") from None
            continue
        if index is None:
            playing.discard(camera)
        else:
            sent[camera][stamp] = index

