"""training.threshold_table: found figures at given thresholds and the margin to every dataset's bar."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.threshold_table import Bar, found_figures, load_scores, main, margin

# synthetic: 4 targets scored 0.9, 0.8, 0.7, 0.6; 2 absents scored 0.1, 0.65.
# independent: 2 targets scored 0.75, 0.5; 2 absents scored 0.2, 0.3.
SCORES = {
    "synthetic": [[0.9, False], [0.8, False], [0.7, False], [0.6, False], [0.1, True], [0.65, True]],
    "independent": [[0.75, False], [0.5, False], [0.2, True], [0.3, True]],
}


@pytest.fixture
def scores_json(tmp_path):
    path = tmp_path / "val.json"
    path.write_text(json.dumps({"scores": SCORES}))
    return path


def test_found_figures_count_found_targets_and_unfound_absents():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.65])
    no_target = np.array([False] * 4 + [True] * 2)
    t_acc, n_acc = found_figures(scores, no_target, np.array([0.0, 0.66, 0.7, 0.95]))
    np.testing.assert_allclose(t_acc, [100.0, 75.0, 75.0, 0.0])  # score >= threshold is found
    np.testing.assert_allclose(n_acc, [0.0, 100.0, 100.0, 100.0])


def test_table_rows_per_dataset(scores_json, capsys):
    assert main([str(scores_json), "--thresholds", "0.5", "0.7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| threshold | 0.50 | 0.70 |"
    assert lines[2] == "| synthetic T / N | 100.0 / 50.0 | 75.0 / 100.0 |"
    assert lines[3] == "| independent T / N | 100.0 / 100.0 | 50.0 / 100.0 |"


def test_margin_is_the_best_thresholds_smallest_figure_minus_bar(scores_json):
    datasets = load_scores(scores_json)
    # Only at 0.7 (of the scores) is synthetic 75 / 100 and independent 50 / 100: margin 0 (met, just).
    threshold, points = margin(datasets, [Bar("synthetic", 75, 100), Bar("independent", 50, 100)])
    assert points == pytest.approx(0.0)
    assert threshold == pytest.approx(0.7)
    # Synthetic T-acc 100 needs a threshold <= 0.6, where its absent at 0.65 is found: N-acc 50, 40 short of 90.
    threshold, points = margin(datasets, [Bar("synthetic", 100, 90)])
    assert points == pytest.approx(-25.0)  # best: 75 / 100 at (0.6, 0.7] or 100 / 50 below: -25 vs -40
    assert 0.6 < threshold <= 0.7


def test_verdict_printed_with_bars(scores_json, capsys):
    main([str(scores_json), "--bar", "synthetic:100:90"])
    assert "margin -25.00 points (misses a bar)" in capsys.readouterr().out
    main([str(scores_json), "--bar", "independent:50:100"])
    assert "(meets every bar)" in capsys.readouterr().out


def test_refuses_json_without_scores_and_unknown_dataset(tmp_path, scores_json):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"miou": 0.8}))
    with pytest.raises(SystemExit, match="--calibrate"):
        load_scores(plain)
    with pytest.raises(SystemExit, match="'camera'"):
        margin(load_scores(scores_json), [Bar("camera", 95, 95)])


def test_bar_parse():
    assert Bar.parse("independent:95:95.5") == Bar("independent", 95.0, 95.5)
    with pytest.raises(ValueError, match="DATASET:T-ACC:N-ACC"):
        Bar.parse("independent:95")
