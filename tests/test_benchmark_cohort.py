"""The cohort benchmark's profile measures the run it claims to (no timings asserted).

``benchmarks/cohort.py`` times the draws of one batch through :class:`TimedDraws`, a
stand-in for the batch's ``Generator``: it must draw exactly what the ``Generator``
draws, or the profile would describe another run.
"""

from types import ModuleType

import numpy as np

from benchmark_helpers import ROOT, load_benchmark
from metacascade.clinic.batch import follow_batch
from metacascade.cohort import load_population
from metacascade.engine.batch import run_batch
from metacascade.engine.compile import compile_scenario


def _benchmark() -> ModuleType:
    return load_benchmark("cohort")


def test_timed_draws_are_the_generators_draws() -> None:
    bench = _benchmark()
    totals: dict[str, float] = {}
    timed = bench.TimedDraws(np.random.default_rng(7), totals)
    plain = np.random.default_rng(7)
    n = np.arange(1, 200)
    for draw in (lambda r: r.binomial(n, 0.3), lambda r: r.poisson(n * 0.5),
                 lambda r: r.random(50), lambda r: r.standard_exponential(size=9)):
        assert np.array_equal(draw(timed), draw(plain))
    assert set(totals) == {"binomial", "poisson", "random", "standard_exponential"}
    assert all(v >= 0.0 for v in totals.values())


def test_a_batch_with_timed_draws_is_the_same_batch() -> None:
    bench = _benchmark()
    population = load_population(ROOT / "examples" / "breast_population.yaml")
    drawn = [population.patient(1, i) for i in range(6)]
    models = [compile_scenario(d[0]) for d in drawn]
    seeds = [d[1] for d in drawn]
    scenarios = [d[0] for d in drawn]
    totals: dict[str, float] = {}
    timed = run_batch(models, bench.TimedDraws(np.random.default_rng(1), totals), seeds=seeds)
    plain = run_batch(models, np.random.default_rng(1), seeds=seeds)
    assert np.array_equal(timed.counts, plain.counts)
    assert totals["binomial"] > 0.0 and totals["poisson"] > 0.0
    clinic: dict[str, float] = {}
    a = follow_batch(timed, scenarios, bench.TimedDraws(np.random.default_rng(2), clinic))
    b = follow_batch(plain, scenarios, np.random.default_rng(2))
    assert a.observations.equals(b.observations)
    assert np.array_equal(a.final_cells, b.final_cells)
    assert clinic  # the clinic drew through it


def test_the_warm_up_batch_runs_in_its_own_process() -> None:
    """The warm-up (check=True: a failing batch raises) runs before the timed run."""
    from metacascade import _jit

    if not _jit.ENABLED:
        import pytest

        pytest.skip("the compiled loops are off")
    seconds = _benchmark().warm_compiled_loops(ROOT / "examples" / "breast_population.yaml")
    assert seconds > 0.0
