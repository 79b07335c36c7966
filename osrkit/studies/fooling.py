"""Fooling and thresholded accuracy: paper 004's Table I (lesson 02).

A fooling generator network (FGN) is one sigmoid layer mapping a fixed random input z
to a 28×28 image, x = σ(W z + b); Adam updates W and b to raise a target class. A trial
succeeds at the first step where the model's *confidence* for the target reaches the
threshold. What the FGN descends and what counts as confidence are set by a target
object: the paper descends the cross-entropy of the unscaled output y and tests the
scaled confidence (ỹ = c̃·y for the dAE); ``attack_confidence=True`` descends −log of the
confidence itself (the paper's "fooling the confidence scores directly"). A target gives
both from one forward pass (``evaluate``).

All trials run as one batch: trial t has its own W_t, b_t, z_t and its own Adam
moments, and Adam's update is elementwise, so the batched attack equals running the
trials one at a time (tested).

The four MNIST models of the paper (plain CNN, COOL, dAE with a symmetric and with an
asymmetric decoder) are one entry each of :data:`PAPER_MODELS`: how to train it, which
confidence the paper thresholds and what the FGN attacks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .. import metrics, plots
from ..data import OpenSetSplit
from ..methods import cool, dae, softmax
from ..scoring import MaxSoftmaxScorer, Scorer
from ..explorer import Explorer, LiveFigure, logit_slider
from ..train import make_optimizer, model_device, progress_bar


class FoolingTarget(Protocol):
    num_classes: int

    def evaluate(self, x: torch.Tensor, targets: torch.Tensor, at_least: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """From one forward pass: the per-trial loss the FGN descends, shape (T,), and the
        per-trial confidence for the target class, shape (T,), detached. The confidence is
        exact wherever it is ``>= at_least``; elsewhere it may be any value below
        ``at_least`` (a cheaper bound)."""


class SoftmaxTarget:
    """A plain classifier: descend cross-entropy, confidence = softmax probability."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.num_classes = model.num_classes

    def evaluate(self, x, targets, at_least: float = 0.0):
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, targets, reduction="none")
        return loss, torch.softmax(logits.detach(), 1).gather(1, targets[:, None])[:, 0]


@dataclass
class FoolingResult:
    """One row per trial."""

    targets: np.ndarray     # target class
    success: np.ndarray     # reached the threshold within the budget
    steps: np.ndarray       # updates needed (first success), −1 when never
    confidence: np.ndarray  # confidence at success, else after the last step
    images: np.ndarray      # the image at success, else after the last step, (T, *image_shape)

    @property
    def rate(self) -> float:
        return float(self.success.mean())

    @property
    def mean_steps(self) -> float:
        """Mean updates over the successful trials (NaN when none succeeded)."""
        return float(self.steps[self.success].mean()) if self.success.any() else float("nan")


def fooling_attack(target: FoolingTarget, targets: Sequence[int], *,
                   threshold: float | Sequence[float] = 0.9, max_steps: int = 1000, lr: float = 1e-3,
                   seed: int = 0, image_shape: tuple[int, ...] = (1, 28, 28), progress: bool = True,
                   desc: str = "fooling") -> FoolingResult | dict[float, FoolingResult]:
    """Run one FGN trial per entry of ``targets``, all at once (see the module docstring).

    Step 0 is the untouched generator; a trial that already passes there needs 0 steps.
    Trial t is seeded with ``seed + t``, so a batch equals its trials run one by one.
    The FGN's updates do not depend on the threshold, so one run serves several: give a
    list of thresholds to get ``{threshold: FoolingResult}`` (the run lasts until every
    trial passes the highest one, or the budget ends).
    """
    levels = [float(threshold)] if np.isscalar(threshold) else [float(t) for t in threshold]
    if not levels or any(not 0.0 < t <= 1.0 for t in levels):
        raise ValueError(f"threshold must be in (0, 1] (or a non-empty list of such), got {threshold}")
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    targets_t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    if targets_t.ndim != 1 or len(targets_t) == 0:
        raise ValueError("targets must be a non-empty list of class indices, one per trial")
    if targets_t.min() < 0 or targets_t.max() >= target.num_classes:
        raise ValueError(f"targets must lie in 0..{target.num_classes - 1}")
    dev = model_device(target.model)
    targets_t = targets_t.to(dev)
    n_trials, dim = len(targets_t), int(np.prod(image_shape))
    W, b, z = _init_generators(n_trials, dim, seed)
    W, b, z = W.to(dev).requires_grad_(), b.to(dev).requires_grad_(), z.to(dev)
    opt = make_optimizer("adam", [W, b], lr, fused=True)

    def generate():
        return torch.sigmoid(torch.bmm(W, z[:, :, None])[:, :, 0] + b).view(n_trials, *image_shape)

    lowest = min(levels)
    done = {t: torch.zeros(n_trials, dtype=torch.bool, device=dev) for t in levels}
    steps = {t: torch.full((n_trials,), -1, dtype=torch.long, device=dev) for t in levels}
    conf_at = {t: torch.zeros(n_trials, device=dev) for t in levels}
    images = {t: torch.zeros(n_trials, *image_shape, device=dev) for t in levels}
    for p in target.model.parameters():
        p.requires_grad_(False)
    try:
        bar = progress_bar(total=max_steps, desc=desc, disable=not progress, leave=False)
        for step in range(max_steps + 1):
            x = generate()
            loss, conf = target.evaluate(x, targets_t, at_least=lowest)
            for t in levels:
                newly = (conf >= t) & ~done[t]
                steps[t][newly] = step
                images[t][newly] = x.detach()[newly]
                conf_at[t][newly] = conf[newly]
                done[t] |= newly
            if all(d.all() for d in done.values()) or step == max_steps:
                break
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(fooled=f"{int(done[lowest].sum())}/{n_trials}", refresh=False)
        bar.close()
        final_conf = target.evaluate(x.detach(), targets_t, at_least=0.0)[1]  # exact
    finally:
        for p in target.model.parameters():
            p.requires_grad_(True)
    results = {}
    for t in levels:
        rest = ~done[t]
        images[t][rest] = x.detach()[rest]
        conf_at[t][rest] = final_conf[rest]
        results[t] = FoolingResult(targets_t.cpu().numpy(), done[t].cpu().numpy(), steps[t].cpu().numpy(),
                                   conf_at[t].cpu().numpy(), images[t].cpu().numpy())
    return results[levels[0]] if np.isscalar(threshold) else results


def _init_generators(n_trials: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-trial FGN weights (PyTorch's Linear initialisation) and random input, trial t
    drawn from a generator seeded with seed + t."""
    bound = 1.0 / np.sqrt(dim)
    Ws, bs, zs = [], [], []
    for t in range(n_trials):
        g = torch.Generator().manual_seed(seed + t)
        Ws.append((torch.rand(dim, dim, generator=g) * 2 - 1) * bound)
        bs.append((torch.rand(dim, generator=g) * 2 - 1) * bound)
        zs.append(torch.rand(dim, generator=g))
    return torch.stack(Ws), torch.stack(bs), torch.stack(zs)


@dataclass(frozen=True)
class PaperModel:
    """One model of paper 004's comparison: its label, how it trains (``train(task,
    epochs=, lr=, batch_size=, seed=, device=, noise_std=, cache_dir=, progress=)``), the
    confidence the paper thresholds (``scorer(model, alpha, beta)``; α and β only matter
    for the dAEs, whose α is chosen per threshold) and what the FGN attacks
    (``target(model, alpha, beta, attack_confidence)``)."""

    label: str
    train: Callable[..., nn.Module]
    scorer: Callable[[nn.Module, float, float], Scorer]
    target: Callable[[nn.Module, float, float, bool], FoolingTarget]
    calibrated: bool = False       # α chosen on known validation digits for each threshold


def _train_cnn(task, *, epochs, lr, batch_size, noise_std=None, **kw):
    config = softmax.ClassifierConfig(network="paper", epochs=epochs, lr=lr, batch_size=batch_size, optimizer="adam",
                                      weight_decay=0.0, augment=False)
    return softmax.train_classifier(task, softmax.cross_entropy_loss, config, desc=f"CNN ({len(task.y_train)} images)",
                                    **kw)


def _train_cool(task, *, epochs, lr, batch_size, noise_std=None, **kw):
    return cool.train_cool(task, cool.COOLConfig(epochs=epochs, lr=lr, batch_size=batch_size), **kw)


def _dae_trainer(tied: bool):
    def train_dae(task, *, epochs, lr, batch_size, noise_std=0.2, **kw):
        config = dae.DAEConfig(epochs=epochs, lr=lr, batch_size=batch_size, tied=tied, noise_std=noise_std)
        return dae.train_dae(task, config, **kw)
    return train_dae


def _dae_scorer(model, alpha, beta):
    return dae.DAEConfidenceScorer(alpha, beta, n_probes=4, output="scaled").fit(model)


def _dae_target(model, alpha, beta, attack_confidence):
    return dae.DAETarget(model, alpha, beta, attack_confidence=attack_confidence)


#: The models of paper 004 §IV-B by name, in the order of its Table I.
PAPER_MODELS: dict[str, PaperModel] = {
    "cnn": PaperModel("CNN", _train_cnn, lambda m, a, b: MaxSoftmaxScorer().fit(m), lambda m, a, b, c: SoftmaxTarget(m)),
    "cool": PaperModel("COOL", _train_cool, lambda m, a, b: cool.COOLScorer().fit(m),
                       lambda m, a, b, c: cool.COOLTarget(m, attack_confidence=c)),
    "dae_sym": PaperModel("dAE sym", _dae_trainer(True), _dae_scorer, _dae_target, calibrated=True),
    "dae_asym": PaperModel("dAE asym", _dae_trainer(False), _dae_scorer, _dae_target, calibrated=True),
}
MODEL_LABELS = {**{kind: m.label for kind, m in PAPER_MODELS.items()}, "ocsvm": "1-class SVM"}


def paper_model(kind: str) -> PaperModel:
    """The entry of :data:`PAPER_MODELS` called ``kind``."""
    if kind not in PAPER_MODELS:
        raise ValueError(f"unknown model kind {kind!r}; use one of {tuple(PAPER_MODELS)}")
    return PAPER_MODELS[kind]


def train_model(kind: str, task: OpenSetSplit, *, epochs: int, seed: int = 0, device: str = "auto",
                noise_std: float = 0.2, lr: float = 1e-3, batch_size: int = 64, cache_dir: str | None = None,
                progress: bool = True) -> nn.Module:
    """Build and train one paper-004 model on the task's known classes (Adam, lr 1e-3,
    batches of 64: Appendix B). The dAEs add 10 × the denoising reconstruction of
    σ-corrupted inputs (σ = ``noise_std``)."""
    return paper_model(kind).train(task, epochs=epochs, lr=lr, batch_size=batch_size, noise_std=noise_std, seed=seed,
                                   device=device, cache_dir=cache_dir, progress=progress)


def make_scorer(kind: str, model: nn.Module, *, alpha: float = 20.0, beta: float = 10.0) -> Scorer:
    """The scorer whose confidence paper 004 thresholds for each model: max softmax,
    COOL class confidence, or the dAE's scaled output max ỹ = c̃·max y."""
    return paper_model(kind).scorer(model, alpha, beta)


def fooling_target(kind: str, model: nn.Module, *, alpha: float = 20.0, beta: float = 10.0,
                   attack_confidence: bool = False) -> FoolingTarget:
    """What the fooling generator attacks for each model."""
    return paper_model(kind).target(model, alpha, beta, attack_confidence)


@dataclass
class FoolingBenchmark:
    """Paper 004 Table I: thresholded accuracy and fooling per model and threshold."""

    thresholds: tuple[float, ...]
    accuracy: dict[str, dict[float, float]]            # threshold 0.0 = plain accuracy
    fooling: dict[str, dict[float, FoolingResult]]
    alpha: dict[str, dict[float, float]]               # the dAEs' α per threshold
    test_correct: dict[str, np.ndarray]
    test_confidence: dict[str, np.ndarray]             # at the first threshold's scorer

    def rows(self) -> list[dict[str, float]]:
        """One row per model: accuracies, fooling rates and mean steps, as numbers."""
        out = []
        for kind in self.accuracy:
            row = {"model": MODEL_LABELS[kind], "acc_0": self.accuracy[kind][0.0]}
            for t in self.thresholds:
                tag = f"{round(t * 100)}"
                run = self.fooling[kind].get(t)  # absent where a model was not attacked at t
                row[f"acc_{tag}"] = self.accuracy[kind].get(t, float("nan"))
                row[f"fooled_{tag}"] = run.rate if run is not None else float("nan")
                row[f"steps_{tag}"] = run.mean_steps if run is not None else float("nan")
            out.append(row)
        return out

    def table(self) -> str:
        """Table I as text: accuracies, then fooling rate (mean steps) per threshold; "—"
        where a model was not attacked or never fooled (no steps to average)."""
        def pct(v: float) -> str:
            return "—" if np.isnan(v) else f"{v:.1%}"

        def steps(v: float) -> str:
            return "" if np.isnan(v) else f" ({v:.1f})"

        tags = [f"{round(t * 100)}" for t in self.thresholds]
        head = f"{'model':<9} {'acc 0%':>7}" + "".join(f" {'acc ' + g + '%':>8}" for g in tags)
        head += "".join(f"   {'fooled ' + g + '% (steps)':>19}" for g in tags)
        lines = [head]
        for row in self.rows():
            line = f"{row['model']:<9} {pct(row['acc_0']):>7}" + "".join(f" {pct(row['acc_' + g]):>8}" for g in tags)
            line += "".join(f"   {pct(row['fooled_' + g]) + steps(row['steps_' + g]):>19}" for g in tags)
            lines.append(line)
        return "\n".join(lines)


def fooling_benchmark(trained: dict[str, nn.Module], split: OpenSetSplit, *,
                      thresholds: Sequence[float] = (0.9, 0.99), trials_per_digit: int = 1, max_steps: int = 200,
                      lr: float = 1e-3, beta: float = 10.0, keep: float = 0.97, seed: int = 0,
                      first_threshold_only: Sequence[str] = ("dae_asym",), progress: bool = True) -> FoolingBenchmark:
    """Table I on a closed split (every class known). For each threshold the dAE's α is
    chosen on the validation digits (:func:`osrkit.methods.dae.choose_alpha`), as paper 004 uses
    one α per threshold; the FGN descends the unscaled output y and a trial succeeds when
    the model's confidence for its target reaches the threshold. Models named in
    ``first_threshold_only`` are attacked at the first threshold only (the paper's Table I
    has no 99% entry for the asymmetric dAE)."""
    thresholds = tuple(float(t) for t in thresholds)
    targets = np.repeat(np.arange(split.num_known), trials_per_digit)
    accuracy, fooling, alpha, correct, confidence = {}, {}, {}, {}, {}
    for kind, model in trained.items():
        accuracy[kind], fooling[kind] = {}, {}
        is_dae = paper_model(kind).calibrated
        levels = thresholds[:1] if kind in first_threshold_only else thresholds
        if is_dae:  # the α-free pieces, computed once for every threshold
            sc = make_scorer(kind, model, beta=beta)
            val_parts, test_parts = sc.components(split.X_val), sc.components(split.X_test)
            pred = test_parts.probs.argmax(1)
        else:
            pred, novelty = make_scorer(kind, model).score(split.X_test)
        correct[kind] = pred == split.y_test
        accuracy[kind][0.0] = float(np.mean(correct[kind]))
        for i, t in enumerate(levels):
            if is_dae:
                alpha.setdefault(kind, {})[t] = dae.choose_alpha(sc, val_parts, split.y_val, threshold=t, keep=keep)
                novelty = sc.novelty(test_parts, alpha=alpha[kind][t])
            if i == 0:
                confidence[kind] = 1.0 - novelty
            accuracy[kind][t] = metrics.thresholded_accuracy(split.y_test, pred, novelty, 1.0 - t)
        if is_dae:  # α differs per threshold: one run each
            for t in levels:
                target = fooling_target(kind, model, alpha=alpha[kind][t], beta=beta)
                fooling[kind][t] = fooling_attack(target, targets, threshold=t, max_steps=max_steps, lr=lr,
                                                          seed=seed, progress=progress,
                                                          desc=f"fooling {MODEL_LABELS[kind]} at {t:.0%}")
        else:
            fooling[kind] = fooling_attack(fooling_target(kind, model), targets, threshold=list(levels),
                                                   max_steps=max_steps, lr=lr, seed=seed, progress=progress,
                                                   desc=f"fooling {MODEL_LABELS[kind]}")
    return FoolingBenchmark(thresholds, accuracy, fooling, alpha, correct, confidence)


@dataclass
class FoolingReport:
    """At one confidence threshold: thresholded accuracy on test digits and the fraction
    of fooling images that pass, per model."""

    threshold: float
    thresholded_accuracy: dict[str, float]
    fooled: dict[str, float]
    passing: dict[str, np.ndarray]   # boolean per fooling image: confidence >= threshold


def fooling_report(test_correct: dict[str, np.ndarray], test_confidence: dict[str, np.ndarray],
                   fooling_confidence: dict[str, np.ndarray], threshold: float) -> FoolingReport:
    """Pure numbers for the fooling explorer: a test digit counts when it is classified
    correctly *and* its confidence reaches the threshold (paper 004 Table I); a fooling
    image passes when its confidence for the target reaches the threshold."""
    threshold = float(threshold)
    acc = {k: float(np.mean(np.asarray(test_correct[k]) & (np.asarray(test_confidence[k]) >= threshold)))
           for k in test_correct}
    passing = {k: np.asarray(v) >= threshold for k, v in fooling_confidence.items()}
    return FoolingReport(threshold, acc, {k: float(v.mean()) for k, v in passing.items()}, passing)


class FoolingBarsFigure(LiveFigure):
    """Bars of thresholded accuracy and fooled fraction per model; a new threshold sets
    the bars' heights and the title in place."""

    def __init__(self, report: FoolingReport) -> None:
        names = list(report.thresholded_accuracy)
        fig, ax = plt.subplots(figsize=(7, 3))
        pos = np.arange(len(names))
        self.names = names
        self.accuracy = ax.bar(pos - 0.2, [report.thresholded_accuracy[n] for n in names], 0.4,
                               label="thresholded accuracy (test digits)")
        self.fooled = ax.bar(pos + 0.2, [report.fooled.get(n, np.nan) for n in names], 0.4,
                             label="fooling images passing", color=plots.CLASS_COLORS[1])
        ax.set_xticks(pos, names)
        ax.set_ylim(0, 1.05)
        self.title = ax.set_title(f"confidence threshold {report.threshold:.3f}", fontsize=10)
        ax.legend(fontsize=8, loc="lower left")
        fig.tight_layout()
        super().__init__(fig, [*self.accuracy, *self.fooled, self.title])

    def update(self, report: FoolingReport) -> bool:
        for bar, name in zip(self.accuracy, self.names):
            bar.set_height(report.thresholded_accuracy[name])
        for bar, name in zip(self.fooled, self.names):
            bar.set_height(report.fooled.get(name, np.nan))
        self.title.set_text(f"confidence threshold {report.threshold:.3f}")
        return False


class FoolingImagesFigure(LiveFigure):
    """The fooling images, those that pass the threshold framed (their frames redrawn in place)."""

    FRAME = "#D55E00"

    def __init__(self, report: FoolingReport, fooling_images: dict[str, np.ndarray]) -> None:
        fig = plots.plot_image_grid(fooling_images, marks=report.passing,
                                    title="fooling images (framed: pass the threshold)")
        rows = fig.axes[0].get_gridspec().nrows
        cols = len(fig.axes) // rows
        self.frames = {name: [list(fig.axes[r * cols + c].spines.values()) for c in range(len(fooling_images[name]))]
                       for r, name in enumerate(fooling_images)}
        super().__init__(fig, [side for per_row in self.frames.values() for sides in per_row for side in sides])

    def update(self, report: FoolingReport) -> bool:
        for name, per_image in self.frames.items():
            for sides, passing in zip(per_image, report.passing[name]):
                for side in sides:
                    side.set_color(self.FRAME if passing else "black")
                    side.set_linewidth(3 if passing else 0.8)
        return False


def draw_fooling_report(report: FoolingReport, fooling_images: dict[str, np.ndarray]) -> plt.Figure:
    """Bars of thresholded accuracy and fooled fraction per model, then the fooling
    images with those that pass framed."""
    fig = FoolingBarsFigure(report).fig
    FoolingImagesFigure(report, fooling_images)
    return fig


def fooling_numbers(report: FoolingReport) -> dict[str, str]:
    """The fooling explorer's printed numbers: per model, thresholded accuracy and fooled share."""
    numbers = {"threshold": f"{report.threshold:.4g}"}
    for name, acc in report.thresholded_accuracy.items():
        numbers[f"{name} accuracy"] = f"{acc:.3f}"
        if name in report.fooled:
            numbers[f"{name} fooled"] = f"{report.fooled[name]:.0%}"
    return numbers


def fooling_explorer(test_correct: dict[str, np.ndarray], test_confidence: dict[str, np.ndarray],
                     fooling_confidence: dict[str, np.ndarray], fooling_images: dict[str, np.ndarray],
                     threshold: float = 0.9) -> Explorer:
    """A confidence-threshold slider (a logit scale from 0.5 to 0.999) driving :func:`fooling_report`."""
    slider = logit_slider(value=threshold, low=0.5, high=0.999, description="threshold")
    return Explorer(
        [slider], lambda t: fooling_report(test_correct, test_confidence, fooling_confidence, t),
        lambda r: [FoolingBarsFigure(r), FoolingImagesFigure(r, fooling_images)], fooling_numbers,
        name="fooling").show()
