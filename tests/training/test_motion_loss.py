"""The motion term: displacement targets from masks, the loss on the residual, and train_step adding it."""

import pytest
import torch

from training.config import ModelSpec, TrainConfig
from training.criterion import LossConfig, SetCriterion
from training.data import TripletDataset, collate_triplets
from training.motion_loss import clip_motion_loss, displacement_targets, motion_loss
from training.optim import OptimConfig, build_optimizer
from training.synthetic import SyntheticConfig, make_motion_scenes
from training.train import TrainingModel, train_step
from vatex_core import build_vatex
from vatex_core.temporal import MOTION_SCALE


def _square(left: int, top: int, size: int = 16, height: int = 64, width: int = 96) -> torch.Tensor:
    mask = torch.zeros(height, width)
    mask[top : top + size, left : left + size] = 1
    return mask


def test_targets_are_the_centroid_shift_in_short_sides_and_skip_hidden_objects():
    last = torch.stack([_square(30, 20), _square(30, 20), _square(30, 20), torch.zeros(64, 96)])
    previous = torch.stack([_square(22, 24), _square(30, 20), _square(22, 20, size=8), _square(30, 20)])
    sizes = torch.tensor([[64, 96]] * 4)
    targets, kept = displacement_targets(last, previous, sizes)
    assert targets[0].tolist() == pytest.approx([8 / 64 * MOTION_SCALE, -4 / 64 * MOTION_SCALE,
                                                  (80**0.5) / 64 * MOTION_SCALE])
    assert targets[1].tolist() == pytest.approx([0, 0, 0])  # still: "not moving" is learnt too
    assert kept.tolist() == [True, True, False, False]  # area x4 (was partly hidden); gone in the last frame


def test_loss_is_zero_when_the_first_channels_hold_the_displacement_on_the_object():
    last, previous = _square(32, 16, size=24)[None], _square(24, 16, size=24)[None]
    sizes = torch.tensor([[64, 96]])
    wanted, _ = displacement_targets(last, previous, sizes)
    residual = torch.randn(1, 8, 8, 12)
    inside = torch.nn.functional.adaptive_avg_pool2d(last[None], (8, 12))[0, 0] > 0.5  # (8, 12) stride-8 pixels
    residual[0, :3, inside] = wanted[0][:, None]
    assert motion_loss(residual, last, previous, sizes).item() == pytest.approx(0.0, abs=1e-6)
    residual[0, 0, inside] += 1.0
    assert motion_loss(residual, last, previous, sizes).item() > 0.3


def test_gradient_reaches_only_the_motion_channels_on_the_object():
    last, previous = _square(32, 16, size=24)[None], _square(24, 16, size=24)[None]
    residual = torch.randn(1, 8, 8, 12).add(5.0).requires_grad_(True)  # far from every target
    motion_loss(residual, last, previous, torch.tensor([[64, 96]])).backward()
    per_channel = residual.grad[0].abs().sum((1, 2)) > 0
    assert per_channel.tolist() == [True] * 3 + [False] * 5
    inside = torch.nn.functional.adaptive_avg_pool2d(last[None], (8, 12))[0, 0] > 0.5
    assert (residual.grad[0, :3, ~inside] == 0).all() and (residual.grad[0, :3, inside] != 0).all()


def test_nothing_kept_gives_zero_and_keeps_the_graph():
    residual = torch.randn(2, 4, 8, 12, requires_grad=True)
    loss = motion_loss(residual, torch.zeros(2, 64, 96), torch.zeros(2, 64, 96), torch.tensor([[64, 96]] * 2))
    assert loss.item() == 0.0
    loss.backward()


def test_train_step_adds_the_term_and_the_residual_learns_it(monkeypatch):
    torch.manual_seed(0)
    spec = ModelSpec(overrides={"temporal": {"memory_frames": 2}})
    scenes = make_motion_scenes(SyntheticConfig(height=64, width=64, max_objects=2, max_expressions=2),
                                "train", 2, seed=3)
    dataset = TripletDataset(scenes, num_frames=3, window_strides=(1,))
    batch = collate_triplets([dataset[i] for i in range(2)])  # frames (2, 3, 3, 64, 64)
    model = TrainingModel(build_vatex(spec.build_config()))
    criterion = SetCriterion(LossConfig(num_points=256))
    cfg = TrainConfig(model=spec, loss=LossConfig(num_points=256, weight_motion=5.0),
                      optim=OptimConfig(lr=1e-4, backbone_lr=1e-4, temporal_lr=3e-3))
    optimizer = build_optimizer(model.vatex, cfg.optim)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    monkeypatch.setattr("training.train.past_frames", lambda steps: steps)  # the whole clip: a memory of 2

    def motion_term() -> float:
        with torch.no_grad():
            out = model(batch["frames"], batch["expressions"])
        return clip_motion_loss(out["motion"], batch["masks"], batch["image_sizes"]).item()

    before = motion_term()
    assert before > 0  # the residual starts at zero and some object moves
    for _ in range(8):
        losses = train_step(model, criterion, optimizer, scaler, batch, cfg)
    assert "loss_motion" in losses
    assert motion_term() < 0.7 * before


def test_off_by_default_and_without_a_memory(monkeypatch):
    spec = ModelSpec(overrides={"temporal": {"memory_frames": 2}})
    scenes = make_motion_scenes(SyntheticConfig(height=64, width=64, max_objects=2, max_expressions=2),
                                "train", 1, seed=3)
    batch = collate_triplets([TripletDataset(scenes, num_frames=2, window_strides=(1,))[0]])
    model = TrainingModel(build_vatex(spec.build_config()))
    criterion = SetCriterion(LossConfig(num_points=256))
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    on = TrainConfig(model=spec, loss=LossConfig(num_points=256, weight_motion=1.0))
    monkeypatch.setattr("training.train.past_frames", lambda steps: 1)  # the last frame alone: no memory
    assert "loss_motion" not in train_step(model, criterion, build_optimizer(model.vatex, on.optim), scaler, batch, on)
    monkeypatch.setattr("training.train.past_frames", lambda steps: steps)
    off = TrainConfig(loss=LossConfig(num_points=256))
    assert "loss_motion" not in train_step(model, criterion, build_optimizer(model.vatex, off.optim),
                                           scaler, batch, off)


def test_a_per_frame_model_refuses_the_term():
    with pytest.raises(ValueError, match="memory_frames"):
        TrainConfig(loss=LossConfig(weight_motion=1.0))


@pytest.mark.parametrize("part", [{"query_motion": True}, {"correlation_radius": 2}])
def test_a_per_frame_model_refuses_the_parts_that_read_a_memory(part):
    with pytest.raises(ValueError, match="memory_frames"):
        TrainConfig(model=ModelSpec(preset="tiny", overrides={"temporal": part}))


def test_measured_motion_needs_the_queries_motion_and_the_correlation():
    temporal = {"memory_frames": 2, "measured_motion": True, "query_motion": True}
    with pytest.raises(ValueError, match="measured_motion"):
        TrainConfig(model=ModelSpec(preset="tiny", overrides={"temporal": temporal}))


def test_motion_logit_needs_the_correlation():
    temporal = {"memory_frames": 2, "motion_logit": True}
    with pytest.raises(ValueError, match="motion_logit"):
        TrainConfig(model=ModelSpec(preset="tiny", overrides={"temporal": temporal}))
