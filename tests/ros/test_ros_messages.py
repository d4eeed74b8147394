"""Our DDS message types against the .msg definitions and against rosbags' independent CDR codec."""

import typing

import numpy as np
import pytest
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import array, sequence, uint8
from rosbags.interfaces import Nodetype

from vatex_ros.messages import idl as m
from vatex_ros.messages.definitions import ros2_typestore

TYPESTORE = ros2_typestore()


def _idl(hint):
    """Unwrap ``Annotated[Sequence[...], array|sequence]`` to the cyclonedds array/sequence."""
    meta = typing.get_args(hint)[1:] if typing.get_origin(hint) is typing.Annotated else ()
    return meta[0] if meta and isinstance(meta[0], (array, sequence)) else hint


def _ros_field(hint) -> tuple:
    """Express a cyclonedds field type in rosbags' fielddef notation."""
    hint = _idl(hint)
    if isinstance(hint, array):
        return (Nodetype.ARRAY, (_ros_field(hint.subtype), hint.length))
    if isinstance(hint, sequence):
        return (Nodetype.SEQUENCE, (_ros_field(hint.subtype), 0))
    if isinstance(hint, type) and issubclass(hint, IdlStruct):
        return (Nodetype.NAME, m.ros_type_name(hint.__idl_typename__))
    base = {str: "string", bool: "bool"}.get(hint) or typing.get_args(hint)[1]
    return (Nodetype.BASE, (base, 0))


def _sample(cls: type[IdlStruct]) -> IdlStruct:
    """A message of type ``cls`` with distinct non-default values in every field."""
    counter = iter(range(1, 10_000))
    values = {}
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        n, hint = next(counter), _idl(hint)
        if isinstance(hint, sequence) and hint.subtype == uint8:
            values[name] = bytes(range(n, n + 7))
        elif isinstance(hint, array):
            values[name] = [float(n + i) / 4 for i in range(hint.length)]
        elif isinstance(hint, sequence) and isinstance(hint.subtype, type) and issubclass(hint.subtype, IdlStruct):
            values[name] = [_sample(hint.subtype), _sample(hint.subtype)]
        elif isinstance(hint, sequence):  # of float64 (CameraInfo.d)
            values[name] = [float(n + i) / 8 for i in range(5)]
        elif isinstance(hint, type) and issubclass(hint, IdlStruct):
            values[name] = _sample(hint)
        elif hint is str:
            values[name] = f"{name} é {n}"
        elif hint is bool:
            values[name] = True
        else:
            kind = typing.get_args(hint)[1]
            values[name] = n + 0.25 if kind.startswith("float") else n
    return cls(**values)


def _to_rosbags(obj):
    if isinstance(obj, IdlStruct):
        cls = TYPESTORE.types[m.ros_type_name(obj.__idl_typename__)]
        return cls(**{k: _to_rosbags(v) for k, v in vars(obj).items()})
    if isinstance(obj, bytes):
        return np.frombuffer(obj, dtype=np.uint8)
    if isinstance(obj, list) and obj and isinstance(obj[0], float):
        return np.array(obj, dtype=np.float64)
    if isinstance(obj, list):
        return [_to_rosbags(v) for v in obj]
    return obj


def _plain(obj):
    """Nested plain values of a message of either library, for comparison."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (bytes, memoryview)):  # memoryview: uint8[] as our fast codec decodes it
        return list(obj)
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if hasattr(obj, "__msgtype__"):  # rosbags: the .msg's constants are dataclass fields too; compare fields only
        return {k: _plain(getattr(obj, k)) for k, _ in TYPESTORE.fielddefs[obj.__msgtype__][1]}
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(getattr(obj, k)) for k in obj.__dataclass_fields__}
    return obj


def _pad4(raw: bytes) -> bytes:
    return raw.ljust(len(raw) + 3 & ~3, b"\0")


@pytest.mark.parametrize("cls", m.ALL_TYPES, ids=lambda c: c.__name__)
def test_fields_match_msg_definition(cls):
    _, fields = TYPESTORE.fielddefs[m.ros_type_name(cls.__idl_typename__)]
    hints = typing.get_type_hints(cls, include_extras=True)
    assert [(name, _ros_field(hint)) for name, hint in hints.items()] == [tuple(f) for f in fields]


@pytest.mark.parametrize("cls", m.ALL_TYPES, ids=lambda c: c.__name__)
def test_ours_to_rosbags_and_back(cls):
    ours = _sample(cls)
    raw = ours.serialize()
    assert raw[:2] == b"\x00\x01"  # CDR_LE encapsulation, XCDR1
    theirs = TYPESTORE.deserialize_cdr(raw, m.ros_type_name(cls.__idl_typename__))
    assert _plain(theirs) == _plain(ours)
    theirs_raw = bytes(TYPESTORE.serialize_cdr(_to_rosbags(ours), m.ros_type_name(cls.__idl_typename__)))
    assert _pad4(raw) == _pad4(theirs_raw)  # the bytes DataWriter.write sends: padded to 4 (our codec pads itself)
    back = cls.deserialize(theirs_raw)
    assert _plain(back) == _plain(ours)


def test_dds_type_names_follow_ros2_convention():
    assert m.Detection3DArray.__idl_typename__ == "vision_msgs::msg::dds_::Detection3DArray_"
    assert m.ros_type_name("sensor_msgs::msg::dds_::Image_") == "sensor_msgs/msg/Image"


def test_vision_msgs_come_from_msg_files_of_the_4x_layout():
    """The .msg files under msg/vision_msgs/ are the single source; BoundingBox2D.center is vision_msgs/Pose2D."""
    from vatex_ros.messages.definitions import vision_msgs

    texts = vision_msgs()
    assert {name.rsplit("/", 1)[1] for name in texts} == {
        cls.__name__ for cls in m.ALL_TYPES if cls.__idl_typename__.startswith("vision_msgs::")}
    _, fields = TYPESTORE.fielddefs["vision_msgs/msg/BoundingBox2D"]
    assert fields[0][0] == "center" and fields[0][1] == (Nodetype.NAME, "vision_msgs/msg/Pose2D")
    _, fields = TYPESTORE.fielddefs["vision_msgs/msg/Detection3D"]
    assert [name for name, _ in fields] == ["header", "results", "bbox", "id"]  # 4.x: no source_cloud
