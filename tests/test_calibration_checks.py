"""Calibration's arguments are named before any work, with or without pyABC.

pyABC is made missing with ``sys.modules["pyabc"] = None`` (importing it then raises
ImportError), so these tests run whether the ``calibration`` extra is installed or not.
Before, ``fit`` imported pyABC first: without it, every call (a bad one too) was a bare
``ModuleNotFoundError``.
"""

from __future__ import annotations

import re
import sys

import pytest

from metacascade.calibration import Calibration, CalibrationError, load_targets
from metacascade.calibration.fit import calibrate
from metacascade.errors import install_hint

HINT = "fitting needs pyABC, the 'calibration' extra: " + install_hint("calibration")


@pytest.fixture
def no_pyabc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyabc", None)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"parameters": ["soil.breast.elbow"], "prior": {"soil.breast.elbow": (0.0, 1.0)}},
     r"parameters: unknown name\(s\) \['soil.breast.elbow'\]; known: "),
    ({"prior": {}}, r"prior: no bounds for \['soil.breast'\]"),
    ({"prior": {"soil.breast": (10.0, 0.1)}},
     r"prior\.soil\.breast: \(10\.0, 0\.1\) must be finite with low < high"),
    ({"population_size": 0}, "population_size: 0 must be a whole number >= 10"),
    ({"kernel": "x"}, "kernel: 'x' is not one of binomial, distance"),
    ({"seed": -1}, r"seed: -1 is not a whole number in \[0, 2\^63 - 1\]"),
    ({"targets": "disibio2008"}, r"targets: a Targets \(load_targets\('disibio2008'\)\), "
                                 "not str"),
])
def test_a_bad_argument_is_named_before_pyabc_is_needed(no_pyabc, kwargs, needle) -> None:
    args = {"targets": load_targets().subset(["breast"]), "parameters": ["soil.breast"],
            "prior": {"soil.breast": (0.1, 10.0)}, **kwargs}
    calibration = Calibration(args.pop("targets"), args.pop("parameters"), args.pop("prior"),
                              **args)
    with pytest.raises(CalibrationError, match="^" + needle):
        calibration.fit()
    assert not hasattr(calibration, "posterior_")


def test_without_pyabc_a_good_calibration_says_how_to_install_it(no_pyabc, tmp_path) -> None:
    t = load_targets().subset(["breast"])
    with pytest.raises(CalibrationError, match="^" + re.escape(HINT) + "$"):
        Calibration(t, ["soil.breast"], {"soil.breast": (0.1, 10.0)}).fit()
    # the whole calibration says so before it writes anything
    with pytest.raises(CalibrationError, match="^" + re.escape(HINT) + "$"):
        calibrate("disibio2008", out=tmp_path / "c", seed=1)
    assert list(tmp_path.iterdir()) == []
