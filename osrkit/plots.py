"""Figures: maps over a 2D grid (paper 004 Fig. 2), score histograms, ROC curves and
confusion matrices. Every function draws on the axes it is given (or a new figure)
and returns the figure, so widgets and notebooks share one drawing code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb

#: Class colours (colour-blind-safe Okabe–Ito order); unknown is grey.
CLASS_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                "#56B4E9", "#F0E442", "#000000", "#8B4513", "#7F7F7F")
UNKNOWN_COLOR = "#9E9E9E"


@dataclass(frozen=True)
class Grid:
    """A regular grid over [−lim, lim]²; ``points`` is (resolution², 2) in row order."""

    xs: np.ndarray
    ys: np.ndarray
    points: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ys), len(self.xs)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return float(self.xs[0]), float(self.xs[-1]), float(self.ys[0]), float(self.ys[-1])

    def as_image(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values).reshape(*self.shape, *np.asarray(values).shape[1:])


def make_grid(lim: float = 2.5, resolution: int = 200) -> Grid:
    """Grid of ``resolution``² points covering [−lim, lim]²."""
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    xs = np.linspace(-lim, lim, resolution)
    xx, yy = np.meshgrid(xs, xs)
    return Grid(xs, xs.copy(), np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32))


def _axes(ax):
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4))
    return ax.figure, ax


def label_image(probs: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """RGB image of class probabilities: each class's colour weighted by its probability
    (times ``scale``, e.g. the confidence c̃: eq. 6), fading to white where they are low."""
    probs = np.asarray(probs, dtype=np.float64)
    if scale is not None:
        probs = probs * np.asarray(scale, dtype=np.float64)[:, None]
    colors = np.array([to_rgb(CLASS_COLORS[k % len(CLASS_COLORS)]) for k in range(probs.shape[1])])
    rgb = 1.0 - probs @ (1.0 - colors)
    return np.clip(rgb, 0.0, 1.0)


def plot_labels(grid: Grid, probs: np.ndarray, scale: np.ndarray | None = None, *, ax=None,
                title: str = "") -> plt.Figure:
    """Map of the predicted labels over the grid (white = low (scaled) probability)."""
    fig, ax = _axes(ax)
    ax.imshow(grid.as_image(label_image(probs, scale)), origin="lower", extent=grid.extent,
              interpolation="nearest")
    _finish_map(ax, title)
    return fig


def plot_map(grid: Grid, values: np.ndarray, *, ax=None, title: str = "", vmin: float = 0.0,
             vmax: float = 1.0, cmap: str = "Greys", colorbar: bool = True) -> plt.Figure:
    """Scalar map over the grid; black = high, as in paper 004 Fig. 2D."""
    fig, ax = _axes(ax)
    im = ax.imshow(grid.as_image(values), origin="lower", extent=grid.extent, vmin=vmin, vmax=vmax,
                   cmap=cmap, interpolation="nearest")
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _finish_map(ax, title)
    return fig


def plot_points(X: np.ndarray, y: np.ndarray, *, ax=None, title: str = "", size: float = 3.0,
                lim: float | None = 2.5) -> plt.Figure:
    """Scatter of 2D points coloured by class; label −1 (unknown) in grey."""
    fig, ax = _axes(ax)
    y = np.asarray(y)
    for label in np.unique(y):
        color = UNKNOWN_COLOR if label < 0 else CLASS_COLORS[int(label) % len(CLASS_COLORS)]
        pts = X[y == label]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, c=color, label="unknown" if label < 0 else f"class {label}",
                   linewidths=0)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    _finish_map(ax, title)
    return fig


def _finish_map(ax, title: str) -> None:
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def plot_score_histograms(novelty_known: np.ndarray, novelty_unknown: np.ndarray, threshold: float | None = None,
                          *, ax=None, xlabel: str = "novelty (higher = more likely unknown)",
                          bins: int = 40) -> plt.Figure:
    """Overlaid histograms of known and unknown scores, with the threshold as a line."""
    fig, ax = _axes(ax)
    both = np.concatenate([novelty_known, novelty_unknown])
    try:
        edges = np.histogram_bin_edges(both, bins=bins)
    except ValueError:    # scores too close for the bins (an untrained network's): a narrow range around them
        centre = float(np.median(both))
        edges = centre + np.linspace(-1e-3, 1e-3, bins + 1) * max(1.0, abs(centre))
    ax.hist(novelty_known, bins=edges, alpha=0.6, color=CLASS_COLORS[0], label="known", density=True)
    ax.hist(novelty_unknown, bins=edges, alpha=0.6, color=UNKNOWN_COLOR, label="unknown", density=True)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1.5, label="threshold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return fig


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, *, operating_point: tuple[float, float] | None = None,
             auc: float | None = None, ax=None, label: str = "") -> plt.Figure:
    """ROC curve (unknown = positive) with an optional operating point."""
    fig, ax = _axes(ax)
    text = label + (f" AUROC {auc:.3f}" if auc is not None else "")
    ax.plot(fpr, tpr, lw=2, label=text.strip() or None)
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls=":")
    if operating_point is not None:
        ax.plot(*operating_point, "o", color="k", ms=7, label="threshold")
    ax.set_xlabel("known samples rejected (FPR)")
    ax.set_ylabel("unknown samples rejected (TPR)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_confusion(confusion: np.ndarray, labels: Sequence[str], *, column_labels: Sequence[str] | None = None,
                   ax=None, title: str = "", xlabel: str = "predicted", ylabel: str = "true",
                   fmt: str | None = None) -> plt.Figure:
    """Confusion matrix (rows true, columns predicted) with counts, or fractions for a
    float matrix (``fmt``, default ".2f"), in the cells; ``column_labels`` when the
    columns differ from the rows (paper 001 Fig. 4: unknown classes × the known class that
    accepted them)."""
    import seaborn as sns

    fig, ax = _axes(ax)
    confusion = np.asarray(confusion)
    fmt = fmt or ("d" if np.issubdtype(confusion.dtype, np.integer) else ".2f")
    sns.heatmap(confusion, annot=True, fmt=fmt, cmap="Blues", cbar=False,
                xticklabels=list(column_labels) if column_labels is not None else labels, yticklabels=labels, ax=ax,
                annot_kws={"fontsize": 7})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def update_confusion(ax, confusion: np.ndarray, fmt: str | None = None) -> list:
    """Show a new matrix of the same shape on axes drawn by :func:`plot_confusion`, in
    place: the cells' colours and scale, the numbers and their colour (dark on light cells,
    white on dark, as seaborn picks them). Returns the artists it changed."""
    from matplotlib.collections import QuadMesh
    from seaborn.utils import relative_luminance

    confusion = np.asarray(confusion)
    fmt = fmt or ("d" if np.issubdtype(confusion.dtype, np.integer) else ".2f")
    texts = [t for t in ax.texts if t is not ax.title]
    if len(texts) != confusion.size:
        raise ValueError(f"the axes show {len(texts)} numbers, the new matrix has {confusion.size}")
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    mesh.set_array(confusion.ravel())
    mesh.set_clim(confusion.min(), confusion.max())
    mesh.update_scalarmappable()
    for text, value, color in zip(texts, confusion.ravel(), mesh.get_facecolors()):
        text.set_text(format(value, fmt))
        text.set_color(".15" if relative_luminance(color) > .408 else "w")
    return [mesh, *texts]


def plot_image_grid(rows: dict[str, np.ndarray], *, marks: dict[str, np.ndarray] | None = None,
                    col_labels: Sequence[str] | None = None, title: str = "") -> plt.Figure:
    """A grid of grey images, one row per entry of ``rows`` (each (N, 1, H, W) or (N, H, W));
    ``marks`` (booleans per image) frame the marked images in red (e.g. "fooled")."""
    names = list(rows)
    n_cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(names), n_cols, figsize=(1.1 * n_cols, 1.2 * len(names) + 0.4), squeeze=False)
    for r, name in enumerate(names):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(rows[name]):
                ax.imshow(np.asarray(rows[name][c]).squeeze(), cmap="gray", vmin=0, vmax=1)
                if marks is not None and marks[name][c]:
                    for side in ax.spines.values():
                        side.set_color("#D55E00")
                        side.set_linewidth(3)
            else:
                ax.axis("off")
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0 and col_labels is not None and c < len(col_labels):
                ax.set_title(col_labels[c], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- GMVAE lesson (paper 000)
def plot_covering_curves(curves: dict, *, skip: int = 0, w_prior: bool = False, ax=None,
                         title: str = "") -> plt.Figure:
    """Latent-covering loss against reconstruction loss, one line per K, one point per
    epoch (paper 000 Fig. 6); ``curves`` maps K to an object with ``after(skip)`` giving
    (reconstruction, covering) (:class:`osrkit.studies.subclusters.TermCurve`). The first ``skip``
    epochs are left out, as in the paper; ``w_prior=True`` plots covering + w-prior.
    Training runs from right to left."""
    fig, ax = _axes(ax)
    for i, (k, curve) in enumerate(sorted(curves.items())):
        rec, cov = curve.after(skip, w_prior=w_prior)
        ax.plot(rec, cov, "-o", ms=2.5, lw=1.2, color=CLASS_COLORS[i % len(CLASS_COLORS)], label=f"K = {k}")
    ax.set_xlabel("reconstruction loss (nats)")
    ax.set_ylabel("latent covering + w-prior (nats)" if w_prior else "latent covering loss (nats)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def project_2d(features: np.ndarray, *extra: np.ndarray) -> list[np.ndarray]:
    """PCA of ``features`` to 2-D (fitted on them), applied to ``features`` and to each of
    ``extra`` (e.g. centroids), so they share one picture."""
    from sklearn.decomposition import PCA

    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2 or len(F) < 2:
        raise ValueError(f"need 2-D features of at least 2 samples, got shape {F.shape}")
    if F.shape[1] <= 2:
        pad = lambda A: np.pad(np.asarray(A, dtype=np.float64), ((0, 0), (0, 2 - F.shape[1])))  # noqa: E731
        return [pad(F)] + [pad(e) for e in extra]
    pca = PCA(n_components=2).fit(F)
    return [pca.transform(F)] + [pca.transform(np.asarray(e, dtype=np.float64)) for e in extra]


def plot_embedding(features: np.ndarray, labels: np.ndarray, *, centroids: np.ndarray | None = None,
                   centroid_labels: np.ndarray | None = None, names: Sequence[str] | None = None, ax=None,
                   title: str = "", max_points: int = 2000, seed: int = 0) -> plt.Figure:
    """A latent space in 2-D (PCA; 2-D features as they are, with their axes) coloured by
    label (−1 grey, "unknown"), with centroids as hollow stars in their class's colour, so
    the points under them stay visible (paper 000 Fig. 4–5, which use t-SNE)."""
    fig, ax = _axes(ax)
    F, labels = np.asarray(features), np.asarray(labels)
    if len(F) > max_points:
        keep = np.random.default_rng(seed).choice(len(F), max_points, replace=False)
        F, labels = F[keep], labels[keep]
    parts = project_2d(F, centroids) if centroids is not None else project_2d(F)
    P = parts[0]
    for c in np.unique(labels):
        color = UNKNOWN_COLOR if c == -1 else CLASS_COLORS[int(c) % len(CLASS_COLORS)]
        name = "unknown" if c == -1 else (names[int(c)] if names is not None else str(c))
        m = labels == c
        ax.scatter(P[m, 0], P[m, 1], s=4, alpha=0.5, color=color, label=name, rasterized=True)
    if centroids is not None:
        owner = np.zeros(len(centroids), int) if centroid_labels is None else np.asarray(centroid_labels)
        for (cx, cy), c in zip(parts[1], owner):
            ax.scatter([cx], [cy], marker="*", s=260, facecolors="none",
                       edgecolors=CLASS_COLORS[int(c) % len(CLASS_COLORS)], linewidths=2.0, zorder=5)
    if F.shape[1] > 2:           # PCA axes carry no units
        ax.set_xticks([])
        ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=3, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_validation_f1(tau: np.ndarray, f1: np.ndarray, *, picked: float | None = None, current: float | None = None,
                       ax=None, label: str = "") -> plt.Figure:
    """Known-validation F1 against the normalised threshold τ (paper 000 Fig. 1), with the
    saturation pick dashed and an optional current τ (widgets) dotted."""
    fig, ax = _axes(ax)
    line, = ax.plot(tau, f1, lw=2, label=label or None)
    if picked is not None:
        ax.axvline(picked, color=line.get_color(), ls="--", lw=1.2)
    if current is not None:
        ax.axvline(current, color="k", ls=":", lw=1.2)
    ax.set_xlabel("normalised threshold τ")
    ax.set_ylabel("known-validation macro-F1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    if label:
        ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_f1_versus_unknowns(curves: dict[str, np.ndarray], *, ax=None, title: str = "") -> plt.Figure:
    """Test macro-F1 against the number Q of unknown classes, one line per method (paper
    000 Fig. 7); the legend gives each method's mean over Q."""
    fig, ax = _axes(ax)
    _curves_with_means(ax, {name: (np.arange(len(f1)), np.asarray(f1)) for name, f1 in curves.items()},
                       xlabel="number Q of unknown classes in the test set", ylabel="test macro-F1", digits=2,
                       title=title, marker="o", ms=4)
    return fig


def _curves_with_means(ax, curves: dict[str, tuple[np.ndarray, np.ndarray]], *, xlabel: str, ylabel: str,
                       digits: int, title: str = "", **style) -> None:
    """One line per entry (name → (x, y)) on a [0, 1] axis, each labelled with its mean y;
    past the ten colours the lines turn dashed, then dotted, so no two look alike."""
    for i, (name, (x, y)) in enumerate(curves.items()):
        ax.plot(x, y, color=CLASS_COLORS[i % len(CLASS_COLORS)], ls=("-", "--", ":")[i // len(CLASS_COLORS) % 3],
                label=f"{name} (mean {np.mean(y):.{digits}f})", **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


def plot_grouped_bars(values: dict[str, Sequence[float]], metric_names: Sequence[str], *, ax=None, title: str = "",
                      ylim: tuple[float, float] | None = None) -> plt.Figure:
    """One group of bars per metric, one bar per entry of ``values`` (name → one value per
    metric), with the values written on the bars (paper 001 Fig. 3)."""
    fig, ax = _axes(ax)
    names = list(values)
    if any(len(values[n]) != len(metric_names) for n in names):
        raise ValueError(f"every entry needs one value per metric ({len(metric_names)})")
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = np.arange(len(metric_names)) + (i - (len(names) - 1) / 2) * width
        bars = ax.bar(xs, values[name], width, label=name, color=CLASS_COLORS[i % len(CLASS_COLORS)])
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(np.arange(len(metric_names)), metric_names)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_attribution_maps(images: np.ndarray, maps: dict[str, np.ndarray], *, max_images: int = 6) -> plt.Figure:
    """The images (top row) and, one row per entry of ``maps`` (name → (N, H, W) in
    [0, 1]), the maps laid over them (paper 003 Fig. 6 left)."""
    n = min(max_images, len(images))
    rows = 1 + len(maps)
    fig, axes = plt.subplots(rows, n, figsize=(1.7 * n, 1.8 * rows), squeeze=False)
    for i in range(n):
        img = np.asarray(images[i]).transpose(1, 2, 0).squeeze()
        axes[0, i].imshow(img, cmap="gray", vmin=0, vmax=1)
        for r, m in enumerate(maps.values(), start=1):
            axes[r, i].imshow(img, cmap="gray", vmin=0, vmax=1)
            axes[r, i].imshow(np.asarray(m)[i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
        for r in range(rows):
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
    for r, name in enumerate(["image", *maps], start=0):
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def plot_activated_area(taus: np.ndarray, areas: dict[str, np.ndarray], *, ax=None, title: str = "") -> plt.Figure:
    """S_M(τ), the share of pixels whose attribution is at least τ, one curve per model
    (paper 003 Fig. 6 right); the legend gives each curve's mean over τ. An entry of shape
    (runs, len(taus)) draws its mean over the runs, with each run as a thin line."""
    fig, ax = _axes(ax)
    taus = np.asarray(taus)
    areas = {name: np.atleast_2d(np.asarray(area)) for name, area in areas.items()}
    _curves_with_means(ax, {name: (taus, area.mean(axis=0)) for name, area in areas.items()}, xlabel="τ",
                       ylabel="activated area S_M(τ)", digits=4, title=title, lw=2)
    for i, area in enumerate(areas.values()):
        if len(area) > 1:
            ax.plot(taus, area.T, color=CLASS_COLORS[i % len(CLASS_COLORS)], lw=0.8, alpha=0.4)
    return fig


def plot_critical_difference(mean_ranks: dict[str, float], critical_difference: float, *, ax=None,
                             title: str = "") -> plt.Figure:
    """The critical-difference diagram (Demšar 2006, Fig. 1): each rule at its mean rank on
    an axis from 1 (best, left) to k, the Nemenyi critical difference as a bar above, and a
    thick line under every maximal group of rules whose mean ranks differ by less than it
    (not significantly different)."""
    if len(mean_ranks) < 2:
        raise ValueError("a critical-difference diagram needs at least 2 rules")
    names = sorted(mean_ranks, key=mean_ranks.get)
    ranks = np.array([mean_ranks[n] for n in names])
    k = len(names)
    half = (k + 1) // 2
    step = 0.32
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 1.6 + step * half))
    fig = ax.figure
    left, right = 1 - 0.15 * k, k + 0.15 * k
    ax.hlines(0, 1, k, color="k", lw=1)
    for r in range(1, k + 1):
        ax.vlines(r, -0.06, 0, color="k", lw=1)
        ax.text(r, -0.1, str(r), ha="center", va="bottom", fontsize=8)
    for i, (name, r) in enumerate(zip(names, ranks)):
        depth = 0.35 + step * (i if i < half else k - 1 - i)
        end = left + 0.1 if i < half else right - 0.1
        ax.plot([r, r, end], [0, depth, depth], color="k", lw=0.8)
        ax.text(end - 0.05 if i < half else end + 0.05, depth, f"{name} ({r:.2f})", ha="right" if i < half else "left",
                va="center", fontsize=8)
    bar_end = 1 + critical_difference
    ax.hlines(-0.45, 1, bar_end, color="C3", lw=2)
    ax.text((1 + bar_end) / 2, -0.5, f"CD = {critical_difference:.2f}", ha="center", va="bottom", fontsize=8,
            color="C3")
    groups: list[tuple[int, int]] = []
    for i in range(k):
        j = max(j for j in range(i, k) if ranks[j] - ranks[i] < critical_difference)
        if j > i and not any(a <= i and j <= b for a, b in groups):
            groups.append((i, j))
    for g, (i, j) in enumerate(groups):
        ax.hlines(0.12 + 0.07 * g, ranks[i] - 0.03, ranks[j] + 0.03, color="C0", lw=3)
    ax.set_xlim(left - 2.2, max(right + 2.2, bar_end + 0.5))          # left ≤ 1 always
    ax.set_ylim(0.5 + step * half, -0.7)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_metric_pairs(pairs: dict[str, tuple[np.ndarray, np.ndarray]], *, xlabel: str, ylabel: str, ax=None,
                      title: str = "") -> plt.Figure:
    """One colour per entry (name → (x values, y values), one value per task): every task
    as a small dot and the entry's mean as a large labelled marker, e.g. AUROC against
    closed-set accuracy per rule."""
    fig, ax = _axes(ax)
    markers = "osD^vP*X<>"
    for i, (name, (x, y)) in enumerate(pairs.items()):
        color = CLASS_COLORS[i % len(CLASS_COLORS)]
        ax.scatter(x, y, s=10, color=color, alpha=0.4)
        ax.scatter(np.mean(x), np.mean(y), s=60, color=color, marker=markers[i // len(CLASS_COLORS) % len(markers)],
                   edgecolor="k", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="best", ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_histogram_grid(scores: dict[str, tuple[np.ndarray, np.ndarray, float | None]], *, columns: int = 4,
                        bins: int = 40, log: bool = True) -> plt.Figure:
    """Known vs unknown score histograms, one panel per entry (name → (known novelty,
    unknown novelty, threshold or None)), with :func:`plot_score_histograms`; ``log``
    puts the densities on a log scale, so that the tails of scores piled up near zero
    (softmax, CAC) stay visible."""
    if not scores:
        raise ValueError("no scores to draw")
    rows = -(-len(scores) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.6 * rows), squeeze=False)
    for ax, (name, (known, unknown, threshold)) in zip(axes.flat, scores.items()):
        plot_score_histograms(known, unknown, threshold, ax=ax, xlabel="novelty", bins=bins)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("density (log)" if log else "")
        if log:
            ax.set_yscale("log")
        ax.legend().set_visible(ax is axes.flat[0])
    for ax in list(axes.flat)[len(scores):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
