"""The batched clinic's eradication schedule against examining every lesion every interval.

:class:`~metacascade.clinic._eradication.Eradication` examines a colony again only from
its next possible day (a lower bound of the first grid time it may fall below one
cell), and evaluates an examined colony on the grid only if a bound lets it through. A
bound too optimistic skips an eradication or finds it late: the courses then differ
from those of a batch whose every colony is examined in every interval (next possible
day -inf) and evaluated on the grid. The clinics here make the bounds nearly tight:
colonies that grow faster than a line kills and slower, colonies at their avascular
limit, lines that switch to faster ones, lines that stop, resistant shares of none and
some. Seen to fail with each of these breaks: growth not capped at the avascular limit
(or the untreated size at t counted 20-fold), growth 1.5 times too fast, the coming
lines' kill rates left out, the running line's fall left out (c = 0), a later line's
fall taken from the whole survival factor, and an examination's bound counting the
untreated size at the interval's end.
"""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacascade.clinic import _eradication
from metacascade.clinic.batch import follow_batch
from metacascade.cohort import load_population
from metacascade.engine.kernel import simulate

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
}


@cache
def _trial(n: int = 8) -> tuple:
    population = load_population(EXAMPLES / "virtual_trial_breast.yaml")
    scenarios, results = [], []
    for i in range(n):
        scenario, seed, _ = population.patient(4, i)
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
    results, scenarios = _trial()
    scenarios = _with_clinic(scenarios, CLINICS.get(name))
    fast = follow_batch(results, scenarios, np.random.default_rng(3))
    _every_interval(monkeypatch)
    slow = follow_batch(results, scenarios, np.random.default_rng(3))
    assert len(slow.eradicated) > 100
    pd.testing.assert_frame_equal(fast.eradicated, slow.eradicated)
    pd.testing.assert_frame_equal(fast.observations, slow.observations)
    pd.testing.assert_frame_equal(fast.therapy, slow.therapy)
    np.testing.assert_array_equal(fast.final_cells, slow.final_cells)
