"""`vatex bench --temporal`: the memory's per-frame cost, measured on one network with and without it."""

import json
import subprocess
import sys

from vatex_core import load_vatex
from vatex_ros.tools.temporal_bench import _pair


def test_one_network_with_and_without_the_memory():
    per_frame_weights = load_vatex()
    temporal, per_frame = _pair(per_frame_weights, memory_frames=2)
    assert temporal.temporal is not None and per_frame.temporal is None and per_frame is per_frame_weights
    shared = per_frame.state_dict()
    assert all(temporal.state_dict()[name].equal(tensor) for name, tensor in shared.items())
    again, stripped = _pair(temporal, memory_frames=2)
    assert again is temporal and stripped.temporal is None and stripped.cfg.temporal.memory_frames == 0
    assert temporal.cfg.temporal.memory_frames == 2  # stripping a copy leaves the original alone


def test_command_prints_the_ratio(tmp_path):
    out = tmp_path / "temporal.json"
    done = subprocess.run([sys.executable, "-m", "vatex_ros.cli", "bench", "--temporal", "--size", "96x64",
                           "--frames", "3", "--warmup", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result["ms"]) == {"with memory", "with memory, motion words", "single image"}
    assert all(ms > 0 for ms in result["ms"].values())
    assert result["ratio"] == result["ms"]["with memory"] / result["ms"]["single image"]
    assert result["ratio_motion_words"] == result["ms"]["with memory, motion words"] / result["ms"]["single image"]
    assert "ratio" in done.stdout and len(result["load_average"]) == 3
