"""The method registry and configs (DESIGN.md, "The method interface")."""
import dataclasses

import pytest

from osrkit import data, methods
from osrkit.methods import cac, softmax


def test_the_registry_lists_every_method_in_lesson_order_with_unique_rule_names():
    assert methods.available() == ["softmax", "dae", "cool", "crosr", "gmvae", "cac", "gradmix", "nas"]
    rules = {name: methods.get(name).rules for name in methods.available()}
    assert rules == {"softmax": ("MSP", "OpenMax", "CE distance"), "dae": ("dAE",), "cool": ("COOL",),
                     "crosr": ("CROSR+EVT", "CROSR+NC-D"), "gmvae": ("GMVAE+NC-U", "GMVAE+NC-D"),
                     "cac": ("CAC",), "gradmix": ("top-k",),
                     "nas": ("NAS-OSR", "NAS-OSR eq.5", "NAS MSP")}
    all_rules = [r for rs in rules.values() for r in rs]
    assert len(all_rules) == len(set(all_rules))
    for name in methods.available():
        method = methods.get(name)
        assert method.name == name and method.lesson[:2].isdigit()


def test_an_unknown_method_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'openmax'.*softmax.*gradmix"):
        methods.get("openmax")


def test_configs_have_quick_and_full_presets_and_updates_skip_none():
    quick, full = cac.CACConfig.preset(True), cac.CACConfig.preset(False)
    assert (quick.network, quick.epochs, quick.lr, quick.lam) == ("small", 40, 0.03, 1.0)
    assert (full.network, full.epochs, full.lr, full.lam) == ("classifier32", 35, 0.01, 0.1)
    assert quick.updated(epochs=None, lam=0.5) == dataclasses.replace(quick, lam=0.5)
    with pytest.raises(ValueError, match="no setting.*'epoch'"):
        quick.updated(epoch=3)
    assert methods.get("gradmix").config(False).encoder == "resnet18"
    assert methods.get("gmvae").config(True, subclusters=(1, 2)).subclusters_per_class(2) == (1, 2)


def test_fit_takes_only_its_own_config_class():
    task = data.load_task("digits", [0, 1], seed=0)
    with pytest.raises(ValueError, match="takes a CACConfig, got ClassifierConfig"):
        methods.get("cac").fit(task, config=softmax.ClassifierConfig())


def test_crops_default_to_the_digit_datasets_only():
    config = softmax.ClassifierConfig()
    assert config.crops(data.load_task("mnist5k", [0, 1], seed=0))
    assert not config.crops(data.load_task("digits", [0, 1], seed=0))
    assert config.updated(augment=True).crops(data.load_task("digits", [0, 1], seed=0))
