"""Gradient checkpointing: a training-memory switch that changes no gradient and no saved config."""

import pytest
import torch

from vatex_core import build_vatex, preset
from vatex_core.config import CHECKPOINTABLE, VatexConfig


def _gradients(parts):
    torch.manual_seed(0)
    cfg = preset("tiny")
    cfg.grad_checkpointing = parts
    model = build_vatex(cfg).train()
    text = model.encode_text(["the red cup", "a blue square"])
    frames = torch.rand(2, 1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    out = model(frames, text)
    loss = out["pred_masks"].sigmoid().mean() + out["pred_logits"].softmax(-1)[..., 0].mean()
    loss = loss + sum(a["pred_masks"].mean() for a in out["aux_outputs"])
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_checkpointed_backbone_cmd_and_decoder_give_the_same_gradients():
    plain, checkpointed = _gradients(()), _gradients(CHECKPOINTABLE)
    assert plain.keys() == checkpointed.keys() and len(plain) > 100
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_the_switch_reaches_every_part_and_only_while_training():
    cfg = preset("tiny")
    cfg.grad_checkpointing = ("backbone", "decoder")
    model = build_vatex(cfg)
    assert model.backbone.grad_checkpointing and model.decoder.grad_checkpointing
    assert not model.cmd.encoder.grad_checkpointing
    assert model.train().backbone.body.grad_checkpointing and not model.eval().backbone.body.grad_checkpointing


def test_it_is_no_part_of_the_architecture():
    cfg = VatexConfig.from_dict({**preset("tiny").to_dict(), "grad_checkpointing": ["cmd"]})
    assert cfg.grad_checkpointing == ("cmd",) and cfg == preset("tiny")  # weights load either way
    with pytest.raises(ValueError, match="unknown parts \\['clip'\\]"):
        VatexConfig.from_dict({**preset("tiny").to_dict(), "grad_checkpointing": ["clip"]})
