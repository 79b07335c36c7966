"""Claims over a seed sweep: shares, margins, the worst seed, the report and the summary
the lessons show, on hand-made results files."""
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from osrkit import claims, results, robustness  # noqa: E402
from osrkit.claims import Claim  # noqa: E402

LESSON = "04_cac_anchors"


def _sweep(tmp_path, values):
    """One results JSON per seed under the workbook's sweep layout."""
    for seed, (cac, softmax) in enumerate(values):
        results.record(LESSON, {"auroc_cac": cac, "auroc_softmax": softmax, "runtime_s": 10.0 + seed},
                       tmp_path / "results" / LESSON / f"seed={seed}", device="cpu")
    return tmp_path / "results"


def test_a_claim_holds_with_and_without_its_margin_above_and_below():
    above = Claim("x", "a", "a ≥ 0.02", lambda r: r["a"], 0.02, 0.01)
    assert above.holds({"a": 0.025}) and not above.holds({"a": 0.025}, with_margin=True)
    assert above.holds({"a": 0.03}, with_margin=True) and not above.holds({"a": 0.01})
    below = Claim("x", "b", "b ≤ 0.1", lambda r: r["b"], 0.1, 0.05, below=True)
    assert below.holds({"b": 0.1}) and not below.holds({"b": 0.1}, with_margin=True) and below.holds({"b": 0.04},
                                                                                                     with_margin=True)
    assert below.condition == "≤ 0.1 (margin 0.05)"
    with pytest.raises(ValueError, match="kind must be"):
        Claim("x", "c", "", lambda r: 0.0, 0.0, kind="hunch")


def test_shares_worst_seed_and_spread_over_a_sweep(tmp_path):
    # CAC − softmax: 0.10, 0.025, 0.00 (fails), 0.05 → holds on 3 of 4, with margin 0.01 on 2
    root = _sweep(tmp_path, [(0.95, 0.85), (0.945, 0.92), (0.90, 0.90), (0.96, 0.91)])
    claim = next(c for c in claims.for_lesson("04") if c.name == "cac_beats_softmax")
    rep = robustness.assess(claim, robustness.load_runs(root, LESSON))
    assert list(rep.values) == ["seed=0", "seed=1", "seed=2", "seed=3"]
    assert rep.share == 0.75 and rep.share_with_margin == 0.5 and rep.worst == ("seed=2", 0.0)
    assert rep.verdict.startswith("finding holds on only 75%")
    row = rep.as_dict()
    assert row["mean"] == pytest.approx(0.04375) and row["std"] == pytest.approx(0.04269, abs=1e-5)
    only = robustness.load_runs(root, LESSON, points=["seed=1", "seed=3"])
    assert list(only) == ["seed=1", "seed=3"]


def test_a_claim_on_an_unrecorded_number_says_what_is_recorded(tmp_path):
    root = _sweep(tmp_path, [(0.95, 0.85)])
    claim = next(c for c in claims.for_lesson("04") if c.name == "cac_beats_openmax")
    with pytest.raises(ValueError, match="records no 'auroc_openmax'.*auroc_cac"):
        robustness.assess(claim, robustness.load_runs(root, LESSON))
    with pytest.raises(ValueError, match="no claims for lesson '99'"):
        claims.for_lesson("99")


def test_report_markdown_summary_and_the_lessons_cell(tmp_path, capsys):
    root = _sweep(tmp_path, [(0.95, 0.85), (0.96, 0.90)])
    only_cac = [c for c in claims.CLAIMS if c.name == "cac_beats_softmax"]
    rep = robustness.report(root, ["04"], only_cac)
    entry = rep["lessons"][LESSON]
    assert entry["runs"] == ["seed=0", "seed=1"] and entry["device"].startswith("cpu: ")
    assert entry["runtime_s"] == {"mean": 10.5, "max": 11.0}
    md, js = robustness.write(rep, tmp_path / "build")
    assert "| CAC's AUROC exceeds max softmax's by at least 0.02 | finding | ≥ 0.02 (margin 0.01) | 2/2 | 2/2 |" \
        in md.read_text()
    assert json.loads(js.read_text()) == json.loads(json.dumps(rep))
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"lessons": {"01_open_set_basics_rings": {"kept": True}}}))
    robustness.update_summary(rep, summary)
    merged = json.loads(summary.read_text())["lessons"]
    assert list(merged) == ["01_open_set_basics_rings", LESSON] and merged["01_open_set_basics_rings"] == {"kept": True}
    fig = robustness.show(LESSON, summary)
    assert "2/2  finding" in capsys.readouterr().out and len(fig.axes) == 1
    from matplotlib.colors import to_rgba
    assert [tuple(c) for c in fig.axes[0].collections[0].get_facecolors()] == [to_rgba("#009E73")] * 2  # both hold
    assert robustness.show("05_gradmix_attribution", summary) is None
    assert "no robustness sweep yet" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no sweep of 05"):
        robustness.report(root, ["05"])
    plt.close("all")


def test_every_lesson_has_claims_and_names_are_unique():
    lessons = {c.lesson for c in claims.CLAIMS}
    assert lessons == {f"{n:02d}_" + s for n, s in ((1, "open_set_basics_rings"), (2, "fooling_and_overgeneralization"),
                                                    (3, "gmvae_subclusters"), (4, "cac_anchors"),
                                                    (5, "gradmix_attribution"), (6, "nas_for_open_set"),
                                                    (7, "capstone_benchmark"))}
    keys = [(c.lesson, c.name) for c in claims.CLAIMS]
    assert len(keys) == len(set(keys))
    alpha = next(c for c in claims.CLAIMS if c.name == "alpha_decided")
    assert alpha.value({"alpha_final": [[0.2, 0.7, 0.1], [0.55, 0.4, 0.05]]}) == 0.55


def test_report_covers_the_lessons_of_the_claims_it_is_given(tmp_path):
    root = tmp_path / "results"
    for seed, value in enumerate([0.3, -0.1]):
        results.record("99_extra", {"gap": value}, root / "99_extra" / f"seed={seed}", device="cpu")
    extra = Claim("99_extra", "gap_positive", "the gap is positive", lambda r: r["gap"], 0.0, kind=claims.TENDENCY)
    assert claims.lessons(["99"], [extra]) == ["99_extra"] and claims.lessons(["99"]) == []
    rep = robustness.report(root, claims=[extra])
    assert list(rep["lessons"]) == ["99_extra"]
    assert rep["lessons"]["99_extra"]["claims"][0]["share"] == 0.5
