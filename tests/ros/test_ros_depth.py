"""3D geometry of the target from aligned depth: accuracy on synthetic scenes, robustness, intrinsics, pairing,
the PointCloud2 layout and the synthetic-depth helpers the demo and the bench use."""

import array
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from vatex_ros.node.depth import (
    DEPTH_ENCODINGS, DepthConfig, DepthError, intrinsics_from_camera_info, locate_target, undistort_normalised,
)
from vatex_ros.tools.depth_scene import render_depth, synthetic_camera_info, time_3d_step, visible_surface_point
from vatex_ros.node.depth_sync import DepthSync
from vatex_ros.messages.images import array_to_image, image_to_array
from vatex_ros.messages.idl import CameraInfo, Header, RegionOfInterest, Time
from vatex_ros.messages.definitions import ros2_typestore
from vatex_ros.node.outputs import point_cloud
from vatex_ros.node.params import NodeParams
from vatex_ros.rclpy.convert import from_ros

W, H = 640, 480
HEADER = Header(stamp=Time(sec=5, nanosec=0), frame_id="camera_color_optical_frame")
INFO = synthetic_camera_info(W, H, HEADER)
F, CX, CY = INFO.k[0], INFO.k[2], INFO.k[5]
V, U = np.mgrid[0:H, 0:W]  # pixel centres


def _box(centre, size):
    """Pixels whose centres see a fronto-parallel (w, h) face centred at ``centre`` (x, y, z) metres."""
    x, y, z = centre
    return (np.abs((U - CX) * z / F - x) <= size[0] / 2) & (np.abs((V - CY) * z / F - y) <= size[1] / 2)


def _depth_image(metres: np.ndarray, encoding: str = "32FC1"):
    pixels = np.round(metres * 1000).astype(np.uint16) if encoding == "16UC1" else metres.astype(np.float32)
    return array_to_image(pixels, encoding, HEADER, DEPTH_ENCODINGS)


def _bleed(mask, pixels=2):
    """A segmentation that spills ``pixels`` onto the background, as real masks do at edges."""
    return ndimage.binary_dilation(mask, iterations=pixels)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_box_at_1m_centroid_and_extent(encoding):
    centre, size = (0.1, -0.05, 1.0), (0.10, 0.06)
    face = _box(centre, size)
    metres = np.where(face, centre[2], 2.0)  # background 1 m behind
    target = locate_target(_bleed(face), _depth_image(metres, encoding), INFO, DepthConfig())
    assert np.linalg.norm(target.position - centre) < 0.002  # well under 1 cm at 1 m
    assert np.all(np.abs(target.extent[:2] - size) < 0.01) and target.extent[2] < 0.002
    assert target.valid_points == face.sum() and target.points.dtype == np.float32


def test_sphere_at_1m():
    centre, radius = np.array([-0.05, 0.03, 1.05]), 0.05
    rays = np.stack([(U - CX) / F, (V - CY) / F, np.ones((H, W))], axis=-1)  # (H, W, 3), z = 1
    a, b = (rays ** 2).sum(-1), -2 * rays @ centre  # ray-sphere: a t^2 + b t + c = 0, t = depth
    disc = b ** 2 - 4 * a * (centre @ centre - radius ** 2)
    hit = disc > 0
    depth = np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a), 3.0)
    target = locate_target(_bleed(hit), _depth_image(depth), INFO, DepthConfig())
    surface = rays[hit] * depth[hit][:, None]  # (N, 3) the visible hemisphere, exact
    assert np.linalg.norm(target.position - np.median(surface, axis=0)) < 0.002
    direction = centre / np.linalg.norm(centre)  # the visible cap faces the camera: its middle is on this ray
    assert np.linalg.norm(target.position - direction * (direction @ target.position)) < 0.002
    assert np.all(np.abs(target.extent[:2] - 2 * radius) < 0.01)


def test_holes_nan_inf_and_flying_pixels_are_ignored():
    rng = np.random.default_rng(0)
    centre, size = (0.0, 0.0, 1.0), (0.12, 0.12)
    face = _box(centre, size)
    metres = np.where(face, 1.0, 2.0) + rng.normal(0, 0.002, (H, W))  # 2 mm sensor noise
    noise = rng.random((H, W))
    metres[noise < 0.3] = 0.0  # holes
    metres[(noise >= 0.3) & (noise < 0.4)] = np.nan
    metres[(noise >= 0.4) & (noise < 0.45)] = np.inf
    metres[(noise >= 0.45) & (noise < 0.5)] = rng.uniform(0.3, 3.0, ((noise >= 0.45) & (noise < 0.5)).sum())
    with np.errstate(all="raise"):
        target = locate_target(_bleed(face), _depth_image(metres), INFO, DepthConfig())
    assert np.linalg.norm(target.position - centre) < 0.003
    assert np.isfinite(target.points).all() and 0.4 * face.sum() < target.valid_points < 0.6 * face.sum()


@pytest.mark.parametrize("value", [0.0, np.nan, np.inf])
def test_all_invalid_depth(value):
    face = _box((0, 0, 1), (0.1, 0.1))
    with pytest.raises(DepthError, match="valid depth values") as err:
        locate_target(face, _depth_image(np.full((H, W), value)), INFO, DepthConfig())
    assert err.value.kind == "depth_no_valid_points"


def test_size_and_format_mismatches():
    face = _box((0, 0, 1), (0.1, 0.1))
    with pytest.raises(DepthError, match="depth image 320x240 != colour frame 640x480") as err:
        locate_target(face, _depth_image(np.ones((240, 320))), INFO, DepthConfig())
    assert err.value.kind == "depth_size_mismatch"
    with pytest.raises(DepthError, match="CameraInfo is for 320x240") as err:
        locate_target(face, _depth_image(np.ones((H, W))), synthetic_camera_info(320, 240, HEADER), DepthConfig())
    assert err.value.kind == "camera_info_size_mismatch"
    mono8 = array_to_image(np.zeros((H, W), np.uint8), "mono8", HEADER)
    with pytest.raises(DepthError, match="unsupported image encoding 'mono8'") as err:
        locate_target(face, mono8, INFO, DepthConfig())
    assert err.value.kind == "bad_depth"


def _info(**changes) -> CameraInfo:
    values = {**vars(synthetic_camera_info(W, H, HEADER)), **changes}
    return CameraInfo(**values)


def test_camera_info_checks():
    with pytest.raises(DepthError, match="zero or non-finite focal length.*not calibrated") as err:
        intrinsics_from_camera_info(_info(k=[0.0] * 9))
    assert err.value.kind == "camera_info_invalid"
    with pytest.raises(DepthError, match="'equidistant'.*not supported") as err:
        intrinsics_from_camera_info(_info(distortion_model="equidistant", d=[0.1, 0.0, 0.0, 0.0]))
    assert err.value.kind == "camera_info_distortion"
    assert intrinsics_from_camera_info(_info(distortion_model="rational_polynomial", d=[0.0] * 8)).distortion == ()
    assert intrinsics_from_camera_info(_info(distortion_model="plumb_bob", d=[0.1, 0.01])).distortion == (
        0.1, 0.01, 0.0, 0.0, 0.0)


def test_binning_and_roi_scale_the_intrinsics():
    info = _info(binning_x=2, binning_y=2, roi=RegionOfInterest(x_offset=100, y_offset=40, width=400, height=300))
    intrinsics = intrinsics_from_camera_info(info)
    assert (intrinsics.fx, intrinsics.cx, intrinsics.cy) == (F / 2, (CX - 100) / 2, (CY - 40) / 2)
    assert (intrinsics.width, intrinsics.height) == (200, 150)


def test_plumb_bob_inverse_round_trip():
    k1, k2, p1, p2, k3 = -0.28, 0.07, 0.001, -0.0015, 0.01  # a typical wide lens
    x, y = np.meshgrid(np.linspace(-0.55, 0.55, 41), np.linspace(-0.4, 0.4, 31))  # undistorted rays
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    x_d = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)  # the plumb_bob (OpenCV) forward model
    y_d = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    x_u, y_u = undistort_normalised(x_d, y_d, (k1, k2, p1, p2, k3))
    assert np.abs(x_u - x).max() < 1e-7 and np.abs(y_u - y).max() < 1e-7


def test_distorted_camera_uses_undistorted_rays():
    coefficients = (-0.28, 0.07, 0.0, 0.0, 0.0)
    mask = np.zeros((H, W), bool)
    mask[230:250, W - 20:] = True  # right edge: distortion matters most
    target = locate_target(mask, _depth_image(np.ones((H, W))), _info(d=list(coefficients)), DepthConfig(erosion=0))
    ys, xs = np.nonzero(mask)
    x_u, y_u = undistort_normalised((xs - CX) / F, (ys - CY) / F, coefficients)  # at depth 1 m
    np.testing.assert_allclose(np.sort(target.points[:, 0]), np.sort(x_u), atol=1e-5)
    np.testing.assert_allclose(np.sort(target.points[:, 1]), np.sort(y_u), atol=1e-5)
    assert x_u.max() > (W - 1 - CX) / F + 0.05  # barrel distortion: rays wider than the pinhole's


def test_pairing_nearest_within_tolerance_newest_wins_bounded():
    def msg(stamp, tag):
        return SimpleNamespace(header=Header(stamp=Time(sec=int(stamp), nanosec=round(stamp % 1 * 1e9))), tag=tag)

    sync = DepthSync(size=3, tolerance=0.3)
    with pytest.raises(DepthError, match="no depth image received") as err:
        sync.pair(10.0)
    assert err.value.kind == "depth_missing"
    for stamp, tag in [(9.0, "a"), (10.0, "b"), (10.5, "c"), (10.5, "d")]:  # "a" falls out of the buffer
        sync.add_depth(msg(stamp, tag))
    with pytest.raises(DepthError, match="no CameraInfo received") as err:
        sync.pair(10.0)
    assert err.value.kind == "camera_info_missing"
    sync.add_camera_info(msg(9.0, "old"))
    sync.add_camera_info(msg(10.0, "info"))
    assert [m.tag for m in sync.pair(10.0)] == ["b", "info"]
    assert sync.pair(10.25)[0].tag == "d"  # b, c and d all 0.25 s away: the newest wins
    with pytest.raises(DepthError, match=r"1\.000 s from the frame") as err:
        sync.pair(9.0)  # its depth was dropped from the bounded buffer
    assert err.value.kind == "depth_out_of_tolerance"


def test_point_cloud_layout_and_rosbags_decoding():
    points = np.array([[0.1, -0.2, 1.0], [0.3, 0.4, 1.5], [-1.0, 2.0, 3.25]], np.float32)
    cloud = point_cloud(points, HEADER)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [("x", 0, 7, 1), ("y", 4, 7, 1),
                                                                               ("z", 8, 7, 1)]
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 3, 12, 36)
    assert cloud.is_dense and not cloud.is_bigendian and cloud.header is HEADER
    theirs = ros2_typestore().deserialize_cdr(cloud.serialize(), "sensor_msgs/msg/PointCloud2")
    np.testing.assert_array_equal(np.frombuffer(theirs.data.tobytes(), "<f4").reshape(-1, 3), points)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_render_depth_occludes_and_encodes(encoding):
    near, far = _box((0, 0, 0.8), (0.1, 0.1)), _box((0.03, 0, 1.2), (0.2, 0.1))
    depth_msg, info = render_depth([near, far], [0.8, 1.2], HEADER, encoding=encoding)
    assert depth_msg.encoding == encoding and depth_msg.header is HEADER and info.header is HEADER
    metres = image_to_array(depth_msg, DEPTH_ENCODINGS) * (0.001 if encoding == "16UC1" else 1.0)
    assert np.allclose(metres[near], 0.8) and np.allclose(metres[far & ~near], 1.2)
    assert np.allclose(metres[~near & ~far], 2.0)
    truth = visible_surface_point(near, 0.8, info)
    assert np.linalg.norm(locate_target(_bleed(near), depth_msg, info, DepthConfig()).position - truth) < 0.001
    with pytest.raises(ValueError, match="one depth per mask"):
        render_depth([near], [0.8, 1.2], HEADER)


def test_time_3d_step_reports_seconds():
    assert 0 < time_3d_step(width=160, height=120, repeats=2) < 1.0


def test_depth_params_validated():
    assert not NodeParams().use_depth
    with pytest.raises(ValueError, match="depth_sync_tolerance must be in"):
        NodeParams(depth_sync_tolerance=-0.1)
    with pytest.raises(ValueError, match="depth_queue_size must be in"):
        NodeParams(depth_queue_size=0)


def test_from_ros_camera_info_arrays():
    info = synthetic_camera_info(4, 3, HEADER)
    rclpy_like = SimpleNamespace(**{**vars(info), "header": SimpleNamespace(**vars(HEADER)),
                                    "d": array.array("d", info.d), "k": np.array(info.k), "r": np.array(info.r),
                                    "p": np.array(info.p), "roi": SimpleNamespace(**vars(info.roi))})
    assert from_ros(rclpy_like, CameraInfo) == info
