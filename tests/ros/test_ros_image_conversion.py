"""Image <-> numpy conversion: every encoding, padding, endianness, compression and malformed input."""

import numpy as np
import pytest

from vatex_ros.messages import color_conversion
from vatex_ros.messages import images as ic
from vatex_ros.messages.idl import CompressedImage, Header, Image, Time

HEADER = Header(stamp=Time(sec=12, nanosec=345), frame_id="camera_optical")
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
PLAIN_ENCODINGS = sorted(set(ic.ENCODINGS) - set(color_conversion.ENCODINGS))  # YUV/Bayer: test_ros_color_conversion


def _pixels(encoding: str) -> np.ndarray:
    return {
        "rgb8": RGB, "bgr8": RGB[..., ::-1], "mono8": RGB[..., 0],
        "rgba8": np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)]),
        "bgra8": np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 9, np.uint8)]),
        "mono16": RGB[..., 0].astype(np.uint16) * 257,
    }[encoding]


@pytest.mark.parametrize("encoding", PLAIN_ENCODINGS)
def test_roundtrip_and_rgb(encoding):
    pixels = _pixels(encoding)
    msg = ic.array_to_image(pixels, encoding, HEADER)
    assert msg.header is HEADER and (msg.height, msg.width) == (5, 7)
    np.testing.assert_array_equal(ic.image_to_array(msg), pixels)
    expected = np.repeat(RGB[..., :1], 3, axis=2) if encoding.startswith("mono") else RGB
    np.testing.assert_array_equal(ic.msg_to_rgb(msg), expected)


@pytest.mark.parametrize("encoding", PLAIN_ENCODINGS)
def test_row_padding_is_skipped(encoding):
    msg = ic.array_to_image(_pixels(encoding), encoding, HEADER)
    pad = 5
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)
    padded = np.hstack([rows, np.full((msg.height, pad), 77, np.uint8)])
    msg = Image(header=HEADER, height=msg.height, width=msg.width, encoding=encoding, step=msg.step + pad,
                data=padded.tobytes())
    np.testing.assert_array_equal(ic.image_to_array(msg), _pixels(encoding))


def test_mono16_big_endian():
    values = np.array([[1, 256, 65535]], dtype=np.uint16)
    msg = Image(height=1, width=3, encoding="mono16", is_bigendian=1, step=6, data=values.astype(">u2").tobytes())
    np.testing.assert_array_equal(ic.image_to_array(msg), values)


def test_mask_is_mono8_0_255_with_source_header():
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    msg = ic.mask_to_image(mask, HEADER)
    assert msg.encoding == "mono8" and msg.header is HEADER and msg.step == 6
    assert set(np.frombuffer(msg.data, np.uint8).tolist()) == {0, 255}


@pytest.mark.parametrize("fmt", ic.COMPRESSED_FORMATS)
def test_compressed_roundtrip(fmt):
    smooth = np.kron(RGB[:2, :2], np.ones((16, 16, 1), np.uint8))  # blocky image JPEG keeps well
    msg = ic.rgb_to_compressed(smooth, fmt, HEADER)
    decoded = ic.msg_to_rgb(msg)
    assert decoded.shape == smooth.shape and decoded.dtype == np.uint8
    error = np.abs(decoded.astype(int) - smooth)
    assert error.max() == 0 if fmt == "png" else error.mean() < 8  # JPEG: lossy, chroma subsampled


def test_image_transport_format_string_is_accepted():
    msg = ic.rgb_to_compressed(RGB, "png", HEADER)
    msg.format = "rgb8; png compressed rgb8"
    np.testing.assert_array_equal(ic.msg_to_rgb(msg), RGB)


def _good() -> Image:
    return ic.array_to_image(RGB, "rgb8", HEADER)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"encoding": "nv12"}, "unsupported image encoding"),
        ({"width": 0}, "empty image"),
        ({"height": 0}, "empty image"),
        ({"step": 20}, "step 20 is smaller"),
        ({"data": bytes(104)}, "truncated image data"),
        ({"data": bytes(106)}, "data size 106 != step"),
        ({"height": 6}, "truncated image data"),
        ({"data": b""}, "truncated image data"),
    ],
)
def test_malformed_raw_images_raise_value_error(change, message):
    msg = _good()
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ValueError, match=message):
        ic.msg_to_rgb(msg)


@pytest.mark.parametrize(
    "fmt, data, message",
    [
        ("tiff", b"xx", "unsupported compressed format"),
        ("jpeg", b"", "empty compressed image data"),
        ("jpeg", b"not a jpeg at all", "cannot decode"),
        ("png", ic.rgb_to_compressed(RGB, "png", HEADER).data[:40], "cannot decode"),
    ],
)
def test_malformed_compressed_images_raise_value_error(fmt, data, message):
    with pytest.raises(ValueError, match=message):
        ic.msg_to_rgb(CompressedImage(format=fmt, data=data))


def test_array_to_image_rejects_wrong_shape():
    with pytest.raises(ValueError, match="rgb8 needs"):
        ic.array_to_image(RGB[..., 0], "rgb8", HEADER)
