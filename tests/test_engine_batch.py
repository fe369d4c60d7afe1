"""The batched engine: reproducibility, structure, refusals, a quick check against the kernel.

The quick check compares colonies per organ over 150 kernel runs and 150 batch patients
of one small model (permutation chi-square of the pooled organ table, whole runs
permuted) and colonies per patient (Mann-Whitney), at a family-wise ALPHA = 0.001
(Bonferroni over the two tests). A second quick check compares dormant cells, deaths
after extravasation and wakings at two records (100 runs each, six Mann-Whitney tests at
the same ALPHA); it fails with the dormant cells' death rate 30% low for the primary's
single cells or for clusters, and with wakings counted from the start of the arrival
step. ``verification/test_batch_engine.py`` is the long check.
"""

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from metacascade.cohort.population import load_population
from metacascade.engine import kernel
from metacascade.engine.batch import run_batch, simulate_batch
from metacascade.engine.comparison import mann_whitney, permutation_chi2
from metacascade.engine.compile import compile_scenario
from metacascade.engine.kernel import MAX_COLONIES, EngineError
from metacascade.engine.kernel_plan import kernel_plan
from metacascade.physiology import get_body
from metacascade.random import spawn_seeds
from metacascade.scenario import Scenario

#: The trial example as it was, with its lung spread (tests/data/).
LUNG_SPREAD_TRIAL = (Path(__file__).resolve().parent.parent / "tests" / "data"
                     / "virtual_trial_lung_spread.yaml")

ALPHA = 0.001
N = 150
SOILS = dict.fromkeys(get_body("adult_female").beds, 1.0)


def _breast(horizon_years, primary_diameter_mm, step_days, divide, dormant, wake,
            **replace):
    """The catalog breast cancer with neutral soils and a primary that does not grow."""
    model = compile_scenario(Scenario.from_dict({
        "cancer": "breast", "horizon_years": horizon_years,
        "primary_diameter_mm": primary_diameter_mm, "step_days": step_days,
        "cancer_overrides": {"soil": SOILS},
        "cascade_overrides": {"divide_after_extravasation": divide,
                              "dormant_after_extravasation": dormant, "wake_rate": wake},
    }))
    return dataclasses.replace(model, primary_capacity_cells=model.primary_cells0, **replace)


@cache
def _small():
    """Neutral soils, clusters, dormant cells that wake, colonies that seed again (1.2 y)."""
    return _breast(1.2, 0.2, 7.0, 0.002, 0.05, 0.02, growth_rate_per_day=0.05,
                   avascular_cells=1e4, switch_rate_per_day=0.05,
                   metastasis_capacity_cells=1e5, embolus_share=np.array([0.6, 0.2, 0.2]),
                   dormant_death_rate_per_day=0.01)


def _batch(models, seed=1):
    return simulate_batch(models, np.random.default_rng(seed))


def _raw_bytes(result):
    raw = result.raw
    parts = [getattr(raw, name).tobytes() for name in
             ("organ", "parent", "generation", "founded", "w", "switch", "via", "surface")]
    for s in raw.snapshots:
        parts += [repr((s.t_days, s.shed, s.died, s.colonies)).encode(),
                  s.counters.tobytes(), s.dormant_now.tobytes()]
    return b"".join(parts)


def test_same_seed_same_bytes_other_seed_other_result():
    models = [_small()] * 20
    a, b, c = _batch(models, 5), _batch(models, 5), _batch(models, 6)
    assert [_raw_bytes(r) for r in a] == [_raw_bytes(r) for r in b]
    assert [_raw_bytes(r) for r in a] != [_raw_bytes(r) for r in c]


def test_structure_matches_the_kernel():
    model = _small()
    results = simulate_batch([model] * 30, np.random.default_rng(2), seeds=list(range(30)))
    reference = kernel.run(model, 1)
    assert any(r.raw.generation.max(initial=0) >= 2 for r in results)
    assert any(r.raw.via.sum() > 0 for r in results)
    for i, r in enumerate(results):
        raw = r.raw
        assert r.provenance["engine"] == "kernel-batch"
        assert r.provenance["seed"] == i
        assert [s.t_days for s in raw.snapshots] == [s.t_days for s in reference.raw.snapshots]
        assert r.primary_cells_end == pytest.approx(reference.primary_cells_end, rel=1e-12)
        ids = np.arange(1, len(raw.organ) + 1)
        assert (np.diff(raw.founded) >= 0).all()
        assert ((raw.parent >= 0) & (raw.parent < ids)).all()
        seeded = raw.parent > 0
        expected = np.ones(len(ids), dtype=np.int64)
        expected[seeded] += raw.generation[raw.parent[seeded] - 1]
        assert (raw.generation == expected).all()
        # A parent had switched (was shedding) before its child was founded.
        assert (raw.switch[raw.parent[seeded] - 1] < raw.founded[seeded]).all()
        assert (raw.switch > raw.founded).all()
        assert [s.colonies for s in raw.snapshots][-1] == len(ids)
        led = r.ledger
        assert (led["shed"] == led["died_in_blood"] + led["arrested"]).all()
        by = r.ledger_by_organ
        assert (by["arrested"] == by["failed_extravasation"] + by["died_after_extravasation"]
                + by["dormant_now"] + by["colonies_founded"] + by["colonies_extinct"]).all()
        for column in ("shed", "arrested", "woke", "colonies_founded"):
            assert (led[column].diff().dropna() >= 0).all()


def test_heterogeneous_trial_patients_run():
    population = load_population(LUNG_SPREAD_TRIAL)
    models = [compile_scenario(population.patient(1, i)[0]) for i in range(4)]
    results = _batch(models)
    for model, r in zip(models, results, strict=True):
        assert r.model is model
        assert len(r.raw.organ) > 100
        assert r.primary_cells_end == pytest.approx(kernel.run(model, 0).primary_cells_end)


@pytest.mark.parametrize("field", ["organs", "absorption", "step_days", "horizon_days"])
def test_a_structural_difference_is_named(field):
    model = _small()
    changed = {
        "organs": {"organs": (*model.organs[:-1], "elsewhere")},
        "absorption": {"absorption": model.absorption[:, ::-1]},
        "step_days": {"step_days": 3.0},
        "horizon_days": {"horizon_days": 400.0},
    }[field]
    with pytest.raises(EngineError, match=field):
        _batch([model, model, dataclasses.replace(model, **changed)])


def test_a_patient_past_the_colony_limit_has_its_history_ended(monkeypatch):
    """A patient whose colonies would pass the limit founds none from the start of that
    step on (``history_end``); up to that day its history is the unlimited one's (one
    patient per batch: the same draws until then)."""
    from metacascade.engine import batch

    model = _small()
    free = run_batch([model], np.random.default_rng(1))
    assert np.isinf(free.history_end_day).all() and free.counts[0] > 3
    monkeypatch.setattr(batch, "MAX_COLONIES", 3)
    limited = run_batch([model], np.random.default_rng(1))
    end = float(limited.history_end_day[0])
    assert 0 < end < model.horizon_days and end in set(model.step_bounds()[0].tolist())
    assert limited.counts[0] <= 3
    before = free.colonies["founded"] < end
    assert limited.counts[0] == before.sum() < free.counts[0]
    for name, column in limited.colonies.items():
        np.testing.assert_array_equal(column, free.colonies[name][before], err_msg=name)
    # In a batch, each patient past the limit is ended on its own; the others run on.
    quiet = dataclasses.replace(model, p_divide=np.zeros(model.n_organs),
                                p_dormant=np.zeros(model.n_organs))
    many = run_batch([model, quiet] * 2, np.random.default_rng(1))
    assert MAX_COLONIES > 3 and (many.counts <= 3).all()
    assert np.isfinite(many.history_end_day[::2]).any()
    assert np.isinf(many.history_end_day[1::2]).all() and (many.counts[1::2] == 0).all()
    # Its ledger stops at the last record before the end (every cell keeps one fate).
    one = limited.result(0)
    assert one.history_end_day == end
    ledger = one.ledger.set_index("time_days")
    frozen = ledger[ledger.index > end]
    assert len(frozen) and (frozen == (ledger[ledger.index <= end].iloc[-1]
                                       if (ledger.index <= end).any() else 0)).all().all()
    assert int(ledger["colonies_founded"].iloc[-1]) <= limited.counts[0]


def test_an_ended_patients_colonies_shed_no_more(monkeypatch):
    """From the step after its history ends a patient has no source (its colonies that
    pass their switch later are dropped too); the others' sources stay sorted by key."""
    from metacascade.engine import batch
    from metacascade.engine.batch_plan import BatchPlan

    monkeypatch.setattr(batch, "MAX_COLONIES", 40)
    model = _small()
    plan = BatchPlan([model] * 8)
    state = batch._Batch(plan, np.random.default_rng(5))
    ended_seen = False  # some patients ended, others not, sources out of row order
    for k in range(plan.n_steps):
        state.step(k)
        if k in plan.record_steps:
            state.record(k)
        sources = state.sources
        key = sources.column("key")
        ended = np.isfinite(state.history_end)
        if ended.any() and not ended.all() and (sources.order != np.arange(key.size)).any():
            ended_seen = True
        assert not ended[key // plan.n_entries].any(), k
        np.testing.assert_array_equal(sources.order, np.argsort(key, kind="stable"))
        np.testing.assert_array_equal(sources.offsets, np.concatenate(
            [[0], np.cumsum(np.bincount(key, minlength=plan.P * plan.n_entries))]))
        assert sources.sized <= sources.n
    assert ended_seen and (state.colonies <= 40).all()


def test_a_batch_past_its_colony_budget_is_stopped(monkeypatch):
    """A batch whose colonies would pass MAX_BATCH_COLONIES stops with BatchTooLarge (an
    EngineError) at the step where they would; under the budget nothing changes."""
    from metacascade.engine import batch
    from metacascade.engine.limits import MAX_BATCH_COLONIES, MAX_COLONIES, BatchTooLarge

    assert MAX_BATCH_COLONIES >= MAX_COLONIES  # (one patient always fits)
    model = _small()
    free = run_batch([model] * 3, np.random.default_rng(1))
    total = int(free.counts.sum())
    assert total > 10
    monkeypatch.setattr(batch, "BATCH_COLONIES_PER_PATIENT", 0)
    monkeypatch.setattr(batch, "MAX_BATCH_COLONIES", total)
    same = run_batch([model] * 3, np.random.default_rng(1))
    for name, column in same.colonies.items():
        np.testing.assert_array_equal(column, free.colonies[name], err_msg=name)
    monkeypatch.setattr(batch, "MAX_BATCH_COLONIES", total - 1)
    with pytest.raises(BatchTooLarge, match=(
            rf"^the batch's 3 patients would hold more than {total - 1} colonies by day "
            rf"\d+ \(year [\d.]+\), \d+ in all; run fewer patients at once")):
        run_batch([model] * 3, np.random.default_rng(1))
    assert issubclass(BatchTooLarge, EngineError)
    # A larger batch may hold more: BATCH_COLONIES_PER_PATIENT per patient.
    monkeypatch.setattr(batch, "BATCH_COLONIES_PER_PATIENT", total // 3 + 1)
    run_batch([model] * 3, np.random.default_rng(1))


def test_a_horizon_within_a_billionth_of_a_year_runs():
    """One step and one record at the horizon (there was no record, and an IndexError)."""
    model = compile_scenario(Scenario.from_dict({"cancer": "breast", "horizon_years": 1e-9}))
    results = _batch([model] * 3)
    assert [r.ledger["time_days"].tolist() for r in results] == [[365.25e-9]] * 3


@pytest.mark.parametrize("rng", [1, np.int64(1), True, None, "1", np.random.RandomState(1),
                                 np.random])
def test_an_rng_that_is_no_generator_is_named(rng):
    """run_batch and follow_batch name rng (an int was an AttributeError: no 'poisson')."""
    from metacascade.clinic.batch import follow_batch
    from metacascade.errors import MetacascadeError

    name = type(rng).__name__
    needle = (r"^rng: expected a numpy Generator \(such as np.random.default_rng\(seed\)\), "
              rf"not {name}$")
    model = compile_scenario(Scenario.from_dict({"cancer": "breast", "horizon_years": 0.05}))
    with pytest.raises(MetacascadeError, match=needle):
        run_batch([model] * 2, rng)
    with pytest.raises(MetacascadeError, match=needle):
        simulate_batch([model] * 2, rng)
    batch = run_batch([model] * 2, np.random.default_rng(1))
    scenarios = [Scenario.from_dict(model.scenario)] * 2
    with pytest.raises(MetacascadeError, match=needle):
        follow_batch(batch, scenarios, rng)
    follow_batch(batch, scenarios, np.random.default_rng(2))  # (a Generator runs)


def test_explosive_shedding_is_refused():
    model = dataclasses.replace(_small(), shedding_per_cell_per_day=1e14)
    with pytest.raises(EngineError, match="patient 1: shedding"):
        _batch([_small(), model])


def test_mean_colonies_per_organ_agree_with_the_kernel():
    model = _small()
    runs = [kernel.run(model, s) for s in spawn_seeds(11, N)]
    batch = _batch([model] * N, seed=12)

    def by_organ(results):
        return np.array([np.bincount(r.raw.organ, minlength=model.n_organs)
                         for r in results], dtype=float)

    a, b = by_organ(runs), by_organ(batch)
    assert a.sum() > 20 * N  # colonies are plentiful
    p_organs = permutation_chi2(a, b, rng=np.random.default_rng(13), permutations=4999)
    p_totals = mann_whitney(a.sum(axis=1), b.sum(axis=1))
    assert min(p_organs, p_totals) > ALPHA / 2


def test_per_patient_primary_shedding_is_the_kernels():
    from metacascade.engine.batch_plan import BatchPlan
    from metacascade.engine.compile import EXPONENTIAL, GOMPERTZ, POWER

    base = dataclasses.replace(_small(), primary_capacity_cells=1e9, growth_rate_per_day=0.01)
    models = [dataclasses.replace(base, growth_law=law, growth_exponent=b,
                                  primary_removed_day=removed)
              for law, b, removed in [(EXPONENTIAL, 1.0, np.inf), (GOMPERTZ, 1.0, 200.0),
                                      (POWER, 0.75, np.inf), (POWER, 1.0, 100.5)]]
    plan = BatchPlan(models)
    for i, model in enumerate(models):
        expected = kernel_plan(model).primary_expected
        np.testing.assert_allclose(plan.primary_expected[i], expected, rtol=1e-12)
        assert plan.primary_cells_end[i] == pytest.approx(kernel_plan(model).primary_cells_end)


@pytest.mark.parametrize("reference_cells", [0.0, 1e9])
def test_per_patient_vascular_colony_sizes_are_the_kernels(reference_cells):
    """The plan's Gompertz sizes (what sources shed from) are growth.vascular_cells'.

    With ``doubling_reference_cells`` above the avascular limit a colony's rate differs
    from the primary's (``colony_rate_per_day``); the kernel's alpha is the colony's.
    """
    from metacascade.engine.batch_plan import BatchPlan
    from metacascade.engine.growth import vascular_cells

    base = compile_scenario(Scenario.from_dict({"cancer": "breast"}))
    models = [dataclasses.replace(base, doubling_reference_cells=reference_cells,
                                  growth_rate_per_day=rate)
              for rate in (base.growth_rate_per_day, 2 * base.growth_rate_per_day)]
    assert (models[0].colony_rate_per_day != models[0].growth_rate_per_day) == (
        reference_cells > 0)
    plan = BatchPlan(models)
    switch = np.array([100.0, 250.0, 900.0])
    for p, model in enumerate(models):
        for t in (300.0, 1000.0, 3000.0):
            np.testing.assert_allclose(plan.vascular_cells(np.full(3, p), t, switch),
                                       vascular_cells(model, t, switch), rtol=1e-12)


@cache
def _sleepers():
    """Single cells and clusters, many dormant cells, few colonies (3 y, 3 records)."""
    return _breast(3.0, 0.5, 14.0, 0.00005, 0.3, 0.0005, growth_rate_per_day=0.01,
                   avascular_cells=1e4, switch_rate_per_day=0.02,
                   metastasis_capacity_cells=1e5, embolus_share=np.array([0.5, 0.0, 0.5]),
                   dormant_death_rate_per_day=0.003)


def test_dormant_cells_agree_with_the_kernel():
    """Dormant cells, deaths after extravasation and wakings at the first two records.

    The batch engine draws the dormant cells that will die at the records (Poisson for
    the primary's single cells, binomial for clusters) and the wakings when cells
    arrive; the kernel draws every cohort's events every step. Mann-Whitney per
    statistic, family-wise ALPHA (Bonferroni over the six).
    """
    from metacascade.engine.result import DIED_AFTER, WOKE

    model = _sleepers()
    runs = [kernel.run(model, s) for s in spawn_seeds(21, 100)]
    batch = _batch([model] * 100, seed=22)
    values = {"dormant": lambda s: s.dormant_now.sum(),
              "died_after": lambda s: s.counters[:, DIED_AFTER].sum(),
              "woke": lambda s: s.counters[:, WOKE].sum()}
    assert np.mean([r.raw.snapshots[0].dormant_now.sum() for r in runs]) > 1000
    p = [mann_whitney(*(np.array([get(r.raw.snapshots[i]) for r in x], dtype=float)
                        for x in (runs, batch)))
         for i in range(2) for get in values.values()]
    assert min(p) > ALPHA / len(p)


def test_row_categorical_draws_poisson_counts_per_column():
    """Per row and column, counts from the Poisson total + categorical path and from the
    column-by-column path have the means ``scale * rate`` (chi-square over 2,000 draws,
    ALPHA); skipped columns get nothing."""
    from scipy import stats

    from metacascade.engine.batch_rows import RowCategorical

    rows = np.array([[0.0, 1.0, 2.0, 0.0, 3.0],
                     [4.0, 0.0, 0.0, 1.0, 1.0],
                     [0.5, 0.5, 0.5, 0.5, 2.0]])
    table = RowCategorical(rows)
    scale = np.array([0.5, 0.2, 3.0])  # the last row's total (12) is above its width
    skip = np.array([0, 1, 2])
    rng = np.random.default_rng(31)
    draws = 2000
    for skipped in (None, skip):
        sums = np.zeros_like(rows)
        for _ in range(draws):
            p, column, count = table.draw(rng, scale, skip=skipped)
            np.add.at(sums, (p, column), count)
        expected = draws * scale[:, None] * rows
        if skipped is not None:
            expected[np.arange(5) < skip[:, None]] = 0.0
        assert not sums[expected == 0].any()
        positive = expected > 0
        chi2 = (((sums - expected) ** 2)[positive] / expected[positive]).sum()
        assert stats.chi2.sf(chi2, positive.sum()) > ALPHA


@pytest.mark.parametrize("patients", [1, 7, 512, 40_000])
def test_founding_order_is_the_stable_argsort(patients):
    """The founding order (a radix sort on coarse keys, then a sort of nearly sorted keys)
    is ``argsort(key, kind="stable")``, ties included (keys p + u / 2, runs sorted by p)."""
    from metacascade.engine.batch import _key_order

    rng = np.random.default_rng(5)
    for size in (0, 1, 50, 3000):
        p = np.concatenate([np.sort(rng.integers(0, patients, size // 2)),
                            np.sort(rng.integers(0, patients, size - size // 2))])
        key = p + 0.5 * rng.random(size)
        if size > 10:  # ties, and keys at the top of a patient's half step
            key[rng.integers(0, size, size // 5)] = key[rng.integers(0, size, size // 5)]
            key[:3] = np.nextafter(p[:3] + 0.5, -np.inf)
            key[3:5] = p[3:5] + 0.5  # (p + u / 2 can round up to it)
        p = np.floor(key).astype(np.int64)
        assert np.array_equal(_key_order(key, p, patients), np.argsort(key, kind="stable"))
