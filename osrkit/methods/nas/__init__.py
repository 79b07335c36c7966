"""NAS-OSR (paper 002): searching an encoder architecture under the open-set assumption.

A differentiable supernet (:mod:`.space`, eq. 1–2) under a VAE with class-conditional
priors and the VAE contrastive loss (:mod:`.vae`, eq. 3–4) is searched with Pseudo
Auxiliary Searching (:mod:`.search`, Algorithm 1); the decoded architecture is retrained
and scored by the paper's test procedure (:mod:`.rules`, eq. 5). :mod:`.lesson` holds
lesson 06's figures and widgets.
"""
from __future__ import annotations

from ..base import Method
from .lesson import (CounterfactualView, counterfactual_explorer, counterfactual_view, image_label, openness_f1,
                     paper_f1, plot_alpha_history, plot_counterfactuals, plot_search_space, summarize)
from .rules import (ClassAttributeScorer, CounterfactualScorer, class_probabilities, log_box_mass, nas_rules,
                    training_threshold)
from .search import (ABLATIONS, Ablation, NASConfig, SearchResult, _train_and_score, build_network, build_supernet,
                     choose_pseudo_unknowns, count_parameters, run_ablation, run_ablations, search_architecture,
                     search_for_task, train_architecture)
from .space import (OPERATIONS, Architecture, ChosenNet, MixedOperation, SuperNet, decode_path, edge_mask,
                    fixed_architecture, random_architecture)
from .vae import LossWeights, NASLoss, OpenSetVAE, contrastive_loss, gaussian_kl, image_distances, vae_terms

METHOD = Method("nas", "06_nas_for_open_set", NASConfig, ("NAS-OSR", "NAS-OSR eq.5", "NAS MSP"), _train_and_score,
                "an encoder searched with pseudo-unknown classes under a VAE with a contrastive loss")

__all__ = [
    "METHOD", "NASConfig", "ABLATIONS", "Ablation", "SearchResult", "search_architecture", "search_for_task",
    "choose_pseudo_unknowns", "run_ablation", "run_ablations", "train_architecture", "build_network",
    "build_supernet", "count_parameters",
    "OPERATIONS", "Architecture", "ChosenNet", "MixedOperation", "SuperNet", "decode_path", "edge_mask",
    "fixed_architecture", "random_architecture",
    "LossWeights", "NASLoss", "OpenSetVAE", "contrastive_loss", "gaussian_kl", "image_distances", "vae_terms",
    "ClassAttributeScorer", "CounterfactualScorer", "class_probabilities", "log_box_mass", "nas_rules",
    "training_threshold",
    "CounterfactualView", "counterfactual_explorer", "counterfactual_view", "image_label", "openness_f1", "paper_f1",
    "plot_alpha_history", "plot_counterfactuals", "plot_search_space", "summarize",
]
