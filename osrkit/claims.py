"""Every lesson's headline claims, written once: the statement the lesson makes, the
number it is about (a function of the lesson's results JSON), the bound that number must
pass, the margin it should pass it by, and whether the lesson states it as a *finding*
(it must hold on at least 9 of 10 seeds) or as a *tendency* (the lesson reports how often
it holds). :mod:`osrkit.robustness` measures them over a seed sweep.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

FINDING = "finding"
TENDENCY = "tendency"
#: A finding must hold on at least this share of the seeds of a robustness sweep.
FINDING_SHARE = 0.9


@dataclass(frozen=True)
class Claim:
    """One headline claim of a lesson: ``quantity(numbers)`` must be ``>= bound`` (or
    ``<= bound`` when ``below``); it holds *with margin* when it passes ``bound`` by
    ``margin`` as well."""

    lesson: str
    name: str
    statement: str
    quantity: Callable[[Mapping[str, Any]], float]
    bound: float
    margin: float = 0.0
    below: bool = False
    kind: str = FINDING

    def __post_init__(self) -> None:
        if self.kind not in (FINDING, TENDENCY):
            raise ValueError(f"kind must be {FINDING!r} or {TENDENCY!r}, got {self.kind!r}")
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")

    def value(self, numbers: Mapping[str, Any]) -> float:
        """The claim's number in one run's results (a KeyError names a missing result)."""
        return float(self.quantity(numbers))

    def holds(self, numbers: Mapping[str, Any], *, with_margin: bool = False) -> bool:
        value, extra = self.value(numbers), self.margin if with_margin else 0.0
        return value <= self.bound - extra if self.below else value >= self.bound + extra

    @property
    def condition(self) -> str:
        """"≥ 0.02 (margin 0.01)": the bound as text."""
        text = f"{'≤' if self.below else '≥'} {self.bound:g}"
        return text + (f" (margin {self.margin:g})" if self.margin else "")


def _min_max_alpha(numbers: Mapping[str, Any]) -> float:
    """The smallest, over the layers, of the largest softmax(α) of a layer after the
    search (lesson 06 records softmax(α) as ``alpha_final``, layers × operations)."""
    return float(min(max(layer) for layer in numbers["alpha_final"]))


CLAIMS: tuple[Claim, ...] = (
    # lesson 01 (paper 004, Fig. 2): the dAE confidence keeps the rings, softmax does not
    Claim("01_open_set_basics_rings", "dae_auroc", "the dAE confidence separates ring points from the plane "
          "(AUROC ≥ 0.95)", lambda r: r["auroc_dae"], 0.95, 0.02),
    Claim("01_open_set_basics_rings", "dae_beats_softmax", "the dAE confidence beats max softmax by at least 0.2 "
          "AUROC", lambda r: r["auroc_dae"] - r["auroc_softmax"], 0.2, 0.1),
    # lesson 02 (paper 004, Table I, Fig. 5)
    Claim("02_fooling_and_overgeneralization", "cnn_fooled", "the fooling generator fools the plain CNN at 90% "
          "confidence on at least 80% of its attempts", lambda r: r["fooling_rate_cnn"], 0.8, 0.05),
    Claim("02_fooling_and_overgeneralization", "dae_not_fooled", "the dAE confidence is fooled on at most 10% of "
          "the attempts", lambda r: r["fooling_rate_dae"], 0.1, 0.05, below=True),
    Claim("02_fooling_and_overgeneralization", "dae_accuracy", "the dAE keeps a thresholded accuracy of at least "
          "0.9 at the 90% threshold", lambda r: r["thresholded_acc_dae"], 0.9, 0.02),
    Claim("02_fooling_and_overgeneralization", "cool_fooled_less", "at 99% confidence COOL is fooled less often "
          "than the plain CNN (at 90% both are fooled)", lambda r: r["fooling_rate_cnn_99"] - r["fooling_rate_cool_99"],
          0.01, 0.2, kind=TENDENCY),
    Claim("02_fooling_and_overgeneralization", "dae_one_class", "the dAE's 1-class AUC is at least 0.93 (paper "
          "0.964)", lambda r: r["auc_1class_dae"], 0.93, 0.02),
    # lesson 03 (paper 000, Fig. 4-7)
    Claim("03_gmvae_subclusters", "k_two_even", "the latent-covering elbow picks K = 2 for \"even\"",
          lambda r: float(r["k_selected_even"] == 2), 1.0),
    Claim("03_gmvae_subclusters", "k_two_odd", "the latent-covering elbow picks K = 2 for \"odd\"",
          lambda r: float(r["k_selected_odd"] == 2), 1.0),
    Claim("03_gmvae_subclusters", "purity_even", "with K = 2, \"even\"'s subclusters are the digits 0 and 2 "
          "(purity ≥ 0.9; the paper's Fig. 4-5)", lambda r: r["purity_even"], 0.9, 0.03),
    Claim("03_gmvae_subclusters", "purity_odd", "with K = 2, \"odd\"'s subclusters are the digits 1 and 3 "
          "(purity ≥ 0.9)", lambda r: r["purity_odd"], 0.9, 0.03),
    Claim("03_gmvae_subclusters", "ncu_beats_evt", "GMVAE+NC-U's F1 beats CROSR+EVT's by at least 0.1 (paper 0.29)",
          lambda r: r["f1_gmvae_ncu"] - r["f1_crosr_evt"], 0.1, 0.05),
    Claim("03_gmvae_subclusters", "crosr_ncd_between", "CROSR+NC-D lands between CROSR+EVT and GMVAE+NC-U",
          lambda r: min(r["f1_crosr_ncd"] - r["f1_crosr_evt"], r["f1_gmvae_ncu"] - r["f1_crosr_ncd"]), 0.0,
          kind=TENDENCY),
    # lesson 04 (paper 001, Tables 2-3, Fig. 3)
    Claim("04_cac_anchors", "cac_beats_softmax", "CAC's AUROC exceeds max softmax's by at least 0.02",
          lambda r: r["auroc_cac"] - r["auroc_softmax"], 0.02, 0.01),
    Claim("04_cac_anchors", "cac_beats_openmax", "CAC's AUROC exceeds OpenMax's",
          lambda r: r["auroc_cac"] - r["auroc_openmax"], 0.0, 0.01),
    Claim("04_cac_anchors", "cac_keeps_accuracy", "CAC's closed-set accuracy is within 0.005 of cross-entropy's "
          "or better", lambda r: r["acc_cac"] - r["acc_ce"], -0.005, 0.005),
    # the paper's Fig. 3 (TinyImageNet, fully trained): both terms needed; at quick scale on
    # digits the anchor term alone is about level with CAC, so the lesson reports how often
    Claim("04_cac_anchors", "both_terms_needed", "CAC (anchor + tuplet) beats either term alone",
          lambda r: r["auroc_cac"] - max(r["auroc_anchor_only"], r["auroc_tuplet_only"]), 0.0, kind=TENDENCY),
    # lesson 05 (paper 003, Fig. 6, §4.4): the area (a mean over paired runs) is a finding at
    # this scale (10/10 seeds, +0.0035 ± 0.0008); the AUROC gain is not (a tendency)
    Claim("05_gradmix_attribution", "gradmix_area", "GradMix's activated area (mean of the paired runs) exceeds "
          "plain training's", lambda r: r["activation_area_gradmix"] - r["activation_area_plain"], 0.0, 0.001),
    Claim("05_gradmix_attribution", "gradmix_auroc", "GradMix's AUROC exceeds plain training's",
          lambda r: r["auroc_gradmix"] - r["auroc_plain"], 0.0, kind=TENDENCY),
    # lesson 06 (paper 002)
    Claim("06_nas_for_open_set", "counterfactual_beats_eq5", "the counterfactual rule's AUROC exceeds eq. 5's",
          lambda r: r["auroc_nas"] - r["auroc_nas_eq5"], 0.0, 0.05),
    Claim("06_nas_for_open_set", "counterfactual_beats_msp", "the counterfactual rule's AUROC exceeds the max "
          "softmax of the same network", lambda r: r["auroc_nas"] - r["auroc_msp_same_net"], 0.0, kind=TENDENCY),
    Claim("06_nas_for_open_set", "alpha_decided", "after the search every layer's largest softmax(α) is above 0.5",
          _min_max_alpha, 0.5, 0.05),
    # lesson 07 (papers 001-003 side by side)
    Claim("07_capstone_benchmark", "cac_beats_msp", "CAC's mean AUROC exceeds MSP's by at least 0.02",
          lambda r: r["auroc_cac"] - r["auroc_msp"], 0.02, 0.01),
    Claim("07_capstone_benchmark", "cac_beats_openmax", "CAC's mean AUROC exceeds OpenMax's",
          lambda r: r["auroc_cac"] - r["auroc_openmax"], 0.0, 0.01),
    Claim("07_capstone_benchmark", "ncu_beats_ncd", "GMVAE+NC-U's mean AUROC exceeds GMVAE+NC-D's",
          lambda r: r["auroc_gmvae_nc_u"] - r["auroc_gmvae_nc_d"], 0.0, 0.05),
)


def lessons(only: Sequence[str] | None = None, claims: Sequence[Claim] = CLAIMS) -> list[str]:
    """The lessons with ``claims``, in order; ``only`` keeps those whose stem starts with
    one of its entries (``["02", "04"]``)."""
    return sorted({c.lesson for c in claims if not only or any(c.lesson.startswith(o) for o in only)})


def for_lesson(lesson: str) -> tuple[Claim, ...]:
    """The claims of one lesson (its notebook stem, or a prefix such as ``"04"``)."""
    found = tuple(c for c in CLAIMS if c.lesson == lesson or c.lesson.startswith(f"{lesson}_"))
    if not found:
        raise ValueError(f"no claims for lesson {lesson!r}; lessons with claims: {sorted({c.lesson for c in CLAIMS})}")
    return found
