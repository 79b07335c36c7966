"""Choosing the number of subclusters K_c of a class (paper 000, §4).

Train a GMVAE on one class alone for K = 1, 2, 3, …, record after every epoch its
latent-covering and reconstruction losses, and compare the curves of covering against
reconstruction (Fig. 6): the covering a model reaches at a given reconstruction level
drops while added subclusters still find structure, then the drops diminish. The
decision rule is :func:`subclusters_from_drops`.

What we compare (a change from the paper's plot, on purpose): the latent covering *plus
the w-prior*. The prior network reads w, and w is inferred from x, so a K = 1 model can
carry "which kind of digit" in w and move its single prior mean there: on mnist5k "odd"
its w-prior ends at 1.3–1.7 nats against 0.1–0.5 for K = 2, and the covering alone then
shows only a small, noisy drop from K = 1 to 2 (0.4–1.7 nats over seeds, sometimes below
the 2 → 3 drop). At equal reconstruction the modified loss of Proposition 2 differs by
exactly covering + w-prior, so that sum is the fair "cost of the latent code" to compare.
``w_prior=False`` gives the paper's covering-only curves.

How runs are compared (also ours): one *run* trains K = 1, 2, 3 from the same seed — the
same encoders, decoder and batch order; only the prior network differs — the drops are
measured within each run and averaged over ``restarts`` runs (the paper's "mean drop").
Between seeds the reconstruction a run reaches varies by 10–15 nats on mnist5k, far more
than the drops themselves, so keeping the best run of each K by final loss mostly
compares reconstructions: on "odd", seed 0, that gave drops of 1.58 / 1.24, where the
mean over three paired runs gives 1.77 / 0.73.
The single-class trainings use the checkpoint cache like every fit: a hit gives back the
per-epoch terms logged in training (``History.epoch_logs``), so the curves are the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .. import plots
from ..explorer import Explorer, KeyedFigure, LiveFigure
from ..methods.gmvae import GMVAELoss, SupervisedGMVAE
from ..scoring import embedder
from ..train import fit, model_device, progress_bar, resolve_device, seed_everything


def covering_drop(reconstruction_a: np.ndarray, covering_a: np.ndarray, reconstruction_b: np.ndarray,
                  covering_b: np.ndarray, n_points: int = 50) -> float:
    """Mean gap between two latent-covering-vs-reconstruction curves (paper 000 Fig. 6):
    both curves (one point per epoch) are interpolated on the reconstruction range they
    share and covering_a − covering_b is averaged there. Positive: curve b covers better."""
    curves = []
    for rec, cov in ((reconstruction_a, covering_a), (reconstruction_b, covering_b)):
        rec, cov = np.asarray(rec, dtype=np.float64), np.asarray(cov, dtype=np.float64)
        if rec.shape != cov.shape or rec.ndim != 1 or len(rec) < 2:
            raise ValueError("each curve needs matching 1-D reconstruction and covering values (2 or more points)")
        order = np.argsort(rec)
        curves.append((rec[order], cov[order]))
    low = max(curves[0][0][0], curves[1][0][0])
    high = min(curves[0][0][-1], curves[1][0][-1])
    if high < low:
        raise ValueError(f"the curves share no reconstruction range ({curves[0][0][[0, -1]]} vs {curves[1][0][[0, -1]]}): "
                         f"train longer or drop the early epochs")
    grid = np.linspace(low, high, n_points)
    return float(np.mean(np.interp(grid, *curves[0]) - np.interp(grid, *curves[1])))


def choose_subclusters(curves: dict[int, tuple[np.ndarray, np.ndarray]], *, ratio: float = 1.0,
                       min_drop: float = 0.1) -> tuple[int, dict[tuple[int, int], float]]:
    """Pick K from one class's (reconstruction, covering) curves for K = 1, 2, … (paper 000 §4):
    d_K = :func:`covering_drop` from K to K + 1, then :func:`subclusters_from_drops`.
    Returns K and the drops keyed by (K, K + 1)."""
    ks = sorted(curves)
    if len(ks) < 2 or ks != list(range(ks[0], ks[0] + len(ks))) or ks[0] != 1:
        raise ValueError(f"give curves for K = 1, 2, … without gaps, got K = {ks}")
    drops = {(k, k + 1): covering_drop(*curves[k], *curves[k + 1]) for k in ks[:-1]}
    return subclusters_from_drops(drops, ratio=ratio, min_drop=min_drop), drops


def subclusters_from_drops(drops: dict[tuple[int, int], float], *, ratio: float = 1.0, min_drop: float = 0.1) -> int:
    """The paper's "when the decreases begin to diminish" (§4) written out, for drops d_K
    keyed by (K, K + 1): K = 1 when d_1 ≤ ``min_drop`` (a second subcluster buys nothing);
    otherwise the first K ≥ 2 whose drop is smaller than the one before, d_K < ``ratio`` ×
    d_(K−1) (``ratio`` < 1 asks for a clearer elbow); otherwise the largest K tried. The
    paper's even/odd MNIST drops (0.86 then 0.22; 1.23 then −0.09) both give K = 2."""
    ks = sorted(a for a, _ in drops)
    if not ks or ks != list(range(1, len(ks) + 1)) or any(drops.get((k, k + 1)) is None for k in ks):
        raise ValueError(f"give drops keyed (1, 2), (2, 3), … without gaps, got {sorted(drops)}")
    if drops[(1, 2)] <= min_drop:
        return 1
    for k in ks[1:]:
        if drops[(k, k + 1)] < ratio * drops[(k - 1, k)]:
            return k
    return ks[-1] + 1


@dataclass
class TermCurve:
    """Per-epoch ELBO terms of one single-class GMVAE (losses, averaged over the class),
    logged from epoch ``first_epoch`` on."""

    subclusters: int
    reconstruction: list[float] = field(default_factory=list)
    latent_covering: list[float] = field(default_factory=list)
    w_prior: list[float] = field(default_factory=list)
    first_epoch: int = 1

    def after(self, skip: int, *, w_prior: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(reconstruction, covering) of the epochs after the first ``skip`` (the paper
        truncates the early epochs, where both losses still fall steeply); ``w_prior=True``
        adds the w-prior to the covering (see the module docstring)."""
        start = max(0, skip - (self.first_epoch - 1))
        latent = np.asarray(self.latent_covering[start:])
        if w_prior:
            latent = latent + np.asarray(self.w_prior[start:])
        return np.asarray(self.reconstruction[start:]), latent

    @property
    def final_loss(self) -> float:
        """The modified ELBO's loss at the last epoch: reconstruction + covering + w-prior."""
        return float(self.reconstruction[-1] + self.latent_covering[-1] + self.w_prior[-1])


@torch.no_grad()
def mean_terms(model: SupervisedGMVAE, X: torch.Tensor, y: torch.Tensor, *, samples: int = 8,
               batch_size: int = 1024, seed: int = 0) -> dict[str, float]:
    """The ELBO terms of ``model`` averaged over the data and ``samples`` Monte-Carlo
    draws of (z, w) per input, with a fixed noise seed so that epochs and models compare
    without sampling noise of their own."""
    was_training = model.training
    model.eval()
    totals = {"reconstruction": 0.0, "latent_covering": 0.0, "w_prior": 0.0}
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for _ in range(samples):
            for i in range(0, len(X), batch_size):
                xb = X[i:i + batch_size]
                t = model.terms(xb, y[i:i + batch_size])
                for name in totals:
                    totals[name] += float(getattr(t, name)) * len(xb)
    finally:
        torch.random.set_rng_state(gen_state)
        model.train(was_training)
    return {name: v / (samples * len(X)) for name, v in totals.items()}


def subcluster_curves(X: np.ndarray, ks=(1, 2, 3), *, epochs: int = 40, batch_size: int = 64, lr: float = 1e-3,
                      z_dim: int = 10, hidden=(256, 128), samples: int = 2, log_from: int = 0, seed: int = 0,
                      device: str | torch.device = "auto", cache_dir: str | None = None, progress: bool = True,
                      desc: str = "K") -> tuple[dict[int, TermCurve], dict[int, SupervisedGMVAE]]:
    """One run of §4: single-class GMVAEs (modified ELBO) for each K on the images ``X`` of
    one class, all from the same seed, with their terms logged after every epoch past
    ``log_from`` (:func:`mean_terms`). Returns the curves and the trained models, keyed by K."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) < 2:
        raise ValueError(f"need the images of one class (at least 2), got {len(X)}")
    if not 0 <= log_from <= epochs - 2:
        raise ValueError(f"need 0 <= log_from <= epochs - 2, got log_from={log_from} for {epochs} epochs")
    dev = resolve_device(device)
    Xt = torch.as_tensor(X.reshape(len(X), -1), device=dev)
    yt = torch.zeros(len(X), dtype=torch.long, device=dev)
    curves, models = {}, {}
    for k in progress_bar([int(k) for k in ks], desc=desc, disable=not progress, leave=False):
        seed_everything(seed)      # same initial encoders and decoder for every K
        model = SupervisedGMVAE(1, k, in_dim=Xt.shape[1], hidden=hidden, z_dim=z_dim).to(dev)
        def log_terms(epoch: int, m: nn.Module) -> dict[str, float] | None:
            return mean_terms(m, Xt, yt, samples=samples, seed=seed) if epoch > log_from else None

        history = fit(model, GMVAELoss(), Xt, yt, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=dev,
                      progress=progress, desc=f"{desc}={k}", on_epoch_end=log_terms, cache_dir=cache_dir,
                      config={"samples": samples, "log_from": log_from})
        logs = history.epoch_logs
        curves[k] = TermCurve(k, [t["reconstruction"] for t in logs], [t["latent_covering"] for t in logs],
                              [t["w_prior"] for t in logs], first_epoch=log_from + 1)
        models[k] = model
    return curves, models


def mean_drops(runs: list[dict[int, TermCurve]], *, skip: int, w_prior: bool = True) -> dict[tuple[int, int], float]:
    """The drops d_K of each run (:func:`covering_drop` on the epochs after
    ``skip``; covering + w-prior, or the covering alone), averaged over the runs."""
    if not runs:
        raise ValueError("give at least one run of curves")
    per_run = [choose_subclusters({k: c.after(skip, w_prior=w_prior) for k, c in run.items()})[1] for run in runs]
    return {key: float(np.mean([d[key] for d in per_run])) for key in per_run[0]}


@dataclass
class ClassChoice:
    """K-selection for one class: the curves of every run (run r trains each K from seed
    ``seed`` + 1000·r), for each K the single-class model of the run that ended with the
    lowest loss (:attr:`TermCurve.final_loss`: a restart caught in a worse optimum — one
    digit split across two subclusters — is not the one shown), the drops d_K averaged
    over the runs (covering + w-prior, and the paper's covering alone) and the chosen K."""

    name: str
    runs: list[dict[int, TermCurve]]
    models: dict[int, SupervisedGMVAE]
    chosen: int
    drops: dict[tuple[int, int], float]
    drops_covering_only: dict[tuple[int, int], float]
    skip: int

    @property
    def curves(self) -> dict[int, TermCurve]:
        """The first run's curves (what Fig. 6 plots)."""
        return self.runs[0]

    def run_drops(self, w_prior: bool = True) -> list[dict[tuple[int, int], float]]:
        """The drops of each run on its own (their mean is :attr:`drops`)."""
        return [mean_drops([run], skip=self.skip, w_prior=w_prior) for run in self.runs]


def choose_per_class(X: np.ndarray, y: np.ndarray, names=None, *, ks=(1, 2, 3), epochs: int = 40,
                     skip: int | None = None, restarts: int = 3, ratio: float = 1.0, min_drop: float = 0.1,
                     seed: int = 0, progress: bool = True, **curve_kwargs) -> list[ClassChoice]:
    """§4 for every known class c = 0..C−1 of (X, y): ``restarts`` runs of
    :func:`subcluster_curves` on the class's images alone, the drops averaged over them
    (:func:`mean_drops`) on the epochs after ``skip`` (default: the second half), and
    :func:`subclusters_from_drops`. Half, not less: early on every K
    follows the same steep path, and those epochs only dilute the drops (mnist5k "even",
    seed 0: d₁ = 1.83, d₂ = 1.07 with a quarter skipped, 2.61 and 1.23 with half)."""
    y = np.asarray(y)
    classes = np.unique(y)
    names = [str(c) for c in classes] if names is None else list(names)
    if len(names) != len(classes):
        raise ValueError(f"{len(names)} names for {len(classes)} classes")
    if skip is None and epochs < 3:
        raise ValueError(f"choosing K compares the losses over the second half of each run: give each run at least "
                         f"3 epochs (the lesson's k_epochs), got {epochs}")
    skip = epochs // 2 if skip is None else int(skip)
    if not 0 <= skip <= epochs - 2:
        raise ValueError(f"skip must leave at least 2 epochs of the {epochs}, got {skip}")
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    choices = []
    for c, name in zip(classes, names):
        runs, models, runs_best = [], {}, {}
        for r in range(restarts):
            desc = f"{name}: K" + (f" (run {r + 1}/{restarts})" if restarts > 1 else "")
            curves, trained = subcluster_curves(X[y == c], ks, epochs=epochs, seed=seed + 1000 * r, log_from=skip,
                                                progress=progress, desc=desc, **curve_kwargs)
            for k, model in trained.items():
                if k not in models or curves[k].final_loss < runs_best[k]:
                    models[k], runs_best[k] = model, curves[k].final_loss
            runs.append(curves)
        drops = mean_drops(runs, skip=skip)
        chosen = subclusters_from_drops(drops, ratio=ratio, min_drop=min_drop)
        choices.append(ClassChoice(name, runs, models, chosen, drops, mean_drops(runs, skip=skip, w_prior=False), skip))
    return choices


@dataclass
class SubclusterReport:
    """How a single-class GMVAE with K subclusters splits its class: each image's most
    probable subcluster (eq. 1) against its original label (e.g. the digit)."""

    subclusters: int
    assignment: np.ndarray
    table: np.ndarray            # rows: original labels, columns: subclusters
    row_labels: list[int]
    purity: float                # fraction of images in their subcluster's majority label


def subcluster_report(model, X: np.ndarray, source: np.ndarray) -> SubclusterReport:
    """Assign each image to argmax_j p(v = j | z, w, y) and cross-tabulate with ``source``."""
    dev = model_device(model)
    X_t = torch.as_tensor(np.asarray(X, dtype=np.float32), device=dev)
    assignment = model.subcluster_of(X_t, torch.zeros(len(X_t), dtype=torch.long, device=dev)).cpu().numpy()
    source = np.asarray(source)
    rows = sorted(int(v) for v in np.unique(source))
    k = model.max_subclusters
    table = np.array([[np.sum((source == r) & (assignment == j)) for j in range(k)] for r in rows])
    return SubclusterReport(k, assignment, table, rows, float(table.max(0).sum() / max(len(source), 1)))


class SubclusterFigure(LiveFigure):
    """The class's latent µ(x) in 2-D (PCA) coloured by subcluster, and the table; one
    figure per (class, K), drawn once (the explorer keeps one per choice)."""

    def __init__(self, report: SubclusterReport, features: np.ndarray, *, title: str = "") -> None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.3, 1]})
        plots.plot_embedding(features, report.assignment, names=[f"subcluster {j}" for j in range(report.subclusters)],
                             ax=axes[0], title=title or f"K = {report.subclusters}")
        axes[1].axis("off")
        cells = [[str(v) for v in row] for row in report.table]
        tab = axes[1].table(cellText=cells, rowLabels=[f"digit {r}" for r in report.row_labels],
                            colLabels=[f"sub {j}" for j in range(report.subclusters)], loc="center")
        tab.scale(1, 1.6)
        axes[1].set_title(f"images per subcluster (purity {report.purity:.2f})", fontsize=10)
        fig.tight_layout()
        super().__init__(fig)

    def update(self, report: SubclusterReport) -> bool:
        return False                     # the same (class, K) always draws the same figure


def draw_subcluster_report(report: SubclusterReport, features: np.ndarray, *, title: str = "") -> plt.Figure:
    """The class's latent µ(x) in 2-D (PCA) coloured by subcluster, and the table."""
    return SubclusterFigure(report, features, title=title).fig


def subcluster_explorer(models: dict, images: dict, sources: dict) -> Explorer:
    """Pick a class and a K: the single-class GMVAE trained with that K (from
    :func:`subcluster_curves`) shows its subclusters."""
    classes = list(models)
    cls = w.Dropdown(options=classes, value=classes[0], description="class")
    ks = sorted(models[classes[0]])
    k = w.SelectionSlider(options=ks, value=ks[min(1, len(ks) - 1)], description="K")

    def compute(name: str, k_value: int):
        model = models[name][k_value]
        return (name, k_value), (subcluster_report(model, images[name], sources[name]),
                                 embedder(model)(images[name]))

    def make(key, report_features) -> SubclusterFigure:
        report, features = report_features
        return SubclusterFigure(report, features, title=f"{key[0]}, K = {key[1]}")

    return Explorer([cls, k], compute, lambda r: KeyedFigure(make, r),
                    lambda r: {"class": r[0][0], "K": str(r[0][1]), "purity": f"{r[1][0].purity:.2f}"},
                    name="subclusters").show()
