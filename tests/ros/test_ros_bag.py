"""`vatex bag`: a rosbag2 written and read back with rosbags (an independent ROS 2 CDR implementation)."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from ros_fakes import scene

from vatex_ros.cli import main
from vatex_ros.msg_definitions import ros2_typestore

TYPESTORE = ros2_typestore()
T = TYPESTORE.types


def _header(i: int):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=100 + i, nanosec=5000 * i),
                                    frame_id="camera_optical")


def _raw_frame(i: int, rgb: np.ndarray):
    height, width = rgb.shape[:2]
    return T["sensor_msgs/msg/Image"](header=_header(i), height=height, width=width, encoding="rgb8",
                                      is_bigendian=0, step=3 * width, data=rgb.reshape(-1).copy())


def _compressed_frame(i: int, rgb: np.ndarray):
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="PNG")
    return T["sensor_msgs/msg/CompressedImage"](header=_header(i), format="png",
                                                data=np.frombuffer(buffer.getvalue(), np.uint8))


def _write_bag(path, storage: StoragePlugin, extra_image_topic: bool = False) -> None:
    """3 rgb8 frames and 1 PNG CompressedImage on /camera/image_raw, and a std_msgs/String on /chatter."""
    rgb = scene()
    with Writer(path, version=9, storage_plugin=storage) as writer:
        raw = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
        compressed = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/CompressedImage", typestore=TYPESTORE)
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=TYPESTORE)
        for i in range(3):
            writer.write(raw, 1_000 + i, TYPESTORE.serialize_cdr(_raw_frame(i, rgb), raw.msgtype))
        writer.write(compressed, 1_003, TYPESTORE.serialize_cdr(_compressed_frame(3, rgb), compressed.msgtype))
        writer.write(chatter, 1_004, TYPESTORE.serialize_cdr(T["std_msgs/msg/String"](data="hi"), chatter.msgtype))
        if extra_image_topic:
            other = writer.add_connection("/other/image", "sensor_msgs/msg/Image", typestore=TYPESTORE)
            writer.write(other, 1_005, TYPESTORE.serialize_cdr(_raw_frame(5, rgb), other.msgtype))


def _read(path) -> dict[str, list]:
    """topic -> [(bag timestamp, message)] of a bag, deserialized by rosbags."""
    messages: dict[str, list] = {}
    with Reader(path) as reader:
        for conn, timestamp, raw in reader.messages():
            messages.setdefault(conn.topic, []).append((timestamp, TYPESTORE.deserialize_cdr(raw, conn.msgtype)))
    return messages


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP], ids=["sqlite3", "mcap"])
def test_bag_gets_mask_detections_and_target_per_frame(tmp_path, random_tiny_weights, storage):
    source, target = tmp_path / "in", tmp_path / "out"
    _write_bag(source, storage)
    assert main(["bag", str(source), str(target), "--expression", "the red block",
                 "--weights", str(random_tiny_weights)]) == 0

    original, result = _read(source), _read(target)
    assert set(result) == {"/camera/image_raw", "/chatter", "/vatex/mask", "/vatex/detections", "/vatex/target"}
    for topic in ("/camera/image_raw", "/chatter"):  # source messages copied unchanged
        assert [t for t, _ in result[topic]] == [t for t, _ in original[topic]]
    source_headers = [(t, m.header) for t, m in original["/camera/image_raw"]]
    for topic in ("/vatex/mask", "/vatex/detections", "/vatex/target"):
        assert [(t, m.header) for t, m in result[topic]] == source_headers, topic
    for _, mask in result["/vatex/mask"]:
        assert (mask.encoding, mask.height, mask.width, mask.step) == ("mono8", 48, 64, 64)
        assert len(mask.data) == 48 * 64 and set(np.unique(mask.data)) <= {0, 255}
    assert all(m.expression == "the red block" for _, m in result["/vatex/target"])
    assert any(target.glob("*.mcap" if storage is StoragePlugin.MCAP else "*.db3"))  # storage as the input's


def test_bag_with_two_image_topics_needs_one_named(tmp_path, random_tiny_weights):
    source = tmp_path / "in"
    _write_bag(source, StoragePlugin.SQLITE3, extra_image_topic=True)
    args = ["bag", str(source), str(tmp_path / "out"), "--expression", "the red block",
            "--weights", str(random_tiny_weights)]
    assert main(args) == 2  # ambiguous: clear error, no traceback
    assert main([*args, "--image-topic", "/other/image"]) == 0
    result = _read(tmp_path / "out")
    assert [m.header for _, m in result["/vatex/mask"]] == [_header(5)]
