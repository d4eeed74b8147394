import pytest
import torch

from vatex_core import build_vatex, preset


@pytest.fixture(scope="session")
def tiny_model():
    """A randomly initialised tiny VATEX in eval mode (tests must not change its weights)."""
    torch.manual_seed(0)
    return build_vatex(preset("tiny")).eval()
