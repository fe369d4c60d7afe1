"""The scaling benchmark counts what it claims to (no timings asserted).

``benchmarks/scaling.py`` runs a population in batches and reports colonies and deaths
per patient, and the shares of colonies and of patient-time after death: checked here
against one batch of the same patients, counted another way.
"""

import numpy as np

from benchmark_helpers import ROOT, load_benchmark
from metacascade.clinic.batch import follow_batch
from metacascade.cohort.population import Population
from metacascade.engine.batch import run_batch
from metacascade.engine.compile import compile_scenario
from metacascade.scenario import read_scenario_file


def test_the_counts_and_shares_after_death_are_those_of_the_batches() -> None:
    bench = load_benchmark("scaling")
    data = read_scenario_file(ROOT / "examples" / "breast_population.yaml")
    data["horizon_years"] = 8
    row, colonies_after, time_after = bench.measure(data, 12, 12, repeats=2)
    # The same 12 patients, streams and clinic as the benchmark's one batch.
    drawn = Population.from_dict(data).patients(1, range(12))
    results = run_batch([compile_scenario(d[0]) for d in drawn], np.random.default_rng(1),
                        seeds=[d[1] for d in drawn])
    course = follow_batch(results, [d[0] for d in drawn], np.random.default_rng(2))
    dead = ~np.isnan(course.death_day)
    assert row["colonies"] == round(float(results.counts.mean()), 1)
    assert row["died"] == round(float(dead.mean()), 3)
    assert 0 < row["died"] < 1  # (else the shares below would test nothing)
    after = 0
    for p in np.flatnonzero(dead):
        after += int((results.colonies["founded"][results.patient == p]
                      > course.death_day[p]).sum())
    assert colonies_after == after / results.counts.sum()
    horizon = 8 * 365.25
    assert np.isclose(time_after, float(np.sum(horizon - course.death_day[dead])) / (12 * horizon))
    assert row["engine_ms"] > 0 and row["clinic_ms"] > 0
