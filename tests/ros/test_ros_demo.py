"""`vatex demo` as a user runs it: node, camera and person processes over DDS on loopback, untrained model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = [pytest.mark.dds, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_summary_and_gif(dds_env, random_tiny_weights, tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "vatex_ros.cli", "demo", "--frames", "12", "--fps", "6",
                           "--weights", str(random_tiny_weights), "--out", str(out), "--seed", "3"],
                          cwd=tmp_path, env={**dds_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    print(done.stdout, done.stderr)  # shown by pytest on failure
    assert done.returncode == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_in"] == 12 and 0 < summary["frames_out"] <= 12
    assert summary["dropped"] == summary["frames_in"] - summary["frames_out"]
    for name in ("stamp_to_receive", "node_reported"):
        stats = summary["latency_ms"][name]
        assert stats["n"] > 0 and 0 < stats["p50"] <= stats["p95"]
    assert summary["iou_frames"] > 0 and 0.0 <= summary["mean_iou"] <= 1.0
    assert 0.0 <= summary["found_rate"] <= 1.0
    assert {e["expression"] for e in summary["expressions"]} and summary["config"]["size"] == "160x128"
    with Image.open(out / "demo.gif") as gif:
        assert gif.n_frames == summary["gif_frames"] == summary["frames_out"]
        assert gif.size[0] > 2 * 160 and gif.size[1] == 128  # camera | node overlay
    assert "frames in 12" in done.stdout
    assert "diagnostics:" in (out / "node.log").read_text()  # the node was shut down cleanly
