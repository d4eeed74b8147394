"""`vatex bag IN OUT --expression "..."`: run the node offline over a rosbag2 file (sqlite3 or mcap).

Example::

    vatex bag recording/ segmented/ --expression "the red cup" --image-topic /camera/image_raw
    ros2 bag play segmented/    # /vatex/mask, /vatex/detections, /vatex/target next to the camera

With an aligned depth topic (16UC1/32FC1) and its CameraInfo in the bag (found by themselves, or named with
``--depth-topic`` and ``--camera-info-topic``), /vatex/target_point and /vatex/target_cloud are written too.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "segment an expression in every frame of a rosbag2 image topic; writes a bag with the node's outputs"
logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="input rosbag2 (directory, .db3 or .mcap)")
    parser.add_argument("target", type=Path, help="output rosbag2 directory (must not exist)")
    parser.add_argument("--expression", required=True, help='what to segment, e.g. "the red cup"')
    parser.add_argument("--image-topic",
                        help="sensor_msgs/Image or CompressedImage topic (default: the only colour one)")
    parser.add_argument("--depth-topic", help="aligned depth sensor_msgs/Image, 16UC1 or 32FC1 "
                        "(default: the only Image topic with a depth encoding, if any)")
    parser.add_argument("--camera-info-topic", help="the depth image's sensor_msgs/CameraInfo topic "
                        "(default: the only one)")
    parser.add_argument("--weights", type=Path, help="safetensors weights (default: the embedded tiny model)")
    parser.add_argument("--params", type=Path, help="node parameters file (default: built-in = config/vatex.yaml)")
    parser.add_argument("--namespace", default="/vatex", help="namespace of the output topics (default /vatex)")
    parser.add_argument("--overlay", action="store_true", help="also write the overlay image topic")
    parser.add_argument("--storage", choices=("sqlite3", "mcap"), help="output storage (default: as the input)")


def run(args: argparse.Namespace) -> int:
    from rosbags.rosbag2 import ReaderError, WriterError

    from vatex_ros.echo import shorten
    from vatex_ros.tools.bag import BagJob, process_bag
    from vatex_ros.node.params import NodeParams, load_params
    from vatex_ros.node.predictor_loading import load_predictor

    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"weights file {args.weights} not found")
    params = load_params(args.params) if args.params else NodeParams()
    params = params.replace(publish_overlay=args.overlay,
                            **({"weights": str(args.weights)} if args.weights is not None else {}))
    job = BagJob(args.source, args.target, args.expression, args.image_topic, args.depth_topic,
                 args.camera_info_topic, args.namespace, args.storage)
    try:
        report = process_bag(job, load_predictor(params), params)
    except ReaderError as err:  # names the bag's files (process_bag)
        logger.error("%s", shorten(err))
        return 2
    except WriterError as err:
        logger.error("%s: cannot write the bag: %s", args.target, shorten(err))
        return 2
    depth = (f", {report.located} located in 3D ({report.depth_topic} + {report.camera_info_topic})"
             if report.depth_topic else "")
    bad = f", {report.bad_messages} undecodable messages skipped" if report.bad_messages else ""
    print(f"{report.image_topic}: {report.frames} frames, {report.results} answered, {report.found} with the "
          f"target found{depth}{bad}; wrote {args.target}: "
          + ", ".join(f"{t} ({n})" for t, n in sorted(report.written.items())))
    return 0
