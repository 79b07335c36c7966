"""GradMix (paper 003): contrastive training (SupCon + SimCLR) with a mixed view whose patch
goes where the LayerCAM map of the SimCLR loss peaks, and the top-k similarity rule
(Algorithm 1); lesson 05's GradMix-step explorer."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import attribution, augment
from ..data import OpenSetSplit, known_labels
from ..explorer import Explorer, LiveFigure
from ..nets import ResNet18Encoder
from ..scoring import FeatureScorer, Scorer, as_features
from ..train import fit, model_device, seed_everything
from .base import Method, MethodConfig


class ContrastiveEncoder(nn.Module):
    """A small CNN encoder with a projection head for contrastive learning (quick mode of
    lesson 05): Conv(→c1, 3×3)–BN–ReLU–MaxPool–Conv(→c2, 3×3)–BN–ReLU–MaxPool–FC(→hidden)
    –ReLU, then a 2-layer projection head to ``feature_dim`` (128 in GradMix's code).
    ``forward`` gives the projection z (what the contrastive losses and the top-k scorer
    use); ``attribution_layers()`` the conv blocks whose activations feed LayerCAM."""

    def __init__(self, in_channels: int = 1, *, image_size: int = 28, channels: tuple[int, int] = (32, 64),
                 hidden: int = 128, feature_dim: int = 128) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"ContrastiveEncoder needs an image side divisible by 4, got {image_size}")
        c1, c2 = channels
        self.block1 = nn.Sequential(nn.Conv2d(in_channels, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU())
        self.fc = nn.Linear(c2 * (image_size // 4) ** 2, hidden)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, feature_dim))

    def attribution_layers(self) -> list[nn.Module]:
        return [self.block1, self.block2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(self.block1(x), 2)
        h = F.max_pool2d(self.block2(h), 2)
        return self.head(F.relu(self.fc(h.flatten(1))))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


def _view_similarities(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cosine similarities / τ between all 2N views [z1; z2], the diagonal (a view with
    itself) set to −inf so that it drops out of every sum."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"need two (N, d) batches of projections, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    return sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))


def simclr_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """SimCLR's NT-Xent (paper 003 eq. 1): for each of the 2N views, −log of the softmax,
    over the other 2N − 1 views, of its partner view (same image, other augmentation);
    the mean over the 2N views. τ = 0.05 in GradMix's code."""
    sim = _view_similarities(z1, z2, temperature)
    n = len(z1)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(sim.device)
    return F.cross_entropy(sim, partner)


def supcon_loss(z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020; paper 003 eq. 2): for each view i,
    the mean over its positives P(i) — every other view with the same label — of
    −log(exp(s_ip/τ) / Σ_{k≠i} exp(s_ik/τ)); the mean over the 2N views. With one label
    per image it is :func:`simclr_loss`."""
    sim = _view_similarities(z1, z2, temperature)
    y = torch.cat([labels, labels]).to(sim.device)
    positive = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool, device=sim.device)
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    per_view = -(log_prob.masked_fill(~positive, 0.0).sum(1)) / positive.sum(1)
    return per_view.mean()


def gradmix_objective(supcon: torch.Tensor, simclr: torch.Tensor, simclr_mixed: torch.Tensor, gamma: float, *,
                      theta: float = 1.0, lam: float = 1.0) -> torch.Tensor:
    """Paper 003 eq. 8: θ·L_SupCon + λ·(L_SimCLR + γ²·L_SimCLR^GradMix), the mixed view's
    loss weighted by the patch's share γ² of the image."""
    return theta * supcon + lam * (simclr + gamma ** 2 * simclr_mixed)


def gradmix_view(model: nn.Module, view: torch.Tensor, anchor: torch.Tensor, *, temperature: float = 0.05,
                 gamma_range: tuple[float, float] = (0.1, 0.5), layers=None, generator: torch.Generator | None = None):
    """The GradMix view of ``view`` (paper 003 §3.2): the LayerCAM map of the SimCLR loss
    between the model's projections of ``view`` and the (detached) projections ``anchor`` of
    the other view, on ``layers`` (default ``model.attribution_layers()``), and
    :func:`osrkit.augment.gradmix` on its peaks. Returns (mixed view, γ, maps)."""
    anchor = anchor.detach()
    maps = attribution.layer_cam(model, model.attribution_layers() if layers is None else layers, view,
                                 target=lambda z: simclr_loss(z, anchor, temperature))
    mixed, gamma = augment.gradmix(view, maps, gamma_range, generator=generator)
    return mixed, gamma, maps


class ContrastiveLoss:
    """``loss(model, xb, yb)`` for :func:`osrkit.train.fit`: two augmented views of the
    batch (``view``, e.g. :func:`osrkit.augment.random_resized_crop`), θ·SupCon + λ·SimCLR
    (paper 003 eq. 3) and, with ``mixing``, a third, mixed view of the first whose SimCLR
    loss against the second is weighted by the mixed share of the image (eq. 8):
    - ``"gradmix"``: the patch goes on the most activated point of the LayerCAM map of the
      SimCLR loss (:func:`osrkit.attribution.layer_cam` on ``model.attribution_layers()``),
      weight γ²;
    - ``"mixup"`` / ``"cutmix"``: the ablation of §4.1, weight the other image's share."""

    MIXINGS = (None, "gradmix", "mixup", "cutmix")

    def __init__(self, view, *, mixing: str | None = None, theta: float = 1.0, lam: float = 1.0,
                 temperature: float = 0.05, gamma_range: tuple[float, float] = (0.1, 0.5)) -> None:
        if mixing not in self.MIXINGS:
            raise ValueError(f"mixing must be one of {self.MIXINGS}, got {mixing!r}")
        self.view, self.mixing, self.theta, self.lam = view, mixing, theta, lam
        self.temperature, self.gamma_range = temperature, gamma_range

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        v1, v2 = self.view(xb), self.view(xb)
        z1, z2 = model(v1), model(v2)
        supcon = supcon_loss(z1, z2, yb, self.temperature)
        simclr = simclr_loss(z1, z2, self.temperature)
        if self.mixing is None:
            return self.theta * supcon + self.lam * simclr
        if self.mixing == "gradmix":
            mixed, gamma, _ = gradmix_view(model, v1, z2, temperature=self.temperature, gamma_range=self.gamma_range)
        else:
            mixed, share = (augment.mixup if self.mixing == "mixup" else augment.cutmix)(v1)
            gamma = math.sqrt(share)          # γ² is the share of the image that was mixed in
        mixed_loss = simclr_loss(model(mixed), z2, self.temperature)
        return gradmix_objective(supcon, simclr, mixed_loss, gamma, theta=self.theta, lam=self.lam)


class TopKSimilarityScorer(FeatureScorer):
    """The open-set rule of paper 003 (Algorithm 1): G_c(x) = sum of the k largest cosine
    similarities between the embedding of x and the training embeddings of class c;
    prediction argmax_c G_c, score max_c G_c (high = known). Novelty = −max_c G_c, so that
    higher is more likely unknown; :meth:`to_native` gives the score back."""

    native_name = "top-k similarity score max_c G_c"

    def __init__(self, k: int = 10, *, name: str = "top-k", batch_size: int = 512) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k, self.name, self.batch_size = k, name, batch_size
        self.embed = None
        self.bank: list[np.ndarray] = []

    @property
    def is_fitted(self) -> bool:
        return bool(self.bank)

    def fit_features(self, F: np.ndarray, y: np.ndarray) -> "TopKSimilarityScorer":
        F, y = as_features(F), np.asarray(y)
        F = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
        bank = [F[y == c] for c in known_labels(y)]
        small = [c for c, B in enumerate(bank) if len(B) < self.k]
        if small:
            raise ValueError(f"classes {small} have fewer than k={self.k} training samples; lower k")
        self.bank = bank
        return self

    def class_scores_of_embeddings(self, Z: torch.Tensor) -> torch.Tensor:
        """G (B, classes) for a batch of embeddings, in torch and differentiable, so that an
        attribution map can explain the top-k score (:func:`osrkit.studies.attention.top_k_target`)."""
        self._check_fitted()
        Z = torch.nn.functional.normalize(Z.flatten(1), dim=1, eps=1e-12)
        return torch.stack([(Z @ torch.as_tensor(B, dtype=Z.dtype, device=Z.device).T).topk(self.k, dim=1).values.sum(1)
                            for B in self.bank], dim=1)

    def score_features(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        G = self.class_scores_of_embeddings(torch.as_tensor(as_features(F))).numpy()
        return G.argmax(1), -G.max(1)

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        return -np.asarray(novelty)


GRADMIX_ENCODERS = ("small", "resnet18")


def contrastive_encoder(kind: str, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """``"small"``: :class:`osrkit.ContrastiveEncoder` (quick mode);
    ``"resnet18"``: :class:`osrkit.ResNet18Encoder` (full mode, 32×32 images)."""
    if kind == "small":
        return ContrastiveEncoder(in_channels, image_size=image_size)
    if kind == "resnet18":
        return ResNet18Encoder(in_channels)
    raise ValueError(f"unknown encoder {kind!r}; use one of {GRADMIX_ENCODERS}")


@dataclass(frozen=True)
class GradMixConfig(MethodConfig):
    """Contrastive training of paper 003 (Adam, batches of 128, τ = 0.05) with a mixed view
    (``mixing``: "gradmix", "mixup", "cutmix", or None for plain SupCon + SimCLR) and the
    top-k rule's k (10 in its ablations). Quick: the small encoder for 10 epochs; full: the
    ResNet-18 for 100."""

    encoder: str = "small"
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    temperature: float = 0.05
    mixing: str | None = "gradmix"
    k: int = 10
    FULL = {"encoder": "resnet18", "epochs": 100}


def train_contrastive(task: OpenSetSplit, mixing: str | None = None, *, encoder: str = "small", epochs: int,
                      lr: float = 1e-3, batch_size: int = 128, temperature: float = 0.05, seed: int = 0,
                      device: str = "auto", cache_dir: str | None = None, progress: bool = True) -> nn.Module:
    """Train an encoder with SupCon + SimCLR on two random-resized-crop views (paper 003
    eq. 3), plus a GradMix, Mixup or CutMix view with ``mixing`` (eq. 8); Adam.

    A controlled comparison: for one ``seed`` every ``mixing`` starts from the same weights
    and sees the same batches and the same crops (the crops have a generator of their own,
    so the mixing's extra random draws do not shift them); only the mixed view differs."""
    seed_everything(seed)
    model = contrastive_encoder(encoder, task.X_train.shape[1], task.X_train.shape[-1])
    crops = partial(augment.random_resized_crop, generator=torch.Generator().manual_seed(seed))
    loss = ContrastiveLoss(crops, mixing=mixing, temperature=temperature)
    fit(model, loss, task.X_train, task.y_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
        device=device, cache_dir=cache_dir, progress=progress, desc=f"SupCon+SimCLR{' + ' + mixing if mixing else ''}")
    return model.eval()


def top_k_scorer(model: nn.Module, task: OpenSetSplit, k: int = 10) -> TopKSimilarityScorer:
    """:class:`TopKSimilarityScorer` on the model's embeddings of the task's training set
    (paper 003 Algorithm 1; k = 10 in its ablations)."""
    return TopKSimilarityScorer(k).fit(model, task.X_train, task.y_train)


@dataclass
class GradMixStep:
    """One GradMix augmentation of a batch (paper 003 Fig. 1): the LayerCAM maps of the
    SimCLR loss between two views, each map's most activated point, and the mixed view."""

    views: np.ndarray            # (B, C, H, W) the first view
    maps: np.ndarray             # (B, H, W) in [0, 1]
    peaks: np.ndarray            # (B, 2) row, column of each map's argmax
    mixed: np.ndarray            # (B, C, H, W)
    gamma: float


def gradmix_step(model, X: np.ndarray, gamma: float, layer: int | None = None, *, temperature: float = 0.05,
                 seed: int = 0) -> GradMixStep:
    """GradMix on the images ``X`` step by step: two random-resized-crop views, the LayerCAM
    map of their SimCLR loss on ``model.attribution_layers()`` (one of them with ``layer``,
    all of them with None), the peak, and a patch of side γ·H there."""
    layers = model.attribution_layers()
    if layer is not None and not 0 <= layer < len(layers):
        raise ValueError(f"layer must be None or an index below {len(layers)}, got {layer}")
    generator = torch.Generator().manual_seed(seed)     # the same crops and partner images on every redraw
    model.eval()
    xb = torch.as_tensor(np.asarray(X, dtype=np.float32), device=model_device(model))
    v1, v2 = (augment.random_resized_crop(xb, generator=generator) for _ in range(2))
    with torch.no_grad():
        anchor = model(v2)
    mixed, g, maps = gradmix_view(model, v1, anchor, temperature=temperature, gamma_range=(gamma, gamma),
                                         layers=None if layer is None else [layers[layer]], generator=generator)
    w = maps.shape[-1]
    peak = maps.flatten(1).argmax(1)
    peak = peak.cpu()
    return GradMixStep(v1.cpu().numpy(), maps.cpu().numpy(), np.stack([(peak // w).numpy(), (peak % w).numpy()], 1),
                       mixed.detach().cpu().numpy(), g)


class GradMixStepFigure(LiveFigure):
    """Rows: the view, its map with the peak (star), the mixed view; a new γ or layer
    redraws the maps, the stars and the mixed views in place (the views stay)."""

    def __init__(self, step: GradMixStep, *, max_images: int = 6) -> None:
        n = min(max_images, len(step.views))
        fig, axes = plt.subplots(3, n, figsize=(1.8 * n, 5.6), squeeze=False)
        self.maps, self.stars, self.mixed = [], [], []
        for i in range(n):
            img = step.views[i].transpose(1, 2, 0).squeeze()
            axes[0, i].imshow(img, cmap="gray", vmin=0, vmax=1)
            axes[1, i].imshow(img, cmap="gray", vmin=0, vmax=1)
            self.maps.append(axes[1, i].imshow(step.maps[i], cmap="jet", alpha=0.5, vmin=0, vmax=1))
            self.stars.append(axes[1, i].scatter([step.peaks[i, 1]], [step.peaks[i, 0]], marker="*", s=120, c="white",
                                                 edgecolors="k"))
            self.mixed.append(axes[2, i].imshow(step.mixed[i].transpose(1, 2, 0).squeeze(), cmap="gray", vmin=0, vmax=1))
            for row in range(3):
                axes[row, i].set_xticks([])
                axes[row, i].set_yticks([])
        for row, name in enumerate(("view", "LayerCAM + peak", self._mixed_label(step))):
            axes[row, 0].set_ylabel(name, fontsize=9)
        self.label = axes[2, 0].yaxis.label
        fig.tight_layout()
        super().__init__(fig, [*self.maps, *self.stars, *self.mixed, self.label])

    @staticmethod
    def _mixed_label(step: GradMixStep) -> str:
        return f"GradMix, γ = {step.gamma:.2f}"

    def update(self, step: GradMixStep) -> bool:
        for i, (heat, star, mixed) in enumerate(zip(self.maps, self.stars, self.mixed)):
            heat.set_data(step.maps[i])
            star.set_offsets([[step.peaks[i, 1], step.peaks[i, 0]]])
            mixed.set_data(step.mixed[i].transpose(1, 2, 0).squeeze())
        self.label.set_text(self._mixed_label(step))
        return False


def draw_gradmix_step(step: GradMixStep, *, max_images: int = 6) -> plt.Figure:
    """Rows: the view, its map with the peak (star), the mixed view."""
    return GradMixStepFigure(step, max_images=max_images).fig


def gradmix_numbers(step: GradMixStep) -> dict[str, str]:
    """The GradMix explorer's printed numbers: γ, the patch side and where the peaks are."""
    side = max(1, int(round(step.gamma * step.views.shape[-1])))
    return {"γ": f"{step.gamma:.2f}", "patch": f"{side}×{side} px",
            "peaks (row, col)": " ".join(f"({r},{c})" for r, c in step.peaks[:6])}


def gradmix_explorer(model, X: np.ndarray) -> Explorer:
    """Sliders for γ and the layer (or all layers) driving :func:`gradmix_step`."""
    # "all" rather than None: a Dropdown whose value is None shows no selection in the browser
    options = [("all layers", "all")] + [(f"layer {i}", i) for i in range(len(model.attribution_layers()))]
    gamma = w.FloatSlider(value=0.3, min=0.1, max=0.5, step=0.05, description="γ", continuous_update=False)
    layer = w.Dropdown(options=options, value="all", description="layer")
    return Explorer([gamma, layer], lambda g, lay: gradmix_step(model, X, g, None if lay == "all" else lay),
                    GradMixStepFigure, gradmix_numbers, name="GradMix").show()


def _train_and_score(task: OpenSetSplit, config: GradMixConfig, *, seed: int, device: str, cache_dir: str | None,
                     progress: bool) -> dict[str, Scorer]:
    model = train_contrastive(task, config.mixing, encoder=config.encoder, epochs=config.epochs, lr=config.lr,
                              batch_size=config.batch_size, temperature=config.temperature, seed=seed, device=device,
                              cache_dir=cache_dir, progress=progress)
    return {"top-k": top_k_scorer(model, task, config.k)}


METHOD = Method("gradmix", "05_gradmix_attribution", GradMixConfig, ("top-k",), _train_and_score,
                "SupCon + SimCLR with an attribution-guided mixed view, scored by top-k similarity")
