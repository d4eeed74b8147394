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


def test_first_item_skips_the_items_before_it(weights, tmp_path):
    config = _config(tmp_path, "synthetic")  # target expressions only: mIoU is over every item

    def miou(*args: str) -> tuple[float, int, int]:  # mIoU, first item, items
        out = tmp_path / "results.json"
        assert main(["eval", "--weights", str(weights), "--config", str(config), *args, "--out", str(out)]) == 0
        results = json.loads(out.read_text())
        return results["metrics"]["mIoU"], results["first_item"], results["items"]

    first, _, _ = miou("--max-items", "1")
    both, _, _ = miou("--max-items", "2")
    second, start, items = miou("--first-item", "1", "--max-items", "1")
    assert (start, items) == (1, 1)
    assert second == pytest.approx(2 * both - first)  # item 1 alone
    with pytest.raises(SystemExit, match="--first-item 99 is outside the"):
        miou("--first-item", "99")


def test_wrong_preset_is_an_error(weights, tmp_path):
    with pytest.raises(SystemExit, match="preset 'tiny', not 'paper'"):
        main(["eval", "--weights", str(weights), "--config", str(_config(tmp_path, "synthetic")), "--preset", "paper"])


def test_table_layout():
    table = format_table({"dataset": "refcoco", "split": "val", "metrics": {
        "mIoU": 78.16, "oIoU": 1, "Pr@0.5": 88.12, "Pr@0.6": 0, "Pr@0.7": 82.54, "Pr@0.8": 0, "Pr@0.9": 45.11,
        "Oc-IoU": 2}})
    header, row = table.splitlines()
    assert header.split() == ["dataset", "split", "mIoU", "oIoU", "Pr@0.5", "Pr@0.7", "Pr@0.9", "Oc-IoU"]
    assert row.split()[:3] == ["refcoco", "val", "78.16"]


def test_no_target_eval_calibrates_and_release_stores_the_threshold(weights, tmp_path, capsys):
    from vatex_core import Predictor

    config = tmp_path / "nt.yaml"
    synthetic = {"height": 64, "width": 64, "max_objects": 2, "max_expressions": 2, "no_target_rate": 0.5}
    config.write_text(yaml.safe_dump({"data": {"kind": "synthetic", "eval_split": "val", "synthetic": synthetic,
                                               "synthetic_scenes": {"val": 3}}}))
    out = tmp_path / "val.json"
    assert main(["eval", "--weights", str(weights), "--config", str(config), "--calibrate", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    metrics, calibration = results["metrics"], results["calibration"]
    assert {"mIoU", "N-acc", "T-acc", "gIoU", "cIoU"} <= set(metrics) and results["found_threshold"] == 0.5
    assert 0 <= calibration["threshold"] <= 1 and calibration["no_target_items"] > 0 and calibration["target_items"] > 0
    assert (calibration["n_acc"] + calibration["t_acc"]) / 2 >= (metrics["N-acc"] + metrics["T-acc"]) / 2 - 1e-9
    assert "N-acc" in capsys.readouterr().out

    released = tmp_path / "release" / "model.safetensors"
    scored = tmp_path / "scored.json"  # as `--also ... --calibrate` writes it: every expression's score too
    scored.write_text(json.dumps({**results, "scores": [{"score": 0.9, "no_target": False}], "ious": [0.5]}))
    assert main(["release", str(weights), "--out", str(released), "--version", "0.0.1", "--quality", str(scored),
                 "--calibration", str(out)]) == 0
    manifest = json.loads(released.with_suffix(".json").read_text())
    assert manifest["found_threshold"] == calibration["threshold"] and manifest["calibration"] == calibration
    assert manifest["quality"] == results  # the metrics, not every expression's score and IoU
    assert Predictor.from_pretrained(released).found_threshold == calibration["threshold"]
    with pytest.raises(SystemExit, match="has no calibration"):
        main(["release", str(weights), "--out", str(released), "--version", "0.0.1",
              "--calibration", str(_plain_results(tmp_path))])


def _plain_results(tmp_path):
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"metrics": {}}))
    return path


def test_calibration_rule_options_need_their_base_option(weights, tmp_path):
    config = str(_config(tmp_path, "synthetic"))
    with pytest.raises(SystemExit, match="need --calibrate"):
        main(["eval", "--weights", str(weights), "--config", config, "--min-t-acc", "98"])
    with pytest.raises(SystemExit, match="needs --min-t-acc"):
        main(["eval", "--weights", str(weights), "--config", config, "--calibrate", "--confidence", "0.95"])


def test_input_size_is_used_recorded_and_kept_out_of_releases(weights, tmp_path, monkeypatch):
    from vatex_core import Predictor

    sizes = []
    prepare = Predictor.predict_clip

    def recording(self, frames, text):  # the size every forward pass runs at
        sizes.append(self.short_side)
        return prepare(self, frames, text)

    monkeypatch.setattr(Predictor, "predict_clip", recording)
    config = tmp_path / "nt.yaml"
    synthetic = {"height": 64, "width": 64, "max_objects": 2, "max_expressions": 2, "no_target_rate": 0.5}
    config.write_text(yaml.safe_dump({"data": {"kind": "synthetic", "eval_split": "val", "synthetic": synthetic,
                                               "synthetic_scenes": {"val": 2}}}))
    out = tmp_path / "val.json"
    assert main(["eval", "--weights", str(weights), "--config", str(config), "--input-size", "96", "--calibrate",
                 "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(sizes) == {96} and results["input_size"] == results["calibration"]["input_size"] == 96
    with pytest.raises(SystemExit, match="calibration was made at input size 96, but .* runs at 128"):
        main(["release", str(weights), "--out", str(tmp_path / "r.safetensors"), "--version", "0.0.1",
              "--calibration", str(out)])
    with pytest.raises(SystemExit, match="--input-size must be >= 32"):
        main(["eval", "--weights", str(weights), "--config", str(config), "--input-size", "16"])
