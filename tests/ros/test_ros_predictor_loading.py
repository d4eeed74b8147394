"""The node's model loading: the torch thread count it runs at."""

import pytest
import torch

from vatex_ros.node.params import NodeParams
from vatex_ros.node.predictor_loading import load_predictor


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 3])
def test_cpu_threads_sets_torch_threads(restore_threads, threads):
    load_predictor(NodeParams(cpu_threads=threads))
    assert torch.get_num_threads() == threads


def test_cpu_threads_0_keeps_torch_default(restore_threads):
    torch.set_num_threads(2)
    load_predictor(NodeParams(cpu_threads=0))
    assert torch.get_num_threads() == 2


def test_node_default_is_one_thread():
    assert NodeParams().cpu_threads == 1
