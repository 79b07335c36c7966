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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Top hidden layer: the classifier and the decoder both read it."""
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
        return self.head(self.features(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """r(x) = Dec(Enc(x)), in the shape of ``x``."""
        return self.decode(self.features(x)).view_as(x)


# --------------------------------------------------------------------------- paper 004 CNNs
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


class COOLClassifier(PaperCNN):
    """PaperCNN with a Competitive Overcomplete Output Layer (Kardan & Stanley, 2017):
    ω units per class share one softmax over all C·ω units; ``forward`` returns the C·ω
    logits, unit j of class k at index k·ω + j."""

    def __init__(self, num_classes: int = 10, omega: int = 10, **kwargs) -> None:
        if omega < 1:
            raise ValueError(f"omega (units per class) must be >= 1, got {omega}")
        super().__init__(num_classes, outputs=num_classes * omega, **kwargs)
        self.omega = omega


def cool_confidence(logits: torch.Tensor, num_classes: int, omega: int) -> torch.Tensor:
    """Class confidences of COOL: Π_j (ω·p_kj) over the class's ω units, with p the softmax
    over all C·ω units. By the AM–GM inequality it is at most 1, reached when the class's
    units each hold 1/ω."""
    log_p = torch.log_softmax(logits, dim=1).view(-1, num_classes, omega)
    return torch.exp((log_p + torch.log(torch.tensor(float(omega)))).sum(2))


class ConvDAEClassifier(PaperCNN):
    """PaperCNN whose top hidden layer also feeds a decoder, completing a denoising
    autoencoder (paper 004 §IV-B, Appendix B). ``tied=True`` ("symmetric") decodes with the
    transposed encoder weights (FC transposed, transposed convolutions with the conv
    kernels, nearest-neighbour upsampling for the poolings) plus decoder biases of its own;
    ``tied=False`` ("asymmetric") has independent decoder weights of the same sizes. The
    reconstruction passes through a sigmoid, as pixels lie in [0, 1]."""

    def __init__(self, num_classes: int = 10, *, tied: bool = True, **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        self.tied = tied
        c0, c1, c2 = self.image_shape[0], self.conv1.out_channels, self.conv2.out_channels
        if tied:
            self.fc_bias_dec = nn.Parameter(torch.zeros(self.fc.in_features))
            self.conv2_bias_dec = nn.Parameter(torch.zeros(c1))
            self.conv1_bias_dec = nn.Parameter(torch.zeros(c0))
        else:
            self.fc_dec = nn.Linear(self.fc.out_features, self.fc.in_features)
            self.conv2_dec = nn.ConvTranspose2d(c2, c1, 5, padding=2)
            self.conv1_dec = nn.ConvTranspose2d(c1, c0, 5, padding=2)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        if self.tied:
            h = F.relu(F.linear(h, self.fc.weight.t(), self.fc_bias_dec))
        else:
            h = F.relu(self.fc_dec(h))
        h = F.interpolate(h.view(-1, *self.feature_shape), scale_factor=2, mode="nearest")
        h = F.conv_transpose2d(h, self.conv2.weight, self.conv2_bias_dec, padding=2) if self.tied else self.conv2_dec(h)
        h = F.interpolate(F.relu(h), scale_factor=2, mode="nearest")
        h = F.conv_transpose2d(h, self.conv1.weight, self.conv1_bias_dec, padding=2) if self.tied else self.conv1_dec(h)
        return torch.sigmoid(h)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.features(x)).view_as(x)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLUs between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SupervisedGMVAE(nn.Module):
    """The supervised GMVAE of paper 000 (§3.1) with K_c subclusters in class c.

    Recognition: q(z|x) = N(µ(x), σ²(x)) and q(w|x,y) = N(µ(x,y), σ²(x,y)); generation:
    w ~ N(0, I), a prior network mapping (w, y) to µ_ck(w), σ²_ck(w) for the K_y
    subclusters of class y, and a decoder giving continuous-Bernoulli logits of p(x|z).
    ``subclusters`` is one K for every class or one K_c per class (the prior network then
    outputs max K_c and a mask hides the unused ones). One reparameterised sample of z and
    of w per input. ``terms(x, y)`` gives the four ELBO terms
    (:func:`osrkit.losses.gmvae_terms`); ``embed(x)`` is µ(x), the latent the
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
        self.enc_z = _mlp([in_dim, *hidden, 2 * z_dim])
        self.enc_w = _mlp([in_dim + num_classes, *hidden, 2 * w_dim])
        self.decoder = _mlp([z_dim, *reversed(hidden), in_dim])
        self.prior = _mlp([w_dim + num_classes, hidden[-1], 2 * self.max_subclusters * z_dim])

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
        from .losses import gmvae_terms

        z, mu_z, logvar_z, w, mu_w, logvar_w = self._sample(x, y)
        mu_p, logvar_p = self.prior_params(w, y)
        return gmvae_terms(x, self.decoder(z), z, mu_z, logvar_z, mu_w, logvar_w, mu_p, logvar_p,
                           mask=self.subcluster_mask[y])

    @torch.no_grad()
    def subcluster_of(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The most probable subcluster argmax_j p(v = j | z, w, y) (eq. 1) of each sample,
        at z = µ(x) and w = µ(x, y)."""
        from .losses import subcluster_posterior

        mu_z, _ = self.encode(x)
        mu_w, _ = self.encode_w(x, y)
        mu_p, logvar_p = self.prior_params(mu_w, y)
        return subcluster_posterior(mu_z, mu_p, logvar_p, self.subcluster_mask[y]).argmax(1)


class DHRNet(nn.Module):
    """A small Deep Hierarchical Reconstruction Net, the model of CROSR (Yoshihashi et al.
    2019) that paper 000 compares against (§2): a classifier f whose internal layers x_l
    each feed a lateral bottleneck z_l = h_l(x_l), decoded back top-down by
    x̃_l = g_l(x̃_{l+1} + h̃_l(z_l)).

    Classifier: Conv(→c1, 3×3)–MaxPool–Conv(→c2, 3×3)–MaxPool–FC(→hidden)–FC(→C), ReLUs.
    Bottlenecks: z_1 a 1-channel 7×7 map of x_1 (strided conv), z_2 a 1-channel 7×7 map of
    x_2 (1×1 conv), z_3 a ``top_latent``-vector of the FC layer; z = [z_1, z_2, z_3]
    flattened (49 + 49 + ``top_latent`` numbers). ``forward`` gives the logits y;
    ``latent(x)`` gives (y, z) and ``embed(x)`` CROSR's representation [y, z]; ``reconstruct(x)`` the
    image in [0, 1]. Trained on cross-entropy + L2 reconstruction
    (:class:`osrkit.losses.DHRNetLoss`). Sized for 28×28 grey digits (quick mode); the
    paper's CROSR MNIST network is deeper.
    """

    def __init__(self, num_classes: int, *, in_channels: int = 1, image_size: int = 28,
                 channels: tuple[int, int] = (32, 64), hidden: int = 128, top_latent: int = 10) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"DHRNet needs an image side divisible by 4 (two 2×2 poolings), got {image_size}")
        c1, c2 = channels
        side = image_size // 4
        self.num_classes, self.image_shape, self._side, self._c2 = num_classes, (in_channels, image_size, image_size), side, c2
        # classifier f_l
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * side * side, hidden)
        self.head = nn.Linear(hidden, num_classes)
        # lateral encoders h_l and decoders h̃_l
        self.h1 = nn.Conv2d(c1, 1, 3, stride=2, padding=1)
        self.h2 = nn.Conv2d(c2, 1, 1)
        self.h3 = nn.Linear(hidden, top_latent)
        self.h1_dec = nn.ConvTranspose2d(1, c1, 4, stride=2, padding=1)
        self.h2_dec = nn.Conv2d(1, c2, 1)
        self.h3_dec = nn.Linear(top_latent, hidden)
        # reconstruction network g_l
        self.g3 = nn.Linear(hidden, c2 * side * side)
        self.g2 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.g1 = nn.ConvTranspose2d(c1, in_channels, 4, stride=2, padding=1)

    def _forward_all(self, x: torch.Tensor):
        x1 = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x2 = F.max_pool2d(F.relu(self.conv2(x1)), 2)
        x3 = F.relu(self.fc(x2.flatten(1)))
        return self.head(x3), (self.h1(x1), self.h2(x2), self.h3(x3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward_all(x)[0]

    def latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CROSR's representation: the logits y and the flattened bottlenecks z."""
        y, zs = self._forward_all(x)
        return y, torch.cat([z.flatten(1) for z in zs], 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[y, z] as one vector per image (CROSR's space for EVT; NC-D in paper 000)."""
        return torch.cat(self.latent(x), 1)

    def decode(self, zs) -> torch.Tensor:
        z1, z2, z3 = zs
        r3 = F.relu(self.g3(F.relu(self.h3_dec(z3)))).view(-1, self._c2, self._side, self._side)
        r2 = F.relu(self.g2(r3 + self.h2_dec(z2)))
        return torch.sigmoid(self.g1(r2 + self.h1_dec(z1)))

    def logits_and_reconstruction(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, zs = self._forward_all(x)
        return y, self.decode(zs).view_as(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_reconstruction(x)[1]


# ------------------------------------------------------------ Class Anchor Clustering (paper 001)
def class_anchors(num_classes: int, magnitude: float = 10.0) -> torch.Tensor:
    """The fixed class anchors of paper 001 (eq. 3–5): C_i = α·e_i, row i of α·I (N × N).
    They are not trained; α = 10 in the paper."""
    if num_classes < 2 or magnitude <= 0:
        raise ValueError(f"need num_classes >= 2 and magnitude > 0, got {num_classes} and {magnitude}")
    return magnitude * torch.eye(num_classes)


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


# ------------------------------------------------------------ contrastive encoders (paper 003)
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
