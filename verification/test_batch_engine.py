"""Long check: the batched engine against the per-patient kernel, over many patients.

Five cases: ``neutral`` (neutral soils, colonies plentiful, seeding up to three
generations), ``dormancy`` (30% clusters, many dormant cells that wake or die, three
ledger records), ``sleepers`` (single cells only, 30% of those that extravasate made
dormant: the primary's dormant cells, whose deaths the batch engine draws as Poisson
counts at the records, fill the pool), ``trial`` (the heterogeneous patients of
``tests/data/virtual_trial_lung_spread.yaml``, the virtual trial with a lung soil 15
times the calibrated one, over six years) and ``faster_colonies`` (those of
``examples/virtual_trial_breast.yaml``, whose metastases double in the tumour's doubling
time at 1e9 cells, ``doubling_reference_cells``: small colonies grow 2.5 times faster
than the primary, and the Gompertz alpha of a vascular colony is the colony's, not the
primary's). For the first three the kernel runs one model N_RUNS times (``kernel.run``
on spawned seeds) and the batch runs N_RUNS copies of it in one call; for the two
populations the kernel runs patients 0 .. N-1 one by one and the batch runs patients
N .. 2N-1 in one call (two independent samples of the population's mixture of models).

Statistics, one two-sample p-value each: everything ``engine.comparison.compare`` gives
(cell fates and colonies by organ, route and generation; every whole-body total;
colonies per patient; day of the first colony), the founding-day and switch-wait
distributions (Kolmogorov-Smirnov on each patient's median, so that patients are the
independent units), colonies founded by woken cells per patient and the generation
histogram, and every counter (shed, died in blood, arrested, failed, died after
extravasation, woke, extinct, dormant) at every ledger record (Mann-Whitney).

The family-wise significance is ALPHA = 0.01, Bonferroni-corrected over every (case,
statistic) pair (245 tests; the permutation tests use 29,999 permutations so that their
smallest p-value, 3.3e-5, is below the threshold of 4.1e-5). About 70 s.

Checked to fail (by hand, then restored): with woken cells founding their colony in the
next organ (organ index + 1) instead of their own, 9 of the 139 tests of the first three
cases failed (smallest p-values 2.0e-5, dormant cells at the last record in ``neutral``,
and 5e-5, the permutation floor, for colonies by organ in all three cases). In
``sleepers``: the dormant cells' death rate taken 30% too low between their arrival and
the next record, for the primary's single cells (drawn as Poisson counts) or for the
cells that arrive in compound numbers (clusters, colonies' cells), fails 3 and 4 tests
(dormant cells and deaths after extravasation at the first records); cells that will
wake counted from the start of their arrival step instead of its end fails 8 (wakings,
extinctions, colonies founded by woken cells). ``neutral`` and ``dormancy`` alone caught
neither death-rate break: colonies' dormant cells, whose numbers vary widely between
patients, fill their pools. With the batch's Gompertz alpha taken from the primary's rate
instead of the colony's (``BatchPlan.alpha``; it only sets how fast vascular colonies
shed), ``faster_colonies`` fails; the other four cases, where the two rates are equal,
cannot see it.
"""

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from metacascade.cohort.population import load_population
from metacascade.engine import kernel
from metacascade.engine.batch import simulate_batch
from metacascade.engine.comparison import (
    STATISTICS,
    Replicates,
    compare,
    mann_whitney,
    permutation_chi2,
)
from metacascade.engine.compile import compile_scenario
from metacascade.engine.result import ARRESTED, DIED_AFTER, EXTINCT, FAILED, WOKE
from metacascade.physiology import get_body
from metacascade.random import make_rng, spawn_seeds
from metacascade.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
#: The populations of the cases ``trial`` (the trial example as it was, with its lung
#: spread) and ``faster_colonies`` (the trial example: doubling_reference_cells 1e9).
POPULATIONS = {"trial": ROOT / "tests" / "data" / "virtual_trial_lung_spread.yaml",
               "faster_colonies": ROOT / "examples" / "virtual_trial_breast.yaml"}

pytestmark = pytest.mark.slow

ALPHA = 0.01
N_RUNS = 400
PERMUTATIONS = 29_999
SOILS = dict.fromkeys(get_body("adult_female").beds, 1.0)
SEED = {"kernel": 1, "batch": 2, "permutations": 3, "population": 4}
COUNTERS = {"shed": None, "died_in_blood": None, "arrested": ARRESTED, "failed": FAILED,
            "died_after": DIED_AFTER, "woke": WOKE, "extinct": EXTINCT, "dormant": None}


def _breast(horizon_years, primary_diameter_mm, step_days, divide, dormant, wake, **replace):
    model = compile_scenario(Scenario.from_dict({
        "cancer": "breast", "horizon_years": horizon_years,
        "primary_diameter_mm": primary_diameter_mm, "step_days": step_days,
        "cancer_overrides": {"soil": SOILS},
        "cascade_overrides": {"divide_after_extravasation": divide,
                              "dormant_after_extravasation": dormant, "wake_rate": wake},
    }))
    return dataclasses.replace(model, primary_capacity_cells=model.primary_cells0, **replace)


def _neutral():
    """Neutral soils: some 30 colonies per patient, seeding up to three generations."""
    return _breast(1.2, 0.5, 7.0, 0.003, 0.01, 0.002, growth_rate_per_day=0.05,
                   avascular_cells=1e4, switch_rate_per_day=0.05,
                   metastasis_capacity_cells=1e5)


def _sleepers():
    """Single cells only, many of them dormant, over 3 years: the primary's sleepers."""
    return _breast(3.0, 0.5, 14.0, 0.00005, 0.3, 0.0005, dormant_death_rate_per_day=0.003,
                   embolus_share=np.array([0.5, 0.0, 0.5]), growth_rate_per_day=0.01,
                   avascular_cells=1e4, switch_rate_per_day=0.02,
                   metastasis_capacity_cells=1e5)


def _dormancy():
    """Clusters (30%) and many dormant cells that wake or die, over 2.2 years."""
    return _breast(2.2, 0.06, 10.0, 0.0005, 0.3, 0.02, growth_rate_per_day=0.03,
                   avascular_cells=1e4, switch_rate_per_day=0.02,
                   metastasis_capacity_cells=1e5, dormant_death_rate_per_day=0.01,
                   embolus_share=np.array([0.5, 0.2, 0.3]))


@cache
def _population_models(case, first, count):
    population = load_population(POPULATIONS[case])
    return [compile_scenario(population.patient(SEED["population"], i)[0])
            for i in range(first, first + count)]


CASES = {"neutral": _neutral, "dormancy": _dormancy, "sleepers": _sleepers}


@cache
def _results(case, engine):
    if case in POPULATIONS:
        models = _population_models(case, 0 if engine == "kernel" else N_RUNS, N_RUNS)
    else:
        models = [CASES[case]()] * N_RUNS
    if engine == "kernel":
        return [kernel.run(m, s) for m, s in
                zip(models, spawn_seeds(SEED["kernel"], N_RUNS), strict=True)]
    return simulate_batch(models, make_rng(SEED["batch"]))


def _medians(results, values):
    out = [np.median(values(r.raw)) for r in results if len(r.raw.organ)]
    return np.array(out)


def _extra(a, b, rng):
    """The statistics ``compare`` does not give."""
    out = {
        "founding_day": stats.ks_2samp(_medians(a, lambda c: c.founded),
                                       _medians(b, lambda c: c.founded)).pvalue,
        "switch_wait": stats.ks_2samp(_medians(a, lambda c: c.switch - c.founded),
                                      _medians(b, lambda c: c.switch - c.founded)).pvalue,
        "colonies_via_woke": mann_whitney(*(np.array([r.raw.via.sum() for r in x], dtype=float)
                                            for x in (a, b))),
        "generations": permutation_chi2(
            *(np.array([np.bincount(np.minimum(r.raw.generation, 4), minlength=5)[1:]
                        for r in x], dtype=float) for x in (a, b)),
            rng=rng, permutations=PERMUTATIONS),
    }
    for i in range(len(a[0].raw.snapshots)):
        for name, column in COUNTERS.items():
            def value(r, i=i, name=name, column=column):
                s = r.raw.snapshots[i]
                if column is not None:
                    return float(s.counters[:, column].sum())
                return float({"shed": s.shed, "died_in_blood": s.died,
                              "dormant": s.dormant_now.sum()}[name])
            out[f"{name}@{i}"] = mann_whitney(np.array([value(r) for r in a]),
                                              np.array([value(r) for r in b]))
    return {k: float(v) for k, v in out.items()}


@cache
def _run(case):
    a, b = _results(case, "kernel"), _results(case, "batch")
    rng = make_rng(SEED["permutations"])
    p = compare(Replicates.of(a), Replicates.of(b), rng=rng, permutations=PERMUTATIONS)
    return p | _extra(a, b, rng)


RECORDS = {"neutral": 2, "dormancy": 3, "sleepers": 3, "trial": 6, "faster_colonies": 6}
EXTRA = ("founding_day", "switch_wait", "colonies_via_woke", "generations")
TESTS = [(case, statistic) for case, records in RECORDS.items()
         for statistic in (*STATISTICS, *EXTRA,
                           *(f"{name}@{i}" for i in range(records) for name in COUNTERS))]
THRESHOLD = ALPHA / len(TESTS)


@pytest.mark.parametrize(("case", "statistic"), TESTS)
def test_batch_matches_kernel(case, statistic):
    assert _run(case)[statistic] > THRESHOLD


def test_the_cases_are_not_degenerate():
    """Colonies, second generations, woken founders and vascular colonies all occur."""
    for case in RECORDS:
        results = _results(case, "kernel")
        assert len(results[0].raw.snapshots) == RECORDS[case]
        assert np.mean([len(r.raw.organ) for r in results]) > 10
        assert max(r.raw.generation.max(initial=0) for r in results) >= 2
        assert sum(r.raw.via.sum() for r in results) > 50
    # faster_colonies: a colony's rate is not the primary's (the point of the case).
    assert all(m.colony_rate_per_day > 2 * m.growth_rate_per_day
               for m in _population_models("faster_colonies", 0, N_RUNS))
