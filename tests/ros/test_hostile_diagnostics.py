"""Counters the ROS way (issue 14, finding 10): diagnostic_msgs/DiagnosticArray on /diagnostics with every
counter, from a transport-independent builder; the DDS node publishes it every ``diagnostics_period``."""

import time

import pytest
from ros_fakes import DdsProbe, FakePredictor, frame_msg, scene, wait_until

from vatex_ros.dds.transport import DdsNode, dds_qos, dds_type
from vatex_ros.dds.participant import domain_id_from_env
from vatex_ros.messages.definitions import ros2_typestore
from vatex_ros.messages.idl import DiagnosticArray, DiagnosticStatus, Time
from vatex_ros.node import topics
from vatex_ros.node.diagnostics import FAULT_COUNTERS, TRAFFIC_COUNTERS, diagnostic_array
from vatex_ros.node.params import NodeParams

ALL = set(TRAFFIC_COUNTERS + FAULT_COUNTERS)


def _values(array: DiagnosticArray) -> dict[str, int]:
    return {kv.key: int(kv.value) for kv in array.status[0].values}


def test_builder_reports_every_counter_and_warns_on_new_faults():
    first = diagnostic_array({"frames_in": 3, "frames_out": 3}, Time(sec=5), "/vatex/vatex_node")
    assert set(_values(first)) == ALL and _values(first)["frames_in"] == 3
    status = first.status[0]
    assert status.level == DiagnosticStatus.OK and status.name == "/vatex/vatex_node" and first.header.stamp.sec == 5
    faulty = {"frames_in": 5, "frames_out": 3, "bad_image": 2}
    second = diagnostic_array(faulty, Time(sec=6), "n", previous=_values(first))
    assert second.status[0].level == DiagnosticStatus.WARN and "bad_image" in second.status[0].message
    third = diagnostic_array(faulty, Time(sec=7), "n", previous=faulty)  # nothing new: OK again
    assert third.status[0].level == DiagnosticStatus.OK
    raw = third.serialize()  # rosbags (an independent CDR codec) reads it as diagnostic_msgs/DiagnosticArray
    theirs = ros2_typestore().deserialize_cdr(raw, "diagnostic_msgs/msg/DiagnosticArray")
    assert {kv.key: kv.value for kv in theirs.status[0].values}["bad_image"] == "2"


@pytest.mark.dds
def test_dds_node_publishes_every_counter_on_diagnostics(dds_env):
    from cyclonedds.core import Listener
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    params = NodeParams(found_after=1, max_frame_age=0.0, diagnostics_period=0.2, warn_interval=60.0)
    node = DdsNode(FakePredictor(), params, participant=DomainParticipant(domain_id_from_env()))
    monitor = DomainParticipant(domain_id_from_env())
    received: list[DiagnosticArray] = []
    reader = DataReader(monitor, Topic(monitor, "rt/diagnostics", dds_type(topics.DIAGNOSTICS)),
                        qos=dds_qos(topics.DIAGNOSTICS, 10))
    reader.set_listener(Listener(on_data_available=lambda r: r is not None and received.extend(r.take(10))))
    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    try:
        assert wait_until(lambda: received, timeout=15)
        assert set(_values(received[-1])) >= ALL | {"samples_lost", "samples_rejected"}
        probe.say("red")
        bad = frame_msg(scene())
        bad.step = 3
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (received and _values(received[-1])["bad_image"] >= 1):
            probe.image.write(bad)
            time.sleep(0.1)
        values = _values(received[-1])
        assert values["bad_image"] >= 1 and values["frames_in"] >= 1 and values["expressions_in"] == 1
        assert any(a.status[0].level == DiagnosticStatus.WARN for a in received)
        assert received[-1].status[0].name == "/vatex/vatex_node"
    finally:
        reader.set_listener(None)
        probe.close()
        node.close()
