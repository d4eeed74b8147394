"""Frames stamped by another clock (issue 14, finding 9): with ``use_sim_time`` the DDS node takes frame age from
/clock; without it, such frames are reported as a clock mismatch, not silently dropped as late; with
``frame_age_mode: offset`` a camera clock off by a fixed amount is tolerated and late frames are still skipped."""

import logging
import time

import pytest
from ros_fakes import DdsProbe, FakePredictor, frame_msg, scene, wait_until

from vatex_ros.dds.transport import DdsNode, dds_qos, dds_type
from vatex_ros.dds.participant import domain_id_from_env
from vatex_ros.messages.idl import Clock, Time
from vatex_ros.node import topics
from vatex_ros.node.core import NodeCore
from vatex_ros.node.params import NodeParams

pytestmark = pytest.mark.dds
SIM_START = 100.0  # a simulator's clock: seconds since it started


def _answered(probe, stamp: float, tick, timeout: float = 15.0) -> bool:
    """Publish frames stamped ``stamp`` (and call ``tick``) until one is answered."""
    msg = frame_msg(scene(), stamp=stamp)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not probe.received["mask"]:
        tick()
        probe.image.write(msg)
        time.sleep(0.05)
    return bool(probe.received["mask"])


def test_sim_time_frames_are_answered_with_use_sim_time(dds_env):
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    params = NodeParams(found_after=1, use_sim_time=True, max_frame_age=1.0, warn_interval=60.0)
    node = DdsNode(FakePredictor(), params, participant=DomainParticipant(domain_id_from_env()))
    simulator = DomainParticipant(domain_id_from_env())
    clock = DataWriter(simulator, Topic(simulator, "rt/clock", dds_type(topics.CLOCK)), qos=dds_qos(topics.CLOCK, 1))
    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    try:
        probe.say("red")
        assert _answered(probe, SIM_START, lambda: clock.write(Clock(clock=Time(sec=int(SIM_START) + 0))))
        assert wait_until(lambda: node.core.now() == SIM_START)
        assert "frame_too_old" not in node.core.diagnostics.counts()
        # A sim-time frame 5 s behind /clock is too old, as on rclpy.
        clock.write(Clock(clock=Time(sec=int(SIM_START) + 5)))
        assert wait_until(lambda: node.core.now() == SIM_START + 5)
        assert wait_until(lambda: probe.image.write(frame_msg(scene(), stamp=SIM_START))
                          or node.core.diagnostics.counts().get("frame_too_old", 0) >= 1)
    finally:
        probe.close()
        node.close()


def test_frames_of_another_clock_are_reported_as_a_clock_mismatch(caplog):
    wall = lambda: 1.7e9  # noqa: E731 - the node's system clock
    core = NodeCore(FakePredictor(), NodeParams(found_after=1), lambda r: None, clock=wall, monotonic=time.monotonic)
    core.set_expression("red")
    with caplog.at_level(logging.WARNING):
        core.submit_frame(frame_msg(scene(), stamp=SIM_START))
        assert core.step() is None
    assert core.diagnostics.counts()["frame_clock_mismatch"] == 1
    assert "use_sim_time" in caplog.text


@pytest.mark.parametrize("offset", [30.0, -30.0, 7200.0])
def test_a_camera_clock_off_by_a_fixed_amount_is_tolerated_in_offset_mode(offset):
    now = [1.7e9]
    core = NodeCore(FakePredictor(), NodeParams(found_after=1, max_frame_age=1.0, frame_age_mode="offset"),
                    lambda r: None, clock=lambda: now[0], monotonic=time.monotonic)
    core.set_expression("red")

    def offer(delay: float):  # a frame captured `delay` s ago by a camera whose clock is `offset` s behind
        core.submit_frame(frame_msg(scene(), stamp=now[0] - offset - delay))
        return core.step()

    for _ in range(5):
        now[0] += 0.1
        assert offer(0.02) is not None
    assert offer(2.5) is None  # 2.5 s later than the stream's fastest frame: too old, whatever the offset
    assert core.diagnostics.counts()["frame_too_old"] == 1
    assert offer(0.03) is not None
    assert "frame_clock_mismatch" not in core.diagnostics.counts()


def test_the_same_camera_clock_offset_drops_every_frame_in_clock_mode():
    now = 1.7e9
    core = NodeCore(FakePredictor(), NodeParams(found_after=1, max_frame_age=1.0), lambda r: None,
                    clock=lambda: now, monotonic=time.monotonic)
    core.set_expression("red")
    for _ in range(3):
        core.submit_frame(frame_msg(scene(), stamp=now - 30.0))
        assert core.step() is None
    assert core.diagnostics.counts()["frame_too_old"] == 3


def test_frame_age_mode_switches_at_run_time():
    now = 1.7e9
    params = NodeParams(found_after=1, max_frame_age=1.0)
    core = NodeCore(FakePredictor(), params, lambda r: None, clock=lambda: now, monotonic=time.monotonic)
    core.set_expression("red")
    core.submit_frame(frame_msg(scene(), stamp=now - 30.0))
    assert core.step() is None
    core.update_params(params.replace(frame_age_mode="offset"))
    core.submit_frame(frame_msg(scene(), stamp=now - 30.0))
    assert core.step() is not None


def test_frames_stamped_far_in_the_future_are_a_clock_mismatch(caplog):
    """issue 32: a frame stamped in 2038 (an hour or more ahead of the node clock) is counted and skipped as
    README says, as one stamped an hour or more in the past is; a few seconds ahead (clock skew) is processed."""
    wall = lambda: 1.7e9  # noqa: E731 - the node's system clock (2023)
    core = NodeCore(FakePredictor(), NodeParams(found_after=1), lambda r: None, clock=wall, monotonic=time.monotonic)
    core.set_expression("red")
    with caplog.at_level(logging.WARNING):
        core.submit_frame(frame_msg(scene(), stamp=2_145_916_800.0))  # 2038-01-01
        assert core.step() is None
    assert core.diagnostics.counts()["frame_clock_mismatch"] == 1
    assert "after the node clock" in caplog.text and "use_sim_time" in caplog.text
    core.submit_frame(frame_msg(scene(), stamp=1.7e9 + 2.0))
    assert core.step() is not None and core.diagnostics.counts()["frame_clock_mismatch"] == 1


def test_frames_before_the_first_clock_message_are_answered_unchecked_and_say_so(caplog):
    """Sim time before any /clock message reads 0: a frame's age cannot be measured, so it is answered, counted
    as frame_age_unchecked and warned about (not silently let through)."""
    core = NodeCore(FakePredictor(), NodeParams(found_after=1, max_frame_age=1.0), lambda r: None,
                    clock=lambda: 0.0, monotonic=time.monotonic)
    core.set_expression("red")
    with caplog.at_level(logging.WARNING):
        core.submit_frame(frame_msg(scene(), stamp=SIM_START))
        assert core.step() is not None
    assert core.diagnostics.counts()["frame_age_unchecked"] == 1 and "/clock" in caplog.text
