"""`vatex bag`: a rosbag2 written and read back with rosbags (an independent ROS 2 CDR implementation)."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from ros_fakes import scene

from vatex_ros.cli import main
from vatex_ros.messages.definitions import ros2_typestore

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


def _write_bag(path, storage: StoragePlugin, extra_image_topic: bool = False, rgb: np.ndarray | None = None) -> None:
    """3 rgb8 frames and 1 PNG CompressedImage of ``rgb`` (default: scene()) on /camera/image_raw, and a
    std_msgs/String on /chatter."""
    rgb = scene() if rgb is None else rgb
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
def test_bag_finds_the_named_object_in_every_frame(tmp_path, storage, capsys):
    """`vatex bag` with the embedded model on a scene it segments: a mask and a detection per frame, each with its
    frame's header, the object found (found_after 2: from the second frame on) with a mask on it."""
    from ros_fakes import embedded_model_scene

    rgb, expression, truth = embedded_model_scene()
    height, width = truth.shape
    source, target = tmp_path / "in", tmp_path / "out"
    _write_bag(source, storage, rgb=rgb)
    assert main(["bag", str(source), str(target), "--expression", expression]) == 0
    assert "4 frames, 4 answered, 3 with the target found" in capsys.readouterr().out

    original, result = _read(source), _read(target)
    assert set(result) == {"/camera/image_raw", "/chatter", "/vatex/mask", "/vatex/detections"}
    for topic in ("/camera/image_raw", "/chatter"):  # source messages copied unchanged
        assert [t for t, _ in result[topic]] == [t for t, _ in original[topic]]
    source_headers = [(t, m.header) for t, m in original["/camera/image_raw"]]
    for topic in ("/vatex/mask", "/vatex/detections"):
        assert [(t, m.header) for t, m in result[topic]] == source_headers, topic
    for i, ((_, mask), (_, detections)) in enumerate(zip(result["/vatex/mask"], result["/vatex/detections"])):
        assert (mask.encoding, mask.height, mask.width, mask.step) == ("mono8", height, width, width)
        got = np.asarray(mask.data, np.uint8).reshape(height, width)
        assert set(np.unique(got)) <= {0, 255}
        if i == 0:  # one hit is not yet found
            assert not detections.detections and not got.any()
            continue
        iou = ((got > 0) & truth).sum() / ((got > 0) | truth).sum()
        assert iou > 0.5, f"frame {i}: IoU {iou:.2f}"
        (detection,) = detections.detections
        assert detection.results[0].hypothesis.class_id == expression and detection.results[0].hypothesis.score > 0.5
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


def _write_depth_bag(path) -> list:
    """A RealSense-like bag: per frame an rgb8 image, then its aligned 16UC1 depth, then the CameraInfo (bag order
    colour, depth, info, so frames must wait for their depth). The red square is at 0.8 m, the blue one at 1.2 m.

    Returns:
        The colour frames' headers (ours), in order.
    """
    from ros_fakes import COLOURS, frame_msg

    from vatex_ros.tools.depth_scene import render_depth

    rgb = scene()
    masks = [np.all(rgb == COLOURS[name], axis=2) for name in ("red", "blue")]
    headers = []
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        colour = writer.add_connection("/camera/color/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
        depth = writer.add_connection("/camera/aligned_depth_to_color/image_raw", "sensor_msgs/msg/Image",
                                      typestore=TYPESTORE)
        info = writer.add_connection("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo", typestore=TYPESTORE)
        for i in range(3):
            frame = frame_msg(rgb, stamp=100 + 0.1 * i, frame_id="camera_color_optical_frame")
            depth_msg, info_msg = render_depth(masks, [0.8, 1.2], frame.header)
            writer.write(colour, 1_000 + 10 * i, frame.serialize())  # our DDS types write ROS 2 CDR
            writer.write(depth, 1_001 + 10 * i, depth_msg.serialize())
            writer.write(info, 1_002 + 10 * i, info_msg.serialize())
            headers.append(frame.header)
    return headers


def test_bag_with_depth_gets_target_point_and_cloud(tmp_path, fake_predictor):
    from ros_fakes import COLOURS

    from vatex_ros.tools.bag import BagJob, process_bag
    from vatex_ros.tools.depth_scene import synthetic_camera_info, visible_surface_point
    from vatex_ros.node.params import NodeParams

    source, target = tmp_path / "in", tmp_path / "out"
    headers = _write_depth_bag(source)
    report = process_bag(BagJob(source, target, "the red block"), fake_predictor, NodeParams(found_after=1))
    assert (report.image_topic, report.depth_topic, report.camera_info_topic) == (
        "/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw", "/camera/color/camera_info")
    assert report.frames == report.results == report.found == report.located == 3

    result = _read(target)
    assert {"/vatex/target_point", "/vatex/target_cloud", "/vatex/detections_3d"} <= set(result)
    red = np.all(scene() == COLOURS["red"], axis=2)
    truth = visible_surface_point(red, 0.8, synthetic_camera_info(64, 48, headers[0]))
    for topic in ("/vatex/mask", "/vatex/target_point", "/vatex/target_cloud", "/vatex/detections_3d"):  # bag times
        assert [t for t, _ in result[topic]] == [1_000, 1_010, 1_020], topic
    for (_, point), (_, cloud), header in zip(result["/vatex/target_point"], result["/vatex/target_cloud"], headers):
        assert point.header.stamp.sec == header.stamp.sec and point.header.stamp.nanosec == header.stamp.nanosec
        assert point.header.frame_id == "camera_color_optical_frame"
        assert np.linalg.norm(np.array([point.point.x, point.point.y, point.point.z]) - truth) < 0.001
        assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
            ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]
        assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 100, 12, 1200)
        xyz = np.frombuffer(cloud.data.tobytes(), "<f4").reshape(-1, 3)
        assert len(cloud.data) == 1200 and np.allclose(xyz[:, 2], 0.8, atol=0.001)
        assert np.allclose(np.median(xyz, axis=0), truth, atol=0.001)
    for (_, point), (_, detections) in zip(result["/vatex/target_point"], result["/vatex/detections_3d"]):
        (detection,) = detections.detections
        assert detection.bbox.center.position == point.point
        assert detection.results[0].hypothesis.class_id == "the red block"
        assert int(detection.id) > 0  # the followed object's target id
        assert detection.bbox.size.x > 0 and detection.bbox.size.z == pytest.approx(0.0, abs=0.002)


def test_bag_depth_topic_must_be_an_image_topic(tmp_path, fake_predictor):
    from vatex_ros.tools.bag import BagJob, process_bag
    from vatex_ros.node.params import NodeParams

    source = tmp_path / "in"
    _write_depth_bag(source)
    with pytest.raises(ValueError, match="not a sensor_msgs/Image topic"):
        process_bag(BagJob(source, tmp_path / "out", "the red block", depth_topic="/camera/color/camera_info"),
                    fake_predictor, NodeParams())


def test_bag_metadata_is_version_8_with_qos_profiles_as_strings(tmp_path, random_tiny_weights):
    """Humble's rosbag2 parses metadata version 8 (offered_qos_profiles a YAML string), not 9 (a list)."""
    import yaml

    source, target = tmp_path / "in", tmp_path / "out"
    _write_bag(source, StoragePlugin.SQLITE3)
    assert main(["bag", str(source), str(target), "--expression", "the red block",
                 "--weights", str(random_tiny_weights)]) == 0
    info = yaml.safe_load((target / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 8
    topics = info["topics_with_message_count"]
    assert {t["topic_metadata"]["name"] for t in topics} >= {"/camera/image_raw", "/vatex/mask"}
    for entry in topics:
        assert isinstance(entry["topic_metadata"]["offered_qos_profiles"], str), entry
    assert set(_read(target)) >= {"/vatex/mask", "/vatex/detections"}  # and rosbags reads it back
