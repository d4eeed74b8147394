"""ROS 2 ``.msg`` definitions we use beyond rosbags' built-in type stores, and a typestore with them.

The only ones are vision_msgs 4.x (Humble and later, where ``BoundingBox2D.center`` is
``vision_msgs/Pose2D`` = ``Point2D position`` + ``float64 theta``). They live as ``.msg`` files in
``msg/vision_msgs/``, written from the documented fields of the ros2 branch of
ros-perception/vision_msgs; ``vatex ros-interfaces`` generates the rclpy code from the same files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.store import Typestore

PACKAGE = "vatex_ros"
VISION_MSGS = "vision_msgs"


def msg_dir() -> Path:
    """Directory of the package's ``msg/``: the source tree's or the installed share (colcon, pip).

    Raises:
        FileNotFoundError: if no candidate holds ``vision_msgs/*.msg``.
    """
    candidates = [Path(__file__).resolve().parents[2] / "msg", Path(sys.prefix) / "share" / PACKAGE / "msg"]
    for candidate in candidates:
        if any((candidate / VISION_MSGS).glob("*.msg")):
            return candidate
    try:  # a colcon install: the share folder is found through the ament index
        from ament_index_python.packages import get_package_share_directory
        candidate = Path(get_package_share_directory(PACKAGE)) / "msg"
    except (ImportError, LookupError, OSError):  # no ament_index_python, package not indexed, no AMENT_PREFIX_PATH
        candidate = None
    if candidate is not None and any((candidate / VISION_MSGS).glob("*.msg")):
        return candidate
    raise FileNotFoundError(f"{VISION_MSGS}/*.msg not found in any of {[str(c) for c in candidates]}")


def vision_msgs_files() -> list[Path]:
    """The ``msg/vision_msgs/*.msg`` files, sorted by name."""
    return sorted((msg_dir() / VISION_MSGS).glob("*.msg"))


def vision_msgs() -> dict[str, str]:
    """``{"vision_msgs/msg/Name": text}`` of every ``msg/vision_msgs/*.msg``."""
    return {f"{VISION_MSGS}/msg/{path.stem}": path.read_text() for path in vision_msgs_files()}


def ros2_typestore(store: Stores = Stores.ROS2_HUMBLE) -> Typestore:
    """A rosbags typestore with the ROS 2 built-ins plus vision_msgs.

    Args:
        store: rosbags' built-in store to start from.
    """
    typestore = get_typestore(store)
    types = {}
    for name, text in vision_msgs().items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore
