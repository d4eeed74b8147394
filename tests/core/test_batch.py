"""Several streams in one forward: Predictor.step_batch equals stepping each session alone."""

import numpy as np
import pytest

from vatex_core import Predictor

EXPRESSIONS = ["the red cup", "the big blue square on the far left", "circle", "the green triangle"]


@pytest.fixture(scope="module")
def predictor():
    return Predictor.from_pretrained()


def _frames(sizes):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (*size, 3), dtype=np.uint8) for size in sizes]


def _assert_same(one, batched):
    assert abs(one.score - batched.score) < 1e-5
    assert (one.mask == batched.mask).mean() > 0.999 and one.mask.shape == batched.mask.shape
    assert np.abs(one.heatmap - batched.heatmap).max() < 1e-5


def test_cameras_of_two_sizes_batched_equal_one_by_one(predictor):
    frames = _frames([(120, 160), (120, 160), (120, 160), (90, 100)])  # three share a forward, one alone
    sessions = [predictor.stream(expression) for expression in EXPRESSIONS]
    batched = predictor.step_batch(sessions, frames)
    for session, frame, result in zip(sessions, frames, batched):
        _assert_same(session.step(frame), result)


def test_expressions_on_one_frame_share_the_backbone(predictor):
    frame = _frames([(120, 160)])[0]
    sessions = [predictor.stream(expression) for expression in EXPRESSIONS]
    batched = predictor.step_batch(sessions, [frame] * len(sessions))
    for session, result in zip(sessions, batched):
        _assert_same(session.step(frame), result)
    assert len({result.mask.tobytes() for result in batched}) > 1, "different expressions, different masks"


def test_mismatched_inputs_are_clear_errors(predictor):
    sessions = [predictor.stream("the cup")]
    with pytest.raises(ValueError, match="1 sessions but 2 images"):
        predictor.step_batch(sessions, _frames([(32, 32), (32, 32)]))
    with pytest.raises(ValueError, match="belong to this predictor"):
        Predictor(predictor.model).step_batch(sessions, _frames([(32, 32)]))
