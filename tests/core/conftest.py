import pytest
import torch

from vatex_core import build_vatex, preset


@pytest.fixture(scope="session")
def tiny_model():
    """A randomly initialised tiny VATEX in eval mode (tests must not change its weights)."""
    torch.manual_seed(0)
    return build_vatex(preset("tiny")).eval()


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny model gains nothing from more, and shared CPUs thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
