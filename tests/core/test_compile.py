"""The compiled path: same results as eager, compiled once at warm-up, never again for new expressions."""

import logging

import numpy as np
import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from vatex_core import Predictor, load_vatex

SIZE = (64, 64)  # (height, width): small, the CPU compiles slowly


@pytest.fixture
def counted_compile(monkeypatch):
    """torch.compile through a backend that counts the graphs it is given (and runs them as ``backend`` does)."""
    def install(backend: str) -> CompileCounterWithBackend:
        counter = CompileCounterWithBackend(backend)
        compile_fn = torch.compile
        monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_fn(model, **{**kw, "backend": counter}))
        torch._dynamo.reset()
        return counter
    yield install
    torch._dynamo.reset()


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (*SIZE, 3), dtype=np.uint8)


@pytest.mark.slow
def test_one_graph_compiled_at_warmup_and_reused_for_new_expressions(counted_compile, caplog):
    counter = counted_compile("eager")  # dynamo's tracing and guards, without code generation
    predictor = Predictor(load_vatex(), short_side=SIZE[0], compile=True)
    predictor.warmup(SIZE)
    assert counter.frame_count == 1, "the forward must trace as one graph (a graph break costs launches)"
    eager = Predictor(load_vatex(), short_side=SIZE[0])
    caplog.set_level(logging.INFO, logger="vatex_core.runtime")
    for seed, expression in enumerate(["the red cup", "the big blue square on the far left", "circle"]):
        compiled, reference = (predictor.stream(expression).step(_frame(seed)),
                               eager.stream(expression).step(_frame(seed)))
        assert abs(compiled.score - reference.score) < 1e-5
        assert (compiled.mask == reference.mask).mean() > 0.999
    assert counter.frame_count == 1, "a new expression or the first real frame recompiled the model"
    assert "compiling" not in caplog.text

