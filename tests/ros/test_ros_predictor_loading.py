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
