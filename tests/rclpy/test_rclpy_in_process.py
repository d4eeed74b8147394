"""README behaviours of the rclpy node seen from inside: VatexNode in this process on real rclpy (Fast DDS, loopback,
a private domain) with a stand-in predictor that segments red pixels, so the node's own decisions can be observed:

- the overlay is drawn only while someone subscribes to it;
- the ``expression`` parameter: in force from the parameters file, and a change while active replaces the expression;
- rmw's message-lost event is counted (``samples_lost``) on the image, depth and camera_info subscriptions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from rclpy_harness import client_environment, private_domain, ros_env, wait_until

RED = (255, 0, 0)
TIMEOUT = 60.0  # s for a frame to be answered or a match to happen: idle well under 1 s, more on a loaded machine


@dataclass
class _Prediction:
    mask: np.ndarray
    score: float
    found: bool
    timings: dict = field(default_factory=dict)
    target_id: int = 0


class _RedSession:
    def __init__(self, expression: str, max_gap: float):
        self.expression, self.max_gap, self.resets = expression, max_gap, {}

    def step(self, rgb: np.ndarray, stamp: float | None = None) -> _Prediction:
        mask = np.all(rgb == RED, axis=2) if "red" in self.expression else np.zeros(rgb.shape[:2], bool)
        return _Prediction(mask, 0.9 if mask.any() else 0.1, bool(mask.any()), target_id=int(mask.any()))


class _RedPredictor:
    """``stream(expression, max_gap).step(rgb, stamp)``: the red pixels when the expression says red."""

    def stream(self, expression: str, max_gap: float = 1.0) -> _RedSession:
        return _RedSession(expression, max_gap)


@dataclass
class InProcess:
    node: Any  # VatexNode
    listener: Any  # a plain rclpy node on the same context
    executor: Any


@pytest.fixture
def in_process(tmp_path):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from vatex_ros.rclpy.node import VatexNode

    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    found_after: 1\n    max_frame_age: 0.0\n    use_depth: true\n"
                      "    expression: the red block\n    diagnostics_period: 0.2\n")
    env = ros_env(private_domain())
    with client_environment(env):
        context = rclpy.Context()
        rclpy.init(args=["--ros-args", "-r", "__ns:=/vatex", "--params-file", str(params)], context=context,
                   domain_id=int(env["ROS_DOMAIN_ID"]))
        node = VatexNode(_RedPredictor(), context=context)
        listener = rclpy.create_node("listener", context=context)
        executor = MultiThreadedExecutor(context=context)
        executor.add_node(node)
        executor.add_node(listener)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            yield InProcess(node, listener, executor)
        finally:
            node.release()
            executor.shutdown()
            node.destroy_node()
            listener.destroy_node()
            context.try_shutdown()
            spinner.join(timeout=5)


def _frame(stamp_sec: int = 1) -> Any:
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image

    rgb = np.full((48, 64, 3), 128, np.uint8)
    rgb[10:20, 5:15] = RED
    msg = Image(height=48, width=64, encoding="rgb8", step=64 * 3, data=rgb.tobytes())
    msg.header.stamp = Time(sec=stamp_sec)
    return msg


@pytest.fixture
def built(monkeypatch) -> list[tuple[Any, bool]]:
    """(FrameResult, with_overlay) of every frame the node publishes, as it asks for its outputs to be built."""
    from vatex_ros.rclpy import node as node_module

    calls: list[tuple[Any, bool]] = []
    real = node_module.build_outputs
    monkeypatch.setattr(node_module, "build_outputs",
                        lambda result, with_overlay, **labels: calls.append((result, with_overlay))
                        or real(result, with_overlay, **labels))
    return calls


def test_overlay_is_drawn_only_while_someone_subscribes(in_process, built):
    from sensor_msgs.msg import Image

    node = in_process.node
    node.image_cb(_frame(1))
    assert wait_until(lambda: built, TIMEOUT) and built[-1][1] is False  # nobody subscribes to overlay

    overlays: list = []
    in_process.listener.create_subscription(Image, "/vatex/overlay", overlays.append, 10)
    publisher = node._publishers_by_topic["overlay"]
    assert wait_until(lambda: publisher.get_subscription_count() == 1, TIMEOUT)
    node.image_cb(_frame(2))
    assert wait_until(lambda: len(built) == 2, TIMEOUT) and built[-1][1] is True
    assert wait_until(lambda: overlays, TIMEOUT) and overlays[-1].encoding == "rgb8"


def test_expression_parameter_in_force_from_the_file_and_replaced_at_run_time(in_process, built):
    from rclpy.parameter import Parameter

    node = in_process.node
    node.image_cb(_frame(1))
    assert wait_until(lambda: built, TIMEOUT)
    assert built[-1][0].expression == "the red block" and built[-1][0].found  # from the parameters file
    (outcome,) = node.set_parameters([Parameter("expression", value="the blue block")])
    assert outcome.successful
    node.image_cb(_frame(2))
    assert wait_until(lambda: built[-1][0].expression == "the blue block", TIMEOUT) and not built[-1][0].found


def test_message_lost_is_counted_on_image_depth_and_camera_info(in_process):
    """Each best-effort input is subscribed with rmw's message-lost event, and the event counts as samples_lost."""
    from rclpy.event_handler import QoSSubscriptionEventType

    node = in_process.node
    lost_handlers = {s.topic_name: h for s in node._subscriptions_made for h in s.event_handlers
                     if h.event_type == QoSSubscriptionEventType.RCL_SUBSCRIPTION_MESSAGE_LOST}
    assert set(lost_handlers) == {"/vatex/image", "/vatex/depth", "/vatex/camera_info"}

    class Lost:  # rmw_message_lost_status_t as rclpy hands it over
        total_count, total_count_change = 7, 3

    for topic in ("/vatex/depth", "/vatex/camera_info"):
        lost_handlers[topic].callback(Lost())
    assert node.core.diagnostics.counts()["samples_lost"] == 6


def test_spin_survives_an_entity_destroyed_while_the_executor_collects_it():
    """A deactivate under load ended the node process: rclpy's executor raised InvalidHandle for a subscription's
    event handler destroyed by the transition while it built its wait set (ros2/rclpy#1284). The node spins on."""
    from rclpy.exceptions import InvalidHandle

    from vatex_ros.rclpy.node import spin

    class Executor:
        calls = 0

        def spin(self) -> None:  # the first spin meets the race, the second returns at shutdown
            self.calls += 1
            if self.calls == 1:
                raise InvalidHandle("cannot use Destroyable because destruction was requested")

    executor = Executor()
    spin(executor)
    assert executor.calls == 2
