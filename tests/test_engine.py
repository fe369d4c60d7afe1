"""The fast engine: the ledger invariant, reproducibility, limits, the seeding tree."""

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metacascade.engine.compile import compile_scenario
from metacascade.engine.kernel import EngineError, run, simulate
from metacascade.engine.result import ORGAN_FIELDS, TOTAL_FIELDS
from metacascade.physiology import get_body
from metacascade.scenario import Scenario


def _check_invariant(result) -> None:
    """Every shed cell is in exactly one fate, as integers, at every recorded time."""
    by = result.ledger_by_organ
    assert (by[list(ORGAN_FIELDS)] >= 0).all().all()
    lhs = by["arrested"]
    rhs = (by["failed_extravasation"] + by["died_after_extravasation"] + by["dormant_now"]
           + by["colonies_founded"] + by["colonies_extinct"])
    assert (lhs == rhs).all()
    assert (by["colonies_founded"] == by["colonies_avascular"]
            + by["colonies_vascularised"]).all()
    led = result.ledger
    assert (led[list(TOTAL_FIELDS)] >= 0).all().all()
    assert (led["shed"] == led["died_in_blood"] + led["arrested"]).all()
    sums = by.groupby("time_days")[list(ORGAN_FIELDS)].sum().reset_index(drop=True)
    pd.testing.assert_frame_equal(sums, led[list(ORGAN_FIELDS)].reset_index(drop=True),
                                  check_dtype=False)
    for column in TOTAL_FIELDS:
        assert led[column].dtype.kind == "i"
    # cumulative counts never decrease
    for column in ("shed", "died_in_blood", "arrested", "woke", "colonies_founded"):
        assert (led[column].diff().dropna() >= 0).all()
    numeric = result.colonies.select_dtypes("number").drop(columns=["macro_day"])
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    # (the ledger of a history ended at the colony limit stops at its last record before)
    recorded = led["time_days"][led["time_days"] <= result.history_end_day]
    last = recorded.iloc[-1] if len(recorded) else 0.0
    assert (result.colonies["founded_day"] <= last).sum() == int(led["colonies_founded"].iloc[-1])
    if np.isinf(result.history_end_day):
        assert len(result.colonies) == int(led["colonies_founded"].iloc[-1])


_scenarios = st.fixed_dictionaries({
    "cancer": st.sampled_from(["breast", "prostate", "colon", "rectum", "lung", "melanoma",
                               "choriocarcinoma", "osteosarcoma"]),
    "horizon_years": st.floats(0.05, 3.0),
    "primary_diameter_mm": st.floats(0.5, 40.0),
    "step_days": st.floats(1.0, 60.0),
    "embolus": st.sampled_from(["single", "cluster", "platelet"]),
    "cascade_overrides": st.fixed_dictionaries({
        "divide_after_extravasation": st.floats(1e-9, 1e-6),
        "dormant_after_extravasation": st.floats(1e-7, 1e-2),
        "wake_rate": st.floats(1e-6, 1e-1),
        "switch_rate": st.floats(1e-3, 1.0),
    }),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenarios, st.integers(0, 2**32))
def test_every_shed_cell_is_in_exactly_one_fate(data, seed):
    try:
        result = simulate(data, seed=seed)
    except EngineError as error:  # refused with a clear message is allowed, nothing else
        assert "colonies founded" in str(error)
        return
    _check_invariant(result)


def test_same_seed_same_result_other_seed_other_result():
    data = {"cancer": "breast", "horizon_years": 2}
    a, b, c = simulate(data, seed=5), simulate(data, seed=5), simulate(data, seed=6)
    for name in ("ledger", "ledger_by_organ", "colonies", "events"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.summary() == b.summary()
    assert a.final["shed"] != c.final["shed"]


def test_a_run_without_seed_records_one_that_replays_it():
    data = {"cancer": "colon", "horizon_years": 1}
    first = simulate(data)
    again = simulate(data, seed=first.seed)
    pd.testing.assert_frame_equal(first.ledger, again.ledger)
    assert first.provenance["version"] and first.provenance["citations"]


def test_scenario_seed_is_used():
    a = simulate({"cancer": "breast", "horizon_years": 1, "seed": 11})
    assert a.seed == 11


def test_zero_shedding_runs():
    model = replace(compile_scenario(Scenario.from_dict({"cancer": "breast",
                                                         "horizon_years": 1})),
                    shedding_per_cell_per_day=0.0)
    result = run(model, 1)
    assert result.final["shed"] == 0 and result.colonies.empty
    _check_invariant(result)


def test_a_1e15_cell_tumour_runs_or_is_refused():
    base = compile_scenario(Scenario.from_dict({"cancer": "breast", "horizon_years": 1}))
    huge = replace(base, primary_cells0=1e15, primary_capacity_cells=1e15,
                   p_divide=np.zeros_like(base.p_divide), p_dormant=np.zeros_like(base.p_dormant))
    result = run(huge, 1)
    _check_invariant(result)
    assert result.final["shed"] > 10**14
    with pytest.raises(EngineError, match="beyond what the engine can draw exactly"):
        run(replace(huge, shedding_per_cell_per_day=1e3), 1)


def test_fifty_year_horizon_runs():
    result = simulate({"cancer": "prostate", "horizon_years": 50, "primary_diameter_mm": 2},
                      seed=3)
    _check_invariant(result)
    assert result.ledger["time_days"].iloc[-1] == pytest.approx(50 * 365.25)


@pytest.mark.parametrize("years", [1e-9, 1e-12, 5e-324])
def test_a_horizon_within_a_billionth_of_a_year_runs_in_both_engines(years):
    """Any positive horizon has a record at the horizon (one within 1e-9 year had none)."""
    from metacascade.engine.reference import run_reference

    model = compile_scenario(Scenario.from_dict({"cancer": "breast", "horizon_years": years}))
    horizon = 365.25 * years
    assert model.record_days() == [horizon]
    result = simulate({"cancer": "breast", "horizon_years": years}, seed=1)
    _check_invariant(result)
    assert result.ledger["time_days"].tolist() == [horizon]
    assert run_reference(model, 1).ledger["time_days"].tolist() == [horizon]


@pytest.mark.parametrize(("years", "step", "needle"), [
    (1, 1e-6, "step_days: 1e-06 makes 365,250,000 steps over horizon_years 1; at most "
              "100,000 are allowed (a step_days of at least 0.00366 for this horizon)"),
    (100, 0.3, "step_days: 0.3 makes 121,750 steps over horizon_years 100; "),
    (1e-9, 5e-324, "step_days: 4.94066e-324 makes inf steps over horizon_years 1e-09; "),
])
def test_a_step_making_too_many_steps_is_refused_before_any_array(years, step, needle):
    """It is named with the horizon (1e-6 day over a year allocated 2.7 GiB, then failed)."""
    from metacascade.errors import ScenarioError

    data = {"cancer": "breast", "horizon_years": years, "step_days": step}
    with pytest.raises(ScenarioError, match="^" + re.escape(needle)):
        compile_scenario(Scenario.from_dict(data))
    with pytest.raises(ScenarioError, match="^" + re.escape(needle)):
        simulate(data, seed=1)


def test_the_step_limit_allows_max_steps_and_its_suggested_step():
    from metacascade.engine.limits import MAX_STEPS, step_count

    for years in (10, 100, 1 / 3):
        model = compile_scenario(Scenario.from_dict({
            "cancer": "breast", "horizon_years": years,
            "step_days": 365.25 * years / MAX_STEPS}))
        assert len(model.step_bounds()[0]) == MAX_STEPS
    # the least step_days the message suggests is allowed (0.00366 for one year)
    assert step_count(365.25, 0.00366) <= MAX_STEPS < step_count(365.25, 0.00365)


def test_explosive_colonisation_ends_the_history_at_the_colony_limit():
    """Past MAX_COLONIES the history ends (no colony founded from then on, the colonies
    shed no more), and the clinic refuses a patient still alive then."""
    from metacascade.clinic.course import follow
    from metacascade.engine.limits import MAX_COLONIES

    data = {"cancer": "lung", "horizon_years": 5, "primary_diameter_mm": 30,
            "cascade_overrides": {"divide_after_extravasation": 1e-2}}
    result = simulate(data, seed=1)
    end = result.history_end_day
    assert 0 < end < result.model.horizon_days
    assert end in set(result.model.step_bounds()[0].tolist())
    assert len(result.colonies) <= MAX_COLONIES
    assert (result.colonies["founded_day"] < end).all()
    _check_invariant(result)
    with pytest.raises(EngineError, match=rf"^more than {MAX_COLONIES} colonies founded by "
                                          rf"day {end:.0f} \(year 0.6\)"):
        follow(result, data)  # (alive then)


def test_the_kernel_ends_a_history_where_the_limit_bites(monkeypatch):
    """Up to the step where the unlimited run passes the limit the two runs are the same
    draws: the colonies founded before it are the unlimited run's; none after the end."""
    from metacascade.engine import kernel

    model = compile_scenario(Scenario.from_dict({
        "cancer": "breast", "horizon_years": 2, "primary_diameter_mm": 30,
        "cascade_overrides": {"divide_after_extravasation": 1e-4}}))
    free = run(model, 4)
    founded = np.sort(free.raw.founded)
    limit = founded.size // 3
    assert limit > 10 and np.isinf(free.history_end_day)
    monkeypatch.setattr(kernel, "MAX_COLONIES", limit)
    limited = run(model, 4)
    starts = model.step_bounds()[0]
    bites = starts[np.searchsorted(starts, founded[limit], side="right") - 1]
    end = limited.history_end_day
    assert bites <= end < model.horizon_days and end in set(starts.tolist())
    assert len(limited.raw.organ) <= limit and (limited.raw.founded < end).all()
    for name in ("organ", "parent", "generation", "founded", "w", "switch", "via",
                 "surface"):
        np.testing.assert_array_equal(getattr(limited.raw, name)[limited.raw.founded < bites],
                                      getattr(free.raw, name)[free.raw.founded < bites],
                                      err_msg=name)
    # After the end the colonies shed no more: fewer cells shed than in the free run.
    assert limited.final["shed"] < free.final["shed"]


def test_the_seeding_tree_reads_back():
    # Soil 1 in every bed and 3 in the liver (the colon catalog before its calibration)
    # over 14 years, pooled over three patients: some 30-40 metastases from metastases
    # each, so the checks below do not rest on one patient's handful.
    soils = dict.fromkeys(get_body("adult_male").beds, 1.0) | {"liver": 3.0}
    from_liver = []
    for seed in range(3):
        result = simulate({"cancer": "colon", "horizon_years": 14, "primary_diameter_mm": 5,
                           "cancer_overrides": {"soil": soils}}, seed=seed)
        c = result.colonies.set_index("id")
        assert (c["parent"] >= 0).all()
        children = c[c["parent"] > 0]
        assert not children.empty, "metastases from metastases are expected in 14 years"
        assert (children["parent"] < children.index).all()
        assert (children["generation"] == c.loc[children["parent"], "generation"].to_numpy()
                + 1).all()
        parents = c.loc[children["parent"]]
        assert (parents["switch_day"].to_numpy() <= children["founded_day"].to_numpy()).all()
        from_liver += children[parents["organ"].to_numpy() == "liver"]["organ"].tolist()
    # Liver metastases drain to the lung: the lung is their children's first organ.
    counts = {o: from_liver.count(o) for o in set(from_liver)}
    assert max(counts, key=counts.get) == "lung", counts


@pytest.mark.parametrize(("cancer", "expected_top"), [
    ("breast", "lung"), ("colon", "liver"), ("rectum", "liver"), ("stomach", "liver"),
])
def test_defaults_put_most_colonies_where_expected(cancer, expected_top):
    by_organ = _pooled_colonies(cancer)
    assert max(by_organ, key=by_organ.get) == expected_top, by_organ


def _pooled_colonies(cancer: str, patients: int = 20) -> dict[str, int]:
    """Blood-borne colonies per organ over ``patients`` default 10-year patients (the
    lymph node left out; calibrated soils give each patient a few dozen colonies, so
    one patient's ranking is noise)."""
    total: dict[str, int] = {}
    for seed in range(patients):
        by_organ = simulate({"cancer": cancer, "horizon_years": 10}, seed=seed).summary()[
            "colonies_by_organ"]
        for organ, n in by_organ.items():
            if organ != "lymph_node":
                total[organ] = total.get(organ, 0) + n
    return total


@pytest.mark.parametrize("cancer", ["prostate", "breast"])
def test_bone_is_prominent_for_prostate_and_breast(cancer):
    by_organ = _pooled_colonies(cancer)
    by_organ["bone"] = by_organ.pop("vertebral_marrow", 0) + by_organ.pop("bone_marrow", 0)
    top_three = sorted(by_organ, key=by_organ.get, reverse=True)[:3]
    assert "bone" in top_three, by_organ


@pytest.mark.parametrize("cancer", ["breast", "colon", "prostate", "lung", "melanoma"])
def test_few_shed_cells_end_in_a_macrometastasis(cancer):
    result = simulate({"cancer": cancer, "horizon_years": 5}, seed=7)
    assert result.summary()["macrometastases"] < 1e-4 * result.final["shed"]


def test_colony_sizes_at_chosen_times_grow():
    result = simulate({"cancer": "breast", "horizon_years": 5}, seed=1)
    early, late = result.colony_cells_at(365.0), result.colony_cells_at(5 * 365.25)
    assert (late >= early).all()
    np.testing.assert_allclose(late, result.colonies["cells_end"].to_numpy())


def test_models_of_one_body_share_read_only_routing():
    """Models compiled for one body share its routing (read-only), as compile_routing
    gives it for each embolus kind, and cite what they would cite one by one."""
    from metacascade.engine.compile import EMBOLUS_KINDS
    from metacascade.physiology.routing import compile_routing

    scenarios = [Scenario.from_dict({"cancer": "breast", "primary_diameter_mm": d,
                                     "cancer_overrides": {"doubling_time": f"{t} d"}})
                 for d, t in ((10, 100), (20, 150))]
    a, b = (compile_scenario(s) for s in scenarios)
    body, cancer = scenarios[0].resolve()
    for name in ("absorption", "Q", "R", "E", "E_death", "time_in_blood_s"):
        assert getattr(a, name) is getattr(b, name)
        assert not getattr(a, name).flags.writeable
        np.testing.assert_array_equal(getattr(a, name), np.stack([
            getattr(compile_routing(body, kind, size_class=cancer.size_class.name), name)
            for kind in EMBOLUS_KINDS]))
    with pytest.raises(ValueError, match="read-only"):
        a.absorption[0, 0, 0] = 1.0
    assert a.organ_entry.tolist() == [a.entries.index(o) for o in a.organs]
    cascade = scenarios[0].cascade()
    parameters = [body.cardiac_output, body.blood_volume, body.body_mass,
                  *cancer.parameters().values(), *cancer.soil.values(), cancer.other_soil,
                  *cascade.parameters().values()]
    for bed in body.beds.values():
        parameters += [bed.arrest_per_pass, bed.death_per_pass, bed.capillary_transit,
                       *bed.drains_to.values()]
    for junction in body.junctions.values():
        parameters += [junction.transit, *junction.feeds.values()]
    assert a.citations == tuple(sorted({p.source.key for p in parameters}))


@pytest.mark.parametrize("scenario", [None, 3, ["breast"], [("cancer", "breast")],
                                      b"breast.yaml"])
def test_simulate_refuses_what_is_no_scenario_naming_it(scenario):
    from metacascade.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"^scenario: expected a Scenario, the path of a "
                                            r"scenario file or a mapping"):
        simulate(scenario)


def test_simulate_takes_the_path_of_a_scenario_file(tmp_path):
    """As simulate_cohort takes a population's (it refused a path: "expected a Scenario
    or a mapping")."""
    from metacascade.errors import ScenarioError
    from metacascade.scenario import load_scenario

    path = tmp_path / "short.yaml"
    path.write_text("cancer: breast\nhorizon_years: 0.5\nseed: 4\n")
    by_path, by_name = simulate(path), simulate(str(path))
    loaded = simulate(load_scenario(path))
    assert by_path.seed == by_name.seed == loaded.seed == 4  # the file's seed
    pd.testing.assert_frame_equal(by_path.colonies, loaded.colonies)
    pd.testing.assert_frame_equal(by_name.ledger, loaded.ledger)
    assert simulate(path, seed=5).seed == 5
    with pytest.raises(ScenarioError, match=r"^scenario file '.*missing\.yaml': No such file"):
        simulate(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match=r"^scenario file 'breast': expected a \.yaml"):
        simulate("breast")


def test_simulate_takes_a_seed_not_a_generator_and_says_why():
    from metacascade.errors import MetacascadeError

    with pytest.raises(MetacascadeError, match=r"^seed: Generator\(PCG64\) .* is not a whole "
                       r"number in \[0, 2\^63 - 1\] \(a Generator cannot be recorded"):
        simulate({"cancer": "breast", "horizon_years": 0.05}, seed=np.random.default_rng(1))


def test_simulate_takes_any_mapping():
    from types import MappingProxyType

    data = {"cancer": "breast", "horizon_years": 0.2}
    a = simulate(MappingProxyType(data), seed=np.int64(4))
    b = simulate(Scenario.from_dict(data), seed=4)
    pd.testing.assert_frame_equal(a.colonies, b.colonies)


@pytest.mark.parametrize("reference", [1e6, 1e8, 1e9, 1e10])
def test_a_vascularised_colony_doubles_in_the_doubling_time_at_its_reference_size(reference):
    """``doubling_reference_cells``: the Gompertz colony's instantaneous doubling time at
    that size is the cancer's (400 d), shorter below and longer above; at or below the
    avascular limit (the default) the early growth rate is the cancer's own."""
    from metacascade.engine.growth import colony_cells, time_to_reach

    model = compile_scenario(Scenario.from_dict({
        "cancer": "breast", "cancer_overrides": {"doubling_time": "400 d"},
        "cascade_overrides": {"doubling_reference_cells": reference}}))
    r = np.log(2.0) / 400.0
    ka, km = model.avascular_cells, model.metastasis_capacity_cells
    if reference <= ka:
        assert model.colony_rate_per_day == r
    else:
        assert model.colony_rate_per_day > r
    founded, w, switch = np.zeros(1), np.ones(1), np.array([3000.0])
    at = float(time_to_reach(model, max(reference, 2 * ka), founded, w, switch)[0])
    h = 1e-3
    sizes = colony_cells(model, np.array([at - h, at + h])[:, None], founded, w, switch)
    rate = float(np.log(sizes[1, 0] / sizes[0, 0]) / (2 * h))
    expected = r if reference > ka else r * np.log(km / (2 * ka)) / np.log(km / ka)
    assert rate == pytest.approx(expected, rel=1e-5)
    # Early growth (the birth-death phase up to the avascular limit) at the colony rate.
    assert float(colony_cells(model, 100.0, founded, w, switch)[0]) == pytest.approx(
        np.exp(model.colony_rate_per_day * 100.0), rel=1e-12)


def test_a_doubling_reference_at_or_above_the_capacity_is_refused():
    from metacascade.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"cascade_overrides\.doubling_reference_cells: "
                                            r"must be below metastasis_capacity \(1e\+10 cells\)"):
        compile_scenario(Scenario.from_dict({
            "cancer": "breast", "cascade_overrides": {
                "doubling_reference_cells": 1e10, "metastasis_capacity": 1e10}}))


def test_changing_a_result_table_changes_nothing_else():
    """Result.colonies was its cached table: a user's edit changed summary() and the
    files written after it, but not the events already cached."""
    import metacascade

    result = metacascade.simulate({"cancer": "breast", "horizon_years": 6}, seed=1)
    before = (result.summary(), result.colonies, result.events, result.ledger,
              result.ledger_by_organ)
    tables = (result.colonies, result.events, result.ledger, result.ledger_by_organ)
    for table in tables:
        table.drop(table.index[: len(table) // 2], inplace=True)
        table.iloc[:, 0] = 0
    assert result.summary() == before[0]
    for fresh, old in zip((result.colonies, result.events, result.ledger,
                           result.ledger_by_organ), before[1:], strict=True):
        pd.testing.assert_frame_equal(fresh, old)


def test_the_necrotic_fraction_is_the_core_inside_the_necrosis_diameter():
    """A colony of diameter d past the necrosis diameter D has a necrotic core of
    diameter d - D (a viable shell D/2 thick): ((d - D) / d)^3 of its volume, 1/8 at
    d = 2D; none for d <= D."""
    from metacascade.engine.result import build_result

    model = compile_scenario(Scenario.from_dict({"cancer": "breast"}))
    model = replace(model, avascular_cells=1e12)  # (the colonies below stay avascular)
    rim = model.necrosis_diameter_mm
    diameters = np.array([0.5, 1.0, 2.0, 4.0]) * rim
    cells = np.array([model.cells_for_diameter(d) for d in diameters])
    n = len(cells)
    # Founded at the horizon and never switched: each holds w = its cells at the end.
    result = build_result(model, 0, "test", {
        "organ": np.zeros(n), "parent": np.zeros(n), "generation": np.ones(n),
        "founded": np.full(n, model.horizon_days), "w": cells,
        "switch": np.full(n, np.inf), "via": np.zeros(n), "surface": np.zeros(n)}, [])
    colonies = result.colonies
    np.testing.assert_allclose(colonies["diameter_mm_end"], diameters, rtol=1e-12)
    np.testing.assert_allclose(colonies["necrotic_fraction_end"],
                               [0.0, 0.0, 1 / 8, 27 / 64], rtol=1e-12, atol=1e-12)
