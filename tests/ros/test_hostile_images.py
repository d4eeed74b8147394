"""Decompression bombs and huge raw frames: sizes checked from the header, before decoding (issue 14, finding 2)."""

import io
import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage
from ros_fakes import FakePredictor, frame_msg, scene

from vatex_ros.messages import images
from vatex_ros.messages.idl import CompressedImage
from vatex_ros.node import core as core_module
from vatex_ros.node.core import NodeCore
from vatex_ros.node.params import NodeParams


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (the pixel data is one empty IDAT): a decoder would need
    width * height * 3 bytes, the header check needs none."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.full((height, width, 3), (255, 0, 0), np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def core():
    clock = lambda: 1000.0  # noqa: E731
    node = NodeCore(FakePredictor(), NodeParams(found_after=1, max_input_pixels=65_536), lambda r: None,
                    clock=clock, monotonic=clock)
    node.set_expression("red")
    return node


def _step(core, msg):
    core.submit_frame(msg)
    return core.step()


@pytest.mark.parametrize("size", [(10_000, 10_000), (20_000, 20_000), (300, 300)])
def test_oversized_png_is_refused_without_decoding(core, size, monkeypatch, caplog):
    decoded = []
    monkeypatch.setattr(core_module, "msg_to_rgb", lambda *a, **k: decoded.append(1))
    msg = CompressedImage(header=frame_msg(scene(), stamp=1000.0).header, format="png", data=png_header_only(*size))
    with caplog.at_level(logging.WARNING):
        assert _step(core, msg) is None
    assert not decoded and core.diagnostics.counts()["image_too_large"] == 1
    assert "max_input_pixels" in caplog.text or "decompression" in caplog.text.lower()


def test_oversized_raw_frame_is_refused(core):
    msg = frame_msg(np.zeros((300, 300, 3), np.uint8), stamp=1000.0)
    assert _step(core, msg) is None and core.diagnostics.counts()["image_too_large"] == 1
    assert _step(core, frame_msg(scene(), stamp=1000.0)) is not None  # a normal frame still passes


def test_large_jpeg_is_decoded_downscaled_in_draft_mode(core):
    msg = CompressedImage(header=frame_msg(scene(), stamp=1000.0).header, format="jpeg", data=_jpeg(512, 512))
    result = _step(core, msg)
    assert result is not None and result.mask.shape == (256, 256)  # 1/2 scale: 65,536 pixels fit
    assert core.diagnostics.counts()["image_downscaled"] == 1


def test_jpeg_beyond_draft_range_is_refused(core):
    msg = CompressedImage(header=frame_msg(scene(), stamp=1000.0).header, format="jpeg", data=_jpeg(2400, 2400))
    assert _step(core, msg) is None and core.diagnostics.counts()["image_too_large"] == 1  # 1/8 is 90,000 > 65,536


def test_image_size_reads_only_the_header():
    msg = CompressedImage(format="png", data=png_header_only(12_345, 6_789))
    assert images.image_size(msg) == (12_345, 6_789, "png")
    with pytest.raises(ValueError):
        images.image_size(CompressedImage(format="png", data=b"not a png"))


@pytest.mark.parametrize("limit", [65_536, 200_000_000], ids=["refused_by_max_input_pixels", "decoded"])
def test_pil_decompression_bomb_warning_goes_through_the_node_message_only(limit, caplog):
    """issue 32: a PNG of 10000x10000 (above Pillow's own 89.5 Mpixel warning limit): the node reports it in its own
    words, once; Pillow's raw DecompressionBombWarning does not reach the log beside it."""
    import warnings

    clock = lambda: 1000.0  # noqa: E731
    core = NodeCore(FakePredictor(), NodeParams(found_after=1, max_input_pixels=limit), lambda r: None,
                    clock=clock, monotonic=clock)
    core.set_expression("red")
    msg = CompressedImage(header=frame_msg(scene(), stamp=1000.0).header, format="png",
                          data=png_header_only(10_000, 10_000))
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        assert _step(core, msg) is None
    assert not [w for w in caught if issubclass(w.category, PILImage.DecompressionBombWarning)]
    kind = "image_too_large" if limit < 10_000 * 10_000 else "bad_image"  # decoded: the empty pixel data is bad
    assert core.diagnostics.counts()[kind] == 1 and len(caplog.records) == 1 and kind in caplog.text
