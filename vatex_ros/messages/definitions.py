"""ROS 2 ``.msg`` definitions we use beyond rosbags' built-in type stores, and a typestore with them.

vision_msgs text is that of the ros2 branch of ros-perception/vision_msgs (4.x, Humble and later),
where ``BoundingBox2D.center`` is ``vision_msgs/Pose2D`` (``Point2D position`` + ``float64 theta``).
Our own messages are read from ``msg/*.msg``, the same files colcon's rosidl generation uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.store import Typestore

PACKAGE = "vatex_ros"

# ros-perception/vision_msgs, branch ros2 (comments and constants left out).
VISION_MSGS: dict[str, str] = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}


def msg_dir() -> Path:
    """Directory of this package's ``.msg`` files: the source tree's ``msg/`` or the installed share.

    Raises:
        FileNotFoundError: if neither location holds ``VatexTarget.msg``.
    """
    candidates = (
        Path(__file__).resolve().parents[2] / "msg",
        Path(sys.prefix) / "share" / PACKAGE / "msg",
    )
    for candidate in candidates:
        if (candidate / "VatexTarget.msg").is_file():
            return candidate
    raise FileNotFoundError(f"VatexTarget.msg not found in any of {[str(c) for c in candidates]}")


def own_msgs() -> dict[str, str]:
    """``{"vatex_ros/msg/Name": text}`` for every ``msg/*.msg`` of this package."""
    return {f"{PACKAGE}/msg/{path.stem}": path.read_text() for path in sorted(msg_dir().glob("*.msg"))}


def ros2_typestore(store: Stores = Stores.ROS2_HUMBLE) -> Typestore:
    """A rosbags typestore with the ROS 2 built-ins plus vision_msgs and vatex_ros messages.

    Args:
        store: rosbags' built-in store to start from.
    """
    typestore = get_typestore(store)
    types = {}
    for name, text in {**VISION_MSGS, **own_msgs()}.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore
