"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

Decoding always ends in RGB uint8 (H, W, 3), the model's input format. Messages are read
duck-typed (any object with the ROS field names: ours from :mod:`vatex_ros.messages.idl` or
rclpy's) and written as :mod:`vatex_ros.messages.idl` types. Pixels are not copied on the way in (received
``data`` is viewed, not copied) nor on the way out (``data`` views the array; serializing copies it once).
Malformed input raises ValueError with a message that says what is wrong.
"""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
from PIL import Image as PILImage

from vatex_ros.messages import color_conversion
from vatex_ros.messages.idl import CompressedImage, Header, Image
from vatex_ros.echo import shorten

# encoding -> (channels, numpy dtype of one channel)
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
    "mono8": (1, np.dtype(np.uint8)),
    "mono16": (1, np.dtype(np.uint16)),
    **color_conversion.ENCODINGS,  # YUV 4:2:2 and Bayer camera formats
}
COMPRESSED_FORMATS = ("jpeg", "png")


_PIL_WARNINGS = threading.Lock()  # warnings.catch_warnings changes process-wide state: one thread at a time


class ImageTooLarge(ValueError):
    """A frame has more pixels than the caller accepts (found from its header, before decoding)."""


def _open_compressed(data: bytes) -> PILImage.Image:
    """Pillow's lazy open (reads the header only) without its ``DecompressionBombWarning``.

    Callers check the size against their own limit (``max_input_pixels``) and report a frame that is too large in
    their own words, once; Pillow's raw warning beside that message (at 89.5 Mpixel, whatever the node's limit)
    read as a second, unexplained fault. Pillow's ``DecompressionBombError`` (twice its limit) still raises.
    """
    with _PIL_WARNINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        return PILImage.open(io.BytesIO(data))


def image_size(msg) -> tuple[int, int, str]:
    """``(width, height, kind)`` of a sensor_msgs/Image (kind ``raw``) or CompressedImage (``jpeg``/``png``), read
    from the header fields or the compressed file's header: nothing is decoded, so a decompression bomb is
    found before it costs memory.

    Raises:
        ImageTooLarge: beyond even Pillow's decompression-bomb limit.
        ValueError: not a JPEG/PNG, or no readable header.
    """
    if not hasattr(msg, "format"):
        return int(msg.width), int(msg.height), "raw"
    try:
        with _open_compressed(_as_uint8(msg.data).tobytes()) as img:  # lazy: reads the header only
            kind = (img.format or "").lower()
            width, height = img.size
    except PILImage.DecompressionBombError as err:
        raise ImageTooLarge(f"compressed frame rejected before decoding: {err}") from None
    except (OSError, SyntaxError) as err:
        raise ValueError(f"cannot read the {shorten(repr(msg.format))} header: {err}") from None
    if kind not in COMPRESSED_FORMATS:
        raise ValueError(f"compressed data is {kind or 'unknown'}, not jpeg/png")
    return width, height, kind


def image_to_array(msg, encodings: dict[str, tuple[int, np.dtype]] = ENCODINGS) -> np.ndarray:
    """Pixels of a sensor_msgs/Image in their own encoding, row padding removed.

    No copy where none is needed: for native byte order the result is a (strided, possibly read-only) view of
    ``msg.data``; a big-endian 16-bit image is byte-swapped into a new array.

    Args:
        msg: sensor_msgs/Image with one of ``encodings``.
        encodings: the accepted encodings (default :data:`ENCODINGS`; depth images pass their own).

    Returns:
        (H, W, C) array for colour encodings, (H, W) for mono; dtype uint8 or native uint16/float32.

    Raises:
        ValueError: unknown encoding, zero size, step too small, or data size != step * height.
    """
    if msg.encoding not in encodings:
        raise ValueError(f"unsupported image encoding {shorten(repr(msg.encoding))}; expected one of "
                         f"{sorted(encodings)}")
    channels, dtype = encodings[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ValueError(f"empty image: {width}x{height}")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(f"step {step} is smaller than width*bytes_per_pixel = {row_bytes} ({msg.encoding})")
    data = _as_uint8(msg.data)
    if len(data) < step * height:
        raise ValueError(f"truncated image data: {len(data)} bytes, expected step*height = {step * height}")
    if len(data) > step * height:
        raise ValueError(f"image data size {len(data)} != step*height = {step * height}")
    rows = data.reshape(height, step)[:, :row_bytes]  # (H, row_bytes), a view
    pixels = rows.view(dtype.newbyteorder(">" if msg.is_bigendian else "<"))  # (H, W*C), a view
    if pixels.dtype != dtype:  # other byte order than this machine's
        pixels = pixels.astype(dtype)
    return pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)


def _as_uint8(data) -> np.ndarray:
    """A ``uint8[]`` field as a flat uint8 array: bytes, memoryview, array.array (rclpy) without copy; lists of int.

    Raises:
        ValueError: a list value outside [0, 255].
    """
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:  # a list of int, as cyclonedds' generic codec decodes sequence<uint8>
        return np.frombuffer(bytes(data), dtype=np.uint8)  # ~3x faster than np.asarray(list) for a frame


def array_to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Convert pixels in ``encoding`` to RGB uint8 (H, W, 3); mono16 keeps its 8 high bits."""
    if encoding in color_conversion.ENCODINGS:
        return color_conversion.to_rgb(pixels, encoding)
    if encoding in ("rgb8", "rgba8"):
        return np.ascontiguousarray(pixels[..., :3])
    if encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[..., 2::-1])
    if encoding == "mono8":
        return np.repeat(pixels[..., None], 3, axis=2)
    if encoding == "mono16":
        return np.repeat((pixels >> 8).astype(np.uint8)[..., None], 3, axis=2)
    raise ValueError(f"unsupported image encoding {encoding!r}")


def array_to_image(pixels: np.ndarray, encoding: str, header: Header,
                   encodings: dict[str, tuple[int, np.dtype]] = ENCODINGS) -> Image:
    """Build a sensor_msgs/Image (no row padding, little endian) from pixels in ``encoding``.

    The message's ``data`` is a read-only view of ``pixels`` when they are already C-contiguous little endian
    (else of a converted copy): serializing it is the one copy of the pixels, so leave ``pixels`` unchanged
    while the message is in use.

    Args:
        pixels: (H, W, C) or (H, W) array whose channels and dtype fit ``encoding``.
        encoding: one of ``encodings``.
        header: used as is (no copy), so outputs carry the source frame's exact header.
        encodings: the accepted encodings (default :data:`ENCODINGS`; depth images pass their own).
    """
    if encoding not in encodings:
        raise ValueError(f"unsupported image encoding {encoding!r}")
    channels, dtype = encodings[encoding]
    expected = pixels.shape[:2] + ((channels,) if channels > 1 else ())
    if pixels.ndim not in (2, 3) or pixels.shape != expected or pixels.dtype != dtype:
        raise ValueError(f"{encoding} needs a {dtype} array with {channels} channel(s), "
                         f"got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    return Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
                 step=width * channels * dtype.itemsize, data=octets(pixels.astype(dtype.newbyteorder("<"),
                                                                                  copy=False)))


def octets(array: np.ndarray) -> memoryview:
    """The bytes of ``array`` in C order as a flat read-only memoryview (``uint8[]`` field value); no copy
    when ``array`` is C-contiguous."""
    return memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8)).toreadonly()


def mask_to_image(mask: np.ndarray, header: Header) -> Image:
    """A boolean (H, W) mask as sensor_msgs/Image mono8 with values 0/255 and the given header."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    return array_to_image(np.multiply(mask, np.uint8(255), dtype=np.uint8), "mono8", header)  # one pass, uint8


def compressed_to_rgb(msg, max_pixels: int | None = None) -> np.ndarray:
    """Decode a JPEG or PNG sensor_msgs/CompressedImage to RGB uint8 (H, W, 3).

    ``format`` may be plain (``"jpeg"``) or image_transport style (``"bgr8; jpeg compressed bgr8"``).
    A JPEG with more than ``max_pixels`` is decoded at the largest of 1/2, 1/4, 1/8 scale that fits
    (libjpeg's draft mode: the cost shrinks with the scale); check sizes with :func:`image_size` first.

    Raises:
        ValueError: unknown format, empty or undecodable data.
    """
    fmt = msg.format.lower()
    if not any(name in fmt for name in COMPRESSED_FORMATS):
        raise ValueError(f"unsupported compressed format {shorten(repr(msg.format))}; expected jpeg or png")
    data = _as_uint8(msg.data).tobytes()
    if not data:
        raise ValueError("empty compressed image data")
    try:
        with _open_compressed(data) as img:
            if img.format is None or img.format.lower() not in ("jpeg", "png"):
                raise ValueError(f"compressed data is {img.format}, not jpeg/png")
            if max_pixels and img.format == "JPEG" and img.width * img.height > max_pixels:
                scale = (max_pixels / (img.width * img.height)) ** 0.5
                img.draft("RGB", (int(img.width * scale), int(img.height * scale)))  # >= requested; at most 1/8
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, SyntaxError) as err:  # Pillow's errors for truncated/corrupt files
        raise ValueError(f"cannot decode {shorten(repr(msg.format))} image: {err}") from err
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError("decoded image is empty")
    return rgb


def rgb_to_compressed(rgb: np.ndarray, fmt: str, header: Header, quality: int = 90) -> CompressedImage:
    """Encode RGB uint8 (H, W, 3) as a JPEG or PNG sensor_msgs/CompressedImage."""
    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"unsupported compressed format {fmt!r}; expected one of {COMPRESSED_FORMATS}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format=fmt.upper(), **({"quality": quality} if fmt == "jpeg" else {}))
    return CompressedImage(header=header, format=fmt, data=buffer.getvalue())


def msg_to_rgb(msg, max_pixels: int | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a sensor_msgs/Image or sensor_msgs/CompressedImage (``max_pixels``: see
    :func:`compressed_to_rgb`)."""
    if hasattr(msg, "format"):
        return compressed_to_rgb(msg, max_pixels)
    return array_to_rgb(image_to_array(msg), msg.encoding)
