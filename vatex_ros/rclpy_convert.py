"""Field-by-field conversion between :mod:`vatex_ros.messages` types and rclpy's generated messages.

Both follow the same ``.msg`` definitions, so the conversion is generic: the rclpy class is
found from the DDS type name (``sensor_msgs::msg::dds_::Image_`` -> ``sensor_msgs.msg.Image``).
rclpy's generated modules are imported only when a message is converted.
"""

from __future__ import annotations

import array
import importlib
from typing import Any

from cyclonedds.idl import IdlStruct

from vatex_ros.messages import ros_type_name


def ros_class(ros_type: str) -> type:
    """rclpy message class of ``pkg/msg/Name``.

    Raises:
        ImportError: the package's Python interfaces are not generated/installed.
    """
    package, _, name = ros_type.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def to_ros(value: Any) -> Any:
    """Our message (or field value) as an rclpy message; ``uint8[]`` becomes ``array('B')``."""
    if isinstance(value, IdlStruct):
        out = ros_class(ros_type_name(value.__idl_typename__))()
        for name in value.__dataclass_fields__:
            setattr(out, name, to_ros(getattr(value, name)))
        return out
    if isinstance(value, (bytes, bytearray)):
        return array.array("B", value)
    if isinstance(value, list):
        return [to_ros(item) for item in value]
    return value


def from_ros(msg: Any, cls: type[IdlStruct]) -> IdlStruct:
    """An rclpy message (any object with the same field names) as our type ``cls``."""
    values = {}
    for name, f in cls.__dataclass_fields__.items():
        value = getattr(msg, name)
        if isinstance(f.type, type) and issubclass(f.type, IdlStruct):
            value = from_ros(value, f.type)
        elif isinstance(value, (array.array, memoryview, bytearray)) or hasattr(value, "tobytes"):
            value = bytes(value)
        values[name] = value
    return cls(**values)
