"""Atomic checkpoints: contents, RNG round trip, weights-only loading, pruning, wrong config."""

import random

import numpy as np
import pytest
import torch

from training.checkpoint import load_checkpoint, resolve_checkpoint, rng_state, save_checkpoint, set_rng_state
from training.optim import OptimConfig, build_optimizer, build_scheduler
from vatex_core import build_vatex, preset


def _draws() -> tuple:
    return random.random(), np.random.rand(), torch.rand(3).tolist()


def test_rng_state_round_trip():
    np.random.randn()  # leaves a cached gaussian in numpy's state
    state = rng_state()
    first = _draws()
    set_rng_state(state)
    assert _draws() == first


def _trained(cfg=None):
    torch.manual_seed(0)
    model = build_vatex(cfg or preset("tiny"))
    optimizer = build_optimizer(model, OptimConfig())
    scheduler = build_scheduler(optimizer, OptimConfig(), max_iters=3)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.randn_like(p)
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_save_load_restores_everything_and_prunes(tmp_path):
    model, optimizer, scheduler = _trained()
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "data": {"epoch": 1, "position": 4}}
    for step in (1, 2, 3):
        directory = save_checkpoint(tmp_path, step, model, state, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step_00000002", "step_00000003"]
    assert resolve_checkpoint(tmp_path) == directory == resolve_checkpoint(directory)
    # weights-only loadable: only tensors and plain values inside
    raw = torch.load(directory / "train_state.pt", weights_only=True)
    assert raw["step"] == 3 and raw["data"] == {"epoch": 1, "position": 4}

    fresh, fresh_optimizer, fresh_scheduler = _trained()
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    loaded = load_checkpoint(tmp_path, fresh, fresh_optimizer, fresh_scheduler)
    assert loaded["step"] == 3
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    key = next(iter(optimizer.state_dict()["state"]))
    assert torch.equal(optimizer.state_dict()["state"][key]["exp_avg"],
                       fresh_optimizer.state_dict()["state"][key]["exp_avg"])
    assert fresh_scheduler.last_epoch == scheduler.last_epoch


def test_wrong_config_fails_with_message(tmp_path):
    model, _, _ = _trained()
    save_checkpoint(tmp_path, 1, model, {})
    other = preset("tiny")
    other.head.decoder_layers = 2
    with pytest.raises(ValueError, match="preset"):
        load_checkpoint(tmp_path, build_vatex(other))
    with pytest.raises(FileNotFoundError):
        resolve_checkpoint(tmp_path / "missing")
