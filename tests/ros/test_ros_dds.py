"""The DDS transport in one process on loopback: wiring, QoS, switching expressions, bad input, bursts."""

import time

import numpy as np
import pytest
from ros_fakes import DdsProbe, FakePredictor, frame_msg, scene, wait_until

from vatex_ros.dds.transport import DdsNode
from vatex_ros.dds.participant import domain_id_from_env
from vatex_ros.node.params import NodeParams

pytestmark = pytest.mark.dds


@pytest.fixture
def dds_pair(dds_env):
    """(node, probe) on separate participants of the private loopback domain."""
    from cyclonedds.domain import DomainParticipant

    predictor = FakePredictor()
    params = NodeParams(found_after=1, max_frame_age=0.0, warn_interval=60.0)
    node = DdsNode(predictor, params, participant=DomainParticipant(domain_id_from_env()),
                   remappings={"image": "/camera/rgb"})
    probe = DdsProbe(DomainParticipant(domain_id_from_env()), image_topic="/camera/rgb")
    yield node, probe
    probe.close()
    node.close()


def _stream_until(probe, predicate, msg, timeout=10.0):
    """Publish ``msg`` every 50 ms (best effort input) until ``predicate()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        probe.image.write(msg)
        time.sleep(0.05)
    return predicate()


def test_mask_detections_overlay_and_expression_switch(dds_pair):
    node, probe = dds_pair
    probe.say("the red block")
    msg = frame_msg(scene(), stamp=1234.5, frame_id="camera_optical")
    assert _stream_until(probe, lambda: probe.detections_for("the red block"), msg)
    assert wait_until(lambda: probe.received["mask"] and probe.received["detections"])

    mask = probe.received["mask"][-1]
    assert mask.header == msg.header and mask.encoding == "mono8" and (mask.height, mask.width) == (48, 64)
    values = np.asarray(mask.data, np.uint8).reshape(48, 64)
    assert set(np.unique(values)) == {0, 255} and (values[10:20, 5:15] == 255).all() and values.sum() == 100 * 255
    detection = probe.detections_for("the red block")[-1]
    assert detection.header == msg.header and detection.id == "1"  # the stream's target id: its first object
    assert (detection.bbox.center.position.x, detection.bbox.size_x) == (9.5, 10.0)
    assert wait_until(lambda: probe.received["overlay"]) and probe.received["overlay"][-1].encoding == "rgb8"
    assert probe.received["active_expression"][-1].data == "the red block"

    probe.say("the blue block")
    assert _stream_until(probe, lambda: probe.detections_for("the blue block"), msg)
    assert wait_until(lambda: probe.received["active_expression"][-1].data == "the blue block")
    assert probe.detections_for("the blue block")[-1].bbox.center.position.x == 49.5


def test_bad_input_and_bursts_do_not_stop_the_node(dds_pair):
    node, probe = dds_pair
    counts = node.core.diagnostics.counts
    good = frame_msg(scene(), frame_id="good")
    bad = frame_msg(scene(), frame_id="bad")
    bad.step = 3  # wrong step
    # Frames are best effort: wait until the node hears us before relying on one arriving.
    assert wait_until(lambda: probe.image.get_publication_matched_status().current_count >= 1, timeout=10)
    assert _repeat_until(lambda: probe.image.write(good), lambda: counts().get("frame_without_expression", 0) >= 1)
    probe.say("")  # empty expression
    probe.say("red " * 400)  # huge expression: truncated to max_expression_length
    for i in range(1000):  # burst of expressions and frames
        probe.say(f"red {i}")
        probe.image.write(bad if i % 2 else good)
    probe.say("red")
    assert _stream_until(probe, lambda: probe.detections_for("red"), good)
    # A malformed frame on its own (in the burst, newer frames may replace it before it is decoded).
    assert _repeat_until(lambda: probe.image.write(bad), lambda: counts().get("bad_image", 0) >= 1)
    assert _stream_until(probe, lambda: len(probe.detections_for("red")) >= 2, good)  # still serving
    assert counts()["expression_empty"] == 1 and counts()["expression_truncated"] == 1
    assert counts()["expressions_in"] >= 1000


def _repeat_until(action, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        action()
        time.sleep(0.1)
    return predicate()


def test_undecodable_expression_sample_is_counted_and_skipped(dds_pair):
    node, _ = dds_pair

    class Sample:
        def __init__(self, data):
            self.data = data
            self.sample_info = type("Info", (), {"valid_data": True, "publication_handle": 1, "source_timestamp": 1})()

    queue = [UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), [Sample("red")]]

    class Reader:
        def take(self, N):
            item = queue.pop(0) if queue else []
            if isinstance(item, Exception):
                raise item
            return item

    node._expression_cb(Reader())
    assert node.core.diagnostics.counts()["expression_undecodable"] == 1
    assert wait_until(lambda: node.core.diagnostics.counts().get("expressions_in") == 1)


def test_use_sim_time_takes_frame_age_from_clock(dds_env):
    """use_sim_time: frame age on /clock time (a bag replayed with --clock), not the wall clock."""
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    from vatex_ros.dds.transport import dds_qos
    from vatex_ros.messages.idl import Clock, Time
    from vatex_ros.node import topics

    params = NodeParams(found_after=1, max_frame_age=5.0, warn_interval=60.0, use_sim_time=True)
    node = DdsNode(FakePredictor(), params, participant=DomainParticipant(domain_id_from_env()))
    participant = DomainParticipant(domain_id_from_env())
    probe = DdsProbe(participant)
    clock = DataWriter(participant, Topic(participant, "rt/clock", Clock), qos=dds_qos(topics.CLOCK, 1))
    try:
        probe.say("the red block")
        fresh, stale = (frame_msg(scene(), stamp=1000.5, frame_id="fresh"),
                        frame_msg(scene(), stamp=100.0, frame_id="stale"))

        def stream(msg) -> bool:
            clock.write(Clock(clock=Time(sec=1001)))
            return _stream_until(probe, lambda: any(m.header.frame_id == msg.header.frame_id
                                                    for m in probe.received["mask"]), msg, timeout=3.0)

        assert stream(fresh)  # 0.5 s old on the sim clock (1.8e9 s on the wall clock)
        assert not stream(stale) and node.core.diagnostics.counts()["frame_too_old"] >= 1  # 901 s old
    finally:
        probe.close()
        node.close()


def test_compressed_frames_are_read_from_image_transport_name(dds_env):
    """image_format compressed: JPEG/PNG sensor_msgs/CompressedImage on `<image>/compressed` (image_transport's
    name), after `image` is remapped: image:=/camera/rgb reads rt/camera/rgb/compressed."""
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    from vatex_ros.dds.transport import dds_qos, dds_type
    from vatex_ros.messages.images import rgb_to_compressed
    from vatex_ros.node import topics

    params = NodeParams(found_after=1, max_frame_age=0.0, warn_interval=60.0, image_format="compressed")
    node = DdsNode(FakePredictor(), params, participant=DomainParticipant(domain_id_from_env()),
                   remappings={"image": "/camera/rgb"})
    camera = DomainParticipant(domain_id_from_env())
    writer = DataWriter(camera, Topic(camera, "rt/camera/rgb/compressed", dds_type(topics.COMPRESSED_IMAGE)),
                        qos=dds_qos(topics.COMPRESSED_IMAGE, 1))
    probe = DdsProbe(DomainParticipant(domain_id_from_env()), image_topic="/camera/rgb")
    try:
        assert node.image_topic_name == "rt/camera/rgb/compressed"
        assert wait_until(lambda: writer.get_matched_subscriptions(), timeout=30), "node's reader not matched"
        probe.say("the red block")
        frame = frame_msg(scene(), frame_id="png")
        msg = rgb_to_compressed(scene(), "png", frame.header)  # lossless: the red pixels stay red
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not probe.detections_for("the red block"):
            writer.write(msg)
            time.sleep(0.05)
        detection = probe.detections_for("the red block")[-1]
        assert detection.header.frame_id == "png" and (detection.bbox.center.position.x, detection.bbox.size_x) == (
            9.5, 10.0)
    finally:
        probe.close()
        node.close()
