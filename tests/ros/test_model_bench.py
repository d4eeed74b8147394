"""`vatex bench --model-only`: the bare model's table on CPU (tiny preset, a tiny budget)."""

import json

from vatex_ros.cli import main


def test_model_bench_reports_rows_stages_and_training(tmp_path, capsys):
    out = tmp_path / "model.json"
    code = main(["bench", "--preset", "tiny", "--device", "cpu", "--precision", "fp32,bf16", "--streams", "1,2",
                 "--size", "96x64", "--calls", "2", "--warmup", "1", "--train-batch", "1", "--train-steps", "1",
                 "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["random_weights"] and "RANDOM weights" in capsys.readouterr().out
    assert [(r["precision"], r["streams"]) for r in result["rows"]] == [("fp32", 1), ("fp32", 2), ("bf16", 1),
                                                                         ("bf16", 2)]
    for row in result["rows"]:
        assert row["p50"] > 0 and abs(row["fps"] - 1000 * row["streams"] / row["p50"]) < 1e-6
    stages = result["stages_ms"]["fp32"]
    assert set(stages) >= {"backbone", "clip_prior", "cmd", "decoder", "total"} and stages["heads_to_backbones"] > 0
    assert sum(stages[s] for s in ("backbone", "clip_prior", "cmd", "decoder")) <= stages["total"] * 1.5
    assert [run["checkpointing"] for run in result["train"]] == [[], ["backbone", "cmd", "decoder"]]
    assert all(run["s_per_step"] > 0 for run in result["train"])


def test_bad_model_bench_options_are_clear_errors(tmp_path):
    assert main(["bench", "--preset", "tiny", "--precision", "int4", "--out", str(tmp_path / "x.json")]) == 2
