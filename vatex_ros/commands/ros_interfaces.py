"""`vatex ros-interfaces`: complete this venv's ROS 2 prefix after ``pip install -e '.[ros]'``.

Generates vision_msgs (not on the package registry) from ``msg/vision_msgs/`` and registers the
editable vatex_ros checkout in the ament index (``lib/vatex_ros/vatex_node``, ``share/vatex_ros``).
Needs cmake and a C/C++ compiler. A second run does nothing unless ``msg/vision_msgs/`` changed or
``--force`` is given. With a sourced ROS 2 install use ``apt install ros-<distro>-vision-msgs`` and
colcon instead.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "generate vision_msgs and register vatex_ros in this venv's ROS 2 prefix (after pip install -e '.[ros]')"

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", type=Path, help="ROS prefix to install into (default: this venv)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--jobs", type=int, help="parallel build jobs (default: CPU count)")


def run(args: argparse.Namespace) -> int:
    from vatex_ros.rclpy.environment import wheel_prefix
    from vatex_ros.rclpy.interfaces import InterfaceBuildError, build_vision_msgs
    from vatex_ros.rclpy.package_index import register_package

    prefix = args.prefix or wheel_prefix()
    try:
        build_vision_msgs(prefix, force=args.force, jobs=args.jobs)
    except InterfaceBuildError as err:
        logger.error("%s", err)
        return 1
    register_package(prefix)
    return 0
