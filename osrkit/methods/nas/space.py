"""The NAS-OSR search space (paper 002, "Architecture Search Space", Fig. 1): a supernet of
L searchable layers over a trellis of resolutions, and the discrete network decoded from it.

- **Cell level (eq. 1):** every layer l mixes three candidate operations — skip, one 3×3
  conv block, two 3×3 conv blocks — with softmax weights of its architecture parameters
  α_l (one α per layer, shared by the layer's cells at every resolution).
- **Network level (eq. 2):** the cell of layer l at resolution s takes
  I_{l,s} = β_{l,s}^keep · O_{l−1,s} + β_{l,s}^down · down(O_{l−1,s−1}); the two weights
  (a softmax of β) sum to one, halving the resolution doubles the filters. The last layer's
  lowest resolution ("branch 2") feeds the VAE head.
- **Decoding:** the highest-α operation per layer, and the most probable path through the
  trellis by a dynamic program over log β (:func:`decode_path`), never a greedy walk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: The candidate operations of every layer, in the order of α's entries.
OPERATIONS = ("skip", "3×3 conv", "3×3 conv×2")


def conv_block(channels: int, affine: bool = True) -> nn.Sequential:
    """One 3×3 conv block: conv (same size) → batch norm → ReLU. In the supernet the batch
    norm has no learned scale (``affine=False``, as in DARTS): a learned scale would do α's
    job and blur the choice between operations."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(channels, affine=affine), nn.ReLU(inplace=False))


def make_operation(name: str, channels: int, affine: bool = True) -> nn.Module:
    """One candidate operation of :data:`OPERATIONS` on ``channels`` channels."""
    if name == "skip":
        return nn.Identity()
    if name == "3×3 conv":
        return conv_block(channels, affine)
    if name == "3×3 conv×2":
        return nn.Sequential(conv_block(channels, affine), conv_block(channels, affine))
    raise ValueError(f"unknown operation {name!r}; the candidates are {OPERATIONS}")


def downsample(channels: int) -> nn.Sequential:
    """Halve the resolution and double the filters: a stride-2 3×3 conv block."""
    return nn.Sequential(nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(2 * channels), nn.ReLU(inplace=False))


def stem(in_channels: int, channels: int, downsamplings: int) -> nn.Sequential:
    """The fixed input layers: ``downsamplings`` stride-2 conv blocks to the first
    resolution of the trellis (28×28 digits, 1 → 14×14; 32×32 images, 2 → 8×8 = 1/4)."""
    layers: list[nn.Module] = []
    c_in = in_channels
    for _ in range(downsamplings):
        layers += [nn.Conv2d(c_in, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels),
                   nn.ReLU(inplace=False)]
        c_in = channels
    if not layers:
        layers = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
    return nn.Sequential(*layers)


class MixedOperation(nn.Module):
    """Eq. 1: N_l = Σ_i softmax(α_l)_i · o_{i,l}(N_{l−1}) over :data:`OPERATIONS`."""

    def __init__(self, channels: int, affine: bool = False) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_operation(name, channels, affine) for name in OPERATIONS)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if weights.shape != (len(self.ops),):
            raise ValueError(f"need one weight per operation ({len(self.ops)}), got shape {tuple(weights.shape)}")
        return sum(w * op(x) for w, op in zip(weights, self.ops))


def reachable(layers: int, resolutions: int) -> np.ndarray:
    """Which trellis nodes (layer 0..L, resolution 0..S−1) lie on some path from the stem
    (layer 0, resolution 0) to the last layer's lowest resolution; a path halves the
    resolution at most once per layer."""
    if layers < resolutions - 1:
        raise ValueError(f"{layers} layers cannot halve the resolution {resolutions - 1} times")
    ok = np.zeros((layers + 1, resolutions), dtype=bool)
    for layer in range(layers + 1):
        for s in range(resolutions):
            ok[layer, s] = s <= layer and (resolutions - 1 - s) <= (layers - layer)
    return ok


def edge_mask(layers: int, resolutions: int) -> np.ndarray:
    """(L, S, 2) booleans: whether node (l+1, s) has a "keep" edge from (l, s) (index 0)
    and a "down" edge from (l, s−1) (index 1)."""
    ok = reachable(layers, resolutions)
    mask = np.zeros((layers, resolutions, 2), dtype=bool)
    for layer in range(1, layers + 1):
        for s in range(resolutions):
            if ok[layer, s]:
                mask[layer - 1, s, 0] = ok[layer - 1, s]
                mask[layer - 1, s, 1] = s > 0 and ok[layer - 1, s - 1]
    return mask


def path_probabilities(beta: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
    """The softmax of β over each node's incoming edges (eq. 2: the weights of a node sum
    to one); edges that do not exist get probability 0."""
    m = torch.as_tensor(mask, device=beta.device)
    logits = beta.masked_fill(~m, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.nan_to_num(probs, nan=0.0)


def decode_path(edge_probabilities: np.ndarray) -> tuple[int, ...]:
    """The most probable path through the trellis (a Viterbi dynamic program over the log
    of :func:`path_probabilities`, shape (L, S, 2)): the resolution after each layer, from
    the stem's resolution 0 to the lowest one, S − 1, at layer L."""
    p = np.asarray(edge_probabilities, dtype=np.float64)
    layers, resolutions, _ = p.shape
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    best = np.full((layers + 1, resolutions), -np.inf)
    came_from = np.zeros((layers + 1, resolutions), dtype=int)
    best[0, 0] = 0.0
    for layer in range(1, layers + 1):
        for s in range(resolutions):
            keep = best[layer - 1, s] + logp[layer - 1, s, 0]
            down = best[layer - 1, s - 1] + logp[layer - 1, s, 1] if s > 0 else -np.inf
            best[layer, s], came_from[layer, s] = (keep, s) if keep >= down else (down, s - 1)
    if not np.isfinite(best[layers, resolutions - 1]):
        raise ValueError("no path with non-zero probability reaches the lowest resolution")
    path = [resolutions - 1]
    for layer in range(layers, 0, -1):
        path.append(int(came_from[layer, path[-1]]))
    return tuple(path[::-1][1:])


@dataclass(frozen=True)
class Architecture:
    """A decoded network: the operation of every layer (names of :data:`OPERATIONS`) and
    the resolution index after every layer (0 = the stem's; each step keeps or halves)."""

    operations: tuple[str, ...]
    path: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.operations) != len(self.path):
            raise ValueError(f"need one operation per layer and one resolution per layer, got "
                             f"{len(self.operations)} and {len(self.path)}")
        bad = [op for op in self.operations if op not in OPERATIONS]
        if bad:
            raise ValueError(f"unknown operations {bad}; the candidates are {OPERATIONS}")
        steps = np.diff((0,) + tuple(self.path))
        if np.any((steps != 0) & (steps != 1)):
            raise ValueError(f"each layer keeps or halves the resolution once: path {self.path}")

    @property
    def layers(self) -> int:
        return len(self.operations)

    def conv_blocks(self) -> tuple[int, ...]:
        """3×3 conv blocks at each resolution (skip 0, conv 1, conv×2 2). In a chain of
        layers, two architectures with the same counts are the same network: "skip, conv×2"
        and "conv, conv" stack the same two blocks."""
        counts = [0] * (max(self.path) + 1)
        for op, s in zip(self.operations, self.path):
            counts[s] += OPERATIONS.index(op)
        return tuple(counts)

    def describe(self) -> str:
        return " → ".join(f"{op}@{s}" for op, s in zip(self.operations, self.path))

    def as_dict(self) -> dict:
        return {"operations": list(self.operations), "path": list(self.path)}


def fixed_architecture(layers: int, resolutions: int) -> Architecture:
    """The hand-designed baseline: every layer one 3×3 conv block, the resolution halved
    in the last layers (no search)."""
    path = tuple(max(0, resolutions - 1 - (layers - layer)) for layer in range(1, layers + 1))
    return Architecture(("3×3 conv",) * layers, path)


def random_architecture(layers: int, resolutions: int, rng: np.random.Generator) -> Architecture:
    """A uniformly drawn operation per layer and a random valid path."""
    ops = tuple(OPERATIONS[i] for i in rng.integers(0, len(OPERATIONS), size=layers))
    downs = np.sort(rng.choice(layers, size=resolutions - 1, replace=False))
    path = tuple(int(np.sum(downs <= layer)) for layer in range(layers))
    return Architecture(ops, path)


class SuperNet(nn.Module):
    """The searchable encoder: a stem, then L layers of mixed-operation cells on every
    reachable resolution, joined by β-weighted keep/down edges (eq. 1–2). ``alpha`` (L × 3)
    and ``beta`` (L × S × 2) are its architecture parameters (:meth:`arch_parameters`);
    everything else is weights."""

    def __init__(self, in_channels: int, channels: int, layers: int, resolutions: int, stem_downsamplings: int) -> None:
        super().__init__()
        self.layers, self.resolutions = layers, resolutions
        self.mask = edge_mask(layers, resolutions)
        self.stem = stem(in_channels, channels, stem_downsamplings)
        self.cells = nn.ModuleDict()
        self.downs = nn.ModuleDict()
        for layer in range(layers):
            for s in range(resolutions):
                if self.mask[layer, s].any():
                    self.cells[f"{layer}_{s}"] = MixedOperation(channels * 2 ** s)
                if self.mask[layer, s, 1]:
                    self.downs[f"{layer}_{s}"] = downsample(channels * 2 ** (s - 1))
        self.alpha = nn.Parameter(1e-3 * torch.randn(layers, len(OPERATIONS)))
        self.beta = nn.Parameter(1e-3 * torch.randn(layers, resolutions, 2))
        self.out_channels = channels * 2 ** (resolutions - 1)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha, self.beta]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def operation_weights(self) -> torch.Tensor:
        """softmax(α) per layer, (L, 3)."""
        return torch.softmax(self.alpha, dim=-1)

    def edge_probabilities(self) -> torch.Tensor:
        return path_probabilities(self.beta, self.mask)

    def decode(self) -> Architecture:
        """The highest-α operation per layer and the most probable path (:func:`decode_path`)."""
        ops = self.operation_weights().detach().cpu().numpy().argmax(1)
        return Architecture(tuple(OPERATIONS[i] for i in ops),
                            decode_path(self.edge_probabilities().detach().cpu().numpy()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_ops, w_edges = self.operation_weights(), self.edge_probabilities()
        nodes: dict[int, torch.Tensor] = {0: self.stem(x)}
        for layer in range(self.layers):
            new: dict[int, torch.Tensor] = {}
            for s in range(self.resolutions):
                if not self.mask[layer, s].any():
                    continue
                inputs = 0
                if self.mask[layer, s, 0]:
                    inputs = inputs + w_edges[layer, s, 0] * nodes[s]
                if self.mask[layer, s, 1]:
                    inputs = inputs + w_edges[layer, s, 1] * self.downs[f"{layer}_{s}"](nodes[s - 1])
                new[s] = self.cells[f"{layer}_{s}"](inputs, w_ops[layer])
            nodes = new
        return nodes[self.resolutions - 1]


class ChosenNet(nn.Module):
    """The discrete encoder of an :class:`Architecture`: the stem, then per layer a
    down-sampling block where the path halves the resolution and the chosen operation."""

    def __init__(self, in_channels: int, channels: int, architecture: Architecture, stem_downsamplings: int) -> None:
        super().__init__()
        self.architecture = architecture
        blocks: list[nn.Module] = [stem(in_channels, channels, stem_downsamplings)]
        s_prev = 0
        for op, s in zip(architecture.operations, architecture.path):
            if s > s_prev:
                blocks.append(downsample(channels * 2 ** s_prev))
            blocks.append(make_operation(op, channels * 2 ** s))
            s_prev = s
        self.body = nn.Sequential(*blocks)
        self.out_channels = channels * 2 ** architecture.path[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def feature_side(image_side: int, downsamplings: int) -> int:
    """Side of a feature map after ``downsamplings`` stride-2 convs (padding 1, kernel 3)."""
    side = image_side
    for _ in range(downsamplings):
        side = (side - 1) // 2 + 1
    return side
