"""The randomization ablation's configs (one family off each, else all_on) and its table."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from training.ablation_table import HEADER, main, row
from training.config import load_config

FOLDER = Path(__file__).resolve().parents[2] / "training" / "configs" / "tiny-1.4.0" / "ablation"
FAMILIES = {  # config -> the chances it switches off
    "no_size_scale": {"size_prob", "scale_prob"},
    "no_backgrounds": {"flat_prob", "photo_prob"},
    "no_colour_lighting": {"colour_prob", "lighting_prob"},
    "no_camera": {"blur_prob", "motion_blur_prob", "noise_prob", "jpeg_prob", "vignette_prob", "chromatic_prob"},
    "no_shape": {"shape_prob", "outline_prob", "antialias_prob"},
}
LATER = {"texture_prob", "shadow_prob", "achromatic_prob"}  # added after the ablation ran: off in all its configs


def _chances(cfg) -> dict[str, float]:
    return {k: v for k, v in asdict(cfg.data.synthetic.randomize).items() if k.endswith("_prob")}


def test_each_config_switches_off_one_family_and_nothing_else():
    on = load_config(FOLDER / "all_on.yaml")
    assert all(v > 0 for k, v in _chances(on).items() if k not in LATER)  # every family on, every effect of it
    assert set().union(*FAMILIES.values()) | LATER == set(_chances(on))  # the families cover every other effect
    assert on.model.init_weights == "vatex_core/weights/vatex-tiny.safetensors"
    assert on.model.build_config().temporal.memory_frames == 0  # per-frame: cheap, and 1.3.0's architecture
    for name, family in {**FAMILIES, "all_off": set(_chances(on))}.items():
        cfg = load_config(FOLDER / f"{name}.yaml")
        off = {k for k, v in _chances(cfg).items() if v == 0}
        assert off == family | LATER, name
        same = {k: v for k, v in asdict(cfg).items() if k not in ("name", "out_dir", "data")}
        assert same == {k: v for k, v in asdict(on).items() if k not in ("name", "out_dir", "data")}, name
        assert cfg.data.synthetic_scenes == on.data.synthetic_scenes and cfg.seed == on.seed
        assert cfg.out_dir.endswith(name) and cfg.name == f"ablation_{name}"
    assert {p.stem for p in FOLDER.glob("*.yaml")} == {"all_on", "all_off", *FAMILIES}


def _results(threshold: float = 0.41) -> dict:
    synthetic = {"T-acc": 97.5, "N-acc": 91.25, "mIoU": 84.0}
    independent = {"T-acc": 90.0, "N-acc": 70.0, "mIoU": float("nan")}
    groups = {"synthetic": {"t_acc": 98.0, "n_acc": 90.0}, "independent": {"t_acc": 93.5, "n_acc": 80.25}}
    return {"dataset": "synthetic", "metrics": synthetic, "also": {"independent": {"metrics": independent}},
            "calibration": {"threshold": threshold, "groups": groups}}


def test_table_rows_read_both_renderers_and_the_shared_threshold(tmp_path, capsys):
    assert row("all_on", _results()) == ["all_on", "97.5", "91.2", "84.0", "90.0", "70.0", "-", "0.410",
                                         "98.0 / 90.0", "93.5 / 80.2"]
    with pytest.raises(KeyError, match="--also independent"):
        row("x", {"dataset": "synthetic", "metrics": {}})
    (tmp_path / "all_on").mkdir()
    (tmp_path / "all_on" / "val.json").write_text(json.dumps(_results()))
    assert main([str(tmp_path), "start", "all_on"]) == 0  # a run without results is left out
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].count("|") == len(HEADER) + 1 and lines[2].startswith("| all_on |")
    assert main([str(tmp_path), "missing"]) == 1
