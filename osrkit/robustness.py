"""How often each lesson's headline claims (:mod:`osrkit.claims`) hold over a seed sweep.

    python -m osrkit.robustness --run --seeds 0..9          # sweep every lesson, then report
    python -m osrkit.robustness --only 04 --seeds 0..2      # report on a sweep already run
    make robustness ARGS="--seeds 0..2"                     # a 3-seed screen

``--run`` runs ``python -m osrkit.workbook --only NN --sweep seed=…`` for every lesson
(resumable: seeds already done are skipped); the report reads each seed's results JSON
from ``{build}/results/{lesson}/seed=k/``. Per claim it gives the share of seeds on which
it holds (and holds with its margin), the worst seed, and the mean and spread of its
number; ``{build}/robustness.md`` and ``{build}/robustness.json`` hold it, and
``--update-summary`` copies the small summary the lessons show ("how often does this
hold?") into the package, :data:`SUMMARY_PATH`.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .claims import CLAIMS, FINDING, FINDING_SHARE, Claim, lessons as claim_lessons
from .results import write_text_atomic
from .workbook import parse_grid

#: The committed summary the lessons read (refreshed by ``--update-summary``).
SUMMARY_PATH = Path(__file__).resolve().parent / "robustness.json"


@dataclass(frozen=True)
class ClaimReport:
    """A claim measured over the runs of a sweep: ``values`` by run (seed) name."""

    claim: Claim
    values: dict[str, float]
    holds: dict[str, bool]
    holds_with_margin: dict[str, bool]

    @property
    def runs(self) -> int:
        return len(self.values)

    @property
    def share(self) -> float:
        return sum(self.holds.values()) / self.runs

    @property
    def share_with_margin(self) -> float:
        return sum(self.holds_with_margin.values()) / self.runs

    @property
    def worst(self) -> tuple[str, float]:
        """The run whose number is furthest on the wrong side (the smallest, or the largest
        for a ``below`` claim)."""
        pick = max if self.claim.below else min
        name = pick(self.values, key=self.values.get)
        return name, self.values[name]

    @property
    def verdict(self) -> str:
        """"ok", or what is wrong: a finding below :data:`FINDING_SHARE`."""
        if self.claim.kind == FINDING and self.share < FINDING_SHARE:
            return f"finding holds on only {self.share:.0%}: retune or state it as a tendency"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        values = np.array(list(self.values.values()))
        worst_run, worst_value = self.worst
        return {"lesson": self.claim.lesson, "claim": self.claim.name, "statement": self.claim.statement,
                "kind": self.claim.kind, "condition": self.claim.condition, "runs": self.runs,
                "share": self.share, "share_with_margin": self.share_with_margin, "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0, "worst_run": worst_run,
                "worst_value": worst_value, "values": self.values, "holds": self.holds, "verdict": self.verdict}


def _seed_order(name: str) -> tuple:
    """Sort ``seed=10`` after ``seed=9``."""
    return tuple(int(p) if p.isdigit() else p for p in name.replace("=", ",").split(","))


def load_runs(results_root: str | Path, lesson: str,
              points: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every sweep point's results of ``lesson`` under ``{results_root}/{lesson}/{point}/``
    (only ``points``, e.g. ``["seed=0", "seed=1"]``, when given), by point name, in seed order."""
    folder = Path(results_root) / lesson
    found = {p.parent.name: json.loads(p.read_text()) for p in folder.glob(f"*/{lesson}.json")
             if points is None or p.parent.name in points}
    return {name: found[name] for name in sorted(found, key=_seed_order)}


def assess(claim: Claim, runs: Mapping[str, Mapping[str, Any]]) -> ClaimReport:
    """``claim`` on every run (name → results)."""
    if not runs:
        raise ValueError(f"no runs of {claim.lesson} to assess {claim.name!r} on: run its sweep first")
    for name, r in runs.items():
        try:
            claim.value(r)
        except KeyError as missing:
            raise ValueError(f"{claim.lesson} ({name}) records no {missing}, which claim {claim.name!r} reads; "
                             f"it records {sorted(r)}") from None
    return ClaimReport(claim, {n: claim.value(r) for n, r in runs.items()},
                       {n: claim.holds(r) for n, r in runs.items()},
                       {n: claim.holds(r, with_margin=True) for n, r in runs.items()})


def _device_of(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """Where the runs were measured, from their provenance ("cpu: <model>, 2 threads")."""
    seen = set()
    for r in runs.values():
        p = r.get("provenance") or {}
        where = p.get("device") if p.get("device") not in (None, "cpu") else f"cpu: {p.get('cpu')}"
        seen.add(f"{where}, {p.get('cpu_threads')} threads" if p else "unknown (no provenance)")
    return "; ".join(sorted(seen))


def report(results_root: str | Path, lessons: Sequence[str] | None = None, claims: Sequence[Claim] = CLAIMS,
           points: Sequence[str] | None = None) -> dict[str, Any]:
    """Every claim of ``lessons`` (default: every lesson with runs under ``results_root``)
    assessed on its runs (``points`` only, when given):
    ``{"lessons": {lesson: {"device", "runs", "runtime_s", "claims": [...]}}}``."""
    chosen = claim_lessons(lessons, claims)
    out: dict[str, Any] = {"lessons": {}}
    for lesson in chosen:
        runs = load_runs(results_root, lesson, points)
        if not runs:
            if lessons is not None:
                raise FileNotFoundError(f"no sweep of {lesson} under {Path(results_root) / lesson}: run "
                                        f"python -m osrkit.robustness --run --only {lesson[:2]}")
            continue
        seconds = [r["runtime_s"] for r in runs.values() if isinstance(r.get("runtime_s"), (int, float))]
        out["lessons"][lesson] = {
            "device": _device_of(runs), "runs": list(runs),
            "runtime_s": {"mean": float(np.mean(seconds)), "max": float(np.max(seconds))} if seconds else None,
            "claims": [assess(c, runs).as_dict() for c in claims if c.lesson == lesson]}
    return out


def to_markdown(rep: Mapping[str, Any]) -> str:
    """The report as a Markdown page: one table per lesson."""
    lines = ["# How often do the lessons' claims hold?", "",
             f"A finding must hold on at least {FINDING_SHARE:.0%} of the seeds; a tendency is reported with its "
             "share. \"with margin\": the number passes its bound by the claim's margin as well.", ""]
    for lesson, entry in rep["lessons"].items():
        runtime = entry.get("runtime_s")
        lines += [f"## {lesson}", "", f"{len(entry['runs'])} runs ({', '.join(entry['runs'])}) on {entry['device']}"
                  + (f"; {runtime['mean']:.0f} s a run on average, {runtime['max']:.0f} s at most" if runtime else "")
                  + ".", "", "| claim | kind | condition | holds | with margin | mean ± std | worst | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in entry["claims"]:
            holds = round(c["share"] * c["runs"])
            margin = round(c["share_with_margin"] * c["runs"])
            lines.append(f"| {c['statement']} | {c['kind']} | {c['condition']} | {holds}/{c['runs']} | "
                         f"{margin}/{c['runs']} | {c['mean']:.3f} ± {c['std']:.3f} | {c['worst_value']:.3f} "
                         f"({c['worst_run']}) | {c['verdict']} |")
        lines.append("")
    return "\n".join(lines)


def write(rep: Mapping[str, Any], build: str | Path) -> tuple[Path, Path]:
    """``{build}/robustness.md`` and ``{build}/robustness.json``."""
    build = Path(build)
    return (write_text_atomic(build / "robustness.md", to_markdown(rep) + "\n"),
            write_text_atomic(build / "robustness.json", json.dumps(rep, indent=1) + "\n"))


def update_summary(rep: Mapping[str, Any], path: str | Path = SUMMARY_PATH) -> Path:
    """Merge ``rep``'s lessons into the committed summary (lessons not in ``rep`` keep theirs)."""
    path = Path(path)
    summary = json.loads(path.read_text()) if path.exists() else {"lessons": {}}
    summary["lessons"].update(rep["lessons"])
    summary["lessons"] = dict(sorted(summary["lessons"].items()))
    return write_text_atomic(path, json.dumps(summary, indent=1) + "\n")


def lesson_summary(lesson: str, path: str | Path = SUMMARY_PATH) -> dict[str, Any] | None:
    """The committed summary of one lesson (its notebook stem), or None if not measured."""
    path = Path(path)
    if not path.exists():
        return None
    return json.loads(path.read_text())["lessons"].get(lesson)


def show(lesson: str, path: str | Path = SUMMARY_PATH):
    """The lessons' "how often does this hold?" cell: the lesson's claims over the committed
    sweep, and each claim's number per seed (green where it holds) against its bound.
    Returns the figure (None when the lesson has not been swept yet)."""
    import matplotlib.pyplot as plt

    entry = lesson_summary(lesson, path)
    if entry is None:
        print(f"{lesson} has no robustness sweep yet: run `make robustness ARGS=\"--only {lesson[:2]} "
              f"--update-summary\"` from the workbook folder")
        return None
    print(f"over {len(entry['runs'])} seeds on {entry['device']}:")
    for c in entry["claims"]:
        print(f"  {round(c['share'] * c['runs'])}/{c['runs']}  {c['kind']:8s} {c['statement']}  "
              f"[{c['mean']:.3f} ± {c['std']:.3f}, worst {c['worst_value']:.3f} at {c['worst_run']}]")
    fig, axes = plt.subplots(1, len(entry["claims"]), figsize=(3.2 * len(entry["claims"]), 2.8), squeeze=False)
    bounds = {c.name: c.bound for c in CLAIMS if c.lesson == lesson}
    for ax, c in zip(axes[0], entry["claims"]):
        names = list(c["values"])
        ax.scatter(range(len(names)), [c["values"][n] for n in names], zorder=3,
                   color=["#009E73" if c["holds"][n] else "#D55E00" for n in names])
        if c["claim"] in bounds:
            ax.axhline(bounds[c["claim"]], color="k", ls="--", lw=1)
        ax.set_xticks(range(len(names)), [n.split("=")[-1] for n in names], fontsize=7)
        ax.set_xlabel("seed", fontsize=8)
        ax.set_title(c["claim"].replace("_", " "), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m osrkit.robustness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0..9", help="seeds of the sweep: a..b or a,b,c (default 0..9)")
    parser.add_argument("--only", nargs="*", default=[], help="lessons (e.g. 02 04); default: every lesson")
    parser.add_argument("--build", type=Path, default=Path(__file__).resolve().parent.parent / "build")
    parser.add_argument("--run", action="store_true", help="run the sweeps first (resumable)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of every kernel (--run)")
    parser.add_argument("--update-summary", action="store_true",
                        help=f"merge the report into the committed summary {SUMMARY_PATH.name}")
    args = parser.parse_args(argv)
    seeds = [point["seed"] for point in parse_grid([f"seed={args.seeds}"])]
    lessons = claim_lessons(args.only)
    status = 0
    if args.run:
        for lesson in lessons:
            command = [sys.executable, "-m", "osrkit.workbook", "--only", lesson, "--build", str(args.build),
                       "--sweep", f"seed={','.join(map(str, seeds))}"]
            if args.threads:
                command += ["--threads", str(args.threads)]
            print("$", " ".join(command), flush=True)
            status |= subprocess.run(command).returncode
    points = [f"seed={s}" for s in seeds]
    rep = report(args.build / "results", lessons, points=points)
    for lesson, entry in rep["lessons"].items():
        missing = sorted(set(points) - set(entry["runs"]), key=_seed_order)
        if missing:
            print(f"warning: {lesson} has no results for {missing} (a failed or missing run)", file=sys.stderr)
    md, js = write(rep, args.build)
    print(to_markdown(rep))
    print(f"\nreport: {md} and {js}")
    if args.update_summary:
        print(f"summary: {update_summary(rep)}")
    failing = [(c["lesson"], c["claim"]) for e in rep["lessons"].values() for c in e["claims"] if c["verdict"] != "ok"]
    if failing:
        print(f"{len(failing)} finding(s) below {FINDING_SHARE:.0%}: {failing}", file=sys.stderr)
    return status or (1 if failing else 0)


if __name__ == "__main__":
    sys.exit(main())
