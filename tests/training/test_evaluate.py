"""`vatex eval` end to end on tiny synthetic splits (random weights: only the plumbing is checked)."""

import json

import pytest
import torch
import yaml

from training.evaluate import format_table
from vatex_core import build_vatex, preset, save_weights
from vatex_ros.cli import main


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_weights(build_vatex(preset("tiny")), path)
    return path


def _config(tmp_path, kind: str):
    path = tmp_path / f"{kind}.yaml"
    synthetic = {"height": 64, "width": 64, "max_objects": 2, "max_expressions": 2, "num_frames": 3}
    path.write_text(yaml.safe_dump({"data": {"kind": kind, "eval_split": "val", "synthetic": synthetic,
                                             "synthetic_scenes": {"val": 2}}}))
    return path


@pytest.mark.parametrize(("kind", "keys"), [
    ("synthetic", {"mIoU", "oIoU", "Pr@0.5", "Pr@0.7", "Pr@0.9", "Oc-IoU"}),
    ("synthetic_video", {"J&F", "J", "F"}),
])
def test_eval_command_writes_json(kind, keys, weights, tmp_path, capsys):
    out = tmp_path / "results.json"
    code = main(["eval", "--weights", str(weights), "--config", str(_config(tmp_path, kind)), "--preset", "tiny",
                 "--max-items", "3", "--out", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    assert keys <= set(results["metrics"]) and results["items"] == 3
    assert results["dataset"] == kind and results["split"] == "val" and results["preset"] == "tiny"
    assert all(0 <= results["metrics"][k] <= 100 for k in keys - {"Oc-IoU"})
    printed = capsys.readouterr().out
    assert all(k in printed for k in keys)


def test_wrong_preset_is_an_error(weights, tmp_path):
    with pytest.raises(SystemExit, match="preset 'tiny', not 'paper'"):
        main(["eval", "--weights", str(weights), "--config", str(_config(tmp_path, "synthetic")), "--preset", "paper"])


def test_table_layout():
    table = format_table({"dataset": "refcoco", "split": "val", "metrics": {
        "mIoU": 78.16, "oIoU": 1, "Pr@0.5": 88.12, "Pr@0.6": 0, "Pr@0.7": 82.54, "Pr@0.8": 0, "Pr@0.9": 45.11, "Oc-IoU": 2}})
    header, row = table.splitlines()
    assert header.split() == ["dataset", "split", "mIoU", "oIoU", "Pr@0.5", "Pr@0.7", "Pr@0.9", "Oc-IoU"]
    assert row.split()[:3] == ["refcoco", "val", "78.16"]
