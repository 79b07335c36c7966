"""Training objectives, each as ``loss(model, xb, yb) -> scalar`` for :func:`osrkit.train.fit`
or as a plain function of tensors."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def cross_entropy_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Plain softmax cross-entropy of a classifier."""
    return F.cross_entropy(model(xb), yb)


def denoising_reconstruction(model: nn.Module, xb: torch.Tensor, noise_std: float) -> torch.Tensor:
    """Mean over the batch of ‖r(x + ε) − x‖² / D with ε ~ N(0, σ²I): the denoising
    autoencoder objective of paper 004 (§III; Appendix A: σ = 0.2)."""
    noisy = xb + noise_std * torch.randn_like(xb)
    return (model.reconstruct(noisy) - xb).pow(2).flatten(1).mean(1).mean()


class DenoisingClassifierLoss:
    """Cross-entropy on clean inputs + ``rec_weight`` × denoising reconstruction
    (paper 004 Appendix B: "a supplementary reconstruction loss was added to the
    cross-entropy loss")."""

    def __init__(self, noise_std: float = 0.2, rec_weight: float = 1.0) -> None:
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.noise_std = noise_std
        self.rec_weight = rec_weight

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(xb), yb) + self.rec_weight * denoising_reconstruction(model, xb, self.noise_std)


def cool_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """COOL training objective: cross-entropy of the softmax over all C·ω units against a
    target that puts 1/ω on each of the true class's ω units (Kardan & Stanley, 2017)."""
    omega = model.omega
    log_p = torch.log_softmax(model(xb), dim=1).view(len(xb), -1, omega)
    return -log_p[torch.arange(len(xb)), yb].mean(1).mean()


class DHRNetLoss:
    """CROSR's training objective (Yoshihashi et al. 2019, summarised in paper 000 §2):
    cross-entropy of the logits y plus ``rec_weight`` × the L2 reconstruction error
    ‖x̃ − x‖² of each image (summed over pixels, averaged over the batch), for a
    :class:`osrkit.models.DHRNet`."""

    def __init__(self, rec_weight: float = 1.0) -> None:
        if rec_weight < 0:
            raise ValueError(f"rec_weight must be >= 0, got {rec_weight}")
        self.rec_weight = rec_weight

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        logits, recon = model.logits_and_reconstruction(xb)
        return F.cross_entropy(logits, yb) + self.rec_weight * (recon - xb).pow(2).flatten(1).sum(1).mean()


# ------------------------------------------------------------------ GMVAE (paper 000)
def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; µ, diag e^logvar), summed over the last axis."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def subcluster_posterior(z: torch.Tensor, mu_prior: torch.Tensor, logvar_prior: torch.Tensor,
                         mask: torch.Tensor | None = None) -> torch.Tensor:
    """p_β(v = j | z, w, y) of paper 000 eq. 1, shape (B, K).

    Derivation: by Bayes' rule over the K_c subclusters of the sample's class,
    p(v=j|z,w,y) = p(z|w,y,v=j) p(v=j|y) / Σ_j' p(z|w,y,v=j') p(v=j'|y); with the uniform
    p(v|y) = 1/K_c the priors cancel, leaving a softmax over j of log N(z; µ_cj(w), σ²_cj(w)).
    ``mu_prior``/``logvar_prior`` are (B, K, d_z): the prior network's output for the
    sample's own class y (and its sampled w); ``z`` is (B, d_z). ``mask`` (B, K), True
    for the subclusters that exist in the sample's class, lets classes have K_c < K:
    the others get probability 0."""
    log_density = _log_normal(z[:, None, :], mu_prior, logvar_prior)
    if mask is not None:
        log_density = log_density.masked_fill(~mask, float("-inf"))
    return torch.softmax(log_density, dim=1)


@dataclass
class GMVAETerms:
    """The four ELBO terms of paper 000 §3.1, each as a loss (the negated ELBO part),
    averaged over the batch. The ELBO is −(sum of all four); the modified ELBO of §3.2
    drops ``v_prior``."""

    reconstruction: torch.Tensor   # −E_q(z|x)[log p(x|z)]
    latent_covering: torch.Tensor  # E_q(w|x,y)q(z|x)[log q(z|x) − Σ_j p(v=j|z,w,y) log p(z|w,y,v=j)]
    w_prior: torch.Tensor          # KL(q(w|x,y) ‖ N(0, I))
    v_prior: torch.Tensor          # E_q(w|x,y)q(z|x)[KL(p(v|z,w,y) ‖ p(v|y))]

    def loss(self, v_prior: bool = False) -> torch.Tensor:
        """The negated modified ELBO (default) or, with ``v_prior=True``, the full one."""
        total = self.reconstruction + self.latent_covering + self.w_prior
        return total + self.v_prior if v_prior else total


def gmvae_terms(x: torch.Tensor, recon_logits: torch.Tensor, z: torch.Tensor, mu_z: torch.Tensor,
                logvar_z: torch.Tensor, mu_w: torch.Tensor, logvar_w: torch.Tensor, mu_prior: torch.Tensor,
                logvar_prior: torch.Tensor, mask: torch.Tensor | None = None) -> GMVAETerms:
    """The ELBO terms for one Monte-Carlo sample z ~ q(z|x) (and the w that produced the
    prior parameters), with a continuous-Bernoulli likelihood p(x|z) for grey pixels in
    [0, 1] (``recon_logits`` are its logits). Derivations, per sample:
    - reconstruction: −log p(x|z) = −Σ_i log CB(x_i; λ_i);
    - latent covering: log q(z|x) − Σ_j p(v=j|z,w,y) log N(z; µ_j(w), σ²_j(w)), the
      expectation over v of −log p(z|w,y,v) under the eq.-1 posterior, plus log q(z|x)
      (the entropy part of KL(q(z|x) ‖ p(z|w,y,v)));
    - w-prior: ½ Σ (µ_w² + σ_w² − log σ_w² − 1), the Gaussian KL in closed form;
    - v-prior: Σ_j p_j (log p_j − log 1/K_c), the KL from the uniform p(v|y).
    ``mask`` (B, K) marks the subclusters of each sample's class when classes have
    different K_c (see :func:`subcluster_posterior`)."""
    x_flat = x.flatten(1)
    rec = -torch.distributions.ContinuousBernoulli(logits=recon_logits.flatten(1)).log_prob(x_flat).sum(-1)
    post = subcluster_posterior(z, mu_prior, logvar_prior, mask)
    log_q_z = _log_normal(z, mu_z, logvar_z)
    covering = log_q_z - (post * _log_normal(z[:, None, :], mu_prior, logvar_prior)).sum(1)
    w_kl = 0.5 * (mu_w.pow(2) + logvar_w.exp() - logvar_w - 1.0).sum(-1)
    log_k = (torch.full((len(post),), math.log(post.shape[1]), device=post.device) if mask is None
             else mask.sum(1).to(post.dtype).log())
    v_kl = (post * torch.log(post.clamp_min(1e-12))).sum(1) + log_k
    return GMVAETerms(rec.mean(), covering.mean(), w_kl.mean(), v_kl.mean())


class GMVAELoss:
    """``loss(model, xb, yb)`` for :func:`osrkit.train.fit`: the negated modified ELBO of
    a :class:`osrkit.models.SupervisedGMVAE` (paper 000 §3.2), or the full one with
    ``v_prior=True``."""

    def __init__(self, v_prior: bool = False) -> None:
        self.v_prior = v_prior

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return model.terms(xb, yb).loss(v_prior=self.v_prior)


# ------------------------------------------------------------ Class Anchor Clustering (paper 001)
def anchor_distances(logits: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """d = e(z, C) of paper 001 eq. 2: the plain (not squared) Euclidean distance of each
    logit vector z (B, N) to each class anchor C_i (rows of ``anchors``, N × N), shape (B, N)."""
    if logits.ndim != 2 or anchors.ndim != 2 or logits.shape[1] != anchors.shape[1]:
        raise ValueError(f"logits (B, N) and anchors (classes, N) must share N, got {tuple(logits.shape)} "
                         f"and {tuple(anchors.shape)}")
    return (logits[:, None, :] - anchors[None].to(logits)).norm(dim=2)


def cac_terms(logits: torch.Tensor, targets: torch.Tensor, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the CAC loss, batch means (paper 001 eq. 6–7):
    - tuplet L_T = log(1 + Σ_{j≠y} exp(d_y − d_j)), computed as logsumexp_j (d_y − d_j)
      over *all* j: the j = y term is exp(0) = 1, the "1 +";
    - anchor L_A = d_y, the distance to the true class's anchor."""
    d = anchor_distances(logits, anchors)
    d_true = d.gather(1, targets[:, None])
    tuplet = torch.logsumexp(d_true - d, dim=1)
    return tuplet.mean(), d_true.squeeze(1).mean()


def cac_loss(logits: torch.Tensor, targets: torch.Tensor, anchors: torch.Tensor, lam: float = 0.1) -> torch.Tensor:
    """L_CAC = L_T + λ·L_A (paper 001 eq. 8), the batch mean; λ = 0.1 in the paper."""
    tuplet, anchor = cac_terms(logits, targets, anchors)
    return tuplet + lam * anchor


class CACLoss:
    """``loss(model, xb, yb)`` for :func:`osrkit.train.fit`: the CAC loss of the model's
    logits against fixed anchors α·e_i (:func:`osrkit.models.class_anchors`).
    ``terms="both"`` (the paper), ``"anchor"`` (L_A alone) or ``"tuplet"`` (L_T alone)
    give the ablation of paper 001 Fig. 3."""

    def __init__(self, num_classes: int, magnitude: float = 10.0, lam: float = 0.1, terms: str = "both") -> None:
        from .models import class_anchors

        if terms not in ("both", "anchor", "tuplet"):
            raise ValueError(f"terms must be 'both', 'anchor' or 'tuplet', got {terms!r}")
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.anchors = class_anchors(num_classes, magnitude)
        self.lam, self.terms = lam, terms

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        tuplet, anchor = cac_terms(model(xb), yb, self.anchors)
        if self.terms == "anchor":
            return anchor
        if self.terms == "tuplet":
            return tuplet
        return tuplet + self.lam * anchor


# ------------------------------------------------------------ contrastive learning (paper 003)
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
    from . import attribution, augment

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
        from . import augment

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
