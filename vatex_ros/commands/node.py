"""`vatex node`: run the VATEX node over Cyclone DDS (ROS 2 wire format, no ROS install needed).

Example::

    ROS_DOMAIN_ID=7 vatex node --params config/vatex.yaml --remap image:=/camera/image_raw
    ros2 topic pub --once /vatex/expression std_msgs/String "{data: 'the red cup'}"   # from a ROS 2 machine
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

HELP = "run the node on Cyclone DDS: image + expression in, mask/detections/overlay out"

logger = logging.getLogger(__name__)


def _remap(text: str) -> tuple[str, str]:
    name, sep, target = text.partition(":=")
    if not sep or not name or not target:
        raise argparse.ArgumentTypeError(f"expected FROM:=TO, got {text!r}")
    return name, target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", help="ROS 2 parameters file (default: built-in defaults = config/vatex.yaml)")
    parser.add_argument("--namespace", default="/vatex", help="namespace of the node's topics (default /vatex)")
    parser.add_argument("--remap", type=_remap, action="append", default=[], metavar="FROM:=TO",
                        help="remap a topic, e.g. image:=/camera/image_raw (repeatable)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (default: run until SIGINT/SIGTERM)")


def run(args: argparse.Namespace) -> int:
    from vatex_ros.dds.cyclone_config import NODE_CYCLONEDDS_XML
    from vatex_ros.dds.transport import DdsNode
    from vatex_ros.echo import MAX_ECHO, shorten
    from vatex_ros.node.params import NodeParams, load_params
    from vatex_ros.node.predictor_loading import load_predictor

    os.environ.setdefault("CYCLONEDDS_URI", NODE_CYCLONEDDS_XML)  # large socket buffers unless Cyclone is configured
    try:
        params = load_params(args.params, namespace=args.namespace) if args.params else NodeParams()
        predictor = load_predictor(params)
        node = DdsNode(predictor, params, namespace=args.namespace, remappings=dict(args.remap))
    except (OSError, RuntimeError, ValueError) as err:
        logger.error("%s", shorten(err, 4 * MAX_ECHO))
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait(args.duration or None)
    finally:
        node.close()
    return 0
