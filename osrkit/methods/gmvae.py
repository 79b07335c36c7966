"""The supervised Gaussian-mixture VAE of Cao, Luo and Klabjan (paper 000): K_c subclusters
per known class, the modified ELBO without the v-prior (§3.1–3.2), and the
nearest-centroid rules NC-U and NC-D on its latent mean µ(x) (§3.3, lesson 03)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import OpenSetSplit
from ..nets import mlp
from ..scoring import NearestCentroidScorer, Scorer
from ..train import seed_everything
from .base import AdamConfig, Method, train_network


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


class SupervisedGMVAE(nn.Module):
    """The supervised GMVAE of paper 000 (§3.1) with K_c subclusters in class c.

    Recognition: q(z|x) = N(µ(x), σ²(x)) and q(w|x,y) = N(µ(x,y), σ²(x,y)); generation:
    w ~ N(0, I), a prior network mapping (w, y) to µ_ck(w), σ²_ck(w) for the K_y
    subclusters of class y, and a decoder giving continuous-Bernoulli logits of p(x|z).
    ``subclusters`` is one K for every class or one K_c per class (the prior network then
    outputs max K_c and a mask hides the unused ones). One reparameterised sample of z and
    of w per input. ``terms(x, y)`` gives the four ELBO terms
    (:func:`gmvae_terms`); ``embed(x)`` is µ(x), the latent the
    nearest-centroid scorers use.
    """

    def __init__(self, num_classes: int, subclusters: int | Sequence[int] = 1, *, in_dim: int = 784,
                 hidden: Sequence[int] = (256, 128), z_dim: int = 10, w_dim: int = 10) -> None:
        super().__init__()
        ks = [subclusters] * num_classes if isinstance(subclusters, int) else [int(k) for k in subclusters]
        if num_classes < 1 or len(ks) != num_classes or min(ks) < 1:
            raise ValueError(f"need num_classes >= 1 and one K_c >= 1 per class (or one int for all), "
                             f"got num_classes={num_classes}, subclusters={subclusters!r}")
        self.num_classes, self.subclusters, self.z_dim, self.w_dim = num_classes, tuple(ks), z_dim, w_dim
        self.max_subclusters = max(ks)
        self.register_buffer("subcluster_mask", torch.arange(self.max_subclusters)[None, :] < torch.tensor(ks)[:, None])
        hidden = list(hidden)
        # the prior network, the only part whose size depends on K, is built last: models
        # with different K then start from the same encoders and decoder for one seed,
        # so their loss curves differ by K and not by initialisation (§4's comparison)
        self.enc_z = mlp([in_dim, *hidden, 2 * z_dim])
        self.enc_w = mlp([in_dim + num_classes, *hidden, 2 * w_dim])
        self.decoder = mlp([z_dim, *reversed(hidden), in_dim])
        self.prior = mlp([w_dim + num_classes, hidden[-1], 2 * self.max_subclusters * z_dim])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """µ(x) and log σ²(x) of q(z|x)."""
        mu, logvar = self.enc_z(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[0]

    def prior_params(self, w: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """µ_yk(w) and log σ²_yk(w) for k = 1..max K_c, each (B, max K_c, z_dim); entries
        k ≥ K_y are unused (``subcluster_mask[y]`` is False there)."""
        onehot = F.one_hot(y, self.num_classes).to(w)
        out = self.prior(torch.cat([w, onehot], 1)).view(len(w), self.max_subclusters, 2 * self.z_dim)
        mu, logvar = out.chunk(2, -1)
        return mu, logvar

    def encode_w(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """µ(x, y) and log σ²(x, y) of q(w|x,y)."""
        onehot = F.one_hot(y, self.num_classes).to(x)
        mu, logvar = self.enc_w(torch.cat([x.flatten(1), onehot], 1)).chunk(2, dim=1)
        return mu, logvar

    def _sample(self, x: torch.Tensor, y: torch.Tensor):
        mu_z, logvar_z = self.encode(x)
        z = mu_z + torch.randn_like(mu_z) * (0.5 * logvar_z).exp()
        mu_w, logvar_w = self.encode_w(x, y)
        w = mu_w + torch.randn_like(mu_w) * (0.5 * logvar_w).exp()
        return z, mu_z, logvar_z, w, mu_w, logvar_w

    def terms(self, x: torch.Tensor, y: torch.Tensor):
        z, mu_z, logvar_z, w, mu_w, logvar_w = self._sample(x, y)
        mu_p, logvar_p = self.prior_params(w, y)
        return gmvae_terms(x, self.decoder(z), z, mu_z, logvar_z, mu_w, logvar_w, mu_p, logvar_p,
                           mask=self.subcluster_mask[y])

    @torch.no_grad()
    def subcluster_of(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The most probable subcluster argmax_j p(v = j | z, w, y) (eq. 1) of each sample,
        at z = µ(x) and w = µ(x, y)."""
        mu_z, _ = self.encode(x)
        mu_w, _ = self.encode_w(x, y)
        mu_p, logvar_p = self.prior_params(mu_w, y)
        return subcluster_posterior(mu_z, mu_p, logvar_p, self.subcluster_mask[y]).argmax(1)


class GMVAELoss:
    """``loss(model, xb, yb)`` for :func:`osrkit.train.fit`: the negated modified ELBO of
    a :class:`SupervisedGMVAE` (paper 000 §3.2), or the full one with
    ``v_prior=True``."""

    def __init__(self, v_prior: bool = False) -> None:
        self.v_prior = v_prior

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return model.terms(xb, yb).loss(v_prior=self.v_prior)


@dataclass(frozen=True)
class GMVAEConfig(AdamConfig):
    """The GMVAE's size and training (Adam; quick: 60 epochs, full: 200) and its K_c:
    ``subclusters`` is one K for every class or one per class (lesson 03 chooses them
    with :mod:`osrkit.studies.subclusters`; 2 fits the even/odd digits of the paper)."""

    epochs: int = 60
    subclusters: int | tuple[int, ...] = 2
    z_dim: int = 10
    hidden: tuple[int, ...] = (256, 128)
    FULL = {"epochs": 200}

    def subclusters_per_class(self, num_classes: int) -> tuple[int, ...]:
        """K_c for each of the ``num_classes`` known classes."""
        if np.isscalar(self.subclusters):
            return (int(self.subclusters),) * num_classes
        ks = tuple(int(k) for k in self.subclusters)
        if len(ks) != num_classes:
            raise ValueError(f"subclusters gives {len(ks)} values for {num_classes} known classes")
        return ks


def train_gmvae(task: OpenSetSplit, config: GMVAEConfig, *, seed: int = 0, device: str = "auto",
                cache_dir: str | None = None, progress: bool = True) -> SupervisedGMVAE:
    """A :class:`SupervisedGMVAE` with the config's K_c trained on the modified ELBO."""
    ks = config.subclusters_per_class(task.num_known)
    seed_everything(seed)
    model = SupervisedGMVAE(task.num_known, ks, in_dim=int(np.prod(task.X_train.shape[1:])), hidden=config.hidden,
                            z_dim=config.z_dim)
    train_network(model, GMVAELoss(), task, config, seed=seed, device=device, cache_dir=cache_dir,
                  progress=progress, desc=f"GMVAE K={ks}")
    return model


def gmvae_rules(model: SupervisedGMVAE, task: OpenSetSplit, *, seed: int = 0) -> dict[str, Scorer]:
    """GMVAE+NC-U and GMVAE+NC-D: one k-means fit of K_c centroids per class on µ(x), two rules."""
    ncu = NearestCentroidScorer("uncertainty", list(model.subclusters), seed, name="GMVAE+NC-U")
    ncu.fit(model, task.X_train, task.y_train)
    return {"GMVAE+NC-U": ncu, "GMVAE+NC-D": ncu.with_rule("distance", name="GMVAE+NC-D")}


def _train_and_score(task: OpenSetSplit, config: GMVAEConfig, *, seed: int, device: str, cache_dir: str | None,
                     progress: bool) -> dict[str, Scorer]:
    model = train_gmvae(task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress)
    return gmvae_rules(model, task, seed=seed)


METHOD = Method("gmvae", "03_gmvae_subclusters", GMVAEConfig, ("GMVAE+NC-U", "GMVAE+NC-D"), _train_and_score,
                "a supervised GMVAE with subclusters per class, thresholded by nearest-centroid uncertainty")
