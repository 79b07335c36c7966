"""osrkit.settings (a lesson's parameters resolved into new names) and osrkit.environment
(the lessons' "is this kernel ready?" cell)."""
import pytest

from osrkit import environment, settings


def test_none_takes_the_mode_default_and_given_values_are_kept_even_when_falsy():
    quick = settings.resolve(True, epochs=(None, 8, 100), lam=(0.0, 1.0, 0.1), digits=([], [0, 7], list(range(10))))
    full = settings.resolve(False, epochs=(None, 8, 100), lam=(None, 1.0, 0.1))
    assert (quick.epochs, quick.lam, quick.digits, quick.quick) == (8, 0.0, [], True)
    assert (full.epochs, full.lam, full.quick) == (100, 0.1, False)
    assert full.as_dict() == {"quick": False, "epochs": 100, "lam": 0.1}
    assert repr(full) == "full mode: epochs = 100, lam = 0.1"


def test_settings_are_read_only_and_name_what_exists():
    cfg = settings.resolve(True, epochs=(None, 8, 100))
    with pytest.raises(AttributeError, match="parameters cell"):
        cfg.epochs = 3
    with pytest.raises(AttributeError, match=r"\['epochs'\]"):
        cfg.epoch
    with pytest.raises(ValueError, match="tuple"):
        settings.resolve(True, epochs=8)


def test_environment_report_names_the_device_and_the_widgets_front_end(capsys):
    report = environment.check_environment("cpu")
    out = capsys.readouterr().out
    assert report["device"] == "cpu" and "device: cpu" in out
    assert report["widgets"] is True and "front end installed" in out      # the dev install ships it


def test_a_missing_widgets_front_end_is_reported_with_its_fix(tmp_path):
    assert not environment.widgets_frontend_installed([str(tmp_path)])
    (tmp_path / "share/jupyter/labextensions/@jupyter-widgets/jupyterlab-manager").mkdir(parents=True)
    assert environment.widgets_frontend_installed([str(tmp_path)])
    assert "pip install" in environment.WIDGETS_FIX


def test_an_unusable_device_says_how_to_fix_it():
    with pytest.raises(RuntimeError, match='device = "auto"'):
        environment.check_environment("no-such-device")
