"""The capstone benchmark's tables: rows from real fits, summaries, ranks with the Friedman
test and the Nemenyi critical difference checked by hand, collecting a sweep's runs."""
import csv
import json
import math

import numpy as np
import pytest
from scipy.stats import friedmanchisquare

from osrkit import benchmark, methods


def _rows(scores: dict[str, list[float]], metric: str = "auroc") -> list[dict]:
    """One row per rule and task (split t) with the given metric values."""
    return [{"key": key, "dataset": "d", "split": t, "seed": 0, metric: v}
            for key, values in scores.items() for t, v in enumerate(values)]


def test_rank_and_friedman_against_a_hand_computation():
    # A best everywhere; B second except on task 3, where C beats it
    rows = _rows({"A": [0.9, 0.9, 0.9, 0.9], "B": [0.8, 0.8, 0.8, 0.6], "C": [0.7, 0.7, 0.7, 0.7]})
    test = benchmark.rank(rows, "auroc")
    assert test.mean_ranks == {"A": 1.0, "B": 2.25, "C": 2.75} and test.blocks == 4
    # χ²_F = 12N/(k(k+1)) [Σ R² − k(k+1)²/4] = 48/12 · (1 + 5.0625 + 7.5625 − 12) = 6.5
    assert test.friedman_statistic == pytest.approx(6.5)
    assert test.friedman_p == pytest.approx(math.exp(-6.5 / 2))          # χ² with 2 dof: sf = e^(−x/2)
    no_ties = friedmanchisquare([0.9] * 4, [0.8, 0.8, 0.8, 0.6], [0.7] * 4)
    assert test.friedman_statistic == pytest.approx(no_ties.statistic)
    # CD = q_0.05(k=3) √(k(k+1)/(6N)) = 2.343 · √(12/24)
    assert test.critical_difference == pytest.approx(2.343 * math.sqrt(0.5), abs=1e-3)


def test_nemenyi_quantiles_match_demsars_table():
    for k, q in ((2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (10, 3.164)):
        assert benchmark.nemenyi_critical_difference(k, 6) == pytest.approx(q * math.sqrt(k * (k + 1) / 36), abs=2e-3)


def test_ties_share_ranks_and_incomplete_tasks_are_left_out():
    rows = _rows({"A": [0.9, 0.5], "B": [0.8, 0.4]}) + [{"key": "C", "dataset": "d", "split": 0, "seed": 0,
                                                          "auroc": 0.1}]
    test = benchmark.rank(rows)
    assert test.blocks == 1 and test.mean_ranks == {"A": 1.0, "B": 2.0, "C": 3.0}   # only task 0 has all three
    tied = benchmark.rank(_rows({"A": [0.9], "B": [0.9]}))
    assert tied.mean_ranks == {"A": 1.5, "B": 1.5}
    with pytest.raises(ValueError, match="at least 2 rules"):
        benchmark.rank(_rows({"A": [0.9]}))


def test_summary_gives_mean_std_and_count_per_rule():
    rows = _rows({"A": [0.8, 0.9, 1.0]}, "auroc")
    mean, std, n = benchmark.summary(rows, metrics=("auroc",))["A"]["auroc"]
    assert (mean, n) == (pytest.approx(0.9), 3) and std == pytest.approx(0.1)


def test_collect_merges_the_runs_of_a_sweep_and_refuses_a_point_twice(tmp_path):
    a = [{"key": "softmax/MSP", "dataset": "mnist5k", "split": 0, "seed": s, "auroc": 0.8 + s / 10} for s in (0, 1)]
    b = [{"key": "softmax/MSP", "dataset": "mnist5k", "split": 0, "seed": 2, "auroc": 1.0}]
    benchmark.write(a, tmp_path / "07" / "seed=0,1")
    benchmark.write(b, tmp_path / "07" / "seed=2")
    rows = benchmark.collect(tmp_path)
    assert [r["seed"] for r in rows] == [0, 1, 2]
    assert benchmark.summary(rows, ("auroc",))["softmax/MSP"]["auroc"][0] == pytest.approx(0.9)
    benchmark.write(b, tmp_path / "07" / "seed=2 again")
    with pytest.raises(ValueError, match="appears in both"):
        benchmark.collect(tmp_path)
    with pytest.raises(FileNotFoundError, match="no benchmark.json"):
        benchmark.collect(tmp_path / "empty")


def test_run_gives_one_finite_row_per_rule_and_writes_csv_and_json(tmp_path):
    configs = {"softmax": methods.get("softmax").config(True, epochs=15),
               "cac": methods.get("cac").config(True, epochs=15)}
    rows = benchmark.run(["softmax", "cac"], datasets=("digits",), splits=(0,), seeds=(0,), device="cpu",
                         cache_dir=None, configs=configs, progress=False)
    assert [r["key"] for r in rows] == ["softmax/MSP", "softmax/OpenMax", "softmax/CE distance", "cac/CAC"]
    for row in rows:
        assert all(np.isfinite(row[m]) for m in benchmark.METRICS) and row["parameters"] > 0
        assert row["train_seconds"] > 0 and (row["dataset"], row["split"], row["seed"]) == ("digits", 0, 0)
    csv_path, json_path = benchmark.write(rows, tmp_path)
    with open(csv_path) as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(benchmark.COLUMNS) and len(table) == 4
    assert json.loads(json_path.read_text()) == rows
    with pytest.raises(ValueError, match="not among the methods run"):
        benchmark.run(["softmax"], configs={"cac": configs["cac"]}, progress=False)
