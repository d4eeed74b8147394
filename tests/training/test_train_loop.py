"""The training loop: learning on a fixed batch, exact resume, dry runs with every reader."""

import json
from pathlib import Path

import pytest
import torch

from training.config import TrainConfig, config_from_dict, load_config
from training.criterion import LossConfig, SetCriterion
from training.data import TripletDataset, collate_triplets
from training.optim import OptimConfig, build_optimizer
from training.synthetic import SyntheticConfig, make_scenes
from training.train import TrainingModel, train, train_step
from vatex_core import build_vatex, preset
from vatex_ros.cli import main

CONFIGS = Path(__file__).parents[2] / "training" / "configs"
SMALL_SCENES = {"height": 64, "width": 64, "max_objects": 2, "max_expressions": 2}


def _losses(out_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    scenes = make_scenes(SyntheticConfig(**SMALL_SCENES), "train", 2, seed=1)
    batch = collate_triplets([TripletDataset(scenes)[i] for i in range(2)])  # (2, 1, 3, 64, 64)
    model = TrainingModel(build_vatex(preset("tiny")))
    criterion = SetCriterion(LossConfig(num_points=1024))
    cfg = TrainConfig(optim=OptimConfig(lr=1e-3, backbone_lr=1e-3))
    optimizer = build_optimizer(model.vatex, cfg.optim)
    scaler = torch.amp.GradScaler("cuda", enabled=False)

    def fixed_loss() -> float:
        torch.manual_seed(123)  # same sampled points every time
        with torch.no_grad():
            return criterion(model(batch["frames"], batch["expressions"]), batch["masks"],
                             batch["has_object"])["loss"].item()

    before = fixed_loss()
    for _ in range(6):
        losses = train_step(model, criterion, optimizer, scaler, batch, cfg)
        assert torch.isfinite(torch.tensor(losses["loss"]))
    assert fixed_loss() < 0.9 * before


def _small_run(out_dir: Path, max_iters: int = 5) -> TrainConfig:
    return config_from_dict({
        "model": {"preset": "tiny"},
        "data": {"kind": "synthetic", "synthetic": SMALL_SCENES, "synthetic_scenes": {"train": 1},
                 "augment": {"short_side": 64, "max_size": 64}},
        "loss": {"num_points": 512},
        "batch_size": 2, "max_iters": max_iters, "checkpoint_interval": 100, "log_interval": 1,
        "num_workers": 0, "out_dir": str(out_dir),
    })


@pytest.mark.slow  # three training runs: ~3 s alone, much more on a busy CPU
def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    # One scene of <= 4 expressions: <= 2 batches per epoch, so the resumed steps run in a later epoch.
    train(_small_run(tmp_path / "full"))
    checkpoint = train(_small_run(tmp_path / "part"), max_steps=3)
    assert checkpoint.name == "step_00000003"
    train(_small_run(tmp_path / "part"), resume=checkpoint)
    full, part = _losses(tmp_path / "full"), _losses(tmp_path / "part")
    assert len(full) == 5 and len(part) == 5
    assert part[3:] == full[3:]  # bit-exact: same weights, optimizer, schedule, RNG and data position
    assert part[:3] == full[:3]


def test_resume_without_a_checkpoint_fails_before_any_data_is_made(tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("scenes were made before the checkpoint was looked for")

    monkeypatch.setattr("training.train.load_training_scenes", no_data)
    (tmp_path / "started").mkdir()  # a run that was stopped before its first checkpoint
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        train(_small_run(tmp_path / "started"), resume=tmp_path / "started")
    assert not (tmp_path / "started" / "config.json").exists()


@pytest.mark.parametrize(
    ("config", "kind", "fixture", "split"),
    [
        ("refcoco.yaml", "refcoco", "refer_data", "train"),
        ("refcocog.yaml", "refcocog", "refer_data", "train"),
        ("ytvos.yaml", "ytvos", "ytvos_data", "train"),
        ("ytvos.yaml", "davis", "davis_data", "valid"),
    ],
)
def test_dry_run_with_each_reader(config, kind, fixture, split, request, tmp_path):
    root = request.getfixturevalue(fixture)["root"]
    overrides = [f"data.kind={kind}", f"data.root={root}", f"data.split={split}", "batch_size=1",
                 "model.preset=tiny", "model.init_weights=null", "model.backbone_checkpoint=null",
                 "model.clip_checkpoint=null", "data.augment.short_side=64",
                 "data.augment.max_size=96", "num_workers=0", "loss.num_points=256"]
    code = main(["train", "--config", str(CONFIGS / config), "--max-steps", "2", "--out", str(tmp_path / "run"),
                 "--set", *overrides])
    assert code == 0
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 2
    assert (tmp_path / "run" / "checkpoints" / "step_00000002" / "model.safetensors").is_file()


def test_a_config_starts_from_its_base(tmp_path):
    (tmp_path / "base.yaml").write_text("batch_size: 4\noptim: {lr: 1.0e-3, gamma: 0.5}\nseed: 7\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\noptim: {lr: 2.0e-3}\nseed: 8\n")
    cfg = load_config(tmp_path / "child.yaml", ["batch_size=2"])
    assert (cfg.batch_size, cfg.optim.lr, cfg.optim.gamma, cfg.seed) == (2, 2e-3, 0.5, 8)
    (tmp_path / "base.yaml").write_text("base: child.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        load_config(tmp_path / "child.yaml")


def test_stage_2_changes_only_the_schedule_scenes_and_start():
    stage1 = load_config(CONFIGS / "tiny-1.2.0" / "synthetic_tiny.yaml").to_dict()
    stage2 = load_config(CONFIGS / "tiny-1.2.0" / "synthetic_tiny_stage2.yaml").to_dict()
    assert stage2["model"]["init_weights"].endswith("synthetic_tiny/checkpoints/step_00004000/model.safetensors")
    assert stage2["data"]["synthetic_scenes"] == {**stage1["data"]["synthetic_scenes"], "train": 12000}
    assert (stage2["optim"]["lr_steps"], stage2["max_iters"]) == ([0.8], 9000)
    changed = {"name", "out_dir", "max_iters"}
    assert {k: v for k, v in stage2.items() if k not in changed | {"model", "data", "optim"}} == \
        {k: v for k, v in stage1.items() if k not in changed | {"model", "data", "optim"}}
    assert {**stage2["optim"], "lr_steps": None} == {**stage1["optim"], "lr_steps": None}


def test_every_shipped_config_loads():
    paths = sorted(CONFIGS.rglob("*.yaml"))  # the paper's runs at the top, each release's chain in its folder
    assert {p.parent.name for p in paths} >= {"configs", "tiny-1.2.0", "tiny-1.3.0"}
    for path in paths:
        cfg = load_config(path)
        assert cfg.model.build_config().name == cfg.model.preset
        assert cfg.loss.weight_class == 2 and cfg.loss.weight_mask == 5 and cfg.loss.weight_mcc == 2
    paper = load_config(CONFIGS / "refcoco.yaml")
    assert (paper.max_iters, paper.batch_size, paper.optim.lr, paper.optim.backbone_lr) == (100_000, 24, 1e-4, 1e-5)
    assert paper.data.augment.short_side == 480 and paper.optim.clip_grad_norm == 0.01
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(CONFIGS / "refcoco.yaml", ["optim.learning_rate=1"])


def test_set_given_several_times_keeps_every_override():
    import argparse

    from training.train import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--config", "c.yaml", "--set", "max_iters=3", "out_dir=/tmp/x", "--set", "seed=2"])
    assert args.set == ["max_iters=3", "out_dir=/tmp/x", "seed=2"]  # not only the last --set
