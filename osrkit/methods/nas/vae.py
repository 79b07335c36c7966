"""The VAE on top of the searched encoder (paper 002 Fig. 1, eq. 3–4).

The encoder's output splits into a class attribute u, with prior N(µ_y, I) around a
learned embedding µ_y of the sample's class, and an instance attribute z with prior
N(0, I). A linear classifier reads u; a decoder (fixed, not searched) reconstructs the
image from (u, z). The loss is γ_ce·CE + γ_kl·KL + γ_re·L_re + γ_cr·L_cr (eq. 4), where the
VAE contrastive loss L_cr (eq. 3) decodes z with every class's µ_m and asks, by a softmax
over −distances, that the sample's own class reconstructs it best.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class Decoder(nn.Module):
    """(u, z) → image: a linear layer to a feature map at a quarter of the image side, then
    two transposed convolutions that double it, and a sigmoid (pixels in [0, 1])."""

    def __init__(self, latent: int, out_channels: int, image_side: int, width: int = 32) -> None:
        super().__init__()
        if image_side % 4:
            raise ValueError(f"the decoder needs an image side divisible by 4, got {image_side}")
        self.start, self.width = image_side // 4, width
        self.fc = nn.Linear(latent, width * self.start ** 2)
        self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), nn.ReLU(),
                                nn.ConvTranspose2d(width // 2, out_channels, 4, stride=2, padding=1), nn.Sigmoid())

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.up(self.fc(latent).view(-1, self.width, self.start, self.start))


class OpenSetVAE(nn.Module):
    """Encoder (a :class:`SuperNet` while searching, a :class:`ChosenNet` after) → (u, z);
    classifier on u; learned class means µ_m; decoder from (u, z). ``forward`` gives the
    classifier's logits on the mean of u, so max-softmax rules read it like any classifier."""

    def __init__(self, encoder: nn.Module, feature_shape: tuple[int, int, int], num_classes: int, *,
                 image_shape: tuple[int, int, int], u_dim: int = 16, z_dim: int = 8, decoder_width: int = 32) -> None:
        super().__init__()
        self.encoder, self.u_dim, self.z_dim = encoder, u_dim, z_dim
        self.head = nn.Linear(int(torch.tensor(feature_shape).prod()), 2 * (u_dim + z_dim))
        self.classifier = nn.Linear(u_dim, num_classes)
        self.class_means = nn.Parameter(torch.randn(num_classes, u_dim))
        self.decoder = Decoder(u_dim + z_dim, image_shape[0], image_shape[-1], decoder_width)

    @property
    def num_classes(self) -> int:
        return self.class_means.shape[0]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean of u, log-variance of u, mean of z, log-variance of z)."""
        h = self.head(self.encoder(x).flatten(1))
        mu_u, logvar_u, mu_z, logvar_z = torch.split(h, [self.u_dim, self.u_dim, self.z_dim, self.z_dim], dim=1)
        return mu_u, logvar_u.clamp(-8, 8), mu_z, logvar_z.clamp(-8, 8)

    def decode(self, u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([u, z], dim=1))

    def counterfactuals(self, z: torch.Tensor) -> torch.Tensor:
        """D(µ_m, z) for every class m: (B, M, C, H, W)."""
        b, m = len(z), self.num_classes
        means = self.class_means[None].expand(b, m, -1).reshape(b * m, -1)
        images = self.decode(means, z.repeat_interleave(m, dim=0))
        return images.view(b, m, *images.shape[1:])

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The class attribute u (its posterior mean): what eq. 5 reads."""
        return self.encode(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_mean: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(µ, diag e^logvar) ‖ N(prior_mean, I)) per sample, summed over dimensions:
    ½ Σ (e^logvar + (µ − m)² − 1 − logvar)."""
    diff = mu if prior_mean is None else mu - prior_mean
    return 0.5 * (logvar.exp() + diff ** 2 - 1.0 - logvar).sum(dim=1)


def image_distances(x: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """L2 distances ‖x − x̂_m‖₂ between each input (B, C, H, W) and its M images
    (B, M, C, H, W), shape (B, M)."""
    return (images - x[:, None]).flatten(2).norm(dim=2)


def contrastive_loss(distances: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """L_cr (paper 002 eq. 3), the batch mean of −log softmax(−t·distance)_y: the sample's
    own class must reconstruct it best among the M counterfactuals."""
    return F.cross_entropy(-temperature * distances, targets)


@dataclass(frozen=True)
class LossWeights:
    """γ_ce, γ_kl, γ_re, γ_cr of eq. 4 and the temperature of L_cr's softmax (γ_cr = 0:
    the "without L_cr" ablation)."""

    ce: float = 1.0
    kl: float = 1.0
    re: float = 1.0
    cr: float = 1.0
    temperature: float = 1.0


def vae_terms(model: OpenSetVAE, x: torch.Tensor, y: torch.Tensor, temperature: float = 1.0,
              with_contrastive: bool = True) -> dict[str, torch.Tensor]:
    """The four terms of eq. 4, batch means: cross-entropy of the classifier on a sampled u;
    KL of u to N(µ_y, I) plus KL of z to N(0, I); the summed squared reconstruction error
    of D(u, z); the VAE contrastive loss of D(µ_m, z) (eq. 3)."""
    mu_u, logvar_u, mu_z, logvar_z = model.encode(x)
    u = mu_u + torch.randn_like(mu_u) * (0.5 * logvar_u).exp()
    z = mu_z + torch.randn_like(mu_z) * (0.5 * logvar_z).exp()
    terms = {"ce": F.cross_entropy(model.classifier(u), y),
             "kl": (gaussian_kl(mu_u, logvar_u, model.class_means[y]) + gaussian_kl(mu_z, logvar_z)).mean(),
             "re": ((model.decode(u, z) - x) ** 2).flatten(1).sum(1).mean()}
    terms["cr"] = (contrastive_loss(image_distances(x, model.counterfactuals(z)), y, temperature)
                   if with_contrastive else torch.zeros((), device=x.device))
    return terms


class NASLoss:
    """``loss(model, xb, yb)`` for :func:`osrkit.train.fit` and the search: eq. 4 with
    :class:`LossWeights`."""

    def __init__(self, weights: LossWeights = LossWeights()) -> None:
        self.weights = weights

    def __call__(self, model: OpenSetVAE, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        w = self.weights
        terms = vae_terms(model, xb, yb, w.temperature, with_contrastive=w.cr > 0)
        return w.ce * terms["ce"] + w.kl * terms["kl"] + w.re * terms["re"] + w.cr * terms["cr"]
