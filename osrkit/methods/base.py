"""The method interface: a name, a lesson, a config with quick and full presets, and
``fit(task) -> {rule name: fitted Scorer}`` (DESIGN.md, "The method interface")."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, TypeVar

from ..augment import random_resized_crop
from ..data import OpenSetSplit
from ..scoring import Scorer
from ..train import History, fit

C = TypeVar("C", bound="MethodConfig")


@dataclass(frozen=True)
class MethodConfig:
    """A method's hyperparameters and budgets. The field defaults are the quick preset
    (a 2-core CPU, offline digits); :meth:`full` overrides what paper scale changes
    (``FULL``). ``updated(**kw)`` replaces fields, skipping values that are None, so a
    notebook passes its parameters straight through."""

    FULL: ClassVar[dict[str, Any]] = {}

    @classmethod
    def quick(cls: type[C]) -> C:
        return cls()

    @classmethod
    def full(cls: type[C]) -> C:
        return cls().updated(**cls.FULL)

    @classmethod
    def preset(cls: type[C], quick: bool = True) -> C:
        return cls.quick() if quick else cls.full()

    def updated(self: C, **changes: Any) -> C:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no setting {unknown}; its settings are {sorted(names)}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


#: ``train_and_score(task, config, *, seed, device, cache_dir, progress) -> {name: Scorer}``
TrainAndScore = Callable[..., dict[str, Scorer]]


@dataclass(frozen=True)
class Method:
    """One registered open-set method. ``rules`` names what :meth:`fit` returns (unique
    across the registry: they key tables and results)."""

    name: str
    lesson: str
    config_class: type[MethodConfig]
    rules: tuple[str, ...]
    train_and_score: TrainAndScore = dataclasses.field(repr=False)
    description: str = ""

    def config(self, quick: bool = True, **changes: Any) -> MethodConfig:
        """The quick or full preset with ``changes`` applied."""
        return self.config_class.preset(quick).updated(**changes)

    def fit(self, task: OpenSetSplit, *, seed: int = 0, device: str = "auto", quick: bool = True,
            cache_dir: str | None = None, config: MethodConfig | None = None,
            progress: bool = True) -> dict[str, Scorer]:
        """Train on ``task``'s known training data (validation data only for calibration)
        and return the fitted rules by name. ``config`` (default: the quick or full preset)
        must be this method's own config class; ``cache_dir`` ("auto", a folder, or None)
        loads trained networks when present."""
        if config is None:
            config = self.config_class.preset(quick)
        if not isinstance(config, self.config_class):
            raise ValueError(f"method {self.name!r} takes a {self.config_class.__name__}, got {type(config).__name__}")
        fitted = self.train_and_score(task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress)
        if tuple(fitted) != self.rules or any(sc.name != key for key, sc in fitted.items()):
            raise RuntimeError(f"method {self.name!r} returned rules {list(fitted)} "
                               f"(named {[sc.name for sc in fitted.values()]}), expected {list(self.rules)}")
        return fitted


#: The digit datasets on which the image lessons add CAC's random resized crops.
CROP_DATASETS = ("mnist5k", "mnist", "svhn")


@dataclass(frozen=True)
class NetworkConfig(MethodConfig):
    """What training one network takes: budget, optimiser and augmentation. ``augment``
    None means CAC's random resized crops (scale 0.7–1) on the digit datasets
    (:data:`CROP_DATASETS`) and none elsewhere."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 0.03
    optimizer: str = "sgd"
    weight_decay: float = 5e-6
    augment: bool | None = None

    def crops(self, task: OpenSetSplit) -> bool:
        return self.augment if self.augment is not None else task.dataset in CROP_DATASETS


@dataclass(frozen=True)
class AdamConfig(NetworkConfig):
    """:class:`NetworkConfig` with Adam and no augmentation (papers 000 and 004): lr 1e-3,
    batches of 64, no weight decay."""

    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    augment: bool | None = False


def train_network(model, loss, task: OpenSetSplit, config: NetworkConfig, *, seed: int = 0, device: str = "auto",
                  cache_dir: str | None = None, progress: bool = True, desc: str = "training", **fit_kwargs) -> History:
    """Train ``model`` (built right after ``seed_everything(seed)``) on the task's known
    training data with ``config``'s budget, optimiser and augmentation: the one training
    entry point of the methods (:func:`osrkit.train.fit`). Returns the history."""
    return fit(model, loss, task.X_train, task.y_train, epochs=config.epochs, batch_size=config.batch_size,
               lr=config.lr, optimizer=config.optimizer, weight_decay=config.weight_decay, seed=seed, device=device,
               augment=random_resized_crop if config.crops(task) else None, progress=progress, desc=desc,
               cache_dir=cache_dir, **fit_kwargs)
