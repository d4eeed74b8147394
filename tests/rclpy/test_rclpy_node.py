"""The rclpy node for real: vatex_node started as launch_ros starts it (the shipped parameters file with a few
values changed, use_depth on), the embedded model, and an rclpy client in this process on a private domain.

One node process serves the whole module; tests that change its state (parameters, lifecycle) put it back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from rclpy_harness import (
    KnownScene, NodeProcess, RosClient, client_environment, known_scene, launch_command, launch_node_description,
    private_domain, ros_env, shipped_params_with, wait_until,
)

NODE = "/vatex/vatex_node"
IMAGE_TOPIC = "/camera/image_raw"
FROM_FILE = {"use_depth": True, "found_after": 3, "max_frame_age": 0.0}  # differ from the defaults
START_TIMEOUT = 300.0  # node process start + model load and warm-up: 92 s measured with both cores busy


@dataclass
class World:
    node: NodeProcess
    client: RosClient
    scene: KnownScene
    publishers: dict[str, Any]
    ros: Any  # the message modules


def _ros_modules():
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PointStamped
    from lifecycle_msgs.msg import State, Transition
    from rcl_interfaces.srv import GetParameters, SetParameters
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import String
    from vision_msgs.msg import Detection2DArray, Detection3DArray

    return type("Ros", (), dict(locals()))


def _stamp(seconds: float):
    from builtin_interfaces.msg import Time

    return Time(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9)) % 1_000_000_000)


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data

    scene = known_scene()
    workdir = tmp_path_factory.mktemp("rclpy_node")
    domain = private_domain()
    env = ros_env(domain)
    params_file = shipped_params_with(FROM_FILE, workdir / "vatex.yaml")
    command = launch_command(launch_node_description(params_file=str(params_file), image=IMAGE_TOPIC), workdir)
    ros = _ros_modules()
    with client_environment(env), NodeProcess(command, env, workdir / "node.log") as node:
        client = RosClient(domain)
        try:
            latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
            for topic, msg_type, qos in (
                    ("mask", ros.Image, 10), ("detections", ros.Detection2DArray, 10), ("overlay", ros.Image, 10),
                    ("active_expression", ros.String, latched), ("target_point", ros.PointStamped, 10),
                    ("target_cloud", ros.PointCloud2, 10), ("detections_3d", ros.Detection3DArray, 10)):
                client.subscribe(f"/vatex/{topic}", msg_type, qos)  # default QoS: reliable, as RViz2
            client.subscribe("/diagnostics", ros.DiagnosticArray, 10)
            publishers = {
                "image": client.node.create_publisher(ros.Image, IMAGE_TOPIC, qos_profile_sensor_data),
                "depth": client.node.create_publisher(ros.Image, "/vatex/depth", qos_profile_sensor_data),
                "camera_info": client.node.create_publisher(ros.CameraInfo, "/vatex/camera_info",
                                                            qos_profile_sensor_data),
                "expression": client.node.create_publisher(ros.String, "/vatex/expression", 10),
                "clock": client.node.create_publisher(ros.Clock, "/clock", 10),
            }
            assert wait_until(lambda: not node.running() or publishers["image"].get_subscription_count(),
                              START_TIMEOUT) and node.running(), "vatex_node did not come up"
            yield World(node, client, scene, publishers, ros)
        finally:
            client.close()


def _frame(world: World, stamp: float, frame_id: str = "camera_color_optical_frame") -> tuple[Any, Any, Any]:
    """(image, depth, camera_info) rclpy messages of the known scene, stamped ``stamp``."""
    from vatex_ros.messages.idl import Header, Time
    from vatex_ros.messages.images import array_to_image
    from vatex_ros.rclpy.convert import to_ros
    from vatex_ros.tools.depth_scene import render_depth

    scene = world.scene
    header = Header(stamp=Time(sec=int(stamp), nanosec=int(round((stamp % 1) * 1e9)) % 1_000_000_000),
                    frame_id=frame_id)
    depth, info = render_depth([scene.truth], [scene.depth_m], header, background=scene.config.background_depth)
    return to_ros(array_to_image(scene.rgb, "rgb8", header)), to_ros(depth), to_ros(info)


def _publish(world: World, stamp: float) -> None:
    image, depth, info = _frame(world, stamp)
    world.publishers["depth"].publish(depth)
    world.publishers["camera_info"].publish(info)
    world.publishers["image"].publish(image)


def _stream_until(world: World, predicate, timeout: float, stamp=time.time, period: float = 0.2,
                  say: str | None = None) -> Any:
    """Publish frames every ``period`` s (stamped ``stamp()``) until ``predicate()``; repeat ``say`` every 2 s
    until the node reports it active (the expression topic is volatile)."""
    deadline, said = time.monotonic() + timeout, -10.0
    while time.monotonic() < deadline and world.node.running():
        if say is not None and time.monotonic() - said > 2.0 and _active(world) != say:
            world.publishers["expression"].publish(world.ros.String(data=say))
            said = time.monotonic()
        _publish(world, stamp())
        value = predicate()
        if value:
            return value
        time.sleep(period)
    return predicate()


def _active(world: World) -> str | None:
    messages = world.client.messages("/vatex/active_expression")
    return messages[-1].data if messages else None


def _found_for(world: World, expression: str) -> list:
    """Detection2DArray messages that found ``expression``."""
    return [d for d in world.client.messages("/vatex/detections")
            if d.detections and d.detections[0].results[0].hypothesis.class_id == expression]


def _get_parameters(world: World, names: list[str]) -> dict[str, Any]:
    from rclpy.parameter import parameter_value_to_python

    answer = world.client.call(world.ros.GetParameters, f"{NODE}/get_parameters",
                               world.ros.GetParameters.Request(names=names))
    return {name: parameter_value_to_python(value) for name, value in zip(names, answer.values)}


def _set_parameters(world: World, **values: Any) -> list:
    from rclpy.parameter import Parameter

    request = world.ros.SetParameters.Request(
        parameters=[Parameter(name, value=value).to_parameter_msg() for name, value in values.items()])
    return world.client.call(world.ros.SetParameters, f"{NODE}/set_parameters", request).results


def _state(world: World) -> str:
    return world.client.get_state(NODE)


def _change_state(world: World, transition: int, goal: str) -> bool:
    return world.client.change_state(NODE, transition, goal)


def test_parameters_file_is_applied_and_the_node_starts_active(world):
    assert _get_parameters(world, list(FROM_FILE)) == FROM_FILE
    assert _get_parameters(world, ["use_sim_time", "autostart", "preset"]) == {
        "use_sim_time": False, "autostart": True, "preset": "tiny"}
    assert _state(world) == "active"


def test_named_object_is_segmented_with_standard_messages(world):
    scene = world.scene
    expression = scene.expression
    assert _stream_until(world, lambda: _found_for(world, expression), 90, say=expression), world.node.output()
    found = _found_for(world, expression)[-1]
    masks = {_seconds(m.header.stamp): m for m in world.client.messages("/vatex/mask")}
    mask = masks[_seconds(found.header.stamp)]  # every output carries its source frame's header
    assert (mask.encoding, mask.height, mask.width) == ("mono8", *scene.truth.shape)
    got = np.frombuffer(bytes(mask.data), np.uint8).reshape(scene.truth.shape) > 0
    iou = (got & scene.truth).sum() / (got | scene.truth).sum()
    assert iou > 0.5, f"mask IoU {iou:.2f} with the named object"
    assert mask.header.frame_id == found.header.frame_id == "camera_color_optical_frame"

    (detection,) = found.detections
    ys, xs = np.nonzero(got)
    hypothesis = detection.results[0].hypothesis
    assert hypothesis.class_id == expression and 0.5 <= hypothesis.score <= 1.0
    assert int(detection.id) > 0  # the followed object's target id
    assert detection.bbox.center.position.x == pytest.approx((xs.min() + xs.max()) / 2)
    assert detection.bbox.size_x == xs.max() - xs.min() + 1 and detection.bbox.size_y == ys.max() - ys.min() + 1

    assert wait_until(lambda: world.client.messages("/vatex/overlay"), 10), "no overlay on a reliable subscription"
    overlay = world.client.messages("/vatex/overlay")[-1]
    assert (overlay.encoding, overlay.height, overlay.width) == ("rgb8", *scene.truth.shape)
    assert _active(world) == expression


def test_counters_on_diagnostics(world):
    def answered():  # the newest /diagnostics status once it counts an answered frame
        for array in reversed(world.client.messages("/diagnostics")):
            (status,) = array.status
            values = {kv.key: int(kv.value) for kv in status.values}
            if values.get("frames_out", 0) > 0:
                return status, values
        return None

    result = _stream_until(world, answered, 90, say=world.scene.expression)
    assert result, f"no answered frame counted on /diagnostics\n{world.node.output()}"
    status, values = result
    assert status.name == NODE and values["frames_in"] >= values["frames_out"] > 0
    assert {"frames_replaced", "frame_too_old", "bad_image", "expression_rejected"} <= set(values)


def test_late_subscriber_gets_the_active_expression(world):
    from rclpy.qos import DurabilityPolicy, QoSProfile

    assert _active(world), "needs a test before it that set an expression"
    late: list = []
    world.client.node.create_subscription(world.ros.String, "/vatex/active_expression", late.append,
                                          QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    assert wait_until(lambda: late, 10) and late[-1].data == _active(world)


def test_target_in_3d_with_use_depth(world):
    from vatex_ros.messages.idl import CameraInfo
    from vatex_ros.rclpy.convert import from_ros
    from vatex_ros.tools.depth_scene import visible_surface_point

    scene = world.scene
    assert _stream_until(world, lambda: world.client.messages("/vatex/detections_3d"), 30, say=scene.expression)
    assert wait_until(lambda: world.client.messages("/vatex/target_point") and
                      world.client.messages("/vatex/target_cloud"), 10)
    _, _, info = _frame(world, 1.0)
    truth = visible_surface_point(scene.truth, scene.depth_m, from_ros(info, CameraInfo))
    point = world.client.messages("/vatex/target_point")[-1]
    position = np.array([point.point.x, point.point.y, point.point.z])
    assert np.abs(position - truth).max() < 0.02 and point.header.frame_id == "camera_color_optical_frame"
    cloud = world.client.messages("/vatex/target_cloud")[-1]
    xyz = np.frombuffer(bytes(cloud.data), "<f4").reshape(-1, 3)
    assert (cloud.point_step, [f.name for f in cloud.fields]) == (12, ["x", "y", "z"]) and len(xyz) == cloud.width
    assert np.allclose(np.median(xyz[:, 2]), scene.depth_m, atol=0.005)
    detection = world.client.messages("/vatex/detections_3d")[-1].detections[0]
    assert detection.results[0].hypothesis.class_id == scene.expression and int(detection.id) > 0
    assert np.abs(np.array([detection.bbox.center.position.x, detection.bbox.center.position.y,
                            detection.bbox.center.position.z]) - truth).max() < 0.02
    assert detection.bbox.size.x > 0 and detection.bbox.size.y > 0


def test_same_expression_resent_at_1_hz_keeps_found_steady(world):
    expression = world.scene.expression
    assert _stream_until(world, lambda: _found_for(world, expression), 60, say=expression)
    start = time.time()
    actives = len(world.client.messages("/vatex/active_expression"))
    next_say = time.monotonic()
    deadline, give_up = time.monotonic() + 5.0, time.monotonic() + 60.0

    def answered() -> int:
        return sum(_seconds(d.header.stamp) >= start for d in world.client.messages("/vatex/detections"))

    # `ros2 topic pub /vatex/expression ...` repeats at 1 Hz; at least 5 s of it and 5 answers (a slow
    # machine answers fewer frames a second: the node drops the frames that wait while it works)
    while time.monotonic() < deadline or (answered() < 5 and time.monotonic() < give_up):
        if time.monotonic() >= next_say:
            world.publishers["expression"].publish(world.ros.String(data=expression))
            next_say += 1.0
        _publish(world, time.time())
        time.sleep(0.2)  # the camera's rate, 5 Hz
    sent_before = time.time()  # then keep the camera going until a frame sent after the loop is answered
    _stream_until(world, lambda: any(_seconds(d.header.stamp) >= sent_before
                                     for d in world.client.messages("/vatex/detections")), 30)
    after = [d for d in world.client.messages("/vatex/detections") if _seconds(d.header.stamp) >= start]
    assert len(after) >= 5, f"only {len(after)} answers in {time.time() - start:.0f} s"
    assert all(d.detections for d in after), [bool(d.detections) for d in after]  # never lost: no re-activation
    assert len(world.client.messages("/vatex/active_expression")) == actives  # nothing re-announced


def test_set_parameters_accepts_valid_and_rejects_invalid_with_the_reason(world):
    ok, = _set_parameters(world, score_smoothing=0.5)
    assert ok.successful and _get_parameters(world, ["score_smoothing"]) == {"score_smoothing": 0.5}
    bad, = _set_parameters(world, lost_after=0)
    assert not bad.successful and "lost_after" in bad.reason, bad.reason
    wrong_type, = _set_parameters(world, score_smoothing="high")
    assert not wrong_type.successful
    needs_configure, = _set_parameters(world, use_depth=False)
    assert not needs_configure.successful and "configure" in needs_configure.reason
    sim, = _set_parameters(world, use_sim_time=True)
    assert sim.successful and _get_parameters(world, ["use_sim_time"]) == {"use_sim_time": True}
    back = _set_parameters(world, use_sim_time=False, score_smoothing=0.6)
    assert all(r.successful for r in back)
    assert _get_parameters(world, ["lost_after", "use_depth"]) == {"lost_after": 3, "use_depth": True}


def test_frame_age_on_sim_time_from_clock(world):
    """use_sim_time on, /clock at t = 1000 s: frames stamped 1000 s are fresh, frames stamped 100 s are old."""
    results = _set_parameters(world, use_sim_time=True, max_frame_age=5.0)
    assert all(r.successful for r in results), [r.reason for r in results]
    try:
        sim_now = [1000.0]

        def tick() -> float:  # the simulator's clock, published before each frame
            sim_now[0] += 0.2
            world.publishers["clock"].publish(world.ros.Clock(clock=_stamp(sim_now[0])))
            return sim_now[0]

        def masks_between(low: float, high: float) -> list:
            return [m for m in world.client.messages("/vatex/mask") if low <= _seconds(m.header.stamp) < high]

        def node_on_sim_time() -> bool:  # its diagnostics are stamped by its clock: /clock's time once heard
            tick()
            return any(1000 <= _seconds(a.header.stamp) < 2000 for a in world.client.messages("/diagnostics"))

        # Until the node's time source has a /clock message its sim time is 0 and no frame has an age: frames are
        # let through (a frame 900 s old too). The publisher's subscription count is no sign that it has: it can
        # still count the /clock reader of the test before, destroyed when it switched use_sim_time off again.
        assert wait_until(node_on_sim_time, 30, interval=0.1), "the node's clock never took /clock's time"
        assert _stream_until(world, lambda: masks_between(1000, 2000), 30, stamp=tick, say=world.scene.expression), \
            world.node.output()
        old_first = len(world.client.messages("/vatex/mask"))
        _stream_until(world, lambda: False, 2.0, stamp=lambda: tick() - 900.0)  # 900 s old on the sim clock
        assert not masks_between(0, 1000), "a frame 900 s old on the sim clock was processed"
        assert "frame skipped" in world.node.output() and "old > max_frame_age" in world.node.output()
        assert _stream_until(world, lambda: len(world.client.messages("/vatex/mask")) > old_first, 30, stamp=tick)
    finally:
        results = _set_parameters(world, use_sim_time=False, max_frame_age=0.0)
        assert all(r.successful for r in results)


def test_latched_expression_is_picked_up_on_activate(world):
    """A transient-local publisher's expression, sent while the node was inactive, is in force after activate
    (its volatile reader alone would miss it: no history from a transient-local writer)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile

    ros = world.ros
    assert _change_state(world, ros.Transition.TRANSITION_DEACTIVATE, "inactive") and _state(world) == "inactive"

    def readers() -> int:
        return world.client.node.count_subscribers("/vatex/expression")

    latched = world.client.node.create_publisher(ros.String, "/vatex/expression",
                                                 QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    try:
        latched.publish(ros.String(data="the latched expression"))
        assert _change_state(world, ros.Transition.TRANSITION_ACTIVATE, "active") and _state(world) == "active"
        assert wait_until(lambda: _active(world) == "the latched expression", 20), _active(world)
        # the volatile reader and, while a latched publisher is there, a transient-local one
        assert wait_until(lambda: readers() == 2, 20), readers()
    finally:
        world.client.node.destroy_publisher(latched)
    # without a latched publisher only the volatile reader stays: a volatile publisher meets no incompatible reader
    assert wait_until(lambda: readers() == 1, 20), readers()


def test_samples_lost_by_the_rmw_are_counted_on_diagnostics(world):
    """A burst of large best-effort frames, faster than Fast DDS delivers them: what the RMW reports lost (its
    message-lost event) shows up as samples_lost."""
    from builtin_interfaces.msg import Time

    big = world.ros.Image(height=1080, width=1920, encoding="rgb8", step=1920 * 3, data=bytes(1920 * 1080 * 3))

    def lost() -> int:
        for array in reversed(world.client.messages("/diagnostics")):
            values = {kv.key: int(kv.value) for kv in array.status[0].values}
            return values.get("samples_lost", 0)
        return 0

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not lost():
        for _ in range(50):
            big.header.stamp = Time(sec=int(time.time()))
            world.publishers["image"].publish(big)
        time.sleep(1.5)  # one /diagnostics period
    assert lost() > 0, world.node.output()
