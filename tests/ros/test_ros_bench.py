"""`vatex bench`: the latency split and the node/model ratio from one run (untrained model, small frames)."""

import json

import pytest

from vatex_ros.tools.bench import STAGES
from vatex_ros.cli import main

pytestmark = [pytest.mark.dds, pytest.mark.slow]


def test_bench_writes_split_and_ratio(dds_env, random_tiny_weights, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--weights", str(random_tiny_weights), "--size", "96x64", "--frames", "3",
                 "--warmup", "1", "--out", str(out)]) == 0

    result = json.loads(out.read_text())
    stages = result["stages_ms"]
    assert set(STAGES) - {"depth"} <= set(stages) <= {*STAGES, "total"}  # depth only when the node does 3D
    assert all(s["n"] == 3 and s["p50"] is not None for s in stages.values())
    for stage in ("backbone", "cmd", "decoder", "transport_in", "transport_out", "total"):
        assert stages[stage]["p50"] > 0, stage
    assert sum(s["mean"] for name, s in stages.items() if name != "total") == pytest.approx(stages["total"]["mean"])
    assert result["bare_model_ms"]["n"] == 3 and result["node_end_to_end_ms"]["n"] + result["node_lost_frames"] >= 3
    assert result["ratio_node_to_bare_model"]["p50"] > 0 and result["ratio_node_to_bare_model"]["mean"] > 0
    depth = result["depth_3d"]  # the 3D step, timed in the same run at the bench size
    assert depth["step_ms"] > 0 and depth["object_fraction"] == 0.1
    assert depth["share_of_in_process_frame"] == pytest.approx(depth["step_ms"] / stages["total"]["p50"])
    assert depth["share_of_node_end_to_end"] == pytest.approx(depth["step_ms"] / result["node_end_to_end_ms"]["p50"])
    # Frames lost in a best-effort stream: best effort promises no delivery, so the count is reported, not asserted
    # 0; a lost 96x64 frame (two datagrams on loopback) can only be the kernel's drop, and that is counted.
    stream = result["stream"]
    assert stream["rate_hz"] == 15 and stream["published"] == 45 and 0 <= stream["lost_frames"] <= 45
    assert stream["lost_frames"] == 0 or stream["kernel_dropped_datagrams"] > 0, stream
    printed = capsys.readouterr().out
    assert "node end to end / bare model call" in printed and "of the in-process frame latency" in printed
    assert f"best-effort stream at 15 Hz: {stream['lost_frames']} of 45 frames lost" in printed


def test_bench_sizes_reports_each_size_in_one_run(dds_env, random_tiny_weights, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--weights", str(random_tiny_weights), "--sizes", "96x64,64x48", "--frames", "2",
                 "--warmup", "1", "--out", str(out)]) == 0

    by_size = json.loads(out.read_text())["sizes"]
    assert list(by_size) == ["96x64", "64x48"]
    for size, result in by_size.items():
        assert result["config"]["size"] == size and result["bare_model_ms"]["n"] == 2
        assert result["ratio_node_to_bare_model"]["p50"] > 0 and result["stream"]["published"] == 45
    summary = capsys.readouterr().out.split("lost (stream)")[-1].splitlines()[1:3]
    assert [line.split()[0] for line in summary] == ["96x64", "64x48"]
    assert all(line.split()[3] == f"{by_size[line.split()[0]]['ratio_node_to_bare_model']['p50']:.2f}x"
               for line in summary)


@pytest.mark.parametrize("text, sizes", [("320x240", [(320, 240)]),
                                         ("320x240, 1920x1080,", [(320, 240), (1920, 1080)])])
def test_sizes_argument(text, sizes):
    from vatex_ros.commands.arg_types import frame_sizes

    assert frame_sizes(text) == sizes


@pytest.mark.parametrize("text", ["", ",", "320x240,big", "16x16"])
def test_bad_sizes_argument(text):
    import argparse

    from vatex_ros.commands.arg_types import frame_sizes

    with pytest.raises(argparse.ArgumentTypeError):
        frame_sizes(text)
