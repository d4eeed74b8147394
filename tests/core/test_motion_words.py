"""The motion words of an expression: the lexicon the motion logit reads instead of learnt word weights."""

import pytest
import torch

from training.synthetic.language import MOTIONS, SPEEDS
from vatex_core.motion_words import MOTION_REQUESTS, motion_request, motion_requests


def _asked(expression: str) -> set[str]:
    return {name for name, flag in zip(MOTION_REQUESTS, motion_request(expression)) if flag}


@pytest.mark.parametrize(("expression", "asked"), [
    ("the red circle moving left", {"left"}),
    ("the blue square moving to the right", {"right"}),
    ("the star that is heading up", {"up"}),
    ("the green ring drifting downwards", {"down"}),
    ("the yellow triangle that is moving", {"moving"}),
    ("the blue square that is not moving", {"still"}),
    ("the cup that isn't moving", {"still"}),
    ("the stationary box", {"still"}),
    ("the ball that is still moving", {"moving"}),  # "still" as "yet"
    ("the fastest green star", {"fastest"}),
    ("the slowest red shape that is moving", {"slowest", "moving"}),
    ("the circle on the left", set()),  # a place, not a motion
    ("the big striped square above the ring", set()),
    ("THE RED CIRCLE   MOVING LEFT", {"left"}),
])
def test_the_lexicon_reads_what_an_expression_asks_of_motion(expression, asked):
    assert _asked(expression) == asked


def test_every_motion_phrase_of_the_generator_asks_what_it_names():
    """The training grammar's phrases (and so the independent renderer's, which uses the same five forms)."""
    for key, phrase in MOTIONS.items():
        assert _asked(f"the red circle {phrase}") == {key}
    for speed in SPEEDS:
        assert _asked(f"the {speed} red circle") == {speed}


def test_requests_of_a_batch_are_one_row_each():
    requests = motion_requests(["the red circle moving left", "the red circle"])
    assert requests.shape == (2, len(MOTION_REQUESTS)) and requests.dtype == torch.float32
    assert requests.sum(1).tolist() == [1.0, 0.0]
    assert motion_requests([]).shape == (0, len(MOTION_REQUESTS))
