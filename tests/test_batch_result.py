"""BatchResult: the batch engine's flat columns, and the clinic and tables read from them.

``run_batch`` and ``simulate_batch`` make the same draws, so the per-patient results of
one equal the other's byte for byte; the batch clinic and the cohort tables give the same
numbers from a BatchResult as from the per-patient results (the path cohorts take).
"""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacascade.clinic.batch import follow_batch
from metacascade.cohort import load_population
from metacascade.cohort.tables import batch_columns, cohort_tables
from metacascade.engine.batch import run_batch, simulate_batch
from metacascade.engine.batch_result import as_batch
from metacascade.engine.compile import compile_scenario
from metacascade.engine.kernel import EngineError
from metacascade.errors import ParameterError

TRIAL = Path(__file__).resolve().parent.parent / "examples" / "virtual_trial_breast.yaml"
COLUMNS = ("organ", "parent", "generation", "founded", "w", "switch", "via", "surface")


@cache
def _drawn(n: int = 12) -> tuple:
    population = load_population(TRIAL)
    drawn = [population.patient(3, i) for i in range(n)]
    return population, drawn, tuple(compile_scenario(d[0]) for d in drawn)


def _same_result(a, b) -> None:
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(a.raw, name), getattr(b.raw, name))
        assert getattr(a.raw, name).dtype == getattr(b.raw, name).dtype
    assert len(a.raw.snapshots) == len(b.raw.snapshots)
    for s, t in zip(a.raw.snapshots, b.raw.snapshots, strict=True):
        assert (s.t_days, s.shed, s.died, s.colonies) == (t.t_days, t.shed, t.died, t.colonies)
        np.testing.assert_array_equal(s.counters, t.counters)
        np.testing.assert_array_equal(s.dormant_now, t.dormant_now)
    assert a.provenance == b.provenance
    assert a.primary_cells_end == b.primary_cells_end


def test_run_batch_results_equal_simulate_batch():
    _, drawn, models = _drawn()
    seeds = [d[1] for d in drawn]
    batch = run_batch(models, np.random.default_rng(4), seeds=seeds)
    listed = simulate_batch(models, np.random.default_rng(4), seeds=seeds)
    assert len(batch) == len(models)
    assert batch.offsets[0] == 0 and batch.offsets[-1] == batch.colonies["organ"].size
    np.testing.assert_array_equal(batch.counts, [len(r.raw.organ) for r in listed])
    assert batch.counts.sum() > 0
    for i, result in enumerate(listed):
        _same_result(batch.result(i), result)
    # Back and forth: as_batch of the per-patient results gives the same columns.
    again = as_batch(listed)
    np.testing.assert_array_equal(again.offsets, batch.offsets)
    for name in COLUMNS:
        np.testing.assert_array_equal(again.colonies[name], batch.colonies[name])
    assert as_batch(batch) is batch


def test_clinic_and_tables_same_from_batch_result_and_results():
    population, drawn, models = _drawn()
    scenarios = [d[0] for d in drawn]
    batch = run_batch(models, np.random.default_rng(5), seeds=[d[1] for d in drawn])
    listed = batch.results()
    flat = follow_batch(batch, scenarios, np.random.default_rng(6))
    per = follow_batch(listed, scenarios, np.random.default_rng(6))
    pd.testing.assert_frame_equal(flat.observations, per.observations)
    np.testing.assert_array_equal(flat.final_cells, per.final_cells)
    np.testing.assert_array_equal(flat.death_day, per.death_day)
    tables = [cohort_tables(scenarios, [d[1] for d in drawn], [d[2] for d in drawn],
                            range(len(drawn)), source, batch_columns(course),
                            population.parameter_names())
              for source, course in ((batch, flat), (listed, per))]
    for a, b in zip(*tables, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert len(tables[0][1]) > 0  # some colonies are kept in the colonies table


def test_out_of_order_colonies_are_detected_per_patient():
    """A patient whose colonies are not in founding order is flagged; its neighbours not."""
    from metacascade.clinic._lesions import Lesions, check_shared

    _, drawn, models = _drawn()
    scenarios = [d[0] for d in drawn][:3]
    batch = run_batch(models[:3], np.random.default_rng(7))
    assert (batch.counts >= 2).all()
    founded = batch.colonies["founded"].copy()
    a = int(batch.offsets[1])
    founded[a], founded[a + 1] = founded[a + 1] + 1.0, founded[a]  # patient 1 only
    columns = dict(batch.colonies, founded=founded)
    shuffled = type(batch)(batch.models, batch.seeds, batch.engine, batch.offsets, columns,
                           batch.snapshots, batch.primary_cells_end)
    lesions = Lesions(shuffled, scenarios, check_shared(shuffled, scenarios))
    original = Lesions(batch, scenarios, check_shared(batch, scenarios))
    assert original.bounded.tolist() == [True, True, True]
    assert lesions.bounded.tolist() == [True, False, True]


def test_refusals():
    _, drawn, models = _drawn()
    with pytest.raises(EngineError, match="models"):
        run_batch([], np.random.default_rng(0))
    assert simulate_batch([], np.random.default_rng(0)) == []
    batch = run_batch(models[:2], np.random.default_rng(0))
    with pytest.raises(ParameterError, match="results: 2 results for 3 scenarios"):
        follow_batch(batch, [d[0] for d in drawn][:3], np.random.default_rng(0))


def test_the_patients_table_says_where_a_history_ended():
    """``history_end_day``: NaN for a history run to the horizon, else the engine's day."""
    import dataclasses

    population, drawn, models = _drawn()
    scenarios = [d[0] for d in drawn]
    batch = run_batch(models, np.random.default_rng(5), seeds=[d[1] for d in drawn])
    course = follow_batch(batch, scenarios, np.random.default_rng(6))
    dead = np.flatnonzero(~np.isnan(course.death_day))
    assert dead.size and np.isinf(batch.history_end_day).all()
    end = np.full(len(batch), np.inf)
    end[dead[0]] = course.death_day[dead[0]] + 7.0
    ended = dataclasses.replace(batch, history_end=end)
    again = follow_batch(ended, scenarios, np.random.default_rng(6))

    def patients(source, c):
        return cohort_tables(scenarios, [d[1] for d in drawn], [d[2] for d in drawn],
                             range(len(drawn)), source, batch_columns(c),
                             population.parameter_names())[0]

    table = patients(ended, again)
    expected = np.where(np.isinf(end), np.nan, end)
    np.testing.assert_array_equal(table["history_end_day"].to_numpy(), expected)
    before = patients(batch, course)
    assert before["history_end_day"].isna().all()
    pd.testing.assert_frame_equal(table.drop(columns="history_end_day"),
                                  before.drop(columns="history_end_day"))
    # Per-patient results carry it both ways (the per-patient engine's cohorts read it
    # through as_batch).
    results = ended.results()
    assert [r.history_end_day for r in results] == end.tolist()
    np.testing.assert_array_equal(as_batch(results).history_end_day, end)
    assert as_batch(batch.results()).history_end is None
    np.testing.assert_array_equal(
        patients(results, follow_batch(results, scenarios, np.random.default_rng(6))
                 )["history_end_day"].to_numpy(), expected)
