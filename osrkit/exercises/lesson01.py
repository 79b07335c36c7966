"""Lesson 01 (paper 004, eq. 3–5): the dAE confidence c̃(x) and its curvature gate Γ."""
import numpy as np

from ..methods import dae
from .core import Case, Exercise


def _gate_cases():
    rng = np.random.default_rng(1)
    return [Case("random curvatures of both signs, β = 5", (rng.normal(0, 0.5, 8), 5.0)),
            Case("γ exactly 0 (the border: Γ = 1)", (np.array([0.0, -0.0, 0.0]), 5.0)),
            Case("only negative γ (local maxima of log p)", (-rng.uniform(0.01, 3, 5), 2.0)),
            Case("large positive γ, β = 10", (rng.uniform(5, 50, 4), 10.0)),
            Case("an empty batch", (np.zeros(0), 5.0))]


def _confidence_cases():
    rng = np.random.default_rng(2)
    return [Case("random errors and curvatures, α = 40, β = 5", (rng.uniform(0, 0.05, 8), rng.normal(0, 0.3, 8), 40.0, 5.0)),
            Case("perfect reconstruction on a maximum (c̃ = 1)", (np.zeros(3), -np.ones(3), 40.0, 5.0)),
            Case("β = 0 (the curvature is ignored)", (rng.uniform(0, 0.1, 5), rng.normal(0, 1, 5), 20.0, 0.0)),
            Case("an empty batch", (np.zeros(0), np.zeros(0), 40.0, 5.0))]


EXERCISES = [
    Exercise("01.curvature_gate", "01",
             prompt="Γ(γ) of eq. 4: 1 where the mean curvature γ ≤ 0, exp(−β·γ) where γ > 0, element by element.",
             signature="curvature_gate(gamma: np.ndarray, beta: float) -> np.ndarray",
             hint="np.where(gamma > 0, np.exp(-beta * gamma), 1.0) — negative γ must give exactly 1, not exp(+β|γ|).",
             solution=dae.curvature_gate, cases=_gate_cases),
    Exercise("01.dae_confidence", "01",
             prompt="c̃(x) = exp(−α·e(x))·Γ(γ(x)) of eq. 3–4, with e(x) = ‖r(x) − x‖²/D the squared "
                    "reconstruction error per dimension.",
             signature="dae_confidence(sq_error, gamma, alpha, beta) -> np.ndarray",
             hint="multiply the reconstruction factor np.exp(-alpha * sq_error) by the gate Γ of the previous "
                  "exercise (sq_error is already squared and divided by D: do not square it again).",
             solution=dae.dae_confidence, cases=_confidence_cases),
]
