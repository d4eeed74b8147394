"""The target in 3D: robust centroid, extent and points from a depth image aligned to the colour camera.

Aligned depth shares the colour frame's pixel grid, so the mask indexes it directly. CameraInfo's K (with
plumb_bob distortion undone where the coefficients are not zero) turns every pixel into a ray of the colour
camera's optical frame (x right, y down, z forward, metres); depth cameras report z along the optical axis,
so a pixel's point is ``(x/z, y/z, 1) * depth``.

Robustness: depth statistics are taken on the mask eroded by a few pixels (mask edges bleed onto the
background), zeros/NaN/inf are invalid, and masked depths outside a median +- k * MAD band are outliers.

Cost: only the mask's bounding box of the depth image is read and converted, and a target larger than
``max_points`` pixels is sampled on a regular pixel grid (every s-th row and column) so that it gives at most
about ``max_points`` points: a target covering 10% of a 1080p frame (207k pixels) costs what a 20k-pixel one does,
and its cloud and statistics (median, MAD, percentiles) come from 20k evenly spread points.
Everything that makes a frame unusable raises :class:`DepthError`, whose ``kind`` names a diagnostic counter.

Sanity: a planner must never receive a made-up point. CameraInfo intrinsics must be finite and physically
plausible (focal length 1 px to 1e6 px after binning, binning at most 64, principal point within 1e6 px), and
every output point must be finite and within 1 km of the camera; otherwise the frame gets no 3D result
(``camera_info_invalid`` / ``depth_not_finite``), logged and counted, never a NaN, inf or absurd point.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vatex_ros.echo import shorten
from vatex_ros.messages.images import image_to_array

# encoding -> (channels, numpy dtype), as image_conversion.ENCODINGS
DEPTH_ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "16UC1": (1, np.dtype(np.uint16)),  # millimetres, 0 = no return
    "32FC1": (1, np.dtype(np.float32)),  # metres, NaN/inf/0 = no return
}
_MAD_TO_SIGMA = 1.4826  # MAD of normally distributed values times this is their standard deviation
_UNDISTORT_ITERATIONS = 20  # fixed-point iterations of the plumb_bob inverse (converged well before)
_UNDISTORT_TOLERANCE_PX = 0.01  # a ray whose re-distortion lands farther than this from its pixel is no ray
_FOCAL_RANGE = (1.0, 1e6)  # pixels: below, a pixel spans > 45 degrees; above, a telescope
_MAX_PRINCIPAL = 1e6  # pixels from the image origin
_MAX_BINNING = 64  # cameras bin 1..8; a larger value is a fault
MAX_RANGE = 1000.0  # metres: no depth camera sees farther; a point beyond is made up


class DepthError(ValueError):
    """Why a frame gets no 3D result.

    Attributes:
        kind: the diagnostic counter it is reported under, e.g. ``depth_size_mismatch``.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DepthConfig:
    """How the target's 3D geometry is estimated (node parameters ``depth_*``)."""

    erosion: int = 2  # pixels eroded off the mask before the depth statistics
    outlier_mads: float = 3.0  # half-width of the inlier band around the median depth, in scaled MADs
    min_band: float = 0.01  # metres; floor of that half-width (1 mm quantised depth often has MAD 0)
    min_points: int = 10  # fewer valid depth points: no 3D
    extent_percentile: float = 1.0  # extent = span between this percentile and 100 minus it, per axis
    max_points: int = 20_000  # a larger target is sampled on a pixel grid down to about this many points


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the image as published (binning and ROI already applied).

    Attributes:
        fx, fy: focal lengths (pixels).
        cx, cy: principal point (pixels).
        distortion: plumb_bob ``(k1, k2, p1, p2, k3)``, or ``()`` for none.
        width, height: image size these intrinsics describe; 0 = not given by the CameraInfo.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = ()
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Target3D:
    """The target's visible surface in the camera optical frame.

    Attributes:
        position: (3,) float64 metres, per-axis median of ``points``.
        extent: (3,) float64 metres, percentile span of ``points`` per axis.
        points: (N, 3) float32 metres, the inlier points (x, y, z).
    """

    position: np.ndarray
    extent: np.ndarray
    points: np.ndarray

    @property
    def valid_points(self) -> int:
        return len(self.points)


def depth_to_metres(msg) -> np.ndarray:
    """Depth of a sensor_msgs/Image 16UC1 (mm) or 32FC1 (m) as (H, W) float32 metres; invalid values stay 0/NaN/inf.

    Raises:
        DepthError: ``bad_depth`` for other encodings or malformed data.
    """
    try:
        pixels = image_to_array(msg, DEPTH_ENCODINGS)
    except ValueError as err:
        raise DepthError("bad_depth", f"depth image unusable: {err}") from None
    if msg.encoding == "16UC1":
        return pixels.astype(np.float32) * np.float32(0.001)
    return pixels


def intrinsics_from_camera_info(info) -> Intrinsics:
    """Intrinsics of the published image from a sensor_msgs/CameraInfo (K, D, binning, ROI).

    Distortion is honoured only where needed: all-zero coefficients mean none under any model name;
    otherwise only ``plumb_bob`` is supported.

    Raises:
        DepthError: ``camera_info_invalid`` (zero or non-finite focal length, i.e. an uncalibrated camera),
            ``camera_info_distortion`` (another model with non-zero coefficients).
    """
    k = [float(v) for v in info.k]  # row-major 3x3
    if not all(np.isfinite(k)) or k[0] == 0 or k[4] == 0:
        raise DepthError("camera_info_invalid", f"CameraInfo has zero or non-finite focal length (K[0]={k[0]}, "
                         f"K[4]={k[4]}): the camera is not calibrated, no 3D until a calibrated one arrives")
    bin_x, bin_y = max(1, int(info.binning_x)), max(1, int(info.binning_y))
    if max(bin_x, bin_y) > _MAX_BINNING:
        raise DepthError("camera_info_invalid", f"CameraInfo binning {bin_x}x{bin_y} is absurd (at most "
                         f"{_MAX_BINNING}): no 3D from it")
    low, high = _FOCAL_RANGE
    if not (low <= k[0] / bin_x <= high and low <= k[4] / bin_y <= high):
        raise DepthError("camera_info_invalid", f"CameraInfo focal length fx={k[0] / bin_x:.3g}, fy={k[4] / bin_y:.3g} "
                         f"px (after binning) is outside [{low:g}, {high:g}]: no 3D from it")
    if max(abs(k[2]), abs(k[5])) > _MAX_PRINCIPAL:
        raise DepthError("camera_info_invalid", f"CameraInfo principal point ({k[2]:.3g}, {k[5]:.3g}) is absurd")
    coeffs = tuple(float(c) for c in info.d)
    model = info.distortion_model
    if not all(np.isfinite(coeffs)):
        raise DepthError("camera_info_invalid", f"CameraInfo distortion coefficients are not finite: {coeffs}")
    if not any(coeffs):
        distortion: tuple[float, ...] = ()
    elif model == "plumb_bob" and len(coeffs) <= 5:
        distortion = coeffs + (0.0,) * (5 - len(coeffs))
    else:
        raise DepthError("camera_info_distortion", f"distortion model {shorten(repr(model))} with coefficients "
                         f"{shorten(coeffs)} is not "
                         "supported (plumb_bob with up to 5 coefficients, or none): publish rectified images "
                         "with their CameraInfo")
    roi = info.roi
    return Intrinsics(fx=k[0] / bin_x, fy=k[4] / bin_y, cx=(k[2] - roi.x_offset) / bin_x,
                      cy=(k[5] - roi.y_offset) / bin_y, distortion=distortion,
                      width=int(roi.width or info.width) // bin_x, height=int(roi.height or info.height) // bin_y)


def undistort_normalised(x_d: np.ndarray, y_d: np.ndarray,
                         distortion: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Invert plumb_bob distortion of normalised image coordinates by fixed-point iteration (as OpenCV does).

    Args:
        x_d, y_d: distorted normalised coordinates ``((u - cx) / fx, (v - cy) / fy)``, any equal shapes.
        distortion: ``(k1, k2, p1, p2, k3)``.

    Returns:
        Undistorted ``(x, y)`` = ``(X / Z, Y / Z)`` of the rays, same shapes.
    """
    k1, k2, p1, p2, k3 = distortion
    x, y = x_d, y_d
    with np.errstate(all="ignore"):  # coefficients such as k1 = 1e300 overflow: caught by the residual check
        for _ in range(_UNDISTORT_ITERATIONS):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            x, y = ((x_d - (2 * p1 * x * y + p2 * (r2 + 2 * x * x))) / radial,
                    (y_d - (p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)) / radial)
    return x, y


def distort_normalised(x: np.ndarray, y: np.ndarray,
                       distortion: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The plumb_bob (OpenCV) forward model: undistorted normalised ``(x, y)`` to distorted ones, same shapes."""
    k1, k2, p1, p2, k3 = distortion
    with np.errstate(all="ignore"):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


@functools.lru_cache(maxsize=4)
def pixel_rays(intrinsics: Intrinsics, height: int, width: int) -> np.ndarray:
    """Ray of every pixel centre, computed once per camera (cached, read-only).

    With distortion, a pixel whose undistorted ray does not re-distort to within ``_UNDISTORT_TOLERANCE_PX`` of
    the pixel (the inverse did not converge: coefficients no lens has, e.g. k1 = 1e6) gets a NaN ray.

    Returns:
        (2, H, W) float32: ``X / Z`` and ``Y / Z`` of each pixel's ray; NaN where there is none.
    """
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)  # (H, W) each
    x_d, y_d = (u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy
    x, y = x_d, y_d
    if intrinsics.distortion:
        x, y = undistort_normalised(x_d, y_d, intrinsics.distortion)
        x_back, y_back = distort_normalised(x, y, intrinsics.distortion)
        with np.errstate(all="ignore"):
            residual_px = np.hypot((x_back - x_d) * intrinsics.fx, (y_back - y_d) * intrinsics.fy)  # (H, W)
        unresolved = ~(residual_px <= _UNDISTORT_TOLERANCE_PX)  # also NaN residuals
        x, y = np.where(unresolved, np.nan, x), np.where(unresolved, np.nan, y)
    rays = np.stack([x, y]).astype(np.float32)  # (2, H, W)
    rays.flags.writeable = False
    return rays


def target_from_depth(mask: np.ndarray, depth: np.ndarray, rays: np.ndarray, config: DepthConfig,
                      box: tuple[float, float, float, float] | None = None) -> Target3D:
    """Robust 3D geometry of the masked surface.

    Args:
        mask: (H, W) bool, the target.
        depth: (H, W) on the same pixel grid: float32 metres (0, NaN and inf invalid) or uint16 millimetres
            (16UC1, 0 invalid); only the mask's box is read.
        rays: (2, H, W) from :func:`pixel_rays`.
        config: erosion, outlier band, minimum points, extent percentile, largest number of points.
        box: the mask's inclusive pixel bounds (x_min, y_min, x_max, y_max) if known (saves two passes over it).

    Raises:
        DepthError: ``depth_no_valid_points`` when fewer than ``config.min_points`` depths survive.
    """
    if box is None:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            raise DepthError("depth_no_valid_points", "empty mask: nothing to locate in 3D")
        box = (cols[0], rows[0], cols[-1], rows[-1])
    left, top, right, bottom = int(box[0]), int(box[1]), int(box[2]), int(box[3])
    window = (slice(top, bottom + 1), slice(left, right + 1))
    mask = mask[window]  # (h, w) crop around the mask
    pixels = int(mask.view(np.uint8).sum())
    if pixels == 0:
        raise DepthError("depth_no_valid_points", "empty mask: nothing to locate in 3D")
    stride = max(1, math.ceil(math.sqrt(pixels / config.max_points)))  # grid step: at most ~max_points points
    core = _eroded(mask, config.erosion, stride)
    mask = mask[::stride, ::stride]  # (h', w') sampled
    depth = _metres(depth[window][::stride, ::stride])  # only the sampled pixels are converted
    core_depth = depth[core] if core.any() else depth[mask]  # a thin object may erode away entirely
    core_depth = core_depth[np.isfinite(core_depth) & (core_depth > 0)]
    if core_depth.size < config.min_points:
        raise DepthError("depth_no_valid_points", f"{core_depth.size} valid depth values under the target "
                         f"(< depth_min_points {config.min_points}): holes, NaN or no return")
    median = np.median(core_depth)
    band = max(config.outlier_mads * _MAD_TO_SIGMA * float(np.median(np.abs(core_depth - median))), config.min_band)
    ys, xs = np.nonzero(mask)  # (n,) each, sampled-crop coordinates
    z = depth[ys, xs]
    keep = (z > 0) & (np.abs(z - median) <= band)  # False for NaN and inf
    ys, xs, z = ys[keep] * stride + top, xs[keep] * stride + left, z[keep]  # frame coordinates
    ray_x, ray_y = rays[0, ys, xs], rays[1, ys, xs]
    unresolved = int(np.count_nonzero(np.isnan(ray_x)))
    if unresolved:
        raise DepthError("camera_info_distortion", f"plumb_bob undistortion does not converge for {unresolved} of "
                         f"{z.size} target pixels (their rays re-distort more than {_UNDISTORT_TOLERANCE_PX} px "
                         "from the pixel): the CameraInfo's distortion coefficients fit no lens; no 3D from it")
    if z.size < config.min_points:
        raise DepthError("depth_no_valid_points", f"{z.size} depth points within {band:.3f} m of the median "
                         f"(< depth_min_points {config.min_points})")
    points = np.empty((z.size, 3), dtype=np.float32)  # (N, 3) x, y, z
    np.multiply(ray_x, z, out=points[:, 0])
    np.multiply(ray_y, z, out=points[:, 1])
    points[:, 2] = z
    finite = (np.abs(points) <= MAX_RANGE).all(axis=1)  # also False for NaN/inf (diverged undistortion)
    if not finite.all():
        points = points[finite]
    if len(points) < config.min_points:
        raise DepthError("depth_not_finite", f"{z.size - len(points)} of {z.size} target points are not finite or "
                         f"farther than {MAX_RANGE:g} m (intrinsics or distortion are wrong): no 3D")
    low, high = np.percentile(points, [config.extent_percentile, 100 - config.extent_percentile], axis=0)
    return Target3D(position=np.median(points, axis=0).astype(np.float64), extent=(high - low).astype(np.float64),
                    points=points)


def _eroded(mask: np.ndarray, pixels: int, stride: int = 1) -> np.ndarray:
    """``mask`` eroded by ``pixels`` in all 8 directions (a (2p+1)-square; outside counts as empty), read on the
    grid of every ``stride``-th row and column: (ceil(h / stride), ceil(w / stride)) bool.

    The same as ``ndimage.binary_erosion`` with a 3x3 square ``pixels`` times, then ``[::stride, ::stride]``, but
    only the sampled pixels' windows are read: two passes of 2p+1 strided ANDs.
    """
    if not pixels:
        return mask[::stride, ::stride]
    height, width = mask.shape
    rows, cols = -(-height // stride), -(-width // stride)  # sampled grid size
    padded = np.zeros((height + 2 * pixels, width + 2 * pixels), dtype=bool)
    padded[pixels:pixels + height, pixels:pixels + width] = mask
    span = 2 * pixels + 1
    vertical = np.logical_and.reduce([padded[d:d + (rows - 1) * stride + 1:stride] for d in range(span)])
    return np.logical_and.reduce([vertical[:, d:d + (cols - 1) * stride + 1:stride] for d in range(span)])


def _metres(depth: np.ndarray) -> np.ndarray:
    """float32 metres of float32 metres or uint16 millimetres (16UC1)."""
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) * np.float32(0.001)
    return depth


def locate_target(mask: np.ndarray, depth_msg, camera_info, config: DepthConfig,
                  box: tuple[float, float, float, float] | None = None) -> Target3D:
    """The target of one frame in 3D from its paired depth image and CameraInfo.

    Args:
        mask: (H, W) bool at the colour frame's resolution.
        depth_msg: sensor_msgs/Image 16UC1 or 32FC1 aligned to the colour frame.
        camera_info: sensor_msgs/CameraInfo of that image.
        config: estimation settings.
        box: the mask's inclusive pixel bounds (x_min, y_min, x_max, y_max), if known.

    Raises:
        DepthError: unusable depth, size mismatch, bad CameraInfo or too few valid points.
    """
    try:
        depth = image_to_array(depth_msg, DEPTH_ENCODINGS)  # a view: only the target's box is converted
    except ValueError as err:
        raise DepthError("bad_depth", f"depth image unusable: {err}") from None
    if depth.shape != mask.shape:
        raise DepthError("depth_size_mismatch", f"depth image {depth.shape[1]}x{depth.shape[0]} != colour frame "
                         f"{mask.shape[1]}x{mask.shape[0]}: publish depth aligned to the colour camera")
    intrinsics = intrinsics_from_camera_info(camera_info)
    if intrinsics.width and (intrinsics.height, intrinsics.width) != depth.shape:
        raise DepthError("camera_info_size_mismatch", f"CameraInfo is for {intrinsics.width}x{intrinsics.height}, "
                         f"depth image is {depth.shape[1]}x{depth.shape[0]}: use the aligned depth's camera_info")
    return target_from_depth(mask, depth, pixel_rays(intrinsics, *depth.shape), config, box)
