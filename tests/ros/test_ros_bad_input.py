"""Bad input never kills the core: each kind is warned about (rate-limited), counted, and service goes on."""

import logging

import pytest
from ros_fakes import FakePredictor, frame_msg, scene

from vatex_ros.messages.idl import CompressedImage
from vatex_ros.node.core import NodeCore
from vatex_ros.node.params import NodeParams


@pytest.fixture
def core(fake_clock):
    results = []
    node = NodeCore(FakePredictor(), NodeParams(found_after=1, warn_interval=10.0), results.append,
                    clock=fake_clock, monotonic=fake_clock)
    node.results = results
    return node


def _serves(core) -> bool:
    """The core still produces a result for a good frame with a good expression."""
    core.set_expression("red")
    core.submit_frame(frame_msg(scene()))
    return core.step() is not None and core.results[-1].found


def _malformed(kind: str):
    msg = frame_msg(scene())
    if kind == "wrong_step":
        msg.step = 10
    elif kind == "size_mismatch":
        msg.data = bytes(msg.data) + b"\x00"
    elif kind == "unknown_encoding":
        msg.encoding = "nv12"
    elif kind == "truncated":
        msg.data = msg.data[:100]
    elif kind == "zero_size":
        msg.width = 0
    elif kind == "bad_jpeg":
        msg = CompressedImage(header=msg.header, format="jpeg", data=b"\xff\xd8garbage")
    return msg


@pytest.mark.parametrize("kind", ["wrong_step", "size_mismatch", "unknown_encoding", "truncated", "zero_size",
                                  "bad_jpeg"])
def test_malformed_images(core, kind, caplog):
    core.set_expression("red")
    core.submit_frame(_malformed(kind))
    assert core.step() is None
    assert core.diagnostics.counts()["bad_image"] == 1 and "frame skipped" in caplog.text
    assert _serves(core)


@pytest.mark.parametrize("raw, counter", [("", "expression_empty"), ("  \t\n", "expression_empty"),
                                          (b"\xff\xfe red", "expression_not_utf8")])
def test_rejected_expressions_keep_the_active_one(core, raw, counter):
    core.set_expression("red")
    core.step()
    assert not core.set_expression(raw)
    assert core.diagnostics.counts()[counter] == 1
    core.submit_frame(frame_msg(scene()))
    assert core.step().expression == "red"


def test_huge_expression_is_truncated(core):
    assert core.set_expression("red " * 1000)
    core.step()
    assert len(core.active_expressions()[0]) == 1000 and core.diagnostics.counts()["expression_truncated"] == 1
    assert _serves(core)


def test_frame_before_any_expression(core):
    core.submit_frame(frame_msg(scene()))
    assert core.step() is None and core.diagnostics.counts()["frame_without_expression"] == 1
    assert _serves(core)


def test_model_failure_is_survived(core, monkeypatch):
    core.set_expression("red")
    core.step()
    monkeypatch.setattr(core.predictor.sessions[-1], "step", lambda image, stamp=None: 1 / 0)
    core.submit_frame(frame_msg(scene()))
    assert core.step() is None and core.diagnostics.counts()["inference_error"] == 1
    monkeypatch.undo()  # the model works again: the same session goes on (re-sending "red" changes nothing)
    assert _serves(core)


def test_burst_of_1000_is_bounded_and_warnings_rate_limited(core, caplog):
    caplog.set_level(logging.WARNING)
    core.set_expression("red")
    for i in range(1000):
        core.submit_frame(_malformed("wrong_step") if i % 2 else frame_msg(scene()))
        core.set_expression("" if i % 3 == 0 else f"red {i}")
        if i % 100 == 99:
            core.step()  # the worker only ever sees the newest frame
    counts = core.diagnostics.counts()
    assert counts["frames_in"] == 1000 and counts["frames_replaced"] == 990
    assert counts["expression_empty"] == 334 and counts["bad_image"] == 10
    assert len([r for r in caplog.records if "expression_empty" in r.getMessage()]) == 1  # fake clock stands still
    assert _serves(core)
