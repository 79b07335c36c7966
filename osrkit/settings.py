"""A lesson's run settings: its parameters with the quick/full defaults filled in.

A notebook's parameters cell holds ``None`` for "the default of this mode". Resolving them
*into new names* (``cfg.epochs``) instead of overwriting the parameter (``epochs = epochs
or …``) keeps a partial rerun honest: rerunning the resolve cell after changing ``quick``
gives the new mode's defaults, and the parameters cell is never rewritten behind the
student's back.
"""
from __future__ import annotations

from typing import Any


class Settings:
    """Read-only resolved settings: ``cfg.epochs``; ``str(cfg)`` lists them."""

    def __init__(self, quick: bool, values: dict[str, Any]) -> None:
        object.__setattr__(self, "quick", bool(quick))
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"no setting {name!r}; the settings are {sorted(values)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"settings are read-only: change the parameter {name!r} in the parameters cell "
                             f"(or pass it to papermill with -p) and rerun from there")

    def as_dict(self) -> dict[str, Any]:
        return {"quick": self.quick, **self._values}

    def __repr__(self) -> str:
        mode = "quick" if self.quick else "full"
        return f"{mode} mode: " + ", ".join(f"{k} = {v!r}" for k, v in self._values.items())


def resolve(quick: bool, **choices: tuple[Any, Any, Any]) -> Settings:
    """``resolve(quick, epochs=(epochs, 8, 100))``: each setting is (the parameter's value,
    the quick default, the full default); a value of None takes the mode's default, any
    other value (0 and empty lists included) is kept as given."""
    values = {}
    for name, choice in choices.items():
        if not (isinstance(choice, tuple) and len(choice) == 3):
            raise ValueError(f"setting {name!r} must be a tuple (value, quick default, full default), got {choice!r}")
        given, quick_default, full_default = choice
        values[name] = given if given is not None else (quick_default if quick else full_default)
    return Settings(quick, values)
