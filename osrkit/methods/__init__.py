"""Open-set methods, one module each, all behind one interface (:class:`Method`).

>>> from osrkit import data, evaluation, methods
>>> task = data.standard_task("mnist5k", 0)
>>> for name in methods.available():
...     for rule, scorer in methods.get(name).fit(task).items():
...         print(rule, evaluation.evaluate(scorer, task).auroc)

Each module registers its :class:`Method` object as ``METHOD``: softmax (MSP, OpenMax,
CE distance), dae (the dAE confidence), cool (COOL), crosr (CROSR+EVT, CROSR+NC-D), gmvae
(GMVAE+NC-U, GMVAE+NC-D), cac (CAC), gradmix (top-k), nas (NAS-OSR, NAS-OSR eq.5, NAS MSP;
a subpackage).
"""
from __future__ import annotations

import importlib

from .base import Method, MethodConfig

#: The method modules in lesson order; each defines ``METHOD``.
METHOD_MODULES = ("softmax", "dae", "cool", "crosr", "gmvae", "cac", "gradmix", "nas")


def _registry() -> dict[str, Method]:
    methods = {}
    for module in METHOD_MODULES:
        method = importlib.import_module(f"{__name__}.{module}").METHOD
        methods[method.name] = method
    rules = [rule for m in methods.values() for rule in m.rules]
    if len(rules) != len(set(rules)):
        raise RuntimeError(f"rule names must be unique across the registry, got {rules}")
    return methods


def available() -> list[str]:
    """The registered method names, in lesson order."""
    return list(_registry())


def get(name: str) -> Method:
    """The registered method called ``name``."""
    methods = _registry()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; the registered methods are {list(methods)}")
    return methods[name]


__all__ = ["Method", "MethodConfig", "METHOD_MODULES", "available", "get"]
