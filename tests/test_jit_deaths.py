"""The compiled loops of the lethal checks (``clinic/_deaths.py``) give the NumPy code's bytes.

``test_jit.py`` runs whole cohorts with the loops on and off; here the deaths' bound and
quiet days are pushed where the cohorts rarely go: many deaths (vital organs with low
limits, a primary removed), and bounds at, above and below the limits, inf and NaN.
"""

import numpy as np
import pandas as pd
import pytest

from metacascade import _jit
from metacascade.clinic import _deaths
from metacascade.clinic.batch import follow_batch
from test_clinic_batch_bounds import WEAK, _trial, _with_clinic


@pytest.mark.parametrize("lethal", [{"lethal_burden_cells": 1e11, "surgery_day": 900},
                                    {"lethal_burden_cells": 1e13, "vital_organ_lethal_cells": {
                                        "heart": 4e7, "thyroid": 6e7, "lung": 1e9}},
                                    # Every organ the colonies settle in counted.
                                    {"lethal_burden_cells": 1e13, "vital_organ_lethal_cells":
                                        dict.fromkeys(("lung", "liver", "brain", "breast",
                                                       "vertebral_marrow", "lymph_node",
                                                       "bone_marrow", "adrenal"), 1e11)}])
def test_deaths_with_the_loops_are_those_without(lethal, monkeypatch):
    results, scenarios = _trial(surgery_day=lethal.get("surgery_day"))
    scenarios = _with_clinic(scenarios, {**WEAK, **lethal})
    seen: dict[bool, list] = {True: [], False: []}
    quiet_until = _deaths.Deaths._quiet_until

    def record(self, t, patients, bound, primary):
        days = quiet_until(self, t, patients, bound, primary)
        seen[_jit.ENABLED].append((t, patients, bound, primary, days))
        return days

    monkeypatch.setattr(_deaths.Deaths, "_quiet_until", record)
    with _jit.use(True):
        fast = follow_batch(results, scenarios, np.random.default_rng(3))
    with _jit.use(False):
        plain = follow_batch(results, scenarios, np.random.default_rng(3))
    assert np.isfinite(plain.death_day).sum() >= 2
    # The bounds and quiet days on the way, not only what they let through.
    assert len(seen[True]) == len(seen[False]) >= 5
    for a, b in zip(seen[True], seen[False], strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(fast.death_day, plain.death_day)
    np.testing.assert_array_equal(fast.death_cause, plain.death_cause)
    pd.testing.assert_frame_equal(fast.observations, plain.observations, check_exact=True)


def test_quiet_days_with_the_loops_are_those_without():
    results, scenarios = _trial()
    scenarios = _with_clinic(scenarios, {**WEAK, "lethal_burden_cells": 1e11,
                                         "vital_organ_lethal_cells": {"lung": 1e9}})
    course = follow_batch(results, scenarios, np.random.default_rng(3))
    deaths = _deaths.Deaths(course._lesions, scenarios[0].clinic)
    x, n_checks = deaths.x, len(deaths.lethal)
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(x.n_patients), 6)
    limit = deaths.lethal * (1.0 - _deaths.BOUND_MARGIN)
    bound = limit * rng.choice([0.0, 1e-6, 1e-3, 0.3, 0.999999, 1.0], (patients.size, 1))
    bound[::7, 0], bound[::11, -1], bound[::13, 0] = np.inf, np.nan, -0.0
    with np.errstate(invalid="ignore"):
        primary = bound[:, 0] * rng.choice([0.0, 0.5, 1.0], patients.size)
    primary[::17] = np.nan
    days = set()
    for t in (*x.times[[0, 40, 200]].tolist(), 1000.5, float(x.times[-2]), float(x.times[-1])):
        with _jit.use(True):
            fast = deaths._quiet_until(t, patients, bound, primary)
        with _jit.use(False), np.errstate(invalid="ignore"):
            plain = deaths._quiet_until(t, patients, bound, primary)
        days |= set(plain.tolist())
        np.testing.assert_array_equal(fast, plain)
        assert fast.dtype == plain.dtype and fast.shape == (patients.size,)
    # A burden exactly at a limit on the day after t (the primary alone): lethal then.
    k = 60
    for p in range(x.n_patients):
        value = float(x.primary[p, k + 1])
        lethal = value / (1.0 - _deaths.BOUND_MARGIN)
        while lethal * (1.0 - _deaths.BOUND_MARGIN) != value:
            lethal = np.nextafter(lethal, np.inf if lethal * (1.0 - _deaths.BOUND_MARGIN)
                                  < value else -np.inf)
        deaths.lethal = np.array([lethal, np.inf])
        head = np.array([x.primary[p, k]])
        for on in (True, False):
            with _jit.use(on):
                until = deaths._quiet_until(float(x.times[k]), np.array([p]),
                                            np.array([[head[0], 0.0]]), head)
            assert until[0] == x.times[k + 1]
    with _jit.use(True):
        empty = deaths._quiet_until(10.0, patients[:0], bound[:0], primary[:0])
    assert empty.shape == (0,) and n_checks == 2
    assert len(days) > 10 and np.inf in days  # lethal at once, later, never
