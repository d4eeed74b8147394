"""`vatex eval --also`: two datasets' val splits in one run, one row each, one threshold for both."""

import json

import numpy as np
import pytest
import torch
import yaml

from training.calibration import calibrate_threshold
from training.independent import scenes as independent_scenes
from vatex_core import build_vatex, preset, save_weights
from vatex_ros.cli import main


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_weights(build_vatex(preset("tiny")), path)
    return path


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setitem(independent_scenes.SPLIT_SCENES, "val", 2)  # the renderer's val split, cut for speed
    path = tmp_path / "nt.yaml"
    synthetic = {"height": 64, "width": 64, "max_objects": 2, "max_expressions": 2, "no_target_rate": 0.5}
    path.write_text(yaml.safe_dump({"data": {"kind": "synthetic", "eval_split": "val", "synthetic": synthetic,
                                             "synthetic_scenes": {"val": 3}}}))
    return path


def test_also_evaluates_both_and_calibrates_one_threshold_per_dataset_rule(weights, config, tmp_path, capsys):
    out = tmp_path / "mixed.json"
    assert main(["eval", "--weights", str(weights), "--config", str(config), "--also", "independent",
                 "--calibrate", "--min-t-acc", "60", "--confidence", "0.6", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["dataset"] == "synthetic" and set(results["also"]) == {"independent"}
    independent = results["also"]["independent"]
    assert independent["items"] == len(results["scores"]["independent"]) > 0
    assert results["items"] == len(results["scores"]["synthetic"]) > 0
    for row in (results["metrics"], independent["metrics"]):
        assert {"mIoU", "N-acc", "T-acc"} <= set(row)
    for kind, row in (("synthetic", results["metrics"]), ("independent", independent["metrics"])):
        ious = results["ious"][kind]  # each expression's IoU, none for one naming nothing; their mean is the mIoU
        assert [iou is None for iou in ious] == [no_target for _, no_target in results["scores"][kind]]
        assert 100 * np.mean([iou for iou in ious if iou is not None]) == pytest.approx(row["mIoU"])
    # the stored scores give back the threshold and each dataset's rates
    pooled = [(s, n, kind) for kind in ("synthetic", "independent") for s, n in results["scores"][kind]]
    again = calibrate_threshold(np.array([p[0] for p in pooled]), np.array([p[1] for p in pooled]), 60.0, 0.6,
                                np.array([p[2] for p in pooled]))
    calibration = results["calibration"]
    assert calibration["threshold"] == again.threshold and calibration["dataset"] == "synthetic+independent"
    for kind in ("synthetic", "independent"):
        scores = np.array(results["scores"][kind])
        found = scores[:, 0] >= calibration["threshold"]
        targets = scores[:, 1] == 0
        assert calibration["groups"][kind]["t_acc"] == pytest.approx(100 * found[targets].mean())
        assert calibration["groups"][kind]["t_acc_lower_bound"] >= 60.0
    printed = capsys.readouterr().out
    assert "synthetic " in printed and "independent " in printed and "calibrated found threshold" in printed
    # the release command reads the mixed calibration like a plain one
    released = tmp_path / "rel" / "model.safetensors"
    assert main(["release", str(weights), "--out", str(released), "--version", "0.0.1",
                 "--calibration", str(out)]) == 0
    assert json.loads(released.with_suffix(".json").read_text())["found_threshold"] == calibration["threshold"]


def test_also_rejects_repeats_and_stream_kinds(weights, config):
    with pytest.raises(SystemExit, match="twice"):
        main(["eval", "--weights", str(weights), "--config", str(config), "--also", "synthetic", "--max-items", "1"])
    with pytest.raises(SystemExit, match="streams"):
        main(["eval", "--weights", str(weights), "--config", str(config), "--also", "synthetic_motion",
              "--max-items", "1"])
