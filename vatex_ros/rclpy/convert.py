"""Field-by-field conversion between :mod:`vatex_ros.messages.idl` types and rclpy's generated messages.

Both follow the same ``.msg`` definitions, so the conversion is generic: the rclpy class is
found from the DDS type name (``sensor_msgs::msg::dds_::Image_`` -> ``sensor_msgs.msg.Image``).
rclpy's generated modules are imported only when a message is converted.
"""

from __future__ import annotations

import array
import importlib
from typing import Any

from cyclonedds.idl import IdlStruct

from vatex_ros.messages.idl import ros_type_name


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
    if isinstance(value, (bytes, bytearray, memoryview)):  # memoryview: our received and built payloads
        octets = array.array("B")
        octets.frombytes(value)
        return octets
    if isinstance(value, list):
        return [to_ros(item) for item in value]
    return value


def from_ros(msg: Any, cls: type[IdlStruct]) -> IdlStruct:
    """An rclpy message (any object with the same field names) as our type ``cls``.

    ``uint8[]`` (``array('B')``, uint8 numpy arrays, bytearray) becomes ``bytes``; other numeric arrays
    (``float64[]`` as ``array('d')``, ``float64[9]`` as numpy arrays) become lists.
    """
    values = {}
    for name, f in cls.__dataclass_fields__.items():
        value = getattr(msg, name)
        if isinstance(f.type, type) and issubclass(f.type, IdlStruct):
            value = from_ros(value, f.type)
        elif isinstance(value, (memoryview, bytearray)) or _is_uint8_array(value):
            value = bytes(value)
        elif isinstance(value, array.array) or hasattr(value, "tolist"):
            value = value.tolist()
        values[name] = value
    return cls(**values)


def _is_uint8_array(value: Any) -> bool:
    """An rclpy ``uint8[]`` value: ``array('B')`` or a numpy array of uint8."""
    if isinstance(value, array.array):
        return value.typecode == "B"
    return getattr(value, "dtype", None) == "uint8"
