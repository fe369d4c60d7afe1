"""The clinic's rules as a RECIST 1.1 reader would apply them, in both clinics.

Each rule is checked with :func:`~metacascade.clinic.course.follow` and
:func:`~metacascade.clinic.batch.follow_batch` on the same engine results. Where a test
needs the scans to be certain, detection is made a step (found when the logistic curve
gives at least 1/2): the clinics then draw nothing that decides a course, and must
give the same observations.
"""

from functools import cache

import numpy as np
import pandas as pd
import pytest

from metacascade import simulate
from metacascade.clinic import imaging
from metacascade.clinic.batch import follow_batch
from metacascade.clinic.course import ClinicalCourse, follow
from metacascade.clinic.criteria import progressed_by_growth
from metacascade.errors import ScenarioError
from metacascade.scenario import Scenario

CT = {"modality": "ct", "every_weeks": 12, "start_day": 365,
      "regions": ["chest", "abdomen", "pelvis"]}
#: A first line that kills nothing and draws nothing: no resistance, no founding kept.
INERT = {"kind": "cytotoxic", "kill_rate": 0.0, "resistant_fraction": 0.0,
         "ctc_survival": 0.0}


def _scenario(clinic: dict, seed: int = 3, diameter: float = 20.0) -> Scenario:
    """The virtual trial's patient (examples/virtual_trial_breast.yaml) in ``clinic``."""
    return Scenario.from_dict({"cancer": "breast", "seed": seed, "horizon_years": 6,
                               "primary_diameter_mm": diameter, "clinic": clinic,
                               "cancer_overrides": {"doubling_time": "80 d"},
                               "cascade_overrides": {"doubling_reference_cells": 1e9}})


@cache
def _result(seed: int = 3, diameter: float = 20.0):
    return simulate(_scenario({}, seed, diameter))


def _courses(clinic: dict, cases=((3, 20.0),)) -> list[tuple[ClinicalCourse, ClinicalCourse]]:
    """(follow, follow_batch) courses of each (seed, diameter) case under ``clinic``."""
    results = [_result(*case) for case in cases]
    scenarios = [_scenario(clinic, *case) for case in cases]
    batch = follow_batch(results, scenarios, np.random.default_rng(0))
    return [(follow(r, s), batch.course(i))
            for i, (r, s) in enumerate(zip(results, scenarios, strict=True))]


@pytest.fixture
def certain_scans(monkeypatch):
    """Detection as a step: p = 1 where the curve gives >= 1/2, else 0."""
    probability = imaging.Detector.probability

    def step(self, organ_index, diameter_mm):
        return (probability(self, organ_index, diameter_mm) >= 0.5).astype(float)

    monkeypatch.setattr(imaging.Detector, "probability", step)


def _same(single: ClinicalCourse, batched: ClinicalCourse) -> None:
    pd.testing.assert_frame_equal(single.observations, batched.observations)
    assert single.therapy == batched.therapy
    assert single.progression_day == batched.progression_day


# -- therapy: stop_day -------------------------------------------------------------------
def test_no_line_starts_on_or_after_the_stop_day(certain_scans):
    """start_at_m1 with a stop day before M1: the patient is not treated (a 21-day line
    ending 'stop_day' was started at M1, long after the stop day)."""
    ((single, batched),) = _courses({"scans": [CT]})
    m1 = single.first_detection_day
    assert m1 is not None and m1 > 500
    for stop_day in (500.0, m1):
        therapy = {"start_at_m1": True, "stop_day": stop_day, "lines": [INERT]}
        ((single, batched),) = _courses({"scans": [CT], "therapy": therapy})
        _same(single, batched)
        assert single.first_detection_day == m1
        assert single.therapy == ()
        assert not (single.observations["kind"] == "therapy").any()
    # A stop day after M1 stops the line started at M1.
    therapy = {"start_at_m1": True, "stop_day": m1 + 100.0, "lines": [INERT]}
    ((single, batched),) = _courses({"scans": [CT], "therapy": therapy})
    _same(single, batched)
    (line,) = single.therapy
    assert (line.start_day, line.end_reason) == (m1, "stop_day")
    assert m1 + 100.0 <= line.end_day <= m1 + 100.0 + 84.0


# -- scan and draw schedules -------------------------------------------------------------
@pytest.mark.parametrize(("clinic", "pattern"), [
    ({"scans": [CT, CT]}, r"^clinic\.scans\.1: the same schedule as clinic\.scans\.0"),
    ({"scans": [CT, {"modality": "bone_scan", "every_weeks": 24}, {
        **CT, "regions": ["pelvis", "chest", "abdomen", "chest"]}]},
     r"^clinic\.scans\.2: the same schedule as clinic\.scans\.0"),
    ({"draws": [{"every_weeks": 3}, {"every_weeks": 3.0, "site": "arm_vein"}]},
     r"^clinic\.draws\.1: the same schedule as clinic\.draws\.0"),
])
def test_a_schedule_listed_twice_is_refused(clinic, pattern):
    """The same CT schedule twice doubled the chance to find each lesion, silently."""
    with pytest.raises(ScenarioError, match=pattern):
        _scenario(clinic)


def test_schedules_of_one_modality_on_one_day_are_one_examination():
    """A CT of the chest and one of the abdomen and pelvis on the same days are one CT of
    the three regions: the same draws, rows and course (each schedule was a scan of its
    own, with its own chance to find a lesion in the beds both image)."""
    split = [{**CT, "regions": ["chest"]}, {**CT, "regions": ["abdomen", "pelvis"]}]
    (one,), (two,) = (_courses({"scans": scans}) for scans in ([CT], split))
    for whole, parts in zip(one, two, strict=True):  # follow, then follow_batch
        pd.testing.assert_frame_equal(whole.observations, parts.observations)
        assert whole.first_detection_day is not None
    # A CT every 4 weeks with the 12-weekly one: one CT on their common days.
    often = {**CT, "every_weeks": 4, "regions": None}
    for course in _courses({"scans": [CT, often]})[0]:
        scans = course.observations[course.observations["kind"] == "scan"]
        assert scans.groupby(["time_days", "name", "lesion"]).size().max() == 1
        assert (scans.groupby("time_days")["name"].nunique() == 1).all()


# -- RECIST ------------------------------------------------------------------------------
def test_exact_twenty_percent_and_five_mm_are_progression_despite_rounding():
    """66 of 2,900 one-decimal sums missed +20 % (33.7 -> 40.44 mm), and 10.1 -> 15.1 mm
    missed +5 mm, by an ulp."""
    nadir = np.arange(250, 3000) / 10.0  # (from 25 mm, 20 % is at least 5 mm)
    assert progressed_by_growth(np.round(nadir * 1.2, 2), nadir).all()
    assert progressed_by_growth(40.44, 33.7) and progressed_by_growth(15.1, 10.1)
    small = np.arange(0, 251) / 10.0  # (up to 25 mm, 5 mm is at least 20 %)
    assert progressed_by_growth(np.round(small + 5.0, 1), small).all()
    # Just short of either is not, nor is anything over a nadir of inf (no targets).
    assert not progressed_by_growth(40.43, 33.7) and not progressed_by_growth(15.09, 10.1)
    assert not progressed_by_growth(np.array([0.0, 1e3]), np.array([np.inf, np.inf])).any()
