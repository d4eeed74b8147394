"""`vatex demo --cameras 2`: one node, two camera processes (the second sees each scene a few frames later), the
embedded model, both cameras' answers checked against the scenes' truth."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.dds
@pytest.mark.slow
def test_demo_with_two_cameras_answers_both(dds_env, tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "vatex_ros.cli", "demo", "--cameras", "2", "--frames", "20",
                           "--fps", "4", "--out", str(out), "--seed", "0"],
                          cwd=tmp_path, env={**dds_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=600)
    print(done.stdout, done.stderr)  # shown by pytest on failure
    assert done.returncode == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["cameras"]) == {"camera0", "camera1"}
    for camera, result in summary["cameras"].items():
        assert result["frames_in"] == 20 and 10 <= result["frames_out"] <= 20, camera
        assert result["iou_frames"] >= 6 and result["mean_iou"] > 0.6, (camera, result["expressions"])
        assert result["absent"]["false_found"] == 0 and result["target_3d"]["with_point"] > 0, camera
    assert summary["cameras"]["camera0"]["gif_frames"] == summary["cameras"]["camera0"]["frames_out"]
    params = yaml.safe_load((out / "node_params.yaml").read_text())["/**"]["ros__parameters"]
    assert params["cameras"] == ["camera0", "camera1"]
    assert "camera1 (sees each scene 3 frames later)" in done.stdout
    diagnostics = (out / "node.log").read_text().split("diagnostics:")[-1]
    assert "'camera0.frames_out'" in diagnostics and "'camera1.frames_out'" in diagnostics
