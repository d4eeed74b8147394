"""Synthetic aligned depth for the demo, the bench and tests: depth images, CameraInfo and 3D truth.

Objects are fronto-parallel surfaces at a given depth, painted far to near so nearer ones occlude
(as a z-buffer). The camera is an ideal pinhole (no distortion) with square pixels.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from vatex_ros.node.depth import DEPTH_ENCODINGS, DepthConfig, intrinsics_from_camera_info, locate_target, pixel_rays
from vatex_ros.messages.images import array_to_image
from vatex_ros.messages.idl import CameraInfo, Header, Image

DEFAULT_HFOV_DEG = 60.0  # horizontal field of view of the synthetic camera (a typical RGB-D camera's)


def synthetic_camera_info(width: int, height: int, header: Header, hfov_deg: float = DEFAULT_HFOV_DEG) -> CameraInfo:
    """CameraInfo of an ideal pinhole camera: square pixels, principal point at the image centre, no distortion.

    Args:
        width, height: image size (pixels).
        header: used as is.
        hfov_deg: horizontal field of view, degrees.
    """
    f = width / 2 / np.tan(np.radians(hfov_deg) / 2)
    cx, cy = (width - 1) / 2, (height - 1) / 2  # pixel centres at integer coordinates
    return CameraInfo(header=header, height=height, width=width, distortion_model="plumb_bob", d=[0.0] * 5,
                      k=[f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0], r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0])


def render_depth(masks: Sequence[np.ndarray], depths: Sequence[float], header: Header, *, background: float = 2.0,
                 encoding: str = "16UC1", hfov_deg: float = DEFAULT_HFOV_DEG) -> tuple[Image, CameraInfo]:
    """A depth image aligned to a synthetic colour frame, and its CameraInfo.

    Args:
        masks: per object, (H, W) bool pixels it covers. Where masks overlap the nearest depth wins (z-buffer),
            so pass the visible (disjoint) masks of a frame, or depths that agree with its drawing order.
        depths: per object, its distance along the optical axis (m).
        header: header of the colour frame (stamp and frame_id), used for both messages.
        background: depth of every other pixel (m); 0 = no return (invalid).
        encoding: ``16UC1`` (millimetres, rounded) or ``32FC1`` (metres).
        hfov_deg: horizontal field of view of the camera.

    Returns:
        (depth image, CameraInfo), both with ``header``.
    """
    if len(masks) != len(depths) or not masks:
        raise ValueError(f"need one depth per mask and at least one mask, got {len(masks)} masks, {len(depths)} depths")
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth encoding must be one of {sorted(DEPTH_ENCODINGS)}, got {encoding!r}")
    height, width = masks[0].shape
    metres = np.full((height, width), background, dtype=np.float64)
    for index in np.argsort(depths)[::-1]:  # far to near: nearer objects overwrite (occlude)
        metres[masks[index]] = depths[index]
    if encoding == "16UC1":
        pixels = np.round(metres * 1000).astype(np.uint16)
    else:
        pixels = np.where(metres > 0, metres, np.nan).astype(np.float32)
    image = array_to_image(pixels, encoding, header, DEPTH_ENCODINGS)
    return image, synthetic_camera_info(width, height, header, hfov_deg)


def visible_surface_point(mask: np.ndarray, depth: float, camera_info: CameraInfo) -> np.ndarray:
    """Truth for the node's ``position``: per-axis median of an object's visible surface, noise-free.

    Args:
        mask: (H, W) bool, the object's visible (unoccluded) pixels.
        depth: its depth (m).
        camera_info: the camera's CameraInfo.

    Returns:
        (3,) float64 metres in the camera optical frame.
    """
    rays = pixel_rays(intrinsics_from_camera_info(camera_info), *mask.shape)  # (2, H, W)
    return np.array([np.median(rays[0][mask]) * depth, np.median(rays[1][mask]) * depth, depth])


def time_3d_step(width: int = 640, height: int = 480, object_fraction: float = 0.1, repeats: int = 20) -> float:
    """Seconds the node's 3D step takes for one frame (median over ``repeats``), for ``vatex bench``.

    The step as the node runs it per found target: decode the 16UC1 depth image, check it against the
    CameraInfo, then the robust centroid, extent and points; the cloud message is built as well. Pixel
    rays are cached per camera, as in the node, so the first (warm-up) call is not counted.

    Args:
        width, height: frame size.
        object_fraction: share of the frame the target's mask covers.
        repeats: timed repetitions.
    """
    from vatex_ros.node.outputs import point_cloud  # outputs pulls in vatex_core (torch): only when timing

    side_y, side_x = int(height * object_fraction ** 0.5), int(width * object_fraction ** 0.5)
    mask = np.zeros((height, width), dtype=bool)
    top, left = (height - side_y) // 2, (width - side_x) // 2
    mask[top:top + side_y, left:left + side_x] = True
    depth_msg, info = render_depth([mask], [1.0], Header())
    config = DepthConfig()
    box = (left, top, left + side_x - 1, top + side_y - 1)  # the node passes the box it has from the 2D step
    point_cloud(locate_target(mask, depth_msg, info, config, box).points, Header())  # warm-up: fills the ray cache
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        point_cloud(locate_target(mask, depth_msg, info, config, box).points, Header())
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))
