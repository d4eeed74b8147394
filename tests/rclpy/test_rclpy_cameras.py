"""The rclpy node with two cameras and two expressions, for real: vatex_node started as launch_ros starts it (the
shipped parameters file with ``cameras: [head, wrist]``), the embedded model, and an rclpy client in this process on
a private domain. One node process serves the module; the tests run in order (silent camera first).
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

CAMERAS = ("head", "wrist")
START_TIMEOUT = 300.0  # node process start + model load: 92 s measured with both cores busy (as test_rclpy_node)
ANSWER_TIMEOUT = 60.0


@dataclass
class World:
    node: NodeProcess
    client: RosClient
    scene: KnownScene
    images: dict[str, Any]  # camera -> image publisher
    expressions: Any  # publisher of /vatex/expressions
    ros: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from vision_msgs.msg import Detection2DArray

    scene = known_scene()
    workdir = tmp_path_factory.mktemp("rclpy_cameras")
    domain = private_domain()
    env = ros_env(domain)
    params_file = shipped_params_with({"cameras": list(CAMERAS), "max_frame_age": 0.0, "found_after": 1},
                                      workdir / "vatex.yaml")
    command = launch_command(launch_node_description(params_file=str(params_file)), workdir)
    ros = type("Ros", (), {"Image": Image, "String": String})
    with client_environment(env), NodeProcess(command, env, workdir / "node.log") as node:
        client = RosClient(domain)
        try:
            for camera in CAMERAS:
                for topic, msg_type in (("mask", Image), ("labels", Image), ("detections", Detection2DArray)):
                    client.subscribe(f"/vatex/{camera}/{topic}", msg_type, 10)
            client.subscribe("/vatex/active_expression", String,
                             QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
            images = {camera: client.node.create_publisher(Image, f"/vatex/{camera}/image", qos_profile_sensor_data)
                      for camera in CAMERAS}
            expressions = client.node.create_publisher(String, "/vatex/expressions", 10)
            assert wait_until(lambda: not node.running() or all(p.get_subscription_count() for p in images.values()),
                              START_TIMEOUT) and node.running(), "vatex_node did not come up"
            yield World(node, client, scene, images, expressions, ros)
        finally:
            client.close()


def _image(world: World, camera: str, stamp: float) -> Any:
    from vatex_ros.messages.idl import Header, Time
    from vatex_ros.messages.images import array_to_image
    from vatex_ros.rclpy.convert import to_ros

    header = Header(stamp=Time(sec=int(stamp), nanosec=int(round((stamp % 1) * 1e9)) % 1_000_000_000),
                    frame_id=f"{camera}_optical")
    return to_ros(array_to_image(world.scene.rgb, "rgb8", header))


def _active(world: World) -> str | None:
    messages = world.client.messages("/vatex/active_expression")
    return messages[-1].data if messages else None


def _stream_until(world: World, cameras, predicate, say: str, timeout: float = ANSWER_TIMEOUT) -> Any:
    """Publish a frame on each of ``cameras`` every 0.2 s until ``predicate()``; repeat ``say`` on ``expressions``
    every 2 s until the node reports it active (the topic is volatile)."""
    deadline, said = time.monotonic() + timeout, -10.0
    while time.monotonic() < deadline and world.node.running():
        if time.monotonic() - said > 2.0 and _active(world) != say:
            world.expressions.publish(world.ros.String(data=say))
            said = time.monotonic()
        for camera in cameras:
            world.images[camera].publish(_image(world, camera, time.time()))
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def _classes(world: World, camera: str) -> list[list[str]]:
    return [[d.results[0].hypothesis.class_id for d in array.detections]
            for array in world.client.messages(f"/vatex/{camera}/detections")]


def _labels(msg: Any) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_silent_camera_does_not_block_the_other(world):
    present, absent = world.scene.expression, world.scene.absent_expression
    listed = f"{present}; {absent}"
    answered = _stream_until(world, ["head"], lambda: any(present in c for c in _classes(world, "head")), say=listed)
    assert answered, f"the head camera was not answered while the wrist camera was silent:\n{world.node.output()}"
    assert world.client.messages("/vatex/wrist/detections") == []


def test_two_cameras_two_expressions(world):
    present, absent = world.scene.expression, world.scene.absent_expression
    listed = f"{present}; {absent}"
    count = {camera: len(world.client.messages(f"/vatex/{camera}/detections")) for camera in CAMERAS}
    assert _stream_until(world, CAMERAS, lambda: all(
        len(world.client.messages(f"/vatex/{camera}/detections")) >= count[camera] + 3 for camera in CAMERAS),
        say=listed), world.node.output()
    assert _active(world) == listed
    for camera in CAMERAS:
        latest = world.client.messages(f"/vatex/{camera}/detections")[-1]
        assert latest.header.frame_id == f"{camera}_optical"
        assert [d.results[0].hypothesis.class_id for d in latest.detections] == [present]  # the absent one: none
        assert int(latest.detections[0].id) > 0
        labels = _labels(world.client.messages(f"/vatex/{camera}/labels")[-1])
        assert _iou(labels == 1, world.scene.truth) > 0.5 and not (labels == 2).any()
        mask = _labels(world.client.messages(f"/vatex/{camera}/mask")[-1]) == 255
        assert np.array_equal(mask, labels == 1)  # the union of the found targets: the one found
    ids = {camera: world.client.messages(f"/vatex/{camera}/detections")[-1].detections[0].id for camera in CAMERAS}
    assert ids["head"] != ids["wrist"]  # each camera's stream follows its own object


def test_expression_list_change(world):
    present, absent = world.scene.expression, world.scene.absent_expression
    reordered = f"{absent}; {present}"
    before = {camera: len(world.client.messages(f"/vatex/{camera}/labels")) for camera in CAMERAS}

    def relabelled() -> bool:
        for camera in CAMERAS:
            new = world.client.messages(f"/vatex/{camera}/labels")[before[camera]:]
            if _active(world) != reordered or not new or not (_labels(new[-1]) == 2).any():
                return False
        return True

    assert _stream_until(world, CAMERAS, relabelled, say=reordered), world.node.output()
    for camera in CAMERAS:
        labels = _labels(world.client.messages(f"/vatex/{camera}/labels")[-1])
        assert _iou(labels == 2, world.scene.truth) > 0.5 and not (labels == 1).any()  # present is 2nd now
