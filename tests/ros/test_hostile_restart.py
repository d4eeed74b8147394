"""The expression in force survives a node restart (issue 14, finding 3): the ``expression`` parameter, and
a latched (transient-local) expression publisher picked up by a (re)started DDS node; a volatile publisher
still works."""

import dataclasses
import time

import pytest
from ros_fakes import DdsProbe, FakePredictor, frame_msg, scene, wait_until

from vatex_ros.dds.transport import DdsNode, dds_qos, dds_type
from vatex_ros.dds.participant import domain_id_from_env
from vatex_ros.messages.idl import String
from vatex_ros.node import topics
from vatex_ros.node.core import NodeCore
from vatex_ros.node.params import NodeParams

pytestmark = pytest.mark.dds
PARAMS = NodeParams(found_after=1, max_frame_age=0.0, warn_interval=60.0)


def detected(probe, expression) -> bool:
    """A Detection2DArray naming ``expression`` (class_id) has arrived."""
    return any(d.results[0].hypothesis.class_id == expression
               for array in probe.received["detections"] for d in array.detections)


def _answered(node, probe, expression, timeout=15.0) -> bool:
    """Stream frames (best effort) until a detection for ``expression`` arrives, without saying anything."""
    msg = frame_msg(scene())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if detected(probe, expression):
            return True
        probe.image.write(msg)
        time.sleep(0.05)
    return detected(probe, expression)


def test_expression_parameter_is_in_force_from_the_start():
    clock = lambda: 1000.0  # noqa: E731
    core = NodeCore(FakePredictor(), dataclasses.replace(PARAMS, expression="the red block"), lambda r: None,
                    clock=clock, monotonic=clock)
    core.submit_frame(frame_msg(scene()))
    result = core.step()
    assert result is not None and result.expression == "the red block" and result.found


def _latched_writer(participant):
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    latched = dataclasses.replace(topics.EXPRESSION, transient_local=True, depth=1)
    return DataWriter(participant, Topic(participant, "rt/vatex/expression", dds_type(topics.EXPRESSION)),
                      qos=dds_qos(latched, 1))


def test_latched_expression_reaches_a_restarted_node(dds_env):
    from cyclonedds.domain import DomainParticipant

    person = DomainParticipant(domain_id_from_env())
    latched = _latched_writer(person)
    latched.write(String(data="the red block"))  # before any node exists
    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    for run in range(2):  # start, then restart: neither time does anyone re-publish
        node = DdsNode(FakePredictor(), PARAMS, participant=DomainParticipant(domain_id_from_env()))
        try:
            assert _answered(node, probe, "the red block"), f"run {run}: latched expression not picked up"
            assert node.core.diagnostics.counts()["expressions_in"] == 1  # heard on both readers, counted once
        finally:
            node.close()
        probe.received["detections"].clear()
    probe.close()


def test_volatile_expression_publisher_still_works(dds_env):
    from cyclonedds.domain import DomainParticipant

    node = DdsNode(FakePredictor(), PARAMS, participant=DomainParticipant(domain_id_from_env()))
    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    try:
        probe.say("the blue block")
        assert _answered(node, probe, "the blue block")
        assert wait_until(lambda: node.core.diagnostics.counts().get("expressions_in") == 1)
    finally:
        probe.close()
        node.close()


def test_expression_parameter_survives_a_restart(dds_env):
    from cyclonedds.domain import DomainParticipant

    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    params = dataclasses.replace(PARAMS, expression="the red block")
    for run in range(2):
        node = DdsNode(FakePredictor(), params, participant=DomainParticipant(domain_id_from_env()))
        try:
            assert _answered(node, probe, "the red block"), f"run {run}: no answer without an expression message"
            assert wait_until(lambda: probe.received["active_expression"]
                              and probe.received["active_expression"][-1].data == "the red block")
        finally:
            node.close()
        probe.received["detections"].clear()
    probe.close()
