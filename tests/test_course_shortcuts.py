"""The clinic's shortcuts give exactly the course of the plain computation.

The shortcuts (``metacascade.clinic.course``): the weekly grid skipped where a bound
proves no death, eradication evaluated only for lesions that may fall below one cell,
colonies not yet founded not evaluated, and before therapy only the primary's and
switched colonies' sizes read by scans and draws. The plain computation evaluates every
lesion at every grid time; a patient whose lesions are not in founding order takes it.
"""

import copy
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacascade import simulate
from metacascade.clinic._patient import Patient
from metacascade.clinic.course import ClinicalCourse, follow
from metacascade.cohort import Population
from metacascade.scenario import Scenario, read_scenario_file

#: The trial example as it was, with its lung spread (tests/data/).
LUNG_SPREAD_TRIAL = (Path(__file__).resolve().parent.parent / "tests" / "data"
                     / "virtual_trial_lung_spread.yaml")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _trial(**clinic: object) -> Population:
    data = copy.deepcopy(read_scenario_file(LUNG_SPREAD_TRIAL))
    data["clinic"].update(clinic)
    return Population.from_dict(data)


#: A second-line regimen weaker than growth: lesions keep growing under therapy.
WEAK = {"start_at_m1": True, "switch_on": ["progression"], "lines": [
    {"kind": "cytotoxic", "kill_rate": 0.012, "resistant_fraction": 0.02},
    {"kind": "targeted", "kill_rate": 0.01}]}

#: (population, cohort seed, patient): therapy lines with eradications; death by the
#: total burden before therapy; death in the lungs under therapy; a fixed therapy
#: window after surgery.
CASES = {
    "trial": (_trial(), 1, 0),
    "death": (_trial(lethal_burden_cells=2e11), 5, 0),
    "lung_death": (_trial(therapy=WEAK, vital_organ_lethal_cells={"lung": 1e9, "liver": 1e9}),
                   5, 6),
    "surgery": (_trial(surgery_day=400, therapy={
        "start_day": 700, "stop_day": 1500, "switch_on": ["progression", "ctc_unfavourable"],
        "lines": [{"kind": "targeted"}, {"kind": "immunotherapy"}]}), 3, 0),
}


@cache
def _case(name: str) -> tuple[Scenario, object]:
    population, seed, patient = CASES[name]
    scenario, engine_seed, _ = population.patient(seed, patient)
    return scenario, simulate(scenario, seed=engine_seed)


def _plain_follow(monkeypatch: pytest.MonkeyPatch, result: object,
                  scenario: Scenario) -> ClinicalCourse:
    init = Patient.__init__

    def plain(self: Patient, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._in_order = self._bounded = False

    with monkeypatch.context() as patch:
        patch.setattr(Patient, "__init__", plain)
        return follow(result, scenario)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(CASES))
def test_shortcuts_give_the_plain_course(monkeypatch, name):
    scenario, result = _case(name)
    fast = follow(result, scenario)  # type: ignore[arg-type]
    plain = _plain_follow(monkeypatch, result, scenario)
    pd.testing.assert_frame_equal(fast.observations, plain.observations, check_exact=True)
    assert np.array_equal(fast.final_cells, plain.final_cells)
    assert np.array_equal(fast.eradicated_day, plain.eradicated_day)  # type: ignore[arg-type]
    assert (fast.death_day, fast.death_cause) == (plain.death_day, plain.death_cause)
    assert (fast.prevented, fast.eradicated) == (plain.prevented, plain.eradicated)
    assert fast.therapy == plain.therapy


def test_the_cases_hold_what_the_shortcuts_skip():
    courses = {name: follow(_case(name)[1], _case(name)[0])  # type: ignore[arg-type]
               for name in CASES}
    assert courses["trial"].eradicated and courses["trial"].death_day is None
    assert courses["death"].death_cause == "total" and not courses["death"].therapy
    lung = courses["lung_death"]
    assert lung.death_cause == "lung" and lung.therapy and lung.eradicated
    assert lung.therapy[0].start_day < lung.death_day  # type: ignore[operator]
    assert courses["surgery"].therapy and courses["surgery"].eradicated
