"""The batched clinic's bounds against checking everything, every interval.

Eradication: :class:`~metacascade.clinic._eradication.Eradication` examines a colony
again only from its next possible day (a lower bound of the first grid time it may fall
below one cell), and evaluates an examined colony on the grid only if a bound lets it
through. A bound too optimistic skips an eradication or finds it late: the courses then
differ from those of a batch whose every colony is examined in every interval (next
possible day -inf) and evaluated on the grid. The clinics here make the bounds nearly
tight: colonies that grow faster than a line kills and slower, colonies at their
avascular limit, lines that switch to faster ones, lines that stop, resistant shares of
none and some, primaries removed. Seen to fail with each of these breaks: growth not capped at the
avascular limit (or the untreated size at t counted 20-fold), growth 1.5 times too
fast, the running line's kill rate halved, its fall to the resistant share left out
(c = 0), the schedule not made again when a patient starts a later line, and an
examination's bound counting the untreated size at the interval's end.

Deaths: :class:`~metacascade.clinic._deaths.Deaths` skips a patient's lethal checks
until the day its bound may reach a lethal burden. The deaths must be those of a batch
that checks every patient in every interval, and the bound itself must end no later
than any burden the patient reaches (each check's limit set to it, the bound fed the
tightest burden bound it may be given). Seen to fail with the colonies' growth at half
their rate (without growth, in the deaths too), the primary left out of the future, its
part counted 1.5-fold, and the day 30 days late.
"""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacascade.clinic import _deaths, _eradication
from metacascade.clinic.batch import follow_batch
from metacascade.cohort import load_population
from metacascade.engine.kernel import simulate

#: The trial example as it was, with its lung spread (tests/data/).
LUNG_SPREAD_TRIAL = (Path(__file__).resolve().parent.parent / "tests" / "data"
                     / "virtual_trial_lung_spread.yaml")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCANS = [{"modality": "ct", "every_weeks": 12, "start_day": 365}]
DRAWS = [{"every_weeks": 3, "start_day": 365}]
CLINICS = {
    # A line slower than growth, switched every 20 weeks (every count is unfavourable)
    # to a faster one with a resistant share, then to one without; stopped.
    "switch_to_faster": {"scans": SCANS, "therapy": {
        "start_day": 600, "switch_on": ["ctc_unfavourable"], "ctc_followup_weeks": 20,
        "stop_day": 1400, "lines": [
            {"kind": "cytotoxic", "kill_rate": 0.006, "resistant_fraction": 0.0},
            {"kind": "cytotoxic", "kill_rate": 0.06, "resistant_fraction": 0.01},
            {"kind": "cytotoxic", "kill_rate": 0.03, "resistant_fraction": 0.0}]},
        "draws": [{"every_weeks": 3, "start_day": 365, "false_positive_mean": 20.0}]},
    # A late start and no resistance: colonies at their avascular limit go too.
    "late_start": {"scans": SCANS, "therapy": {
        "start_day": 1650, "lines": [
            {"kind": "cytotoxic", "kill_rate": 0.05, "resistant_fraction": 0.0}]}},
    # The same with the primary removed under therapy (the engine's results too).
    "surgery": {"scans": SCANS, "surgery_day": 1800, "therapy": {
        "start_day": 1650, "lines": [
            {"kind": "cytotoxic", "kill_rate": 0.05, "resistant_fraction": 0.0}]}},
}
#: A line too weak to stop the deaths (each patient's lethal checks then never skipped
#: are those of the others), stopped.
WEAK = {"scans": SCANS, "draws": DRAWS, "therapy": {
    "start_at_m1": True, "switch_on": ["progression"], "stop_day": 1500, "lines": [
        {"kind": "cytotoxic", "kill_rate": 0.004, "resistant_fraction": 0.05}]}}


@cache
def _trial(n: int = 8, surgery_day: float | None = None) -> tuple:
    population = load_population(LUNG_SPREAD_TRIAL)
    scenarios, results = [], []
    for i in range(n):
        scenario, seed, _ = population.patient(4, i)
        if surgery_day is not None:
            scenario = _with_clinic((scenario,), {"surgery_day": surgery_day})[0]
        scenarios.append(scenario)
        results.append(simulate(scenario, seed=seed))
    return tuple(results), tuple(scenarios)


def _with_clinic(scenarios: tuple, clinic: dict | None) -> list:
    if clinic is None:
        return list(scenarios)
    return [type(s).from_dict({**s.model_dump(exclude_none=True), "clinic": clinic})
            for s in scenarios]


def _every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    def now(self, t, ids, *args, **kwargs):
        return np.full(ids.size, -np.inf)
    monkeypatch.setattr(_eradication.Eradication, "next_day", now)
    # And every lesion examined evaluated on the grid.
    monkeypatch.setattr(_eradication, "LOG_MARGIN", np.inf)


@pytest.mark.parametrize("name", [None, *CLINICS])
def test_eradications_are_those_of_examining_every_lesion(name, monkeypatch):
    clinic = CLINICS.get(name)
    results, scenarios = _trial(surgery_day=(clinic or {}).get("surgery_day"))
    scenarios = _with_clinic(scenarios, clinic)
    fast = follow_batch(results, scenarios, np.random.default_rng(3))
    _every_interval(monkeypatch)
    slow = follow_batch(results, scenarios, np.random.default_rng(3))
    assert len(slow.eradicated) > 100
    pd.testing.assert_frame_equal(fast.eradicated, slow.eradicated)
    pd.testing.assert_frame_equal(fast.observations, slow.observations)
    pd.testing.assert_frame_equal(fast.therapy, slow.therapy)
    np.testing.assert_array_equal(fast.final_cells, slow.final_cells)


def _every_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def now(self, t, patients, *args, **kwargs):
        return np.full(patients.size, -np.inf)
    monkeypatch.setattr(_deaths.Deaths, "_quiet_until", now)


@pytest.mark.parametrize("lethal", [{"lethal_burden_cells": 1e11},
                                    {"lethal_burden_cells": 1e11, "surgery_day": 900},
                                    # Few colonies, growing past their switch: tight.
                                    {"lethal_burden_cells": 1e13, "vital_organ_lethal_cells": {
                                        "heart": 4e7, "thyroid": 6e7}},
                                    {"vital_organ_lethal_cells": {"breast": 6e10}}])
def test_deaths_are_those_of_checking_every_interval(lethal, monkeypatch):
    results, scenarios = _trial(surgery_day=lethal.get("surgery_day"))
    scenarios = _with_clinic(scenarios, {**WEAK, **lethal})
    fast = follow_batch(results, scenarios, np.random.default_rng(3))
    _every_check(monkeypatch)
    slow = follow_batch(results, scenarios, np.random.default_rng(3))
    assert np.isfinite(slow.death_day).sum() >= 2
    np.testing.assert_array_equal(fast.death_day, slow.death_day)
    np.testing.assert_array_equal(fast.death_cause, slow.death_cause)
    pd.testing.assert_frame_equal(fast.observations, slow.observations)


def test_quiet_until_is_no_later_than_any_lethal_burden():
    # The bound of Deaths._quiet_until from the tightest burden bound it may be given
    # (every colony past its switch at its size, every other one at its avascular
    # limit, the primary apart) at many times, each check's limit set to the burden the
    # patient reaches at a later time of the table: the bound must end by then.
    results, scenarios = _trial()
    vital = dict.fromkeys(("lung", "liver", "brain", "vertebral_marrow", "adrenal",
                           "kidney", "spleen", "heart", "pancreas", "skin", "thyroid"), 1e13)
    scenarios = _with_clinic(scenarios, {**WEAK, "lethal_burden_cells": 1e13,
                                         "vital_organ_lethal_cells": vital})
    course = follow_batch(results, scenarios, np.random.default_rng(3))
    x = course._lesions
    deaths = _deaths.Deaths(x, scenarios[0].clinic)
    n_checks = len(deaths.lethal)
    checked = 0
    for p in range(len(results)):
        lo, hi = int(x.offsets[p]), int(x.offsets[p + 1])
        ids = np.arange(lo, hi)[x.kept[lo:hi]]
        times = x.times
        cells = x.cells(ids, times[:, None])
        cells = np.where(times[:, None] < x.eradicated[ids], cells, 0.0)
        counted = deaths.check(ids)
        burden = cells @ counted
        head = x.is_primary[ids]
        for k in range(52, len(times) - 1, 9):
            t = times[k]
            switched = (x.switch[ids] <= t) & ~head
            bound = (cells[k] * switched) @ counted + x.ka[p] * ((~switched & ~head) @ counted)
            primary = np.array([cells[k, head].sum()])
            bound = bound + primary * deaths.primary_check[p]
            for c in range(n_checks):
                for j in (k + 1, k + 4, k + 16, k + 48):
                    if j >= len(times) or burden[j, c] <= bound[c]:
                        continue
                    deaths.lethal = np.full(n_checks, np.inf)
                    deaths.lethal[c] = burden[j, c]
                    until = deaths._quiet_until(t, np.array([p]), bound[None, :], primary)
                    assert until[0] <= times[j], (p, t, deaths.check_names[c], times[j])
                    checked += 1
    assert checked > 500
