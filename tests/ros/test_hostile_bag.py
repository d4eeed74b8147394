"""`vatex bag` on a bag with bad messages (issue 14, finding 5): they are skipped and counted, the good frames
are answered, and the output appears whole or not at all."""

import struct

import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from ros_fakes import FakePredictor, scene

from vatex_ros.cli import main
from vatex_ros.messages.definitions import ros2_typestore
from vatex_ros.node.params import NodeParams
from vatex_ros.tools import bag as bag_tool
from vatex_ros.tools.bag import BagJob, process_bag

TYPESTORE = ros2_typestore()
T = TYPESTORE.types


def _frame_cdr(i: int) -> bytes:
    rgb = scene()
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=100 + i, nanosec=0), frame_id="cam")
    msg = T["sensor_msgs/msg/Image"](header=header, height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8",
                                     is_bigendian=0, step=3 * rgb.shape[1], data=rgb.reshape(-1).copy())
    return bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def _huge_length(raw: bytes) -> bytes:
    """The frame with its data sequence length set to 4 GB - 1 (the payload is the last field)."""
    at = len(raw) - 48 * 64 * 3 - 4  # the uint32 length right before the pixels of scene()
    assert struct.unpack_from("<I", raw, at)[0] == 48 * 64 * 3
    return raw[:at] + struct.pack("<I", 0xFFFFFFFF) + raw[at + 4:]


def _write_bag(path) -> None:
    """5 frames: good, truncated, good, 4 GB sequence length, good."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conn = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
        for i in range(5):
            raw = _frame_cdr(i)
            raw = {1: raw[:40], 3: _huge_length(raw)}.get(i, raw)
            writer.write(conn, 1_000 + i, raw)


def test_bad_messages_are_skipped_and_counted(tmp_path, caplog):
    _write_bag(tmp_path / "in")
    report = process_bag(BagJob(tmp_path / "in", tmp_path / "out", "red"), FakePredictor(),
                         NodeParams(found_after=1))
    assert report.frames == 5 and report.bad_messages == 2 and report.results == 3
    assert "undecodable" in caplog.text
    with Reader(tmp_path / "out") as reader:
        assert sum(1 for conn in reader.connections if conn.topic == "/vatex/mask") == 1
        assert reader.message_count == 5 + 3 * len({c.topic for c in reader.connections} - {"/camera/image_raw"})


def test_cli_reports_bad_messages(tmp_path, random_tiny_weights, capsys):
    _write_bag(tmp_path / "in")
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--expression", "red",
                 "--weights", str(random_tiny_weights)]) == 0
    assert "2 undecodable messages skipped" in capsys.readouterr().out


def test_failed_run_leaves_no_half_written_bag(tmp_path, monkeypatch):
    _write_bag(tmp_path / "in")
    calls = []

    def failing(result, with_overlay):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(result, with_overlay=with_overlay)

    real = bag_tool.build_outputs
    monkeypatch.setattr(bag_tool, "build_outputs", failing)
    with pytest.raises(OSError, match="disk full"):
        process_bag(BagJob(tmp_path / "in", tmp_path / "out", "red"), FakePredictor(), NodeParams(found_after=1))
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no staging directory left either


@pytest.mark.parametrize("damage", ["truncated", "end_magic"])
def test_broken_mcap_bag_error_names_the_file(tmp_path, random_tiny_weights, caplog, damage):
    """issue 32: a broken MCAP file gave only "File (end) magic is invalid."; the error names the bag's file."""
    with Writer(tmp_path / "in", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
        for i in range(3):
            writer.write(conn, 1_000 + i, _frame_cdr(i))
    (mcap,) = (tmp_path / "in").glob("*.mcap")
    raw = mcap.read_bytes()
    mcap.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else raw[:-8] + b"notmcap!")
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--expression", "red",
                 "--weights", str(random_tiny_weights)]) == 2
    assert mcap.name in caplog.text, caplog.text
    assert not (tmp_path / "out").exists()
