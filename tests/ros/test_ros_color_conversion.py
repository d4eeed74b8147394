"""YUV 4:2:2 and Bayer camera encodings to RGB, through the node's image decoding, with known pixel values."""

import numpy as np
import pytest

from vatex_ros.messages.idl import Image
from vatex_ros.messages.images import msg_to_rgb

# BT.601 limited range: (Y, U, V) -> RGB
WHITE, BLACK, GREY, RED = (235, 128, 128), (16, 128, 128), (126, 128, 128), (81, 90, 240)


def _yuv_msg(pairs: list[tuple], encoding: str) -> Image:
    """One row of pixel pairs, each pair one (Y, U, V) colour for both pixels, in the encoding's byte order."""
    row = []
    for y, u, v in pairs:
        row += [u, y, v, y] if encoding in ("yuv422", "uyvy") else [y, u, y, v]
    return Image(height=1, width=2 * len(pairs), encoding=encoding, step=len(row), data=bytes(row))


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422_known_colours(encoding):
    rgb = msg_to_rgb(_yuv_msg([WHITE, BLACK, GREY, RED], encoding))
    assert rgb.shape == (1, 8, 3) and rgb.dtype == np.uint8
    assert rgb[0, :2].tolist() == [[255, 255, 255]] * 2
    assert rgb[0, 2:4].tolist() == [[0, 0, 0]] * 2
    assert rgb[0, 4:6].tolist() == [[128, 128, 128]] * 2
    assert np.abs(rgb[0, 6].astype(int) - [255, 0, 0]).max() <= 1


def test_yuv422_byte_orders_differ():
    """The same bytes read as UYVY and as YUYV are different pictures (the layouts are not mixed up)."""
    msg = _yuv_msg([RED], "uyvy")
    as_yuyv = Image(height=1, width=2, encoding="yuyv", step=4, data=msg.data)
    assert msg_to_rgb(msg)[0, 0].tolist() != msg_to_rgb(as_yuyv)[0, 0].tolist()


def test_yuv422_odd_width_is_rejected():
    with pytest.raises(ValueError, match="even width"):
        msg_to_rgb(Image(height=1, width=3, encoding="uyvy", step=6, data=bytes(6)))


def _mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """The Bayer samples a camera with ``pattern`` records of ``rgb`` (H, W, 3)."""
    raw = np.empty(rgb.shape[:2], np.uint8)
    for (dy, dx), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), pattern):
        raw[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(colour)]
    return raw


def _bayer_msg(raw: np.ndarray, pattern: str) -> Image:
    return Image(height=raw.shape[0], width=raw.shape[1], encoding=f"bayer_{pattern}8", step=raw.shape[1],
                 data=raw.tobytes())


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_uniform_colour_is_recovered_everywhere(pattern):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[...] = (200, 100, 50)
    out = msg_to_rgb(_bayer_msg(_mosaic(rgb, pattern), pattern))
    assert out.shape == (6, 8, 3) and (out == (200, 100, 50)).all()


def test_bayer_rggb_bilinear_values():
    raw = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10  # R at (even, even), B at (odd, odd)
    out = msg_to_rgb(_bayer_msg(raw, "rggb"))
    # (1, 1) is a B sample: R from its 4 diagonal R samples, G from its 4 edge neighbours.
    assert out[1, 1].tolist() == [np.mean([0, 20, 80, 100]), np.mean([10, 40, 60, 90]), 50]
    # (1, 2) is a G sample on a B row: R from above and below, B from left and right.
    assert out[1, 2].tolist() == [np.mean([20, 100]), 60, np.mean([50, 70])]
    assert out[0, 0].tolist()[0] == 0  # every pixel keeps its own sample
