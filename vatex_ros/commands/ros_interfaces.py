"""`vatex ros-interfaces`: generate vision_msgs (not on the package registry) into this venv's ROS prefix.

Run once after ``pip install -e '.[ros]'``; needs cmake and a C/C++ compiler. A second run does
nothing unless ``msg/vision_msgs/`` changed or ``--force`` is given. With a sourced ROS 2 install,
install ``ros-<distro>-vision-msgs`` from apt instead.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "generate the vision_msgs interfaces into this venv's ROS 2 prefix (after pip install -e '.[ros]')"

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", type=Path, help="ROS prefix to install into (default: this venv)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--jobs", type=int, help="parallel build jobs (default: CPU count)")


def run(args: argparse.Namespace) -> int:
    from vatex_ros.rclpy.interfaces import InterfaceBuildError, build_vision_msgs

    try:
        build_vision_msgs(args.prefix, force=args.force, jobs=args.jobs)
    except InterfaceBuildError as err:
        logger.error("%s", err)
        return 1
    return 0
