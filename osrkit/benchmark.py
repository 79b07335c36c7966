"""The capstone benchmark: every registered method on the same tasks, one tidy row per
(method, rule, dataset, split, seed), summaries and a rank test (lesson 07).

- :func:`run` fits each method on each task (:func:`osrkit.data.standard_task`; trained
  networks come from the checkpoint cache when present) and evaluates every rule with
  :func:`osrkit.evaluation.evaluate`;
- :func:`summary` gives mean ± std per rule over splits and seeds;
- :func:`rank` gives each rule's mean rank over the tasks, the Friedman test over the
  ranks and the Nemenyi critical difference (Demšar 2006, the critical-difference diagram);
- :func:`write` saves the rows as CSV and JSON; :func:`collect` merges the rows of every
  run found under a results folder (a papermill sweep writes one folder per point).
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import methods as registry
from .data import standard_task
from .evaluation import evaluate
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


def run(methods: Sequence[str] | None = None, datasets: Sequence[str] = ("mnist5k",), splits: Sequence[int] = (0, 1),
        seeds: Sequence[int] = (0,), *, quick: bool = True, device: str = "auto", cache_dir: str | None = "auto",
        configs: Mapping[str, Any] | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Fit every method of ``methods`` (default: all registered) on every standard split of
    every dataset for every seed, and evaluate each of its rules: one row (:data:`COLUMNS`)
    per (method, rule, dataset, split, seed). ``train_seconds`` is the wall time of the
    method's fit (small on a cache hit); ``parameters`` counts the rule's network.
    ``configs`` maps a method name to its config (default: the quick or full preset)."""
    names = list(methods) if methods is not None else registry.available()
    chosen = [registry.get(name) for name in names]          # unknown names fail here, listing the valid ones
    configs = dict(configs or {})
    stray = sorted(set(configs) - set(names))
    if stray:
        raise ValueError(f"configs given for {stray}, which are not among the methods run ({names})")
    points = [(d, s, seed) for d in datasets for s in splits for seed in seeds]
    rows: list[dict[str, Any]] = []
    bar = progress_bar(total=len(points) * len(chosen), desc="benchmark", disable=not progress)
    for dataset, split, seed in points:
        task = standard_task(dataset, split, seed=seed)
        for method in chosen:
            bar.set_postfix(task=f"{dataset}/{split}/{seed}", method=method.name, refresh=False)
            start = time.perf_counter()
            fitted = method.fit(task, seed=seed, device=device, quick=quick, cache_dir=cache_dir,
                                config=configs.get(method.name), progress=False)
            seconds = time.perf_counter() - start
            for rule, scorer in fitted.items():
                result = evaluate(scorer, task)
                rows.append({"key": rule_key(method.name, rule), "method": method.name, "rule": rule,
                             "dataset": dataset, "split": int(split), "seed": int(seed), **result.as_dict(),
                             "train_seconds": seconds, "parameters": _parameter_count(scorer)})
            bar.update(1)
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
