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
    assert rows.first_task.dataset == "digits" and list(rows.first_runs) == [r["key"] for r in rows]
    assert rows.first_runs["cac/CAC"].result.auroc == rows[3]["auroc"]                 # the figures' scores
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


def test_record_names_and_headline_numbers_by_hand():
    assert [benchmark.record_name(r) for r in ("NAS-OSR eq.5", "GMVAE+NC-U", "CE distance", "top-k")] == \
        ["nas_osr_eq_5", "gmvae_nc_u", "ce_distance", "top_k"]
    rows = [{"key": f"m/{rule}", "rule": rule, "dataset": "d", "split": t, "seed": 0, "auroc": a, "macro_f1": f,
             "oscr": o} for rule, values in {"A-1": [(0.9, 0.8, 0.7), (0.7, 0.6, 0.5)],
                                              "B 2": [(0.6, 0.5, 0.4), (0.8, 0.7, 0.6)]}.items()
            for t, (a, f, o) in enumerate(values)]
    numbers = benchmark.headline_numbers(rows)
    assert numbers["auroc_a_1"] == pytest.approx(0.8) and numbers["f1_b_2"] == pytest.approx(0.6)
    assert numbers["oscr_a_1"] == pytest.approx(0.6)
    # A wins task 0, B task 1: mean ranks 1.5 each, χ²_F = 0, p = 1
    assert numbers["friedman_p"] == pytest.approx(1.0)
    assert math.isnan(benchmark.headline_numbers(rows[:2])["friedman_p"])            # one rule: no test


def test_table_sets_the_papers_numbers_beside_the_means():
    rows = [{"key": key, "rule": key.split("/")[1], "dataset": "mnist5k", "split": t, "seed": 0, "auroc": a,
             "oscr": 0.5, "macro_f1": 0.5, "closed_accuracy": 0.9}
            for key, values in {"softmax/MSP": [0.8, 0.9], "cac/CAC": [0.95, 0.97], "dae/dAE": [0.5, 0.7]}.items()
            for t, a in enumerate(values)]
    table = benchmark.table(rows)
    assert list(table.index) == ["cac/CAC", "softmax/MSP", "dae/dAE"]                 # by mean AUROC
    assert table.loc["softmax/MSP", "auroc"] == "0.850 ± 0.071"
    assert table.loc["cac/CAC", "paper auroc"] == "0.985" and table.loc["softmax/MSP", "paper closed_accuracy"] == "0.997"
    assert table.loc["dae/dAE", "paper auroc"] == "—" and "Table 2" in table.loc["cac/CAC", "paper source"]
    assert "paper oscr" not in table and "oscr" in table                             # no paper reports OSCR
    with pytest.raises(ValueError, match="several datasets"):
        benchmark.table(rows + [{**rows[0], "dataset": "svhn"}])
    for (rule, dataset, metric), (value, source) in benchmark.PAPER_RESULTS.items():
        assert dataset in benchmark.PAPER_DATASET.values() and 0.5 < value < 1 and "Table" in source
        assert any(rule in m.rules for m in map(methods.get, methods.available())), rule


def test_openness_curves_and_score_inputs_come_from_each_rules_own_decisions():
    from osrkit.data import OpenSetSplit
    from osrkit.evaluation import OpenSetResult

    y = np.array([0, 1, 0, 1, -1, -1, -1, -1])
    source = np.array([0, 1, 0, 1, 7, 7, 9, 9])
    novelty = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.1, 0.2])
    task = OpenSetSplit(None, None, None, None, np.zeros((8, 1)), y, (0, 1), (7, 9), source_test=source)
    result = OpenSetResult("r", 0.5, 0.5, 0.5, 1.0, 0.5, 0.5, pred=np.array([0, 1, 0, 1, 0, 1, 0, 1]), novelty=novelty)
    runs = {"m/r": benchmark.RuleRun("m/r", "m", "r", None, result, 1.0)}
    curve = benchmark.openness_curves(task, runs)["m/r"]
    # Q=0: knowns only, sample 3 rejected: F1(class 0) = 1, F1(class 1) = 2/3 → 5/6
    # Q=1 (+ class 7, both rejected): classes 0, 1 as before, unknown P = 2/3, R = 1 → F1 0.8
    # Q=2 (+ class 9, both accepted as 0 and 1): unknown P = 2/3, R = 1/2 → 4/7; class 0 P 2/3 → 0.8; class 1 P 1/2, R 1/2
    assert curve == pytest.approx([5 / 6, (1 + 2 / 3 + 0.8) / 3, (0.8 + 0.5 + 4 / 7) / 3])
    known, unknown, threshold = benchmark.score_histograms(task, runs)["m/r"]
    assert known.tolist() == [0.1, 0.2, 0.3, 0.9] and unknown.tolist() == [0.8, 0.7, 0.1, 0.2] and threshold == 0.5
    y_true, pred, nov = benchmark.explorer_choices(task, runs)["m/r"]
    assert y_true is y and nov is novelty
    pairs = benchmark.metric_pairs([{"key": "k", "closed_accuracy": 0.9, "auroc": 0.8},
                                    {"key": "k", "closed_accuracy": 0.7, "auroc": 0.6}])
    assert pairs["k"][0].tolist() == [0.9, 0.7] and pairs["k"][1].tolist() == [0.8, 0.6]
