"""YUV 4:2:2 and 8-bit Bayer camera encodings to RGB uint8, in numpy (what cv_bridge does with OpenCV).

ROS names (sensor_msgs/image_encodings): ``yuv422`` and ``uyvy`` are UYVY (bytes U0 Y0 V0 Y1 per pixel
pair), ``yuv422_yuy2`` and ``yuyv`` are YUYV (Y0 U0 Y1 V0). Both are converted with ITU-R BT.601
limited range (Y 16..235, chroma 16..240 around 128), as OpenCV's ``COLOR_YUV2RGB_UYVY``/``_YUYV``.
``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8`` and ``bayer_grbg8`` name the colour filter of the
top-left 2x2 pixels; they are demosaiced bilinearly (each missing colour is the mean of its nearest
samples of that colour, edges mirrored).
"""

from __future__ import annotations

import numpy as np

# encoding -> (channels, dtype) as sensor_msgs/Image carries it: YUV 4:2:2 is 2 bytes a pixel, Bayer 1.
YUV422_LAYOUT = {"yuv422": "uyvy", "uyvy": "uyvy", "yuv422_yuy2": "yuyv", "yuyv": "yuyv"}
BAYER_PATTERNS = {"bayer_rggb8": "rggb", "bayer_bggr8": "bggr", "bayer_gbrg8": "gbrg", "bayer_grbg8": "grbg"}
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    **{name: (2, np.dtype(np.uint8)) for name in YUV422_LAYOUT},
    **{name: (1, np.dtype(np.uint8)) for name in BAYER_PATTERNS},
}

_KERNEL = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])  # bilinear weights of the 3x3 samples


def to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """RGB uint8 (H, W, 3) of a YUV 4:2:2 (H, W, 2) or Bayer (H, W) uint8 array.

    Raises:
        ValueError: unknown encoding, or a YUV image of odd width (chroma is shared by pixel pairs).
    """
    if encoding in YUV422_LAYOUT:
        return yuv422_to_rgb(pixels, YUV422_LAYOUT[encoding])
    if encoding in BAYER_PATTERNS:
        return bayer_to_rgb(pixels, BAYER_PATTERNS[encoding])
    raise ValueError(f"not a YUV 4:2:2 or Bayer encoding: {encoding!r}")


def yuv422_to_rgb(pixels: np.ndarray, layout: str) -> np.ndarray:
    """RGB uint8 (H, W, 3) of YUV 4:2:2 bytes viewed as (H, W, 2).

    Args:
        pixels: (H, W, 2) uint8; pixel pair k holds bytes ``U Y V Y`` (``uyvy``) or ``Y U Y V`` (``yuyv``).
        layout: ``uyvy`` or ``yuyv``.
    """
    height, width = pixels.shape[:2]
    if width % 2:
        raise ValueError(f"YUV 4:2:2 needs an even width, got {width}")
    luma_at, chroma_at = (1, 0) if layout == "uyvy" else (0, 1)
    y = pixels[..., luma_at].astype(np.float32)  # (H, W)
    chroma = pixels[..., chroma_at].astype(np.float32)  # (H, W): U on even pixels, V on odd ones
    u = np.repeat(chroma[:, 0::2], 2, axis=1) - 128.0  # (H, W), shared by each pixel pair
    v = np.repeat(chroma[:, 1::2], 2, axis=1) - 128.0
    luma = 1.164 * (y - 16.0)
    rgb = np.stack([luma + 1.596 * v, luma - 0.813 * v - 0.391 * u, luma + 2.018 * u], axis=-1)  # (H, W, 3)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def bayer_to_rgb(raw: np.ndarray, pattern: str) -> np.ndarray:
    """Bilinear demosaic of an 8-bit Bayer mosaic.

    Args:
        raw: (H, W) uint8, one colour sample a pixel.
        pattern: colours of the top-left 2x2 pixels, row by row: ``rggb``, ``bggr``, ``gbrg`` or ``grbg``.

    Returns:
        (H, W, 3) uint8; every pixel keeps its own sample and gets the other two colours interpolated.
    """
    height, width = raw.shape
    if height < 2 or width < 2:
        raise ValueError(f"a Bayer mosaic needs at least 2x2 pixels, got {width}x{height}")
    colour_of = np.empty((height, width), dtype="<U1")  # (H, W): which colour each pixel sampled
    for (dy, dx), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), pattern):
        colour_of[dy::2, dx::2] = colour
    samples = raw.astype(np.float32)
    channels = []
    for colour in "rgb":
        known = (colour_of == colour).astype(np.float32)  # (H, W)
        weighted, weights = _conv3x3(samples * known), _conv3x3(known)
        channels.append(np.where(known > 0, samples, weighted / weights))
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


def _conv3x3(plane: np.ndarray) -> np.ndarray:
    """``plane`` (H, W) correlated with :data:`_KERNEL`, edges mirrored (which keeps the 2x2 Bayer phase)."""
    padded = np.pad(plane, 1, mode="reflect")  # (H+2, W+2)
    height, width = plane.shape
    return sum(_KERNEL[dy, dx] * padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3))
