"""Long check: the batched clinic (follow_batch) against follow, on the same engine Results.

Two cases: the virtual trial's population as it was, with its lung spread
(tests/data/virtual_trial_lung_spread.yaml: a lung soil about 15 times the calibrated
one, so that most patients reach M1; CT every 12 weeks, a draw every 3 weeks, two lines
of chemotherapy from M1) and one breast
scenario with neutral soils and many seeds, whose metastases double at 1e9 cells (as the
trial example's: they are found within its seven years), CT and draws every 12 weeks
from year 3 and a line of chemotherapy on day 1440 (its baseline draw 9 days before),
stopped on progression. Each patient's Result is
followed once by follow (its own stream) and once by follow_batch (one stream for the
batch), so only the clinic's randomness differs. Per case, two-sample tests of:
first distant detection day, progression day (KS, none at the horizon), progression
reason, number of therapy lines, baseline CTC count, lesions detected (chi-square),
death day (KS), the CTC count at the last draw (chi-square), and the numbers of
colonies founded under therapy that the thinning kept, and of colonies eradicated (KS;
conservative on counts).

A statistic that takes one value in every course of a case has no test (its p-value is 1
whatever the clinics do): in ``neutral`` every patient has one line (by design: no
switch), progresses by a new lesion, has 20 or more lesions detected and is alive at the
horizon. Those are listed in CONSTANT and asserted to be that value in both samples
(any course that differs fails); every other statistic must vary (else it is to be
listed there). The family-wise significance is ALPHA = 0.01, Bonferroni-corrected over
the (case, statistic) pairs that vary (16). Deliberately broken batches must be
rejected by the same comparison:
scans and draws that read the untreated sizes (ignoring the therapy's survival factor),
and thinnings of foundings under therapy that ignore the parent's survival factor or
the regimen's ``ctc_survival``. (Before the kept and eradicated counts were compared,
the thinning breaks went unseen: new colonies under therapy rarely grow visible before
the horizon.)
A few minutes.
"""

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2_contingency, ks_2samp

from metacascade import _jit
from metacascade.clinic import _lesions
from metacascade.clinic import batch as _batch
from metacascade.clinic.batch import follow_batch
from metacascade.clinic.course import ClinicalCourse, follow
from metacascade.cohort import load_population
from metacascade.engine.kernel import simulate
from metacascade.physiology import get_body
from metacascade.scenario import Scenario

#: The trial example as it was, with its lung spread (tests/data/).
LUNG_SPREAD_TRIAL = (Path(__file__).resolve().parent.parent / "tests" / "data"
                     / "virtual_trial_lung_spread.yaml")

ALPHA = 0.01
N_TRIAL = 400
N_NEUTRAL = 150
STATISTICS = ("first_detection", "progression_day", "progression_reason", "lines",
              "baseline_ctc", "detected", "death_day", "last_ctc", "kept_new",
              "eradicated")
CASES = ("trial", "neutral")
NEUTRAL_HORIZON_YEARS = 7
#: Per case, the statistics that take one value in every course, and that value.
CONSTANT: dict[str, dict[str, float | str]] = {
    "trial": {},
    "neutral": {"lines": "1", "progression_reason": "new_lesion", "detected": "20+",
                "death_day": NEUTRAL_HORIZON_YEARS * 365.25 + 1.0},  # (none: see _statistics)
}
N_TESTS = sum(len(STATISTICS) - len(CONSTANT[case]) for case in CASES)
NEUTRAL_CLINIC = {
    "scans": [{"modality": "ct", "every_weeks": 12, "start_day": 1095}],
    "draws": [{"every_weeks": 12, "start_day": 1095}],
    "therapy": {"start_day": 1440, "stop_on": ["progression"], "switch_on": [],
                "lines": [{"kind": "cytotoxic", "resistant_fraction": 0.05}]}}


@cache
def _case(name: str) -> tuple[list, list]:
    if name == "trial":
        population = load_population(LUNG_SPREAD_TRIAL)
        patients = [population.patient(11, i) for i in range(N_TRIAL)]
        scenarios = [scenario for scenario, _, _ in patients]
        return [simulate(s, seed=seed) for s, seed, _ in patients], scenarios
    soils = dict.fromkeys(get_body("adult_female").beds, 1.0)
    scenarios = [Scenario.from_dict({
        "cancer": "breast", "horizon_years": NEUTRAL_HORIZON_YEARS, "primary_diameter_mm": 20,
        "clinic": NEUTRAL_CLINIC, "cancer_overrides": {"soil": soils},
        "cascade_overrides": {"doubling_reference_cells": 1e9}})] * N_NEUTRAL
    return [simulate(s, seed=1000 + i) for i, s in enumerate(scenarios)], scenarios


def _statistics(course: ClinicalCourse) -> dict[str, float | str]:
    obs = course.observations
    draws = obs[(obs["kind"] == "draw") & (obs["name"] == "arm_vein")]
    origin = course.therapy[0].start_day if course.therapy else math.nan
    base = draws[(draws["time_days"] <= origin) & (draws["time_days"] >= origin - 28.0)]
    horizon = course.horizon_days + 1.0  # none: after the horizon
    return {
        "first_detection": course.first_detection_day or horizon,
        "progression_day": course.progression_day or horizon,
        "progression_reason": course.progression_reason or "none",
        "lines": str(len(course.therapy)),
        "baseline_ctc": _bin(base["value"].iloc[-1] if len(base) else math.nan),
        "detected": _bin(len(course.detected)),
        "death_day": course.death_day or horizon,
        "last_ctc": _bin(draws["value"].iloc[-1] if len(draws) else math.nan),
        "kept_new": _kept_new(course),
        "eradicated": float(len(course.eradicated)),
    }


def _kept_new(course: ClinicalCourse) -> float:
    """Colonies founded once therapy had started that the thinning kept (had)."""
    if not course.therapy:
        return 0.0
    founded = course.history.founded
    new = np.flatnonzero(founded > course.therapy[0].start_day)
    return float(np.isin(new[new > 0], list(course.prevented), invert=True).sum())


def _bin(count: float) -> str:
    """Counts in classes (chi-square needs no empty cells): none, 0, 1, 2-4, 5-19, 20+."""
    if math.isnan(count):
        return "none"
    return next(label for label, top in (("0", 0), ("1", 1), ("2-4", 4), ("5-19", 19))
                if count <= top) if count < 20 else "20+"


def _p_value(a: list, b: list) -> float:
    if isinstance(a[0], str):
        labels = sorted(set(a) | set(b))
        table = np.array([[x.count(label) for label in labels] for x in (a, b)])
        if table.shape[1] < 2:
            return 1.0
        return float(chi2_contingency(table)[1])
    return float(ks_2samp(a, b).pvalue)


def _run(case: str, seed: int = 1) -> dict[str, float]:
    """p-values of the statistics of ``case`` that vary; those in CONSTANT are checked."""
    results, scenarios = _case(case)
    single = [_statistics(follow(r, s)) for r, s in zip(results, scenarios, strict=True)]
    batch = follow_batch(results, scenarios, np.random.default_rng(seed))
    batched = [_statistics(batch.course(i)) for i in range(len(results))]
    p_values = {}
    for name in STATISTICS:
        a, b = [s[name] for s in single], [s[name] for s in batched]
        values = set(a) | set(b)
        if name in CONSTANT[case]:
            assert values == {CONSTANT[case][name]}, (case, name, sorted(values)[:5])
        else:
            assert len(values) > 1, f"{case}: {name} is constant; list it in CONSTANT"
            p_values[name] = _p_value(a, b)
    return p_values


@pytest.mark.parametrize("case", CASES)
def test_follow_batch_matches_follow(case):
    p_values = _run(case)
    print(case, {k: round(v, 4) for k, v in p_values.items()})
    assert min(p_values.values()) > ALPHA / N_TESTS, p_values


def test_a_broken_batch_is_rejected(monkeypatch):
    original = _lesions.Lesions.visible

    def untreated_sizes(self, t, alive):
        ids, _ = original(self, t, alive)
        return ids, self.untreated(ids, t)  # scans and draws ignore the therapy

    monkeypatch.setattr(_lesions.Lesions, "visible", untreated_sizes)
    p_values = _run("trial")
    print("broken", {k: float(f"{v:.3g}") for k, v in p_values.items()})
    assert min(p_values.values()) < ALPHA / N_TESTS, p_values


def _break_thinning(monkeypatch, survival: bool) -> None:
    """The thinning under therapy ignores the parent's survival factor (``survival``) or
    the regimen's ``ctc_survival`` (otherwise), and nothing else does.

    The break is made in the NumPy code, so the compiled loops (the ``fast`` extra),
    which read the regimens' values without ``regimen_value``, are turned off: with
    them on, the ``ctc_survival`` break did not take and the check could not fail.
    """
    monkeypatch.setattr(_jit, "ENABLED", False)
    original = _batch._Batch._settle

    def settle(self, k, treated):
        x = self.x
        if survival:
            x.survival = lambda ids, t: np.ones(np.broadcast_shapes(np.shape(t), ids.shape))
        else:
            value = x.regimen_value
            x.regimen_value = lambda name, p, lines: (
                np.ones(len(p)) if name == "ctc_survival" else value(name, p, lines))
        try:
            original(self, k, treated)
        finally:
            del x.__dict__["survival" if survival else "regimen_value"]

    monkeypatch.setattr(_batch._Batch, "_settle", settle)


@pytest.mark.parametrize("survival", [True, False], ids=["parent_survival", "ctc_survival"])
def test_a_broken_thinning_is_rejected(monkeypatch, survival):
    _break_thinning(monkeypatch, survival)
    p_values = _run("trial")
    print("broken thinning", {k: float(f"{v:.3g}") for k, v in p_values.items()})
    assert min(p_values.values()) < ALPHA / N_TESTS, p_values
