"""The node's model loading: the torch thread count it runs at (tests/conftest.py restores it)."""

import pytest
import torch

from vatex_ros.node.params import NodeParams
from vatex_ros.node.predictor_loading import load_predictor


@pytest.mark.parametrize("threads", [2, 3])  # not 1: the tests start at one thread
def test_cpu_threads_sets_torch_threads(threads):
    load_predictor(NodeParams(cpu_threads=threads))
    assert torch.get_num_threads() == threads


def test_cpu_threads_0_keeps_torch_default():
    torch.set_num_threads(2)
    load_predictor(NodeParams(cpu_threads=0))
    assert torch.get_num_threads() == 2


def test_node_default_is_one_thread():
    assert NodeParams().cpu_threads == 1


def test_parameters_reach_the_predictor_and_it_is_warmed_up(monkeypatch):
    """README: input_size and precision reach the predictor; score_threshold -1 is the weights' calibrated
    threshold (their manifest), another value is used as given; issue 32: the model is warmed up at load
    (configure) on a frame of compile_frame_size, so the first camera frame does not pay for the first call."""
    from vatex_core import Predictor
    from vatex_core.weights import calibrated_threshold

    warmed = []
    real_warmup = Predictor.warmup
    monkeypatch.setattr(Predictor, "warmup",
                        lambda self, size, **kw: warmed.append(size) or real_warmup(self, size, **kw))
    predictor = load_predictor(NodeParams(input_size=96, precision="bf16", compile_frame_size="64x48"))
    assert predictor.short_side == 96 and predictor.precision == "bf16"
    assert next(predictor.model.parameters()).dtype == torch.bfloat16
    assert predictor.found_threshold == calibrated_threshold() != 0.5  # the manifest's 0.6859, not a default
    assert warmed == [(48, 64)]
    assert load_predictor(NodeParams(score_threshold=0.25)).found_threshold == 0.25
