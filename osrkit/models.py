"""Networks of the workbook: small ones that train on a CPU in seconds.

Models that feed the denoising-autoencoder confidence (paper 004) implement
``reconstruct(x) -> r(x)`` next to ``forward(x) -> logits``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "softplus": F.softplus, "elu": F.elu}


def _activation(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def _through_layers(x: torch.Tensor, layers: nn.ModuleList, act) -> torch.Tensor:
    """Flatten the input and apply each linear layer followed by the activation."""
    h = x.flatten(1)
    for layer in layers:
        h = act(layer(h))
    return h


class MLPClassifier(nn.Module):
    """A plain fully connected softmax classifier (the 'uncorrected' network of Fig. 2C)."""

    def __init__(self, in_dim: int, num_classes: int, hidden: Sequence[int] = (200, 200),
                 activation: str = "relu") -> None:
        super().__init__()
        sizes = [in_dim, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], num_classes)
        self.act = _activation(activation)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return _through_layers(x, self.hidden, self.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DAEClassifier(nn.Module):
    """A classifier on top of the encoder of a symmetric denoising autoencoder
    (paper 004 §III and Appendix A).

    Encoder layers h_l = f(W_l h_{l−1} + b_l); the softmax layer reads the top hidden
    layer. With ``tied=True`` (the paper's "symmetric" autoencoder) the decoder reuses
    the transposed encoder weights, W_lᵀ, with biases of its own, so the model has the
    weights of the plain classifier plus the decoder biases. The reconstruction layer is
    linear (inputs are real-valued).
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: Sequence[int] = (200, 200),
                 activation: str = "relu", tied: bool = True) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must list at least one layer size")
        sizes = [in_dim, *hidden]
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], num_classes)
        self.tied = tied
        if tied:
            self.decoder_bias = nn.ParameterList(nn.Parameter(torch.zeros(a)) for a in sizes[:-1])
        else:
            self.decoder = nn.ModuleList(nn.Linear(b, a) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = _activation(activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return _through_layers(x, self.encoder, self.act)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        n_layers = len(self.encoder)
        for depth in reversed(range(n_layers)):
            if self.tied:
                h = F.linear(h, self.encoder[depth].weight.t(), self.decoder_bias[depth])
            else:
                h = self.decoder[depth](h)
            if depth > 0:
                h = self.act(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """r(x) = Dec(Enc(x)), in the shape of ``x``."""
        return self.decode(self.encode(x)).view_as(x)
