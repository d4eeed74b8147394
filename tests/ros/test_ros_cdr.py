"""The hand-written XCDR1 codec of Image, CompressedImage and PointCloud2 against rosbags' and cyclonedds' own."""

import numpy as np
import pytest
from cyclonedds.idl import IdlStruct
from cyclonedds.idl._support import Endianness

from vatex_ros.messages import idl as m
from vatex_ros.messages.cdr import CdrError
from vatex_ros.messages.definitions import ros2_typestore
from vatex_ros.messages.images import ENCODINGS, image_to_array
from vatex_ros.node.depth import DEPTH_ENCODINGS

TYPESTORE = ros2_typestore()
T = TYPESTORE.types
RNG = np.random.default_rng(0)
FRAME_IDS = ["", "camera", "kamera_ü_日本_🤖", "x" * 3001]


def _pad4(raw: bytes) -> bytes:
    return raw.ljust(len(raw) + 3 & ~3, b"\0")


def _theirs_header(header: m.Header):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=header.stamp.sec,
                                                                          nanosec=header.stamp.nanosec),
                                    frame_id=header.frame_id)


def _rosbags_bytes(msg) -> bytes:
    """rosbags' serialize_cdr of the same message (an independent implementation)."""
    data = np.frombuffer(bytes(msg.data), np.uint8)
    if isinstance(msg, m.Image):
        theirs = T["sensor_msgs/msg/Image"](header=_theirs_header(msg.header), height=msg.height, width=msg.width,
                                           encoding=msg.encoding, is_bigendian=msg.is_bigendian, step=msg.step,
                                           data=data)
    elif isinstance(msg, m.CompressedImage):
        theirs = T["sensor_msgs/msg/CompressedImage"](header=_theirs_header(msg.header), format=msg.format, data=data)
    else:
        fields = [T["sensor_msgs/msg/PointField"](name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                  for f in msg.fields]
        theirs = T["sensor_msgs/msg/PointCloud2"](header=_theirs_header(msg.header), height=msg.height,
                                                 width=msg.width, fields=fields, is_bigendian=msg.is_bigendian,
                                                 point_step=msg.point_step, row_step=msg.row_step, data=data,
                                                 is_dense=msg.is_dense)
    return bytes(TYPESTORE.serialize_cdr(theirs, m.ros_type_name(msg.__idl_typename__)))


def _image(width: int, height: int, encoding: str, pad: int = 0, frame_id: str = "camera",
           is_bigendian: int = 0) -> m.Image:
    channels, dtype = {**ENCODINGS, **DEPTH_ENCODINGS}[encoding]
    step = width * channels * dtype.itemsize + pad
    return m.Image(header=m.Header(stamp=m.Time(sec=1_700_000_000, nanosec=123_456_789), frame_id=frame_id),
                   height=height, width=width, encoding=encoding, is_bigendian=is_bigendian, step=step,
                   data=RNG.integers(0, 256, step * height, dtype=np.uint8).tobytes())


def _cloud(points: int, frame_id: str = "camera") -> m.PointCloud2:
    fields = [m.PointField(name=axis, offset=4 * i, datatype=m.PointField.FLOAT32, count=1)
              for i, axis in enumerate("xyz")] + [m.PointField(name="intensité", offset=12, datatype=2, count=1)]
    return m.PointCloud2(header=m.Header(stamp=m.Time(sec=-3, nanosec=9), frame_id=frame_id), height=1,
                         width=points, fields=fields, is_bigendian=False, point_step=13, row_step=13 * points,
                         data=RNG.integers(0, 256, 13 * points, dtype=np.uint8).tobytes(), is_dense=points % 2 == 0)


IMAGES = {
    **{f"{enc}-odd": _image(7, 5, enc) for enc in (*ENCODINGS, *DEPTH_ENCODINGS)},
    **{f"{enc}-row-padding": _image(3, 4, enc, pad=5) for enc in (*ENCODINGS, *DEPTH_ENCODINGS)},
    "mono16-bigendian": _image(5, 3, "mono16", is_bigendian=1),
    "0x0": _image(0, 0, "rgb8"),
    "641x1": _image(641, 1, "rgb8"),
    "640x480": _image(640, 480, "rgb8"),
    **{f"frame_id-{len(f)}": _image(2, 2, "mono8", frame_id=f) for f in FRAME_IDS},
}
CLOUDS = {f"{n}-points": _cloud(n) for n in (0, 1, 3, 1000, 300_000)}
COMPRESSED = {f"{fmt}-{len(f)}": m.CompressedImage(header=m.Header(frame_id=f), format=fmt,
                                                   data=RNG.integers(0, 256, size, dtype=np.uint8).tobytes())
              for fmt, f, size in (("jpeg", "camera", 1001), ("png", "kamera_ü_日本_🤖", 0),
                                   ("rgb8; jpeg compressed bgr8", "x" * 3001, 3))}
MESSAGES = {**IMAGES, **CLOUDS, **COMPRESSED}


@pytest.mark.parametrize("name", MESSAGES)
def test_bytes_identical_to_rosbags_and_generic_codec(name):
    msg = MESSAGES[name]
    raw = msg.serialize()
    assert type(raw) is bytes and len(raw) % 4 == 0  # DataWriter.write sends it as is: no pad copy
    assert raw == _pad4(_rosbags_bytes(msg))
    if len(msg.data) <= 100_000:  # cyclonedds' generic codec packs element by element: slow for big payloads
        assert raw == _pad4(IdlStruct.serialize(msg))


@pytest.mark.parametrize("name", MESSAGES)
def test_decodes_rosbags_bytes_to_the_same_message(name):
    msg = MESSAGES[name]
    for raw in (_rosbags_bytes(msg), msg.serialize()):  # unpadded as rosbags writes it, padded as DDS delivers it
        back = type(msg).deserialize(raw)
        assert back == msg  # dataclass equality; memoryview == bytes compares contents
        assert isinstance(back.data, memoryview) and back.data.readonly


def _same(a, b) -> bool:
    """Equal messages, ``uint8[]`` compared as bytes (cyclonedds' generic decoder gives a list of int)."""
    return bytes(a.data) == bytes(b.data) and {k: v for k, v in vars(a).items() if k != "data"} == \
        {k: v for k, v in vars(b).items() if k != "data"}


def test_generic_codec_decodes_ours():
    for msg in (IMAGES["rgb8-row-padding"], CLOUDS["3-points"], COMPRESSED["jpeg-6"]):
        assert _same(type(msg).__idl__.deserialize(msg.serialize()), msg)  # cyclonedds' decoder, as a plain peer's


def test_received_pixels_are_a_view_of_the_buffer():
    raw = IMAGES["640x480"].serialize()
    back = m.Image.deserialize(raw)
    pixels = image_to_array(back)
    assert pixels.shape == (480, 640, 3) and not pixels.flags.writeable
    assert np.shares_memory(pixels, np.frombuffer(raw, np.uint8))  # no copy from the wire to the model's input
    padded = m.Image.deserialize(IMAGES["mono16-row-padding"].serialize())
    assert np.shares_memory(image_to_array(padded), np.frombuffer(padded.data, np.uint8))  # strided view


def test_payload_is_copied_once_from_a_numpy_array():
    pixels = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = m.Image(height=5, width=7, encoding="rgb8", step=21, data=pixels)  # any contiguous bytes-like
    assert msg.serialize() == _pad4(_rosbags_bytes(m.Image(height=5, width=7, encoding="rgb8", step=21,
                                                           data=pixels.tobytes())))
    as_list = m.Image(height=1, width=2, encoding="mono8", step=2, data=[1, 255])  # as the generic codec takes
    assert m.Image.deserialize(as_list.serialize()).data == b"\x01\xff"
    with pytest.raises(ValueError):
        m.Image(data=[256]).serialize()


def test_other_representations_use_the_generic_codec():
    msg = IMAGES["rgb8-odd"]
    big = msg.serialize(endianness=Endianness.Big)
    assert big[:2] == b"\x00\x00" and big != msg.serialize()
    assert _same(m.Image.deserialize(big), msg)  # big endian: cyclonedds' decoder
    v2 = msg.serialize(use_version_2=True)
    assert v2[:2] != b"\x00\x01" and _same(m.Image.deserialize(v2), msg)
    assert _same(m.Image.deserialize(msg.serialize()[4:], has_header=False, use_version_2=False), msg)


@pytest.mark.parametrize("name", ["rgb8-odd", "frame_id-0", "0x0"])
def test_every_truncation_is_a_clear_error(name):
    raw = IMAGES[name].serialize()
    unpadded = len(_rosbags_bytes(IMAGES[name]))
    for cut in range(unpadded):
        with pytest.raises(CdrError, match="sensor_msgs/Image: .*"):
            m.Image.deserialize(raw[:cut])


def test_truncated_cloud_and_compressed_are_clear_errors():
    raw = CLOUDS["1000-points"].serialize()
    with pytest.raises(CdrError, match=r"sensor_msgs/PointCloud2: data needs 13000 bytes at offset \d+, but the "
                                       r"buffer has \d+ \(truncated or inconsistent\)"):
        m.PointCloud2.deserialize(raw[:-100])
    with pytest.raises(CdrError, match="sensor_msgs/CompressedImage: data needs"):
        m.CompressedImage.deserialize(COMPRESSED["jpeg-6"].serialize()[:-10])


def _patched(raw: bytes, offset: int, value: bytes) -> bytes:
    return raw[:offset] + value + raw[offset + len(value):]


def test_inconsistent_lengths_are_clear_errors():
    raw = IMAGES["frame_id-6"].serialize()  # frame_id "camera": length 7 at offset 12, text at 16
    with pytest.raises(CdrError, match="header.frame_id has length 0"):
        m.Image.deserialize(_patched(raw, 12, b"\x00\x00\x00\x00"))
    with pytest.raises(CdrError, match="header.frame_id needs 4294967295 bytes"):
        m.Image.deserialize(_patched(raw, 12, b"\xff\xff\xff\xff"))
    with pytest.raises(CdrError, match="not NUL-terminated"):
        m.Image.deserialize(_patched(raw, 22, b"X"))
    with pytest.raises(CdrError, match="not UTF-8"):
        m.Image.deserialize(_patched(raw, 16, b"\xff"))
    with pytest.raises(CdrError, match="not an XCDR1 little-endian buffer"):
        m.Image.deserialize(_patched(raw, 0, b"\x12\x34"))
    cloud = CLOUDS["0-points"].serialize()  # the field count follows header (20 bytes) and height, width
    with pytest.raises(CdrError, match="fields needs"):
        m.PointCloud2.deserialize(_patched(cloud, 4 + 20 + 8, b"\xff\xff\xff\x7f"))


def test_received_payload_converts_for_rclpy_and_back():
    import array

    from vatex_ros.rclpy.convert import from_ros, to_ros

    back = m.Image.deserialize(IMAGES["rgb8-odd"].serialize())
    as_ros = to_ros(back.data)  # what the rclpy transport publishes: array('B'), filled in one call
    assert isinstance(as_ros, array.array) and as_ros.typecode == "B" and as_ros.tobytes() == bytes(back.data)
    rclpy_like = type("Msg", (), {**vars(back), "data": as_ros})()
    assert from_ros(rclpy_like, m.Image) == back
