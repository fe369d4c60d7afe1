"""The batched clinic: follow_batch against follow, patient by patient.

Where the clinic draws nothing random (no scans, no draws; therapy on a fixed day that
keeps no founding and meets no resistance) the two give the same numbers. The CTC counts
are checked in mean against follow's closed-form Poisson mean with a two-sided Poisson
test at ALPHA = 0.001, Bonferroni over the draws (seen to fail with every mean 20% high).
"""

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from metacascade import simulate
from metacascade.clinic.batch import follow_batch
from metacascade.clinic.biopsy import expected_ctc
from metacascade.clinic.course import (
    OBSERVATION_COLUMNS,
    circulation_for,
    follow,
    shedding_by_entry,
)
from metacascade.cohort import load_population
from metacascade.engine.batch_result import as_batch
from metacascade.engine.kernel import simulate as simulate_seeded
from metacascade.engine.limits import EngineError
from metacascade.errors import ParameterError, ScenarioError
from metacascade.physiology import get_body
from metacascade.scenario import Scenario

ALPHA = 0.001
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NEUTRAL_SOILS = dict.fromkeys(get_body("adult_female").beds, 1.0)
#: Primary diameters, mm: deaths spread over the ten years (and some after therapy).
DIAMETERS = (18.0, 24.0, 30.0, 36.0, 42.0)


def _scenario(seed: int, diameter: float, clinic: dict) -> Scenario:
    return Scenario.from_dict({"cancer": "breast", "seed": seed, "horizon_years": 10,
                               "primary_diameter_mm": diameter, "clinic": clinic,
                               "cancer_overrides": {"soil": NEUTRAL_SOILS}})


@cache
def _results() -> tuple:
    return tuple(simulate(_scenario(seed, d, {})) for seed, d in enumerate(DIAMETERS, 1))


def _batch(clinic: dict, seed: int = 0):
    scenarios = [_scenario(s, d, clinic) for s, d in enumerate(DIAMETERS, 1)]
    results = _results()
    return results, scenarios, follow_batch(results, scenarios, np.random.default_rng(seed))


@cache
def _trial(n: int = 6) -> tuple:
    population = load_population(EXAMPLES / "virtual_trial_breast.yaml")
    scenarios, results = [], []
    for i in range(n):
        scenario, seed, _ = population.patient(3, i)
        scenarios.append(scenario)
        results.append(simulate_seeded(scenario, seed=seed))
    return tuple(results), tuple(scenarios)


def _same_course(a, b) -> None:
    assert a.death_day == b.death_day and a.death_cause == b.death_cause
    assert a.eradicated == b.eradicated and a.prevented == b.prevented
    np.testing.assert_allclose(a.final_cells, b.final_cells, rtol=1e-12, atol=0.0)


def test_no_scans_no_draws_gives_follows_deaths_exactly():
    results, scenarios, batch = _batch({})
    causes = []
    for i, (result, scenario) in enumerate(zip(results, scenarios, strict=True)):
        expected = follow(result, scenario)
        got = batch.course(i)
        _same_course(expected, got)
        pd.testing.assert_frame_equal(expected.observations, got.observations)
        causes.append(got.death_cause)
    assert causes.count("total") >= 2 and None in causes  # deaths, and a survivor


def test_a_history_ended_after_death_changes_nothing_and_one_ended_in_life_is_refused():
    """``BatchResult.history_end`` (the engine's colony limit): a patient dead by then is
    followed as before; one alive after it (or ended before its death) is named."""
    results, scenarios, batch = _batch({})
    flat = as_batch(list(results))
    dead = ~np.isnan(batch.death_day)
    assert dead.any() and not dead.all()
    end = np.where(dead, batch.death_day, np.inf)
    ended = dataclasses.replace(flat, history_end=end)
    again = follow_batch(ended, scenarios, np.random.default_rng(0))
    for i in range(len(scenarios)):
        _same_course(batch.course(i), again.course(i))
    alive = int(np.flatnonzero(~dead)[0])
    early = end.copy()
    early[alive] = 3000.0
    with pytest.raises(EngineError, match=rf"^patient {alive}: more than \d+ colonies "
                                          r"founded by day 3000 \(year 8.2\)"):
        follow_batch(dataclasses.replace(flat, history_end=early), scenarios,
                     np.random.default_rng(0))
    first = int(np.flatnonzero(dead)[0])
    early = end.copy()
    early[first] = batch.death_day[first] - 1.0
    with pytest.raises(EngineError, match=rf"^patient {first}: "):
        follow_batch(dataclasses.replace(flat, history_end=early), scenarios,
                     np.random.default_rng(0))


def test_fixed_therapy_without_randomness_gives_follows_numbers():
    # ctc_survival 0 keeps no founding (q = 0), resistant_fraction 0 meets no resistance.
    # A low lethal burden and a weak kill: some patients die under therapy.
    clinic = {"lethal_burden_cells": 3e11, "therapy": {"start_day": 1200, "lines": [
        {"kind": "cytotoxic", "kill_rate": 0.0003, "resistant_fraction": 0.0,
         "ctc_survival": 0.0}]}}
    results, scenarios, batch = _batch(clinic)
    dead_treated, eradicated = 0, 0
    for i, (result, scenario) in enumerate(zip(results, scenarios, strict=True)):
        expected = follow(result, scenario)
        got = batch.course(i)
        _same_course(expected, got)
        assert expected.therapy == got.therapy
        pd.testing.assert_frame_equal(expected.observations, got.observations)
        np.testing.assert_array_equal(got.cells_at(result, 1500.0),
                                      expected.cells_at(result, 1500.0))
        dead_treated += got.death_day is not None and got.death_day > 1200
        eradicated += len(got.eradicated)
    assert eradicated > 0 and dead_treated >= 1


def test_same_rng_state_same_bytes_and_valid_courses():
    results, scenarios = _trial()
    one = follow_batch(results, scenarios, np.random.default_rng(5))
    two = follow_batch(results, scenarios, np.random.default_rng(5))
    pd.testing.assert_frame_equal(one.observations, two.observations)
    pd.testing.assert_frame_equal(one.therapy, two.therapy)
    np.testing.assert_array_equal(one.final_cells, two.final_cells)
    other = follow_batch(results, scenarios, np.random.default_rng(6))
    assert not one.observations.equals(other.observations)
    assert list(one.observations["patient"].unique()) == list(range(len(results)))
    for i, result in enumerate(results):
        course = one.course(i)
        obs = course.observations
        assert tuple(obs.columns) == OBSERVATION_COLUMNS
        assert obs["time_days"].is_monotonic_increasing
        assert course.end_day == (course.death_day or course.horizon_days)
        assert len(course.final_cells) == 1 + len(result.raw.founded)
        assert course.detected <= set(range(len(course.final_cells)))
        if course.therapy:
            assert course.therapy[0].start_day >= (course.first_detection_day or 0.0)
        course.summary()
    single = follow_batch(results[:1], scenarios[:1], np.random.default_rng(5)).course(0)
    assert single.observations["kind"].isin({"scan", "draw", "stage", "progression",
                                             "therapy", "death"}).all()


def test_progression_is_counted_after_the_first_line_and_draws_keep_their_volume():
    """The batch's progression was the first of all, the scan that found M1 and started
    therapy (as follow's was); a count's volume was not kept, for the cut-off."""
    results, scenarios = _trial()
    extra = [{"every_weeks": 6, "start_day": 365, "volume_ml": 20.0},
             {"every_weeks": 12, "start_day": 400, "site": "tumour_vein", "volume_ml": 10.0}]
    changed = []
    for scenario in scenarios:
        data = scenario.to_dict()
        data["clinic"]["draws"] = [*data["clinic"]["draws"], *extra]
        changed.append(Scenario.from_dict(data))
    schedules = changed[0].clinic.draws
    batch = follow_batch(results, changed, np.random.default_rng(4))
    progressed = 0
    for i in range(len(results)):
        course = batch.course(i)
        obs = course.observations
        rows = obs[obs["kind"] == "progression"]["time_days"]
        assert course.therapy and rows.iloc[0] == course.therapy[0].start_day
        after = rows[rows > course.therapy[0].start_day]
        expected = float(after.iloc[0]) if len(after) else None
        assert course.progression_day == expected
        assert (np.nan if expected is None else expected) == pytest.approx(
            batch.progression_day[i], nan_ok=True)
        progressed += expected is not None
        draws = course.draws()
        for t, group in draws.groupby("time_days", sort=False):
            drawn = [d for d in schedules
                     if t >= d.start_day and (t - d.start_day) % (7 * d.every_weeks) == 0]
            assert group["volume_ml"].tolist() == [d.volume_ml for d in drawn]
            assert group["site"].tolist() == [d.site for d in drawn]
        vein = draws[draws["site"] != "arm_vein"]
        assert len(vein) and vein["unfavourable"].isna().all()
    assert progressed >= 3


def test_a_clinic_not_shared_is_refused_naming_the_field():
    results = _results()[:2]
    scenarios = [_scenario(s, d, {"scans": [{"modality": "ct", "every_weeks": w}]})
                 for s, d, w in ((1, DIAMETERS[0], 12.0), (2, DIAMETERS[1], 8.0))]
    with pytest.raises(ParameterError, match=r"clinic\.scans\.0\.every_weeks"):
        follow_batch(results, scenarios, np.random.default_rng(0))
    longer = Scenario.from_dict({**scenarios[0].model_dump(exclude_none=True),
                                 "horizon_years": 11})
    with pytest.raises(ParameterError, match="horizon_years"):
        follow_batch([results[0], simulate(longer)], [scenarios[0], longer],
                     np.random.default_rng(0))
    results, scenarios = _trial(2)
    # The regimens' effects may differ (the trial samples the resistant fraction).
    assert (scenarios[0].clinic.therapy.lines[0].resistant_fraction
            != scenarios[1].clinic.therapy.lines[0].resistant_fraction)


def test_scenarios_are_taken_and_refused_as_follow_takes_and_refuses_them():
    """Plain data as well as Scenario objects (a dict was "'dict' object has no attribute
    'clinic'"); a scenario other than the one simulated (but for its clinic) is refused,
    as follow refuses it (it was followed)."""
    clinic = {"scans": [{"modality": "ct", "every_weeks": 26}]}
    results, scenarios, batch = _batch(clinic)  # (simulated without the clinic)
    plain = follow_batch(as_batch(results), [s.to_dict() for s in scenarios],
                         np.random.default_rng(0))
    pd.testing.assert_frame_equal(plain.observations, batch.observations)
    np.testing.assert_array_equal(plain.death_day, batch.death_day)
    other = Scenario.from_dict({"cancer": "colon", "horizon_years": 10, "clinic": clinic})
    for given, needle in [
            (other, r"cancer 'colon' is not {}'s \('breast'\)"),
            (scenarios[2], r"primary_diameter_mm 30\.0 is not {}'s \(24\.0\)")]:
        with pytest.raises(ScenarioError, match="^scenario: " + needle.format(
                "the simulated patient")):
            follow(results[1], given)
        with pytest.raises(ScenarioError, match=r"^scenarios\[1\]: " + needle.format(
                "simulated patient 1") + r"; follow or write a result with the scenario"):
            follow_batch(results, [scenarios[0], given.to_dict(), *scenarios[2:]],
                         np.random.default_rng(0))
    for given, needle in [
            (scenarios[0], r"^scenarios: expected a list of scenarios \(one per result\), "
                           r"not Scenario$"),
            (iter(scenarios), r"^scenarios: expected a list of scenarios"),
            ([3] * len(scenarios), r"^scenarios\[0\]: expected a Scenario or a mapping of "
                                   r"its fields")]:
        with pytest.raises(ScenarioError, match=needle):
            follow_batch(results, given, np.random.default_rng(0))


def test_ctc_counts_have_follows_poisson_mean():
    clinic = {"draws": [{"every_weeks": 26, "start_day": 700},
                        {"every_weeks": 52, "start_day": 900, "site": "tumour_vein"}]}
    result, scenario = _results()[0], _scenario(1, DIAMETERS[0], clinic)
    copies = 300
    batch = follow_batch([result] * copies, [scenario] * copies, np.random.default_rng(2))
    circulation = circulation_for(scenario)
    obs = batch.observations
    draws = obs[obs["kind"] == "draw"]
    assert len(draws) > 0
    for (t, site), group in draws.groupby(["time_days", "name"]):
        mean = float(expected_ctc(shedding_by_entry(result, t)[None, :], circulation,
                                  draw_site=site)[0])
        total, n = int(group["value"].sum()), len(group)
        p = 2 * min(poisson.cdf(total, n * mean), poisson.sf(total - 1, n * mean))
        assert p > ALPHA / draws.groupby(["time_days", "name"]).ngroups, (t, site, total,
                                                                          n * mean)


def test_deaths_skip_lesions_founded_after_the_grid_with_the_same_numbers(monkeypatch):
    """The death grid computes no cells of a patient's lesions after the last one founded
    by its last time (``_founded_by``); the courses are those of computing every lesion,
    to the byte (the burdens still add the zeros). Seen to fail with the lesions cut at
    a piece's first time instead of its last."""
    from metacascade.clinic import _deaths

    results, scenarios, batch = _batch({})
    assert (~np.isnan(batch.death_day)).sum() >= 2
    spans = []
    founded_by = _deaths._founded_by

    def spy(founded, bounds, day):
        ends = founded_by(founded, bounds, day)
        spans.append((int((ends - bounds[:-1]).sum()), int(bounds[-1] - bounds[0])))
        return ends

    monkeypatch.setattr(_deaths, "_founded_by", spy)
    follow_batch(results, scenarios, np.random.default_rng(0))
    assert any(computed < total for computed, total in spans)  # lesions were skipped
    monkeypatch.setattr(_deaths, "_founded_by", lambda founded, bounds, day: bounds[1:])
    every = follow_batch(results, scenarios, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.death_day, every.death_day)
    np.testing.assert_array_equal(batch.death_cause, every.death_cause)
    pd.testing.assert_frame_equal(batch.observations, every.observations, check_exact=True)
    np.testing.assert_array_equal(batch.final_cells, every.final_cells)
