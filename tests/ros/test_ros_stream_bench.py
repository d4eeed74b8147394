"""`vatex bench --streams CxE`: stream throughput of one node vs the same streams one at a time, and the 1080p-style
lines of the size bench (in-process ratio, DDS transport floor) on small frames."""

import json

import pytest

from vatex_ros.cli import main
from vatex_ros.tools.stream_bench import parse_streams


def test_streams_bench_measures_both_modes_in_one_run(random_tiny_weights, tmp_path, capsys):
    out = tmp_path / "streams.json"
    assert main(["bench", "--weights", str(random_tiny_weights), "--streams", "2x2", "--size", "96x64",
                 "--frames", "3", "--warmup", "1", "--threads", "1,2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["streams"] == 4 and len(result["config"]["expression_list"]) == 2
    assert set(result["threads"]) == {"1", "2"}  # each mode at each thread count; the best of each compared
    for name in ("one_node", "one_at_a_time"):
        best = max(result["threads"].values(), key=lambda entry: entry[name]["masks_per_s"])[name]
        assert result[name]["masks_per_s"] == best["masks_per_s"] and result[name]["threads"] in (1, 2)
    one_node, one_at_a_time = result["one_node"]["masks_per_s"], result["one_at_a_time"]["masks_per_s"]
    assert one_node > 0 and one_at_a_time > 0 and result["ratio"] == pytest.approx(one_node / one_at_a_time)
    assert result["ratio_round_median"] > 0 and len(result["load_average_before"]) == 3
    printed = capsys.readouterr().out
    assert f"ratio {result['ratio']:.2f}x" in printed and "load average" in printed


@pytest.mark.parametrize("text, expected", [("2x2", (2, 2)), ("1X3", (1, 3)), ("4x1", (4, 1))])
def test_streams_argument(text, expected):
    assert parse_streams(text) == expected


@pytest.mark.parametrize("text", ["4", "2x", "0x2", "2x9", "axb"])
def test_bad_streams_argument(text):
    with pytest.raises(ValueError, match="streams"):
        parse_streams(text)


@pytest.mark.dds
@pytest.mark.slow
def test_size_bench_reports_in_process_ratio_and_transport_floor(dds_env, random_tiny_weights, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--weights", str(random_tiny_weights), "--size", "96x64", "--frames", "3",
                 "--warmup", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["ratio_in_process_to_bare_model"] > 0.5
    floor = result["transport_floor_ms"]
    assert floor["n"] == 3 and 0 < floor["p50"] <= floor["p95"]
    printed = capsys.readouterr().out
    assert "node in process (core + outputs, no transport) / bare model call" in printed
    assert "DDS transport floor" in printed and "load average" in printed
