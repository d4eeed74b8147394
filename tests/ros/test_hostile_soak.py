"""`vatex soak` (issue 14, deliverable 3): its arithmetic, its prebuilt frames, and a short real run."""

import json

import numpy as np
import pytest

from vatex_ros.cli import main
from vatex_ros.messages import idl
from vatex_ros.tools.bench import image_msg
from vatex_ros.tools.soak import percentiles_ms, prebuilt_frames, slope_per_minute, stamped


def test_slope_is_per_minute_and_zero_for_flat_memory():
    seconds = list(range(0, 300, 1))
    assert slope_per_minute(seconds, [950.0] * len(seconds)) == pytest.approx(0.0, abs=1e-9)
    assert slope_per_minute(seconds, [950.0 + s / 60 * 2 for s in seconds]) == pytest.approx(2.0)
    assert percentiles_ms([0.1] * 10) == {"p50": 100.0, "p95": 100.0, "n": 10}
    assert percentiles_ms([])["p50"] is None


def test_stamped_frames_serialize_like_fresh_ones():
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    (msg, raw), = prebuilt_frames([rgb])
    frame = stamped(msg, raw, 1234.5678)
    assert frame.serialize() == image_msg(rgb, 1234.5678).serialize()
    back = idl.Image.deserialize(frame.serialize())
    assert (back.header.stamp.sec, back.header.stamp.nanosec) == (frame.header.stamp.sec, frame.header.stamp.nanosec)


@pytest.mark.dds
def test_short_soak_reports_memory_latency_and_rates(dds_env, random_tiny_weights, tmp_path, capsys):
    out = tmp_path / "soak.json"
    assert main(["soak", "--minutes", "0.1", "--rate", "4", "--size", "64x48", "--sweep-rates", "4,40",
                 "--sweep-seconds", "4", "--sweep-rounds", "2", "--warmup", "2", "--weights", str(random_tiny_weights),
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    soak = result["soak"]
    assert soak["frames_sent"] >= 20 and soak["frames_answered"] >= 1
    assert soak["rss_mb"]["start"] > 0 and soak["rss_mb"]["peak"] >= soak["rss_mb"]["end"] > 0
    assert "slope_mb_per_min" in soak["rss_mb"] and soak["latency_ms_per_minute"][0]["n"] >= 1
    assert [row["input_rate"] for row in result["flood"]] == [4.0, 40.0]
    assert all(row["masks_per_second"] > 0 for row in result["flood"])
    # interleaved: 2 turns of 2 s per rate; the total is the mean of the turns
    assert all(len(row["masks_per_second_per_round"]) == 2 for row in result["flood"])
    assert all(row["masks_per_second"] == pytest.approx(sum(row["masks_per_second_per_round"]) / 2, abs=0.02)
               for row in result["flood"])
    assert "masks/s" in capsys.readouterr().out
