"""Temporal logic of the node core, with a fake predictor and a fake clock."""

import threading
import time

import numpy as np
import pytest
from ros_fakes import FakePredictor, frame_msg, scene, wait_until

from vatex_ros.node.core import NodeCore
from vatex_ros.node.params import NodeParams


def make_core(predictor, clock, **params):
    results, expressions = [], []
    core = NodeCore(predictor, NodeParams.from_dict(params), results.append, expressions.append,
                    clock=clock, monotonic=clock)
    return core, results, expressions


def test_result_copies_header_and_segments_named_colour(fake_predictor, fake_clock):
    core, results, expressions = make_core(fake_predictor, fake_clock, found_after=1)
    core.set_expression("the red block")
    msg = frame_msg(scene(), stamp=fake_clock.now - 0.1, frame_id="cam")
    result = core.step()
    assert result is None and expressions == ["the red block"]  # expression before any frame is fine
    core.submit_frame(msg)
    result = core.step()
    assert result.header is msg.header and result.found and result.expression == "the red block"
    assert result.mask.shape == (48, 64) and result.area == 100
    assert result.box == (5.0, 10.0, 14.0, 19.0) and result.centroid == (9.5, 14.5)
    assert results == [result]


def test_text_features_computed_once_per_expression(fake_predictor, fake_clock):
    core, _, _ = make_core(fake_predictor, fake_clock)
    core.set_expression("red one")
    for _ in range(5):
        core.submit_frame(frame_msg(scene()))
        core.step()
    core.set_expression("blue one")
    core.submit_frame(frame_msg(scene()))
    core.step()
    assert fake_predictor.streams == ["red one", "blue one"] and len(fake_predictor.frames) == 6


def test_newest_frame_wins(fake_predictor, fake_clock):
    core, results, _ = make_core(fake_predictor, fake_clock)
    core.set_expression("red")
    msgs = [frame_msg(scene(), frame_id=f"f{i}") for i in range(3)]
    for msg in msgs:
        core.submit_frame(msg)
    core.step()
    assert [r.header.frame_id for r in results] == ["f2"] and core.step() is None
    assert core.diagnostics.counts()["frames_replaced"] == 2


def test_stale_frames_are_skipped_by_stamp_age(fake_predictor, fake_clock):
    core, results, _ = make_core(fake_predictor, fake_clock, max_frame_age=0.5)
    core.set_expression("red")
    core.submit_frame(frame_msg(scene(), stamp=fake_clock.now - 0.6))
    assert core.step() is None and core.diagnostics.counts()["frame_too_old"] == 1
    core.submit_frame(frame_msg(scene(), stamp=fake_clock.now - 0.4))
    assert core.step() is not None
    core.submit_frame(frame_msg(scene(), stamp=0.0))  # unstamped: age unknown, processed
    assert core.step() is not None
    core.update_params(core.params.replace(max_frame_age=0.0))  # 0 disables the check
    core.submit_frame(frame_msg(scene(), stamp=fake_clock.now - 100))
    assert core.step() is not None


def test_found_lost_hysteresis_and_score_smoothing(fake_predictor, fake_clock):
    core, _, _ = make_core(fake_predictor, fake_clock, found_after=2, lost_after=3, score_smoothing=0.5,
                           score_threshold=0.4)
    core.set_expression("red")
    with_red, without_red = scene(), np.full((48, 64, 3), 128, np.uint8)
    found, scores = [], []
    for rgb in [with_red] * 3 + [without_red] * 4 + [with_red] * 2:
        core.submit_frame(frame_msg(rgb))
        result = core.step()
        found.append(result.found)
        scores.append(round(result.score, 4))
        assert result.found or not result.mask.any()  # no mask is published while not found
    assert found == [False, True, True, True, True, False, False, False, True]
    assert scores[:5] == [0.9, 0.9, 0.9, 0.475, 0.2625]  # EMA with weight 0.5 on the newest score


def test_new_expression_resets_tracking_and_switches_target(fake_predictor, fake_clock):
    core, _, expressions = make_core(fake_predictor, fake_clock, found_after=1)
    core.set_expression("red")
    core.submit_frame(frame_msg(scene()))
    red = core.step()
    core.set_expression("blue")
    core.submit_frame(frame_msg(scene()))
    blue = core.step()
    assert expressions == ["red", "blue"] and blue.expression == "blue"
    assert red.box == (5.0, 10.0, 14.0, 19.0) and blue.box == (40.0, 25.0, 59.0, 39.0)


def test_re_sent_active_expression_changes_nothing(fake_predictor, fake_clock):
    """`ros2 topic pub /vatex/expression ...` repeats the message at 1 Hz: found must not flicker."""
    core, _, expressions = make_core(fake_predictor, fake_clock, found_after=2, lost_after=3)
    found = []
    for i in range(8):
        if i % 2 == 0:
            assert core.set_expression("  the red block ")  # the same text, normalised
        core.submit_frame(frame_msg(scene()))
        found.append(core.step().found)
    assert found == [False, True, True, True, True, True, True, True]
    assert fake_predictor.streams == ["the red block"] and expressions == ["the red block"]
    core.set_expression("blue")  # a different text still switches, and back again
    core.set_expression("the red block")  # replaced before the worker saw "blue": nothing changes
    core.submit_frame(frame_msg(scene()))
    assert core.step().found and fake_predictor.streams == ["the red block"]
    core.set_expression("blue")
    core.submit_frame(frame_msg(scene()))
    assert not core.step().found and expressions == ["the red block", "blue"]


def test_frames_reach_the_predictor_at_full_size(fake_predictor, fake_clock):
    # Resizing for the model is the predictor's job (it returns the mask at the frame's size).
    core, _, _ = make_core(fake_predictor, fake_clock, found_after=1)
    core.set_expression("red")
    big = np.kron(scene(), np.ones((2, 2, 1), np.uint8))  # 96 x 128
    core.submit_frame(frame_msg(big))
    result = core.step()
    assert fake_predictor.frames == [(96, 128, 3)] and result.mask.shape == (96, 128)


def test_expression_updates_never_wait_for_a_running_frame(fake_clock):
    predictor = FakePredictor(delay=0.5)
    core, results, expressions = make_core(predictor, fake_clock)
    core.start()
    try:
        core.set_expression("red")
        assert wait_until(lambda: expressions == ["red"], timeout=5)
        core.submit_frame(frame_msg(scene()))
        assert wait_until(lambda: predictor.frames, timeout=5)  # inference now running
        started = time.monotonic()
        core.set_expression("blue")
        assert time.monotonic() - started < 0.05
        assert wait_until(lambda: expressions == ["red", "blue"] and len(results) == 1, timeout=5)
    finally:
        core.stop()
    assert not any(t.name == "vatex-inference" for t in threading.enumerate())


@pytest.mark.parametrize("raw, expected", [("  the   red\tcup \n", "the red cup"),
                                           (b"la tasse rouge \xc3\xa9", "la tasse rouge é")])
def test_expression_normalised(fake_predictor, fake_clock, raw, expected):
    core, _, expressions = make_core(fake_predictor, fake_clock)
    assert core.set_expression(raw)
    core.step()
    assert expressions == [expected]


def test_frames_reach_the_stream_with_their_stamps_and_memory_resets_are_counted(fake_predictor, fake_clock):
    core, results, _ = make_core(fake_predictor, fake_clock, found_after=1, memory_max_gap=0.5)
    core.set_expression("the red block")
    for offset in (-0.3, -0.2, -0.25):  # the third frame goes back in time: a bag played in a loop
        core.submit_frame(frame_msg(scene(), stamp=fake_clock.now + offset))
        core.step()
    session = fake_predictor.sessions[-1]
    assert session.stamps == pytest.approx([fake_clock.now - 0.3, fake_clock.now - 0.2, fake_clock.now - 0.25])
    assert session.max_gap == 0.5 and core.diagnostics.counts()["memory_resets_stamp_backwards"] == 1
    assert [r.target_id for r in results] == [1, 1, 2]  # after the reset the stream follows a new object
    core.set_expression("the blue block")
    core.submit_frame(frame_msg(scene(), stamp=fake_clock.now - 0.1))
    core.step()
    assert core.diagnostics.counts()["memory_resets_expression"] == 1


def test_target_id_is_published_only_while_found(fake_predictor, fake_clock):
    core, results, _ = make_core(fake_predictor, fake_clock, found_after=1, lost_after=1)
    core.set_expression("the red block")
    core.submit_frame(frame_msg(scene(), stamp=fake_clock.now - 0.1))
    core.step()
    core.submit_frame(frame_msg(np.zeros((48, 64, 3), np.uint8), stamp=fake_clock.now - 0.05))
    core.step()
    assert [(r.found, r.target_id) for r in results] == [(True, 1), (False, 0)]


def test_memory_max_gap_change_reaches_the_running_stream(fake_predictor, fake_clock):
    core, _, _ = make_core(fake_predictor, fake_clock)
    core.set_expression("the red block")
    core.submit_frame(frame_msg(scene(), stamp=fake_clock.now - 0.1))
    core.step()
    core.update_params(NodeParams.from_dict({"memory_max_gap": 2.5}))
    assert fake_predictor.sessions[-1].max_gap == 2.5
