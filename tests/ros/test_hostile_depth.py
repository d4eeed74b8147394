"""Hostile CameraInfo and depth: no made-up 3D point ever reaches a planner (issue 14, finding 1)."""

import logging

import numpy as np
import pytest
from ros_fakes import COLOURS, FakePredictor, frame_msg, scene

from vatex_ros.node.core import NodeCore
from vatex_ros.node.depth import DepthConfig, DepthError, target_from_depth
from vatex_ros.node.outputs import build_outputs, point_cloud
from vatex_ros.node.params import NodeParams
from vatex_ros.tools.depth_scene import render_depth

STAMP = 1000.0


def _located(info_fault):
    """A depth core fed one frame with ``info_fault(camera_info)`` applied; (result, core)."""
    clock = lambda: STAMP  # noqa: E731
    core = NodeCore(FakePredictor(), NodeParams(found_after=1, use_depth=True), lambda r: None,
                    clock=clock, monotonic=clock)
    core.set_expression("the red block")
    rgb = scene()
    frame = frame_msg(rgb, stamp=STAMP)
    depth, info = render_depth([np.all(rgb == COLOURS["red"], axis=2)], [0.8], frame.header)
    info_fault(info)
    core.submit_depth(depth)
    core.submit_camera_info(info)
    core.submit_frame(frame)
    return core.step(), core


def _set_k(index, value):
    def fault(info):
        k = list(info.k)
        k[index] = value
        info.k = k
    return fault


def _binning(info):
    info.binning_x = info.binning_y = 2**32 - 1


@pytest.mark.parametrize("fault", [_set_k(0, 1e-300), _set_k(4, 1e-300), _set_k(0, float("nan")),
                                   _set_k(2, float("inf")), _set_k(0, -500.0), _set_k(0, 1e12), _binning],
                         ids=["fx_1e-300", "fy_1e-300", "fx_nan", "cx_inf", "fx_negative", "fx_1e12", "binning_2^32-1"])
def test_absurd_intrinsics_give_no_3d_but_the_2d_result(fault, caplog):
    with caplog.at_level(logging.WARNING):
        result, core = _located(fault)
    assert result is not None and result.found  # 2D is unaffected
    assert result.target_3d is None, f"made-up point {result.target_3d.position}"
    assert core.diagnostics.counts()["camera_info_invalid"] == 1 and "CameraInfo" in caplog.text
    outputs = build_outputs(result, with_overlay=False)
    assert outputs.target_point is None and outputs.target_cloud is None


@pytest.mark.parametrize("ray", [np.inf, np.nan, 1e9], ids=["inf", "nan", "absurd"])
def test_non_finite_or_absurd_points_are_never_output(ray):
    """Whatever the rays (a distortion model gone wrong), no point beyond MAX_RANGE or non-finite comes out."""
    from vatex_ros.node.depth import MAX_RANGE

    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    depth = np.full((20, 20), 0.8, np.float32)
    rays = np.full((2, 20, 20), ray, np.float32)
    with pytest.raises(DepthError) as err:
        target_from_depth(mask, depth, rays, DepthConfig(erosion=0))
    # A NaN ray is a pixel whose undistortion did not converge (pixel_rays): no 3D for a target that has one.
    assert err.value.kind == ("camera_info_distortion" if np.isnan(ray) else "depth_not_finite")
    rays[:, :10] = 0.1
    if np.isnan(ray):
        return
    # half the target is fine: only its points come out
    target = target_from_depth(mask, depth, rays, DepthConfig(erosion=0))
    assert np.isfinite(target.points).all() and (np.abs(target.points) <= MAX_RANGE).all()
    assert len(target.points) == 50


def test_sane_intrinsics_still_give_finite_points():
    result, _ = _located(lambda info: None)
    assert result.target_3d is not None and np.isfinite(result.target_3d.points).all()
    assert build_outputs(result, with_overlay=False).target_cloud.is_dense


def test_cloud_is_dense_only_when_every_point_is_finite():
    header = frame_msg(scene()).header
    assert point_cloud(np.ones((4, 3), np.float32), header).is_dense
    points = np.ones((4, 3), np.float32)
    points[2, 1] = np.nan
    assert not point_cloud(points, header).is_dense


def _distortion(k1):
    def fault(info):
        info.distortion_model, info.d = "plumb_bob", [k1, 0.0, 0.0, 0.0, 0.0]
    return fault


@pytest.mark.parametrize("k1", [1e6, 1e300], ids=["k1_1e6", "k1_1e300"])
def test_undistortion_that_does_not_converge_gives_no_3d_and_a_warning(k1, caplog):
    """issue 32: the fixed-point inverse of plumb_bob diverges or oscillates for such coefficients; its
    result re-distorts far from the pixel, so the frame gets no 3D point (not one tens of cm off)."""
    from vatex_ros.messages.idl import Time
    from vatex_ros.node.diagnostics import diagnostic_array

    with caplog.at_level(logging.WARNING):
        result, core = _located(_distortion(k1))
    assert result is not None and result.found  # 2D is unaffected
    assert result.target_3d is None, f"made-up point {result.target_3d.position}"
    assert core.diagnostics.counts()["camera_info_distortion"] == 1
    assert "does not converge" in caplog.text and "RuntimeWarning" not in caplog.text
    status = diagnostic_array(core.diagnostics.counts(), Time(), "/vatex/vatex_node", previous={}).status[0]
    assert status.level == status.WARN and "camera_info_distortion" in status.message


def test_undistortion_residual_above_tolerance_is_refused():
    """Mild coefficients converge (residual far below 0.01 px); strong ones whose inverse leaves a residual do
    not give rays, whatever the count of iterations."""
    from vatex_ros.node.depth import Intrinsics, pixel_rays

    mild = Intrinsics(fx=300.0, fy=300.0, cx=31.5, cy=23.5, distortion=(-0.28, 0.07, 0.001, -0.0015, 0.01))
    assert np.isfinite(pixel_rays(mild, 48, 64)).all()
    wild = Intrinsics(fx=300.0, fy=300.0, cx=32.0, cy=24.0, distortion=(1e6, 0.0, 0.0, 0.0, 0.0))
    rays = pixel_rays(wild, 48, 64)
    assert np.isfinite(rays[:, 24, 32]).all()  # at the principal point the inverse is exact
    assert not np.isfinite(rays[:, 0, 0]).any()  # the corner's fixed point oscillates: no ray


@pytest.mark.parametrize("min_points, located", [(10, False), (5, True)])
def test_depth_min_points_with_a_few_valid_pixels(min_points, located, caplog):
    """README: fewer valid depth points under the target than depth_min_points: no 3D for the frame (a warning and
    depth_no_valid_points), the 2D result unchanged; at or above it the few points give the 3D result."""
    from vatex_ros.messages.images import array_to_image, image_to_array
    from vatex_ros.node.depth import DEPTH_ENCODINGS

    clock = lambda: STAMP  # noqa: E731
    core = NodeCore(FakePredictor(), NodeParams(found_after=1, use_depth=True, depth_min_points=min_points),
                    lambda r: None, clock=clock, monotonic=clock)
    core.set_expression("the red block")
    rgb = scene()
    frame = frame_msg(rgb, stamp=STAMP)
    depth, info = render_depth([np.all(rgb == COLOURS["red"], axis=2)], [0.8], frame.header)
    pixels = image_to_array(depth, DEPTH_ENCODINGS).copy()
    holes = np.zeros_like(pixels)
    holes[13, 8:13] = pixels[13, 8:13]  # 5 valid pixels inside the red block's eroded core, the rest no return
    core.submit_depth(array_to_image(holes, depth.encoding, depth.header, DEPTH_ENCODINGS))
    core.submit_camera_info(info)
    core.submit_frame(frame)
    with caplog.at_level(logging.WARNING):
        result = core.step()
    assert result is not None and result.found and result.area == 100  # 2D is unaffected
    if located:
        assert result.target_3d.valid_points == 5 and abs(result.target_3d.position[2] - 0.8) < 0.002
    else:
        assert result.target_3d is None and core.diagnostics.counts()["depth_no_valid_points"] == 1
        assert "depth_min_points 10" in caplog.text
