"""Fixtures of every test folder."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread, restored after the test: the tiny models gain nothing from more, and shared CPUs thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
