"""The capstone benchmark: every registered method on the same tasks, one tidy row per
(method, rule, dataset, split, seed), summaries and a rank test (lesson 07).

- :func:`run` fits each method on each task (:func:`osrkit.data.standard_task`; trained
  networks come from the checkpoint cache when present) and evaluates every rule with
  :func:`osrkit.evaluation.evaluate`;
- :func:`summary` gives mean ± std per rule over splits and seeds;
- :func:`rank` gives each rule's mean rank over the tasks, the Friedman test over the
  ranks and the Nemenyi critical difference (Demšar 2006, the critical-difference diagram);
- :func:`write` saves the rows as CSV and JSON; :func:`collect` merges the rows of every
  run found under a results folder (a papermill sweep writes one folder per point);
- :func:`table` sets the summary beside the papers' own numbers (:data:`PAPER_RESULTS`),
  :func:`openness_curves` gives macro-F1 as unknown classes join, per rule.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import methods as registry
from .data import OpenSetSplit, standard_task
from .evaluation import OpenSetResult, evaluate
from .metrics import f1_versus_unknowns
from .scoring import Scorer
from .results import write_text_atomic
from .train import progress_bar

#: The columns of a row, in order (the metrics are those of :class:`OpenSetResult`).
COLUMNS = ("key", "method", "rule", "dataset", "split", "seed", "auroc", "oscr", "macro_f1", "closed_accuracy",
           "tnr_at_95tpr", "threshold", "train_seconds", "parameters")
METRICS = ("auroc", "oscr", "macro_f1", "closed_accuracy", "tnr_at_95tpr")


def rule_key(method: str, rule: str) -> str:
    """``<method>/<rule>``, the key of a rule in tables and results."""
    return f"{method}/{rule}"


def _parameter_count(scorer) -> int | None:
    model = getattr(scorer, "model", None)
    if model is None or not hasattr(model, "parameters"):
        return None
    return int(sum(p.numel() for p in model.parameters()))


@dataclass(frozen=True)
class RuleRun:
    """One fitted rule on one task: its scorer and its evaluation (whose ``pred`` and
    ``novelty`` feed the histograms, openness curves and threshold explorer)."""

    key: str
    method: str
    rule: str
    scorer: Scorer
    result: OpenSetResult
    train_seconds: float


class BenchmarkRows(list):
    """The rows of :func:`run` (a plain list of dicts, one per rule and task), plus the
    first task and its :class:`RuleRun` s by key, kept for the figures of one split."""

    first_task: OpenSetSplit | None = None
    first_runs: dict[str, RuleRun] | None = None


def fit_rules(task: OpenSetSplit, methods: Sequence[str] | None = None, *, seed: int = 0, quick: bool = True,
              device: str = "auto", cache_dir: str | None = "auto", configs: Mapping[str, Any] | None = None,
              on_fitted: Callable[[str], None] | None = None) -> dict[str, RuleRun]:
    """Fit every method of ``methods`` (default: all registered) on ``task`` and evaluate each
    of its rules; returns the :class:`RuleRun` s by key (``<method>/<rule>``). ``configs``
    maps a method name to its config (default: the quick or full preset); ``on_fitted(name)``
    is called after each method (a progress bar's hook)."""
    names = list(methods) if methods is not None else registry.available()
    chosen = [registry.get(name) for name in names]          # unknown names fail here, listing the valid ones
    configs = dict(configs or {})
    stray = sorted(set(configs) - set(names))
    if stray:
        raise ValueError(f"configs given for {stray}, which are not among the methods run ({names})")
    runs: dict[str, RuleRun] = {}
    for method in chosen:
        start = time.perf_counter()
        fitted = method.fit(task, seed=seed, device=device, quick=quick, cache_dir=cache_dir,
                            config=configs.get(method.name), progress=False)
        seconds = time.perf_counter() - start
        for rule, scorer in fitted.items():
            key = rule_key(method.name, rule)
            runs[key] = RuleRun(key, method.name, rule, scorer, evaluate(scorer, task), seconds)
        if on_fitted is not None:
            on_fitted(method.name)
    return runs


def run(methods: Sequence[str] | None = None, datasets: Sequence[str] = ("mnist5k",), splits: Sequence[int] = (0, 1),
        seeds: Sequence[int] = (0,), *, quick: bool = True, device: str = "auto", cache_dir: str | None = "auto",
        configs: Mapping[str, Any] | None = None, progress: bool = True) -> BenchmarkRows:
    """Fit every method of ``methods`` (default: all registered) on every standard split of
    every dataset for every seed, and evaluate each of its rules: one row (:data:`COLUMNS`)
    per (method, rule, dataset, split, seed). ``train_seconds`` is the wall time of the
    method's fit (small on a cache hit); ``parameters`` counts the rule's network.
    ``configs`` maps a method name to its config (default: the quick or full preset)."""
    names = list(methods) if methods is not None else registry.available()
    points = [(d, s, seed) for d in datasets for s in splits for seed in seeds]
    rows = BenchmarkRows()
    bar = progress_bar(total=len(points) * len(names), desc="benchmark", disable=not progress)
    for dataset, split, seed in points:
        task = standard_task(dataset, split, seed=seed)
        bar.set_postfix(task=f"{dataset}/{split}/{seed}")
        runs = fit_rules(task, names, seed=seed, quick=quick, device=device, cache_dir=cache_dir,
                         configs=configs, on_fitted=lambda name: bar.update(1))
        for r in runs.values():
            rows.append({"key": r.key, "method": r.method, "rule": r.rule, "dataset": dataset, "split": int(split),
                         "seed": int(seed), **r.result.as_dict(), "train_seconds": r.train_seconds,
                         "parameters": _parameter_count(r.scorer)})
        if rows.first_task is None:
            rows.first_task, rows.first_runs = task, runs
    bar.close()
    return rows


def write(rows: Sequence[Mapping[str, Any]], results_dir: str | os.PathLike,
          name: str = "benchmark") -> tuple[Path, Path]:
    """The rows as ``{results_dir}/{name}.csv`` (tidy, :data:`COLUMNS`) and ``.json``,
    written atomically; returns both paths."""
    import io

    out = Path(results_dir)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / f"{name}.csv", buffer.getvalue())
    write_text_atomic(out / f"{name}.json", json.dumps(list(rows), indent=1) + "\n")
    return out / f"{name}.csv", out / f"{name}.json"


def collect(results_dir: str | os.PathLike, name: str = "benchmark") -> list[dict[str, Any]]:
    """Every row of every ``{name}.json`` under ``results_dir`` (any depth: a sweep writes
    one folder per point), in path order; a row seen twice (same key, dataset, split and
    seed) is an error, since two runs of one point would be averaged twice."""
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, Path] = {}
    files = sorted(Path(results_dir).rglob(f"{name}.json"))
    if not files:
        raise FileNotFoundError(f"no {name}.json under {results_dir}: run the benchmark (or a sweep) there first")
    for path in files:
        for row in json.loads(path.read_text()):
            point = (row["key"], row["dataset"], row["split"], row["seed"])
            if point in seen:
                raise ValueError(f"{point} appears in both {seen[point]} and {path}; remove one of the runs")
            seen[point] = path
            rows.append(row)
    return rows


def summary(rows: Iterable[Mapping[str, Any]], metrics: Sequence[str] = METRICS) -> dict[str, dict[str, tuple]]:
    """Per rule key: (mean, sample std, count) of each metric over its rows (std 0 for one row)."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["key"], []).append(row)
    out = {}
    for key, group in grouped.items():
        out[key] = {}
        for m in metrics:
            values = np.array([float(r[m]) for r in group])
            out[key][m] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values))
    return out


@dataclass(frozen=True)
class RankTest:
    """Mean rank per rule (1 = best) over ``blocks`` tasks, the Friedman statistic and
    p-value over the ranks, and the Nemenyi critical difference at ``alpha``: two rules
    whose mean ranks differ by less than it are not significantly different."""

    mean_ranks: dict[str, float]
    blocks: int
    friedman_statistic: float
    friedman_p: float
    critical_difference: float
    alpha: float = 0.05


def nemenyi_critical_difference(rules: int, blocks: int, alpha: float = 0.05) -> float:
    """CD = q_α √(k(k+1)/(6N)) with q_α the studentized range quantile / √2 (Demšar 2006,
    Table 5: q_0.05 = 1.960, 2.343, 2.569, … for k = 2, 3, 4, …)."""
    from scipy.stats import studentized_range

    if rules < 2 or blocks < 1:
        raise ValueError(f"need at least 2 rules and 1 task, got {rules} and {blocks}")
    q = studentized_range.ppf(1 - alpha, rules, math.inf) / math.sqrt(2)
    return float(q * math.sqrt(rules * (rules + 1) / (6 * blocks)))


def rank(rows: Iterable[Mapping[str, Any]], metric: str = "auroc", *, alpha: float = 0.05) -> RankTest:
    """Rank the rules within each task (dataset, split, seed) by ``metric`` (higher is
    better, rank 1; ties share the mean rank), average the ranks over tasks and test them
    with the Friedman test (χ²_F = 12N/(k(k+1)) [Σ_j R_j² − k(k+1)²/4]) and the Nemenyi
    critical difference. Only tasks on which every rule has a row count."""
    from scipy.stats import chi2, rankdata

    table: dict[tuple, dict[str, float]] = {}
    for row in rows:
        table.setdefault((row["dataset"], row["split"], row["seed"]), {})[row["key"]] = float(row[metric])
    keys = sorted({k for scores in table.values() for k in scores})
    blocks = [scores for scores in table.values() if set(scores) == set(keys)]
    if len(keys) < 2 or not blocks:
        raise ValueError(f"rank needs at least 2 rules with a row on a common task; got rules {keys}")
    ranks = np.array([rankdata([-b[k] for k in keys]) for b in blocks])      # (N, k), 1 = best
    n, k = ranks.shape
    mean_ranks = ranks.mean(0)
    statistic = 12 * n / (k * (k + 1)) * (np.sum(mean_ranks ** 2) - k * (k + 1) ** 2 / 4)
    p = float(chi2.sf(statistic, k - 1))
    return RankTest(dict(zip(keys, mean_ranks.tolist())), n, float(statistic), p,
                    nemenyi_critical_difference(k, n, alpha), alpha)


def record_name(rule: str) -> str:
    """A rule's name in result keys: lower case, every non-alphanumeric to ``_``
    ("NAS-OSR eq.5" → "nas_osr_eq_5")."""
    return re.sub(r"[^a-z0-9]", "_", rule.lower())


def headline_numbers(rows: Sequence[Mapping[str, Any]], metric: str = "auroc") -> dict[str, float]:
    """The capstone's records: per rule the mean ``auroc_<rule>``, ``f1_<rule>`` (macro-F1)
    and ``oscr_<rule>`` over every row (:func:`record_name`), and ``friedman_p`` of
    :func:`rank` over ``metric`` (NaN with fewer than two rules or no common task)."""
    means = summary(rows, ("auroc", "macro_f1", "oscr"))
    rule_of = {row["key"]: row["rule"] for row in rows}
    numbers: dict[str, float] = {}
    for key, stats in means.items():
        name = record_name(rule_of[key])
        numbers.update({f"auroc_{name}": stats["auroc"][0], f"f1_{name}": stats["macro_f1"][0],
                        f"oscr_{name}": stats["oscr"][0]})
    try:
        numbers["friedman_p"] = rank(rows, metric).friedman_p
    except ValueError:
        numbers["friedman_p"] = math.nan
    return numbers


#: The datasets of the papers' tables that a benchmark dataset stands in for: quick
#: mode's ``mnist5k`` is 5,000 real MNIST digits, so the MNIST column is the reference.
PAPER_DATASET = {"mnist5k": "mnist", "mnist": "mnist", "svhn": "svhn", "cifar10": "cifar10",
                 "cifar+10": "cifar+10", "cifar+50": "cifar+50"}

#: The papers' own numbers at paper scale, (rule, paper dataset, metric) → (value, source).
#: AUROC: CAC paper Table 2 (MSP, OpenMax and CROSR rows copied there from Neal et al. 2018
#: and Yoshihashi et al. 2019, as in papers 002 and 003), NAS-OSR paper Table 1, GradMix
#: paper Table 2 (on MNIST without GradMix itself, §4.1); means over 5 splits, no spread given.
#: Macro-F1: NAS-OSR paper Table 2 (baselines from Yue et al. 2021; mean of 6 runs).
#: Closed-set accuracy: CAC paper Table 3 ("Cross-Entropy" is the classifier behind MSP;
#: one column for CIFAR+10/+50, which share their known classes). No paper reports OSCR;
#: GMVAE's results (paper 000) are figures on other splits, so it has no entry.
PAPER_RESULTS: dict[tuple[str, str, str], tuple[float, str]] = {
    ("MSP", "mnist", "auroc"): (0.978, "CAC paper (001), Table 2"),
    ("MSP", "svhn", "auroc"): (0.886, "CAC paper (001), Table 2"),
    ("MSP", "cifar10", "auroc"): (0.677, "CAC paper (001), Table 2"),
    ("MSP", "cifar+10", "auroc"): (0.816, "CAC paper (001), Table 2"),
    ("MSP", "cifar+50", "auroc"): (0.805, "CAC paper (001), Table 2"),
    ("OpenMax", "mnist", "auroc"): (0.981, "CAC paper (001), Table 2"),
    ("OpenMax", "svhn", "auroc"): (0.894, "CAC paper (001), Table 2"),
    ("OpenMax", "cifar10", "auroc"): (0.695, "CAC paper (001), Table 2"),
    ("OpenMax", "cifar+10", "auroc"): (0.817, "CAC paper (001), Table 2"),
    ("OpenMax", "cifar+50", "auroc"): (0.796, "CAC paper (001), Table 2"),
    ("CROSR+EVT", "mnist", "auroc"): (0.991, "CAC paper (001), Table 2"),
    ("CROSR+EVT", "svhn", "auroc"): (0.899, "CAC paper (001), Table 2"),
    ("CAC", "mnist", "auroc"): (0.985, "CAC paper (001), Table 2"),
    ("CAC", "svhn", "auroc"): (0.938, "CAC paper (001), Table 2"),
    ("CAC", "cifar10", "auroc"): (0.803, "CAC paper (001), Table 2"),
    ("CAC", "cifar+10", "auroc"): (0.863, "CAC paper (001), Table 2"),
    ("CAC", "cifar+50", "auroc"): (0.872, "CAC paper (001), Table 2"),
    ("top-k", "mnist", "auroc"): (0.998, "GradMix paper (003), Table 2"),
    ("top-k", "svhn", "auroc"): (0.947, "GradMix paper (003), Table 2"),
    ("top-k", "cifar10", "auroc"): (0.9133, "GradMix paper (003), Table 2"),
    ("top-k", "cifar+10", "auroc"): (0.9862, "GradMix paper (003), Table 2"),
    ("top-k", "cifar+50", "auroc"): (0.9764, "GradMix paper (003), Table 2"),
    ("NAS-OSR", "mnist", "auroc"): (0.961, "NAS-OSR paper (002), Table 1"),
    ("NAS-OSR", "svhn", "auroc"): (0.949, "NAS-OSR paper (002), Table 1"),
    ("NAS-OSR", "cifar10", "auroc"): (0.843, "NAS-OSR paper (002), Table 1"),
    ("NAS-OSR", "cifar+10", "auroc"): (0.84, "NAS-OSR paper (002), Table 1"),
    ("NAS-OSR", "cifar+50", "auroc"): (0.871, "NAS-OSR paper (002), Table 1"),
    ("MSP", "mnist", "macro_f1"): (0.7682, "NAS-OSR paper (002), Table 2"),
    ("MSP", "svhn", "macro_f1"): (0.7616, "NAS-OSR paper (002), Table 2"),
    ("MSP", "cifar10", "macro_f1"): (0.7039, "NAS-OSR paper (002), Table 2"),
    ("MSP", "cifar+10", "macro_f1"): (0.7782, "NAS-OSR paper (002), Table 2"),
    ("MSP", "cifar+50", "macro_f1"): (0.6596, "NAS-OSR paper (002), Table 2"),
    ("OpenMax", "mnist", "macro_f1"): (0.8593, "NAS-OSR paper (002), Table 2"),
    ("OpenMax", "svhn", "macro_f1"): (0.7795, "NAS-OSR paper (002), Table 2"),
    ("OpenMax", "cifar10", "macro_f1"): (0.7138, "NAS-OSR paper (002), Table 2"),
    ("OpenMax", "cifar+10", "macro_f1"): (0.7868, "NAS-OSR paper (002), Table 2"),
    ("OpenMax", "cifar+50", "macro_f1"): (0.6768, "NAS-OSR paper (002), Table 2"),
    ("NAS-OSR", "mnist", "macro_f1"): (0.9204, "NAS-OSR paper (002), Table 2"),
    ("NAS-OSR", "svhn", "macro_f1"): (0.8249, "NAS-OSR paper (002), Table 2"),
    ("NAS-OSR", "cifar10", "macro_f1"): (0.7529, "NAS-OSR paper (002), Table 2"),
    ("NAS-OSR", "cifar+10", "macro_f1"): (0.8096, "NAS-OSR paper (002), Table 2"),
    ("NAS-OSR", "cifar+50", "macro_f1"): (0.7671, "NAS-OSR paper (002), Table 2"),
    ("MSP", "mnist", "closed_accuracy"): (0.997, "CAC paper (001), Table 3"),
    ("MSP", "svhn", "closed_accuracy"): (0.963, "CAC paper (001), Table 3"),
    ("MSP", "cifar10", "closed_accuracy"): (0.927, "CAC paper (001), Table 3"),
    ("MSP", "cifar+10", "closed_accuracy"): (0.947, "CAC paper (001), Table 3"),
    ("MSP", "cifar+50", "closed_accuracy"): (0.947, "CAC paper (001), Table 3"),
    ("CAC", "mnist", "closed_accuracy"): (0.998, "CAC paper (001), Table 3"),
    ("CAC", "svhn", "closed_accuracy"): (0.97, "CAC paper (001), Table 3"),
    ("CAC", "cifar10", "closed_accuracy"): (0.934, "CAC paper (001), Table 3"),
    ("CAC", "cifar+10", "closed_accuracy"): (0.952, "CAC paper (001), Table 3"),
    ("CAC", "cifar+50", "closed_accuracy"): (0.952, "CAC paper (001), Table 3"),
}


def table(rows: Sequence[Mapping[str, Any]], dataset: str | None = None, *,
          metrics: Sequence[str] = ("auroc", "oscr", "macro_f1", "closed_accuracy")):
    """A pandas table, one line per rule sorted by mean AUROC: each metric as "mean ± std"
    over the rows of ``dataset`` (default: the only dataset in ``rows``), and beside it the
    paper's number for that metric on the corresponding paper dataset
    (:data:`PAPER_DATASET`, :data:`PAPER_RESULTS`), with its source; a paper column that no
    rule has (OSCR: no paper reports it) is left out."""
    import pandas as pd

    datasets = sorted({row["dataset"] for row in rows})
    if dataset is None:
        if len(datasets) != 1:
            raise ValueError(f"the rows hold several datasets {datasets}: pass dataset= to pick one")
        dataset = datasets[0]
    chosen = [row for row in rows if row["dataset"] == dataset]
    if not chosen:
        raise ValueError(f"no rows for dataset {dataset!r}; the rows hold {datasets}")
    stats = summary(chosen, metrics)
    rule_of = {row["key"]: row["rule"] for row in chosen}
    paper_dataset = PAPER_DATASET.get(dataset)
    lines = []
    for key in sorted(stats, key=lambda k: -stats[k][metrics[0]][0]):
        line: dict[str, Any] = {"rule": key, "runs": stats[key][metrics[0]][2]}
        sources = []
        for m in metrics:
            mean, std, _ = stats[key][m]
            line[m] = f"{mean:.3f} ± {std:.3f}"
            paper = PAPER_RESULTS.get((rule_of[key], paper_dataset, m))
            line[f"paper {m}"] = f"{paper[0]:.3f}" if paper else "—"
            if paper and paper[1] not in sources:
                sources.append(paper[1])
        line["paper source"] = "; ".join(sources) or "—"
        lines.append(line)
    frame = pd.DataFrame(lines).set_index("rule")
    unreported = [c for c in frame if c.startswith("paper ") and (frame[c] == "—").all()]
    return frame.drop(columns=unreported)


def openness_curves(task: OpenSetSplit, runs: Mapping[str, RuleRun]) -> dict[str, np.ndarray]:
    """Per rule key, test macro-F1 as the task's unknown classes join one at a time (in the
    order of ``task.unknown_classes``), each rule at its own validation threshold
    (:func:`osrkit.metrics.f1_versus_unknowns`)."""
    if task.source_test is None:
        raise ValueError("the task has no source labels (source_test) to add unknown classes one by one")
    return {key: f1_versus_unknowns(task.y_test, r.result.decisions(), task.source_test, task.unknown_classes,
                                    num_known=task.num_known) for key, r in runs.items()}


def metric_pairs(rows: Sequence[Mapping[str, Any]], x: str = "closed_accuracy",
                 y: str = "auroc") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per rule key, its (``x`` values, ``y`` values) over the tasks, in row order (for
    :func:`osrkit.plots.plot_metric_pairs`: AUROC against closed-set accuracy)."""
    pairs: dict[str, tuple[list, list]] = {}
    for row in rows:
        xs, ys = pairs.setdefault(row["key"], ([], []))
        xs.append(float(row[x]))
        ys.append(float(row[y]))
    return {key: (np.array(xs), np.array(ys)) for key, (xs, ys) in pairs.items()}


def explorer_choices(task: OpenSetSplit, runs: Mapping[str, RuleRun]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per rule key, (true test labels, predicted class, novelty): the input of
    :func:`osrkit.widgets.rule_threshold_explorer`."""
    return {key: (task.y_test, r.result.pred, r.result.novelty) for key, r in runs.items()}


def score_histograms(task: OpenSetSplit, runs: Mapping[str, RuleRun]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per rule key, (known test novelty, unknown test novelty, its validation threshold):
    the input of :func:`osrkit.plots.plot_histogram_grid`."""
    known = task.y_test >= 0
    return {key: (r.result.novelty[known], r.result.novelty[~known], r.result.threshold) for key, r in runs.items()}
