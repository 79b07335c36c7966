"""Shared backbones: networks that several methods train (paper-free core).

MLPs, the CNN of paper 004's appendix (``PaperCNN``, also the "small" CPU network of the
image lessons), the "classifier32" of Neal et al. and a ResNet-18 encoder for 32×32
images. A method's own networks (the dAE decoders, COOL's output layer, the GMVAE, the
DHRNet, the contrastive encoder) live in its module under ``osrkit.methods``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


_ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "softplus": F.softplus, "elu": F.elu}


def activation_fn(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def through_layers(x: torch.Tensor, layers: nn.ModuleList, act) -> torch.Tensor:
    """Flatten the input and apply each linear layer followed by the activation."""
    h = x.flatten(1)
    for layer in layers:
        h = act(layer(h))
    return h


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLUs between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPClassifier(nn.Module):
    """A plain fully connected softmax classifier (lesson 01's baseline; not in paper 004, cf. its Fig. 2C)."""

    def __init__(self, in_dim: int, num_classes: int, hidden: Sequence[int] = (200, 200),
                 activation: str = "relu") -> None:
        super().__init__()
        sizes = [in_dim, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], num_classes)
        self.act = activation_fn(activation)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return through_layers(x, self.hidden, self.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class PaperCNN(nn.Module):
    """The CNN of paper 004 (Appendix B): Conv(1→32, 5×5)–MaxPool(2)–Conv(32→64, 5×5)–
    MaxPool(2)–FC(→400)–FC(400→outputs), ReLU after every layer but the last. The convs
    keep the image size (padding 2): that gives the paper's 1.31M parameters on MNIST.

    ``outputs`` defaults to ``num_classes``; COOL asks for ``num_classes·ω`` units.
    """

    def __init__(self, num_classes: int = 10, *, in_channels: int = 1, image_size: int = 28,
                 channels: tuple[int, int] = (32, 64), hidden: int = 400, outputs: int | None = None) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"PaperCNN needs an image side divisible by 4 (two 2×2 poolings), got {image_size}; "
                             f"use mnist5k/MNIST (28×28) or 32×32 images")
        self.conv1 = nn.Conv2d(in_channels, channels[0], 5, padding=2)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 5, padding=2)
        side = image_size // 4
        self.feature_shape = (channels[1], side, side)
        self.fc = nn.Linear(channels[1] * side * side, hidden)
        self.head = nn.Linear(hidden, outputs if outputs is not None else num_classes)
        self.num_classes = num_classes
        self.image_shape = (in_channels, image_size, image_size)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Top hidden layer (400 units): where the classifier and the dAE decoder attach."""
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Classifier32(nn.Module):
    """The "classifier32" of Neal et al. (2018), the network of paper 001 and its code:
    nine 3×3 convolutions without bias, widths 64, 64, 128 (stride 2) | 128, 128, 128
    (stride 2) | 128, 128, 128 (stride 2), each followed by BatchNorm and LeakyReLU(0.2),
    Dropout2d after each block of three; then global average pooling and one Linear to
    the N logits (the logit space is N-dimensional). Built for 32×32 inputs (MNIST is
    resized to 32×32); ``width`` scales the channel counts for a lighter CPU version."""

    def __init__(self, num_classes: int, *, in_channels: int = 3, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        c1, c2 = max(1, round(64 * width)), max(1, round(128 * width))
        plan = [(in_channels, c1, 1), (c1, c1, 1), (c1, c2, 2),
                (c2, c2, 1), (c2, c2, 1), (c2, c2, 2),
                (c2, c2, 1), (c2, c2, 1), (c2, c2, 2)]
        layers: list[nn.Module] = []
        for i, (a, b, stride) in enumerate(plan):
            layers += [nn.Conv2d(a, b, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(b),
                       nn.LeakyReLU(0.2)]
            if i % 3 == 2:
                layers.append(nn.Dropout2d(dropout))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c2, num_classes)
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


#: The classifier networks by name (:func:`build_classifier`).
CLASSIFIERS = ("small", "paper", "classifier32")


def build_classifier(kind: str, num_classes: int, *, in_channels: int = 1, image_size: int = 28,
                     outputs: int | None = None) -> nn.Module:
    """A classifier by name: ``"small"``, a two-conv :class:`PaperCNN` (16 and 32 channels,
    64 hidden units) that trains on a CPU in seconds (quick mode of the image lessons);
    ``"paper"``, the full :class:`PaperCNN` of paper 004 (1.31M parameters on MNIST);
    ``"classifier32"``, the 9-conv network of CAC's code (full mode, 32×32 inputs)."""
    if kind == "small":
        return PaperCNN(num_classes, in_channels=in_channels, image_size=image_size, channels=(16, 32), hidden=64,
                        outputs=outputs)
    if kind == "paper":
        return PaperCNN(num_classes, in_channels=in_channels, image_size=image_size, outputs=outputs)
    if kind == "classifier32":
        if outputs is not None:
            raise ValueError("classifier32 has one output per class")
        return Classifier32(num_classes, in_channels=in_channels)
    raise ValueError(f"unknown network {kind!r}; use one of {CLASSIFIERS}")


class ResNet18Encoder(nn.Module):
    """torchvision's ResNet-18 adapted to 32×32 inputs (3×3 stride-1 first convolution, no
    max-pool, as usual for CIFAR) with a 2-layer projection head to ``feature_dim``: the
    full-mode encoder of lesson 05 (GradMix's backbone). ``attribution_layers()`` gives
    layer3 and layer4 (conv4_x, conv5_x of the paper's Fig. 3)."""

    def __init__(self, in_channels: int = 3, *, feature_dim: int = 128) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.backbone = net
        self.head = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, feature_dim))

    def attribution_layers(self) -> list[nn.Module]:
        return [self.backbone.layer3, self.backbone.layer4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)
