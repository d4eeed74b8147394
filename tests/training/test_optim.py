"""AdamW parameter groups, the step schedule and gradient clipping."""

import pytest
import torch

from training.optim import OptimConfig, build_optimizer, build_scheduler, clip_gradients, param_groups
from training.train import freeze
from vatex_core import build_vatex, preset


@pytest.fixture(scope="module")
def groups() -> dict[str, dict]:
    model = build_vatex(preset("tiny"))
    return {g["name"]: g for g in param_groups(model, OptimConfig())}, model


def test_backbone_and_text_tower_get_backbone_lr(groups):
    by_name, _ = groups
    assert {g["lr"] for name, g in by_name.items() if name.startswith("backbone/")} == {1e-5}
    assert {g["lr"] for name, g in by_name.items() if name.startswith("head/")} == {1e-4}
    backbone_names = by_name["backbone/decay"]["param_names"] + by_name["backbone/no_decay"]["param_names"]
    assert all(n.startswith(("backbone.", "text_encoder.clip.")) for n in backbone_names)
    assert any(n.startswith("text_encoder.clip.") for n in backbone_names)
    head_names = by_name["head/decay"]["param_names"] + by_name["head/no_decay"]["param_names"]
    assert not any(n.startswith(("backbone.", "text_encoder.clip.")) for n in head_names)


def test_no_decay_set_contents(groups):
    by_name, model = groups
    no_decay = set(by_name["backbone/no_decay"]["param_names"] + by_name["head/no_decay"]["param_names"])
    assert {g["weight_decay"] for name, g in by_name.items() if name.endswith("/no_decay")} == {0.0}
    assert {g["weight_decay"] for name, g in by_name.items() if name.endswith("/decay")} == {0.05}
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.Embedding)):
            for param_name, param in module.named_parameters(recurse=False):
                if param.requires_grad:
                    assert f"{name}.{param_name}" in no_decay
    for expected in ("relative_position_bias_table", "text_encoder.clip.positional_embedding", "level_embed"):
        assert any(expected in n for n in no_decay), expected
    decay = set(by_name["head/decay"]["param_names"] + by_name["backbone/decay"]["param_names"])
    assert all(not n.endswith("bias") for n in decay)
    assert "backbone.body.patch_embed.proj.weight" in decay  # a conv weight named "*embed*" still decays


def test_frozen_params_absent_and_every_trainable_param_once(groups):
    by_name, model = groups
    grouped = [n for g in by_name.values() for n in g["param_names"]]
    assert len(grouped) == len(set(grouped))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(grouped) == trainable
    assert not any(n.startswith("clip_prior.clip_visual.") for n in grouped)
    assert any(n.startswith("clip_prior.clip_visual.") for n, _ in model.named_parameters())


def test_step_schedule_and_clipping():
    model = torch.nn.Linear(4, 4)
    cfg = OptimConfig(lr_steps=[0.5, 0.75])
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, max_iters=8)
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1e-4] * 4 + [1e-5] * 2 + [1e-6] * 2)
    model(torch.randn(3, 4)).pow(2).sum().mul(100).backward()
    norm = clip_gradients(model, cfg)
    assert norm > 0.01
    clipped = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert clipped == pytest.approx(0.01, rel=1e-4)


def test_temporal_memory_gets_its_own_lr_only_when_asked():
    cfg = preset("tiny")
    cfg.temporal.memory_frames = 2
    model = build_vatex(cfg)
    plain = {g["name"]: g for g in param_groups(model, OptimConfig())}
    assert not any(name.startswith("temporal/") for name in plain)
    assert any(n.startswith("temporal.") for n in plain["head/decay"]["param_names"])
    faster = {g["name"]: g for g in param_groups(model, OptimConfig(temporal_lr=1e-3))}
    temporal = faster["temporal/decay"]["param_names"] + faster["temporal/no_decay"]["param_names"]
    assert temporal and all(n.startswith("temporal.") for n in temporal)
    assert {faster[name]["lr"] for name in ("temporal/decay", "temporal/no_decay")} == {1e-3}
    assert not any(n.startswith("temporal.")
                   for n in faster["head/decay"]["param_names"] + faster["head/no_decay"]["param_names"])
    assert sum(len(g["params"]) for g in faster.values()) == sum(len(g["params"]) for g in plain.values())


def test_freeze_takes_top_level_modules_and_dotted_parts():
    cfg = preset("tiny")
    cfg.temporal.memory_frames, cfg.temporal.correlation_radius, cfg.temporal.motion_logit = 2, 2, True
    model = build_vatex(cfg)
    freeze(model, ["backbone", "temporal.body", "temporal.out"])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("backbone.") for n in frozen)
    assert {n.split(".")[1] for n in frozen if n.startswith("temporal.")} == {"body", "out"}
    assert all(p.requires_grad for p in model.temporal.motion_logit.parameters())
    for unknown in (["temporal.nothing"], [""]):
        with pytest.raises(ValueError, match="unknown modules"):
            freeze(model, unknown)
