"""Lesson 06 (paper 002, eq. 3 and the decoded path): the VAE contrastive loss and the path decoder."""
import numpy as np
import torch

from ..methods.nas.space import decode_path, edge_mask, path_probabilities
from ..methods.nas.vae import contrastive_loss
from .core import Case, Exercise


def _contrastive_cases():
    g = torch.Generator().manual_seed(10)
    d = torch.rand(5, 4, generator=g) * 10
    y = torch.tensor([0, 3, 1, 1, 2])
    return [Case("5 samples, M = 4 counterfactuals, t = 1", (d, y)),
            Case("temperature t = 0.5", (d, y), {"temperature": 0.5}),
            Case("ties: every counterfactual equally far (L = log M)", (torch.full((3, 4), 2.0), torch.tensor([0, 1, 2]))),
            Case("large distances (exp(−t·d) underflows)", (d * 300, y))]


def _probabilities(layers, resolutions, seed):
    g = torch.Generator().manual_seed(seed)
    beta = torch.randn(layers, resolutions, 2, generator=g) * 2
    return path_probabilities(beta, edge_mask(layers, resolutions)).numpy()


def _path_cases():
    return [Case("L = 4 layers, 3 resolutions, random β", (_probabilities(4, 3, 11),)),
            Case("L = 6 layers, 4 resolutions, random β", (_probabilities(6, 4, 12),)),
            Case("L = S − 1: every layer must go down", (_probabilities(3, 4, 13),)),
            Case("ties: all edges equally likely (keep wins a tie)", (path_probabilities(torch.zeros(4, 3, 2),
                                                                                         edge_mask(4, 3)).numpy(),)),
            Case("L = 3, S = 3, where choosing the likeliest edge layer by layer is not the best path",
                 (_probabilities(3, 3, 0),))]


EXERCISES = [
    Exercise("06.contrastive_loss", "06",
             prompt="L_cr of eq. 3: the batch mean of −log softmax(−t·d)_y, where d (B × M) are the distances of each "
                    "input to its M counterfactual decodes and y its class.",
             signature="contrastive_loss(distances, targets, temperature=1.0) -> torch.Tensor",
             hint="this is the cross-entropy of the logits −t·d: torch.nn.functional.cross_entropy(-temperature * "
                  "distances, targets) — it is stable where exp(−t·d) underflows.",
             solution=contrastive_loss, cases=_contrastive_cases, rtol=1e-4, atol=1e-5),
    Exercise("06.decode_path", "06",
             prompt="The most probable path through the trellis: p[l, s, 0] is the probability of keeping resolution s "
                    "at layer l + 1, p[l, s, 1] of arriving at s from s − 1; start at resolution 0, end at S − 1 after "
                    "L layers; return the resolution after each layer as a tuple (Viterbi over log p).",
             signature="decode_path(edge_probabilities: np.ndarray) -> tuple[int, ...]",
             hint="best[l, s] = max(best[l−1, s] + log p[l−1, s, 0], best[l−1, s−1] + log p[l−1, s, 1]) (keep wins "
                  "a tie), remembering where each best came from; then walk back from (L, S − 1). Choosing the "
                  "likeliest edge layer by layer (greedy) is not the most probable path.",
             solution=decode_path, cases=_path_cases),
]
