"""The clinic's rules as a RECIST 1.1 reader would apply them, in both clinics.

Each rule is checked with :func:`~metacascade.clinic.course.follow` and
:func:`~metacascade.clinic.batch.follow_batch` on the same engine results. Where a test
needs the scans to be certain, detection is made a step (found when the logistic curve
gives at least 1/2): the clinics then draw nothing that decides a course, and must
give the same observations.
"""

from functools import cache
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from metacascade import simulate
from metacascade.clinic import _course_rules, _recist, imaging
from metacascade.clinic._rows import Rows
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


@pytest.mark.parametrize(("draw", "surgery_day", "pattern"), [
    ({"every_weeks": 12}, 200.0,
     r"^clinic\.draws\.1: a tumour_vein draw on day 252, on or after surgery_day \(200\), "
     r"when the primary and its vein are gone; give the schedule a stop_day before 200"),
    ({"every_weeks": 4, "start_day": 200}, 200.0,
     r"^clinic\.draws\.1: a tumour_vein draw on day 200, .*; draw from another site$"),
])
def test_a_tumour_vein_draw_after_surgery_is_refused(draw, surgery_day, pattern):
    """It was accepted, and read the blood of a vein the primary no longer drains into."""
    clinic = {"surgery_day": surgery_day,
              "draws": [{"every_weeks": 4}, {**draw, "site": "tumour_vein"}]}
    with pytest.raises(ScenarioError, match=pattern):
        _scenario(clinic)
    # Draws that end before surgery, or that the horizon ends first, are followed.
    _scenario({**clinic, "draws": [{**draw, "site": "tumour_vein", "start_day": 0,
                                    "stop_day": surgery_day - 1}]})
    _scenario({**clinic, "surgery_day": 3000.0})


def test_follow_checks_a_clinic_given_as_an_object_as_its_scenario_does():
    """follow(..., clinic=Clinic(...)) skipped the scenario's checks (a mapping had them)."""
    from metacascade.scenario import Clinic

    scenario = Scenario.from_dict({"cancer": "breast", "seed": 2, "horizon_years": 2,
                                   "clinic": {"surgery_day": 200}})
    result = simulate(scenario)
    late = {"surgery_day": 200, "draws": [{"every_weeks": 12, "site": "tumour_vein"}]}
    for clinic in (late, Clinic.model_validate(late)):
        with pytest.raises(ScenarioError, match=r"^clinic\.draws\.0: a tumour_vein draw on "
                           r"day 252, on or after surgery_day \(200\)"):
            follow(result, scenario, clinic=clinic)


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
    """62 of 2,750 one-decimal sums missed +20 % (33.7 -> 40.44 mm), and 10.1 -> 15.1 mm
    missed +5 mm, by an ulp."""
    nadir = np.arange(250, 3000) / 10.0  # (from 25 mm, 20 % is at least 5 mm)
    assert progressed_by_growth(np.round(nadir * 1.2, 2), nadir).all()
    assert progressed_by_growth(40.44, 33.7) and progressed_by_growth(15.1, 10.1)
    small = np.arange(0, 251) / 10.0  # (up to 25 mm, 5 mm is at least 20 %)
    assert progressed_by_growth(np.round(small + 5.0, 1), small).all()
    # Just short of either is not, nor is anything over a nadir of inf (no targets).
    assert not progressed_by_growth(40.43, 33.7) and not progressed_by_growth(15.09, 10.1)
    assert not progressed_by_growth(np.array([0.0, 1e3]), np.array([np.inf, np.inf])).any()


#: The organs of the RECIST cases below: the primary's, then three distant ones.
ORGANS = ("breast", "lung", "liver", "vertebral_marrow")
#: Measuring examinations (CT of the chest, abdomen and pelvis; a CT of the chest alone)
#: and a bone scan: (measures, organs imaged).
CT_CAP = (True, ("breast", "lung", "liver", "vertebral_marrow"))
CT_CHEST = (True, ("breast", "lung", "vertebral_marrow"))
BONE_SCAN = (False, ("vertebral_marrow",))


class _Patient:
    """What the per-patient RECIST reader reads of a patient: organs and diameters."""

    def __init__(self, organ, sizes):
        self.organ = np.array([ORGANS.index(o) for o in organ], dtype=np.int64)
        self.distant = self.organ != 0
        self.sizes = sizes

    def diameter_mm(self, t):
        return np.array(self.sizes[t], dtype=float)


def _read(organ, sizes, visits, lines=()):
    """Progression rows (day, reason, value) of both RECIST readers, and the targets.

    ``sizes`` maps each day to the lesions' diameters, ``visits`` is a list of (day,
    [(examination, ids found)]), ``lines`` the days a line starts (after that day's
    scans, if any).
    """
    patient = _Patient(organ, sizes)
    single = _course_rules.Recist(patient, 5)
    n = len(organ)
    lesions = SimpleNamespace(n_patients=1, n=n, pat=np.zeros(n, dtype=np.int64),
                              organ=patient.organ, organs=ORGANS)
    rows = Rows()
    batched = _recist.Recist(lesions, rows)
    one = np.zeros(1, dtype=np.int64)
    single_rows: list = []
    days = sorted({t for t, _ in visits} | set(lines))
    for t in days:
        exams = dict(visits).get(t)
        found = measured = np.zeros(0, dtype=np.int64)
        covered = np.zeros(len(ORGANS), dtype=bool)
        for (measures, imaged), ids in exams or ():
            ids = np.array(ids, dtype=np.int64)
            found = np.union1d(found, ids)
            if measures:
                measured = np.union1d(measured, ids)
                covered |= np.isin(ORGANS, imaged)
        gauged = measured[patient.distant[measured]]
        if exams is not None:
            single.scan(t, found, measured, covered, single_rows)
            diameter = patient.diameter_mm(t)
            held = np.flatnonzero(diameter > 0)  # (what the batch reads: lesions had)
            batched.read(held, diameter[held])
            batched.scan(t, found, found[patient.distant[found]], gauged, covered, one)
        if t in lines:
            single.new_line(t)
            batched.new_baseline(one, t)
    got = [(t, name, None if np.isnan(value) else value)
           for t, kind, name, _, _, value in single_rows if kind == "progression"]
    table = rows.table()
    table = table[table["kind"] == "progression"]
    assert got == [(t, name, None if np.isnan(value) else value) for t, name, value
                   in zip(table["time_days"], table["name"], table["value"], strict=True)]
    targets = [] if single.targets is None else sorted(single.targets.tolist())
    assert targets == sorted(t for t in batched.targets[0].tolist() if t >= 0)
    return got, targets


def test_targets_are_chosen_from_what_ct_or_mri_found_and_read_where_they_image():
    """A bone scan's lesion is no target; a bone-scan-only visit measures no target; a
    CT of the chest measures the lung target, not the liver one."""
    organ = ["breast", "lung", "liver", "vertebral_marrow"]
    sizes = {0: [30, 12, 15, 30], 84: [30, 12, 15, 60], 112: [30, 35, 15, 60],
             168: [30, 35, 15, 60]}
    visits = [(0, [(CT_CAP, [1, 2]), (BONE_SCAN, [3])]),
              (84, [(BONE_SCAN, [3])]),  # the bone lesion doubled: it is no target
              (112, [(BONE_SCAN, [3])]),  # the lung target grew: unmeasured
              (168, [(CT_CHEST, [1, 3])])]  # 35 (liver unimaged) >= 1.2 x 27: progression
    got, targets = _read(organ, sizes, visits)
    assert targets == [1, 2]
    assert got == [(168, "target_growth", 35.0)]
    # A CT of the chest alone, under +20 % with the liver target unimaged: no
    # progression, and no new nadir from the lung alone (20 would be progression over
    # 14, not over 27).
    sizes = {**sizes, 168: [30, 14, 15, 60], 252: [30, 20, 0, 60]}
    visits = [*visits[:3], (168, [(CT_CHEST, [1, 3])]), (252, [(CT_CAP, [1, 3])])]
    assert _read(organ, sizes, visits)[0] == []
    # A target eradicated measures 0: the nadir falls to the other target's size.
    sizes = {0: [30, 20, 20, 0], 84: [30, 20, 0, 0], 168: [30, 25, 0, 0]}
    visits = [(0, [(CT_CAP, [1, 2])]), (84, [(CT_CAP, [1])]), (168, [(CT_CAP, [1])])]
    assert _read(organ, sizes, visits)[0] == [(168, "target_growth", 25.0)]
    # A new lesion on a bone scan is progression, measured or not.
    sizes = {0: [30, 12, 0, 0], 84: [30, 12, 0, 15]}
    got, _ = _read(organ, sizes, [(0, [(CT_CAP, [1])]), (84, [(BONE_SCAN, [3])])])
    assert got == [(84, "new_lesion", None)]


#: A line that eradicates lesions, and one that does nothing, drawing nothing.
STRONG = {**INERT, "kill_rate": 0.08}
CERTAIN_CASES = {
    # A CT once, then bone scans only: no target is measured after the CT.
    "bone_scans_after_one_ct": {"scans": [
        {**CT, "start_day": 1300, "stop_day": 1301},
        {"modality": "bone_scan", "every_weeks": 4, "start_day": 1300}]},
    # A line that eradicates lesions (targets among them), then one that does nothing.
    "eradicating_line": {"scans": [CT], "therapy": {
        "start_day": 1300, "switch_on": ["progression"], "lines": [STRONG, INERT]}},
}


@pytest.mark.parametrize("case", CERTAIN_CASES)
def test_both_clinics_read_the_same_when_scans_are_certain(certain_scans, case):
    cases = ((3, 20.0), (4, 20.0), (5, 15.0))
    for single, batched in _courses(CERTAIN_CASES[case], cases):
        _same(single, batched)
        obs = single.observations
        growth = obs[(obs["kind"] == "progression") & (obs["name"] == "target_growth")]
        ct_days = obs[(obs["kind"] == "scan") & (obs["name"] == "ct")]["time_days"]
        assert growth["time_days"].isin(ct_days).all()


@pytest.mark.parametrize(("start_day", "first_progression"), [
    (1126.0, 1205.0), (1149.0, 1205.0), (1150.0, 1289.0)])
def test_a_lines_baseline_is_the_last_ct_within_four_weeks_before_it(
        certain_scans, start_day, first_progression):
    """CTs every 12 weeks (days 1121, 1205, 1289, ...): a line from day 1126 or 1149 has
    the CT of day 1121 as its baseline, and what day 1205's CT finds first is new; from
    day 1150 it has none within 4 weeks, and day 1205's CT is its baseline (it was
    always the first scan after the start, whose new lesions the baseline absorbed)."""
    therapy = {"start_day": start_day, "lines": [INERT, INERT]}
    ((single, batched),) = _courses({"scans": [CT], "therapy": therapy})
    _same(single, batched)
    first = single.therapy[0]
    assert (first.start_day, first.end_day, first.end_reason) == (
        start_day, first_progression, "progression")
    rows = single.observations
    assert rows[(rows["kind"] == "progression")
                & (rows["time_days"] > start_day)]["time_days"].iloc[0] == first_progression


@pytest.mark.parametrize(("nadir", "later", "progressed"), [
    (10.0, 13.0, False),  # +30 %, but only +3 mm
    (10.0, 15.0, True),  # +50 %, +5 mm
    (40.0, 47.0, False),  # +7 mm, but only +17.5 %
    (40.0, 48.0, True),  # +20 %, +8 mm
])
def test_target_growth_needs_twenty_percent_and_five_mm_in_both_readers(
        nadir, later, progressed):
    """One lung target, measured by CT at its nadir and again 12 weeks later: progression
    by growth needs both of RECIST's margins, in either clinic's reader."""
    organ = ["breast", "lung"]
    sizes = {0: [30, nadir], 84: [30, later]}
    got, targets = _read(organ, sizes, [(0, [(CT_CAP, [1])]), (84, [(CT_CAP, [1])])])
    assert targets == [1]
    assert got == ([(84, "target_growth", later)] if progressed else [])


def test_baseline_cases_of_both_recist_readers():
    organ = ["breast", "lung", "liver", "vertebral_marrow"]
    # A CT 20 days before the line: its baseline. The liver lesion the next CT finds is
    # new, and the lung target's growth from 20 mm is measured from that CT.
    sizes = {0: [30, 20, 0, 0], 84: [30, 20, 12, 0]}
    assert _read(organ, sizes, [(0, [(CT_CAP, [1])]), (84, [(CT_CAP, [1, 2])])],
                 lines=(20,))[0] == [(84, "new_lesion", 20.0)]
    sizes = {0: [30, 20, 0, 0], 84: [30, 25, 0, 0]}
    assert _read(organ, sizes, [(0, [(CT_CAP, [1])]), (84, [(CT_CAP, [1])])],
                 lines=(20,))[0] == [(84, "target_growth", 25.0)]
    assert _read(organ, sizes, [(0, [(CT_CAP, [1])]), (84, [(CT_CAP, [1])])],
                 lines=(28,))[0] == [(84, "target_growth", 25.0)]  # (4 weeks: still)
    assert _read(organ, sizes, [(0, [(CT_CAP, [1])]), (84, [(CT_CAP, [1])])],
                 lines=(29,))[0] == []  # (no baseline: day 84's CT is)
    # No scan within 4 weeks: the line waits for its next scan, a bone scan, its
    # baseline (the bone lesion it finds is not new). The liver lesion the next CT finds
    # is new: no baseline scan imaged the liver (RECIST 1.1: a lesion in a location not
    # scanned at baseline is new).
    sizes = {0: [30, 20, 0, 0], 50: [30, 20, 0, 11], 60: [30, 20, 0, 11],
             84: [30, 20, 12, 11], 168: [30, 26, 12, 11]}
    visits = [(0, [(CT_CAP, [1])]), (50, [(BONE_SCAN, [3])]), (60, [(BONE_SCAN, [3])]),
              (84, [(CT_CAP, [1, 2, 3])]), (168, [(CT_CAP, [1, 2, 3])])]
    got, targets = _read(organ, sizes, visits, lines=(29,))
    assert targets == [1, 2, 3] and got == [(84, "new_lesion", None)]  # (no target yet)
    # Its next scan a CT: the CT is its baseline, and what it finds is not new.
    got, targets = _read(organ, sizes, [visits[0], *visits[3:]], lines=(29,))
    assert targets == [1, 2, 3] and got == []  # (26 + 12 + 11 < 1.2 x 43)
    # A bone scan within 4 weeks is a baseline for new lesions (no target: it measures
    # none; the line's targets come from its next CT): a clinic of bone scans alone
    # sees progression on therapy (it saw none once a line had started).
    bones = ["breast", "vertebral_marrow", "liver", "vertebral_marrow"]
    grown = {0: [30, 0, 0, 11], 56: [30, 6, 0, 11]}
    got, targets = _read(bones, grown, [(0, [(BONE_SCAN, [3])]), (56, [(BONE_SCAN, [1, 3])])],
                         lines=(0,))
    assert got == [(56, "new_lesion", None)] and targets == []
    # Before the line the first scan is the baseline: the bone lesion is new. The line
    # from day 55 has day 50's bone scan as its baseline: the liver, which it does not
    # image, holds a new lesion at day 84's CT.
    got, targets = _read(organ, sizes, visits, lines=(55,))
    assert targets == [1, 2, 3] and got == [(50, "new_lesion", None), (84, "new_lesion", None)]


def test_schedule_days_are_the_days_a_person_writes():
    """Every 0.1 weeks from day 367 gave 367.69999999999999 for 367.7, and a line from
    day 395.7 (exactly 4 weeks after it) found no baseline scan within 4 weeks."""
    from metacascade.scenario import schedule_days

    days = schedule_days(367.0, 0.1, None, 370.0)
    assert days == [367.0, 367.7, 368.4, 369.1, 369.8]
    assert schedule_days(365.0, 12, None, 3652.5)[:3] == [365.0, 449.0, 533.0]
