"""The denoising-autoencoder confidence of Spigler (paper 004): :mod:`.model` holds the
networks, the loss, the confidence c̃(x) = exp(−α/D·‖r(x) − x‖²)·Γ(x) (eq. 3–6), its scorer
and the fooling target of lesson 02; :mod:`.lesson` holds lesson 01's map explorer.
"""
from __future__ import annotations

from .lesson import (DAEMapFigure, DAEMapReport, dae_map_explorer, dae_map_numbers, dae_map_report, draw_dae_map)
from .model import (calibrated_dae_scorer, choose_alpha, ConvDAEClassifier, curvature_gate, dae_confidence,
    DAEClassifier, DAEComponents, DAEConfidenceScorer, DAEConfig, DAETarget, denoising_reconstruction,
    DenoisingClassifierLoss, jacobian_diagonal, METHOD, reconstruction_confidence, train_dae)

__all__ = [
    'ConvDAEClassifier', 'DAEClassifier', 'DAEComponents', 'DAEConfidenceScorer', 'DAEConfig', 'DAEMapFigure',
    'DAEMapReport', 'DAETarget', 'DenoisingClassifierLoss', 'METHOD', 'calibrated_dae_scorer', 'choose_alpha',
    'curvature_gate', 'dae_confidence', 'dae_map_explorer', 'dae_map_numbers', 'dae_map_report',
    'denoising_reconstruction', 'draw_dae_map', 'jacobian_diagonal', 'reconstruction_confidence', 'train_dae'
]
