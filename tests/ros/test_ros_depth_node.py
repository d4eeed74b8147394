"""The node with depth: 3D results in FrameResult and the output messages, every unusable-depth case warned
about (rate-limited) and counted without losing the 2D result, the unchanged behaviour without depth, and
the DDS wiring of the depth topics."""

import logging
import time

import numpy as np
import pytest
from ros_fakes import COLOURS, DdsProbe, FakePredictor, frame_msg, scene, wait_until

from vatex_ros.tools.depth_scene import render_depth, synthetic_camera_info, visible_surface_point
from vatex_ros.node import topics
from vatex_ros.node.core import NodeCore
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NodeParams

STAMP = 1000.0  # the fake clock's time: frames are fresh


def _red(rgb: np.ndarray) -> np.ndarray:
    return np.all(rgb == COLOURS["red"], axis=2)


def _depth_for(rgb: np.ndarray, header, **kwargs):
    """Depth image + CameraInfo of ``scene()``: the red square at 0.8 m, the blue one at 1.2 m, background 2 m."""
    return render_depth([_red(rgb), np.all(rgb == COLOURS["blue"], axis=2)], [0.8, 1.2], header, **kwargs)


@pytest.fixture
def depth_core(fake_clock):
    results = []
    core = NodeCore(FakePredictor(), NodeParams(found_after=1, use_depth=True, warn_interval=10.0), results.append,
                    clock=fake_clock, monotonic=fake_clock)
    core.set_expression("the red block")
    return core


def _submit(core, rgb=None, depth_stamp=STAMP, with_depth=True, with_info=True, **render):
    rgb = scene() if rgb is None else rgb
    frame = frame_msg(rgb, stamp=STAMP, frame_id="camera_color_optical_frame")
    depth, info = _depth_for(rgb, frame_msg(rgb, stamp=depth_stamp).header, **render)
    if with_depth:
        core.submit_depth(depth)
    if with_info:
        core.submit_camera_info(info)
    core.submit_frame(frame)
    return frame, info


def test_found_target_located_in_3d_and_published(depth_core):
    frame, info = _submit(depth_core)
    result = depth_core.step()
    truth = visible_surface_point(_red(scene()), 0.8, info)
    assert result.found and np.linalg.norm(result.target_3d.position - truth) < 0.001
    assert result.target_3d.valid_points == 100 and "depth" in result.timings
    outputs = build_outputs(result, with_overlay=False)
    point = outputs.target_point
    assert point.header is frame.header
    assert (point.point.x, point.point.y, point.point.z) == tuple(result.target_3d.position)
    (detection,) = outputs.detections_3d.detections
    assert outputs.detections_3d.header is frame.header and detection.header is frame.header
    assert detection.bbox.center.position == point.point and detection.results[0].pose.pose.position == point.point
    assert detection.bbox.size.x > 0 and detection.bbox.size.z == 0.0  # a flat face at 0.8 m
    assert result.target_id > 0  # id = the followed object's target id (issue 28), class_id = the expression
    assert (detection.id, detection.results[0].hypothesis.class_id) == (str(result.target_id), "the red block")
    assert detection.results[0].hypothesis.score == result.score
    cloud = outputs.target_cloud
    assert cloud.header is frame.header and cloud.width == 100 and cloud.row_step == 1200
    assert set(outputs.by_topic()) == {"mask", "detections", "target_point", "target_cloud", "detections_3d"}
    assert depth_core.diagnostics.counts()["targets_3d"] == 1


def test_without_depth_the_node_behaves_as_before(fake_clock):
    core = NodeCore(FakePredictor(), NodeParams(found_after=1), lambda result: None, clock=fake_clock,
                    monotonic=fake_clock)
    core.set_expression("the red block")
    _submit(core)  # depth offered anyway: ignored
    result = core.step()
    assert result.found and result.target_3d is None and "depth" not in result.timings
    outputs = build_outputs(result, with_overlay=True)
    assert outputs.target_point is None and outputs.target_cloud is None and outputs.detections_3d is None
    assert set(outputs.by_topic()) == {"mask", "detections", "overlay"}
    assert not {"targets_3d", "depth_missing"} & set(core.diagnostics.counts())


def test_lost_target_gets_no_3d_and_no_warning(depth_core):
    _submit(depth_core, rgb=np.full((48, 64, 3), 128, np.uint8))
    result = depth_core.step()
    assert not result.found and result.target_3d is None
    assert build_outputs(result, with_overlay=False).detections_3d is None
    assert set(depth_core.diagnostics.counts()) == {"expressions_in", "depth_in", "camera_info_in", "frames_in",
                                                    "frames_out", "batches"}


@pytest.mark.parametrize("case, kind", [
    ({"with_depth": False}, "depth_missing"),
    ({"with_info": False}, "camera_info_missing"),
    ({"depth_stamp": STAMP - 0.5}, "depth_out_of_tolerance"),
    ({"mismatched": True}, "depth_size_mismatch"),
    ({"all_invalid": True}, "depth_no_valid_points"),
    ({"nan": True}, "depth_no_valid_points"),
    ({"zero_focal": True}, "camera_info_invalid"),
])
def test_unusable_depth_keeps_the_2d_result_and_warns_once(depth_core, fake_clock, caplog, case, kind):
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        rgb = scene()
        frame = frame_msg(rgb, stamp=STAMP)
        depth_header = frame_msg(rgb, stamp=case.get("depth_stamp", STAMP)).header
        if case.get("mismatched"):
            depth, info = _depth_for(scene(96, 128), depth_header)
        elif case.get("all_invalid") or case.get("nan"):
            empty = np.zeros(rgb.shape[:2], bool)
            depth, info = render_depth([empty], [1.0], depth_header, background=0.0,
                                       encoding="32FC1" if case.get("nan") else "16UC1")
        else:
            depth, info = _depth_for(rgb, depth_header)
        if case.get("zero_focal"):
            info.k = [0.0] * 9
        if case.get("with_depth", True):
            depth_core.submit_depth(depth)
        if case.get("with_info", True):
            depth_core.submit_camera_info(info)
        depth_core.submit_frame(frame)
        result = depth_core.step()
        assert result.found and result.area == 100 and result.target_3d is None
        assert set(build_outputs(result, with_overlay=False).by_topic()) == {"mask", "detections"}
    assert depth_core.diagnostics.counts()[kind] == 3
    warnings = [r for r in caplog.records if kind in r.getMessage()]
    assert len(warnings) == 1 and "no 3D for this frame" in warnings[0].getMessage()  # fake clock stands still


def test_sync_tolerance_is_a_live_parameter(depth_core):
    _submit(depth_core, depth_stamp=STAMP - 0.05)
    assert depth_core.step().target_3d is None
    depth_core.update_params(depth_core.params.replace(depth_sync_tolerance=0.1))
    _submit(depth_core, depth_stamp=STAMP - 0.05)
    assert depth_core.step().target_3d is not None


@pytest.mark.dds
def test_dds_node_publishes_target_point_cloud_and_detections_3d(dds_env):
    from cyclonedds.domain import DomainParticipant

    from vatex_ros.dds.transport import DdsNode
    from vatex_ros.dds.participant import domain_id_from_env

    params = NodeParams(found_after=1, max_frame_age=0.0, warn_interval=60.0, use_depth=True,
                        publish_overlay=False)
    node = DdsNode(FakePredictor(), params, participant=DomainParticipant(domain_id_from_env()))
    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    try:
        rgb = scene()
        frame = frame_msg(rgb, stamp=1234.5, frame_id="camera_color_optical_frame")
        depth, info = _depth_for(rgb, frame.header, encoding="32FC1")
        probe.say("the red block")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(probe.received[t.name] for t in topics.DEPTH_OUTPUTS):
            probe.depth.write(depth)  # best effort: repeat until the node has matched us
            probe.camera_info.write(info)
            probe.image.write(frame)
            time.sleep(0.05)
        assert wait_until(lambda: all(probe.received[t.name] for t in topics.DEPTH_OUTPUTS))
        point, cloud = probe.received["target_point"][-1], probe.received["target_cloud"][-1]
        truth = visible_surface_point(_red(rgb), 0.8, synthetic_camera_info(64, 48, frame.header))
        assert point.header == frame.header
        assert np.linalg.norm(np.array([point.point.x, point.point.y, point.point.z]) - truth) < 0.001
        assert cloud.header == frame.header and (cloud.width, cloud.point_step, cloud.row_step) == (100, 12, 1200)
        xyz = np.frombuffer(bytes(cloud.data), "<f4").reshape(-1, 3)
        assert np.allclose(xyz[:, 2], 0.8) and [f.name for f in cloud.fields] == ["x", "y", "z"]
        detection = probe.received["detections_3d"][-1].detections[0]
        assert detection.bbox.center.position == point.point
        assert detection.results[0].hypothesis.class_id == "the red block"
        assert int(detection.id) > 0  # the followed object's target id
    finally:
        probe.close()
        node.close()
