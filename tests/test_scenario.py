"""Scenarios: loading, overrides with units, and refusal of malformed input."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from metacascade.errors import ScenarioError
from metacascade.scenario import Scenario, load_scenario, read_scenario_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("path", sorted([*EXAMPLES.glob("*.y*ml"), *EXAMPLES.glob("*.toml")]))
def test_examples_load(path):
    if "population:" in path.read_text():  # a cohort's population file
        from metacascade.cohort import load_population

        population = load_population(path)
        assert population.distributions
        scenario = population.patient(0, 0)[0]
    else:
        scenario = load_scenario(path)
    _, cancer = scenario.resolve()
    assert cancer.name == scenario.cancer
    assert Scenario.from_dict(scenario.to_dict()).to_dict() == scenario.to_dict()


def test_overrides_are_converted_and_applied():
    s = Scenario.from_dict({
        "cancer": "prostate",
        "cancer_overrides": {"doubling_time": "2 year", "cluster_share": "5 %",
                             "shedding_rate": {"value": 1e6, "unit": "cell/g/d"},
                             "soil": {"brain": 2}},
        "body_overrides": {"cardiac_output": "100 mL/s",
                           "drains_to": {"prostate": {"venous": 0.4, "vertebral_plexus": 0.6}},
                           "arrest_per_pass": {"lung": 0.9}},
    })
    body, cancer = s.resolve()
    assert cancer.doubling_time.value == pytest.approx(730.5, rel=1e-3)
    assert cancer.doubling_time.unit == "d"
    assert cancer.cluster_share.value == pytest.approx(0.05)
    assert cancer.shedding_rate.value == 1e6
    assert cancer.soil_for("brain").value == 2
    assert cancer.soil_for("brain").source.describe() == "assumed: set in the scenario"
    assert body.cardiac_output.value == pytest.approx(6.0)
    assert body.beds["prostate"].drains_to["vertebral_plexus"].value == 0.6
    assert body.beds["lung"].arrest_per_pass.value == 0.9


def test_default_body_comes_from_the_cancer():
    assert Scenario.from_dict({"cancer": "breast"}).resolve()[0].name == "adult_female"
    assert Scenario.from_dict({"cancer": "colon"}).resolve()[0].name == "adult_male"


def test_closing_the_plexus_in_a_scenario():
    body, _ = Scenario.from_dict({"cancer": "prostate", "vertebral_plexus": False}).resolve()
    assert not body.has_vertebral_plexus()


BAD = [
    ({"cancer": "breast", "colour": "red"}, r"^colour: unknown field; allowed here: cancer"),
    ({"cancer": "breast", "cancer_overrides": {"shedding_rate": -5}},
     r"^cancer_overrides\.shedding_rate: -5 cells/g/d is outside"),
    ({"cancer": "breast", "cancer_overrides": {"cluster_share": 1.5}},
     r"^cancer_overrides\.cluster_share: 1\.5 is outside"),
    ({"cancer": "breast", "cancer_overrides": {"lymphatic_share": "120 %"}},
     r"^cancer_overrides\.lymphatic_share: 1\.2 is outside"),
    ({"cancer": "breast", "cancer_overrides": {"doubling_time": "3 mm"}},
     r"^cancer_overrides\.doubling_time: unit 'mm' cannot be converted to 'd'"),
    ({"cancer": "breast", "body_overrides": {"arterial_share": {"brain": 0.2}}},
     r"^body_overrides\.arterial_share: .*arterial shares sum to 1\.08"),
    ({"cancer": "breast", "body_overrides": {"drains_to": {"breast": {"venous": 0.5}}}},
     r"^body_overrides\.drains_to\.breast: .*bed 'breast' drainage fractions sum to 0\.5"),
    ({"cancer": "breast", "body_overrides": {"drains_to": {"spleen": {"aorta": 1}}}},
     r"^body_overrides\.drains_to\.spleen\.aorta: unknown bed or junction 'aorta'"),
    ({"cancer": "breast", "body_overrides": {"arrest_per_pass": {"tail": 0.5}}},
     r"^body_overrides\.arrest_per_pass\.tail: unknown organ 'tail'; known: lung"),
    ({"cancer": "breast", "cancer_overrides": {"soil": {"tail": 1}}},
     r"^cancer_overrides\.soil\.tail: unknown organ 'tail'"),
    ({"cancer": "leukaemia"}, r"^cancer: unknown cancer 'leukaemia'; known cancers: breast"),
    ({"cancer": "prostate", "body": "adult_female"}, r"^body: cancer 'prostate' arises in"),
    ({"cancer": "breast", "embolus": "bubble"}, r"^embolus: Input should be 'single'"),
    ({"cancer": "breast", "horizon_years": 0}, r"^horizon_years: Input should be greater"),
    # NaN is said to be no number (pydantic says it "should be <= 100")
    ({"cancer": "breast", "horizon_years": float("nan")},
     r"^horizon_years: nan is not a number \(Input should be less than or equal to 100\)"),
    ({"cancer": "breast", "clinic": {"draws": [{"every_weeks": 4, "recovery": float("nan")}]}},
     r"^clinic\.draws\.0\.recovery: nan is not a number"),
    # infinite days and burdens (provenance.json wrote them as null, manifest.json as
    # Infinity, which is not JSON)
    ({"cancer": "breast", "clinic": {"surgery_day": float("inf")}},
     r"^clinic\.surgery_day: Input should be a finite number"),
    ({"cancer": "breast", "clinic": {"lethal_burden_cells": float("inf")}},
     r"^clinic\.lethal_burden_cells: Input should be a finite number"),
    ({"cancer": "breast", "clinic": {"draws": [{"every_weeks": 3, "stop_day": float("inf")}]}},
     r"^clinic\.draws\.0\.stop_day: Input should be a finite number"),
    ({"cancer": "breast", "clinic": {"scans": [{"modality": "ct", "every_weeks": 12,
                                                "start_day": float("inf")}]}},
     r"^clinic\.scans\.0\.start_day: Input should be a finite number"),
    ({"cancer": "breast", "clinic": {"therapy": {"lines": [{"kind": "cytotoxic"}],
                                                 "start_day": 10, "stop_day": float("inf")}}},
     r"^clinic\.therapy\.stop_day: Input should be a finite number"),
    ({"cancer": "colon", "cancer_overrides": {"growth_exponent": 0.5}},
     r"^cancer_overrides\.growth_exponent: cancer 'colon' grows by the gompertz law"),
    ({"cancer": "breast", "cancer_overrides": {"ctc_cutoff": 2.5}},
     r"^cancer_overrides\.ctc_cutoff: must be a whole number"),
    ({"body": "adult_male"}, r"^cancer: Field required"),
    ({"cancer": "breast", "cascade_overrides": {"cells_per_cluster": 2.5}},
     r"^cascade_overrides\.cells_per_cluster: must be a whole number"),
    ({"cancer": "breast", "cascade_overrides": {"establishment": 2}},
     r"^cascade_overrides\.establishment: 2 is outside"),
    (["breast"], r"a scenario is a mapping"),
    # NumPy's truth values are no numbers either, nor are truth values inside a
    # mapping of numbers (they were read as 1 or 0).
    ({"cancer": "breast", "horizon_years": np.bool_(True)},
     r"^horizon_years: true is not a number"),
    ({"cancer": "breast", "seed": np.bool_(True)}, r"^seed: true is not a number"),
    ({"cancer": "breast", "cancer_overrides": {"soil": {"lung": np.bool_(True)}}},
     r"^cancer_overrides\.soil\.lung: true is not a number"),
    ({"cancer": "breast", "body_overrides": {"arterial_share": {"brain": np.bool_(False)}}},
     r"^body_overrides\.arterial_share\.brain: false is not a number"),
    ({"cancer": "breast", "clinic": {"vital_organ_lethal_cells": {"liver": True}}},
     r"^clinic\.vital_organ_lethal_cells\.liver: true is not a number"),
    ({"cancer": "breast", "clinic": {"therapy": {"start_day": 0, "lines": [
        {"kind": "cytotoxic", "kill_rate": np.bool_(True)}]}}},
     r"^clinic\.therapy\.lines\.0\.kill_rate: true is not a number"),
]


@pytest.mark.parametrize(("data", "pattern"), BAD)
def test_malformed_scenarios_are_refused_naming_the_field(data, pattern):
    with pytest.raises(ScenarioError, match=pattern):
        Scenario.from_dict(data)


def test_any_mapping_is_a_scenario_and_numpy_numbers_are_numbers():
    from types import MappingProxyType

    plain = {"cancer": "breast", "horizon_years": 0.5, "seed": 3,
             "cancer_overrides": {"soil": {"lung": 2.0}}}
    numpy = {"cancer": "breast", "horizon_years": np.float64(0.5), "seed": np.int64(3),
             "cancer_overrides": {"soil": {"lung": np.float64(2.0)}}}
    expected = Scenario.from_dict(plain).to_dict()
    assert Scenario.from_dict(MappingProxyType(plain)).to_dict() == expected
    assert Scenario.from_dict(numpy).to_dict() == expected
    # truth values stay allowed where a field takes one
    assert not Scenario.from_dict({"cancer": "breast",
                                   "vertebral_plexus": np.bool_(False)}).vertebral_plexus


@pytest.mark.parametrize("path", [None, 3, b"scenario.yaml"])
def test_load_names_a_path_that_is_no_path(path):
    with pytest.raises(ScenarioError, match=r"^scenario file: expected a path"):
        load_scenario(path)


def test_load_refuses_bad_files(tmp_path):
    with pytest.raises(ScenarioError, match=r"expected a \.yaml, \.yml or \.toml"):
        load_scenario(tmp_path / "s.json")
    with pytest.raises(ScenarioError, match="No such file"):
        load_scenario(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("cancer: [breast\n")
    with pytest.raises(ScenarioError, match="cannot parse"):
        load_scenario(broken)
    toml = tmp_path / "bad.toml"
    toml.write_text('cancer = "breast"\n[cancer_overrides]\nshedding_rate = -1\n')
    with pytest.raises(ScenarioError, match="shedding_rate"):
        load_scenario(toml)


@pytest.mark.parametrize(("text", "needle"), [
    ("cancer: breast\nhorizon_years: 1\ncancer: prostate\n",
     r"'cancer' is given twice \(line 3\); give each field once$"),
    ("cancer: breast\ncancer_overrides:\n  soil: {lung: 2, lung: 3}\n",
     r"'lung' is given twice \(line 3\)"),
    ("a: &x {b: 1}\nd: {<<: *x, b: 2, b: 3}\n", r"'b' is given twice \(line 2\)"),
    ("", r"is empty; give at least 'cancer: NAME'$"),
    ("# only a comment\n", r"is empty"),
    ("- breast\n", r": expected fields \(name: value\), not a list$"),
    ("breast\n", r": expected fields \(name: value\), not a text$"),
])
def test_yaml_refuses_repeated_keys_and_files_without_fields(tmp_path, text, needle):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"^scenario file '.*s\.yaml'" + "(:| is) "):
        read_scenario_file(path)
    with pytest.raises(ScenarioError, match=needle):
        read_scenario_file(path)


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("base: &b {lung: 2, liver: 3}\nsoil: {<<: *b, lung: 5}\n")
    assert read_scenario_file(path)["soil"] == {"lung": 5, "liver": 3}
    # An anchored mapping with a merge key and an override, merged again through an
    # alias (PyYAML flattens the anchored node in place when the alias comes first).
    path.write_text("a:\n  b: &m1 {x: 1}\n  c: &m2\n    <<: *m1\n    x: 2\nd:\n  <<: *m2\n")
    assert read_scenario_file(path) == {"a": {"b": {"x": 1}, "c": {"x": 2}}, "d": {"x": 2}}
    path.write_text("=: 1\nb: &a {=: 2}\nc: {<<: *a}\n")  # ("=": a text key, as PyYAML)
    assert read_scenario_file(path) == {"=": 1, "b": {"=": 2}, "c": {"=": 2}}
    path.write_text("a: {x: 1, x: 2}\nb: {y: 1, y: 2}\n")  # (the first in the file)
    with pytest.raises(ScenarioError, match=r"'x' is given twice \(line 1\)"):
        read_scenario_file(path)
    path.write_text("~: 1\nnull: 2\n")  # (both keys are None)
    with pytest.raises(ScenarioError, match=r"None is given twice \(line 2\)"):
        read_scenario_file(path)


def test_a_population_is_pointed_to_the_cohort():
    with pytest.raises(ScenarioError, match=r"^population: a population is for "
                       r"`metacascade cohort`"):
        Scenario.from_dict({"cancer": "breast", "population": {}})


# -- random malformed input: only ScenarioError may come out ----------------------------
_leaf = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
         | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
         | st.sampled_from(["1 d", "3 mm", "5 %", "nan d", "1e400 d", "-1", "d", "0.5",
                            "breast", "adult_male", "lung", "venous", "1 cell/g/d"]))
_any = st.recursive(_leaf, lambda c: st.lists(c, max_size=3)
                    | st.dictionaries(st.text(max_size=8) | st.sampled_from(
                        ["value", "unit", "lung", "brain", "venous", "portal"]), c, max_size=3),
                    max_leaves=10)
_cancer_keys = st.sampled_from(["doubling_time", "carrying_capacity", "shedding_rate",
                                "cluster_share", "platelet_share", "lymphatic_share",
                                "ctc_diameter", "ctc_cutoff", "growth_exponent", "soil", "x"])
_body_keys = st.sampled_from(["cardiac_output", "blood_volume", "body_mass", "arterial_share",
                              "drains_to", "junction_feeds", "arrest_per_pass",
                              "death_per_pass", "y"])
_scenarios = st.fixed_dictionaries(
    {"cancer": st.sampled_from(["breast", "prostate", "colon", "lung", "nope"]) | _leaf},
    optional={
        "body": st.sampled_from(["adult_male", "adult_female", "x"]) | _leaf,
        "embolus": st.sampled_from(["single", "cluster", "platelet"]) | _leaf,
        "vertebral_plexus": _leaf,
        "horizon_years": _leaf,
        "seed": _leaf,
        "cancer_overrides": st.dictionaries(_cancer_keys, _any, max_size=3) | _any,
        "body_overrides": st.dictionaries(_body_keys, _any, max_size=3) | _any,
        "extra": _any,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenarios)
@example({"cancer": "breast", "cancer_overrides": {"\n": 1}})  # (two lines)
def test_random_malformed_scenarios_raise_only_scenario_error(data):
    try:
        scenario = Scenario.from_dict(data)
    except ScenarioError as error:
        assert str(error) and "\n" not in str(error)
        return
    body, _ = scenario.resolve()
    assert math.isfinite(scenario.horizon_years)
    assert abs(sum(p.value for p in body.junctions["arterial"].feeds.values()) - 1) < 1e-6


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200) | _any.map(lambda d: yaml.safe_dump(d)))
def test_random_files_raise_only_scenario_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("s") / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        scenario = load_scenario(path)
    except ScenarioError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert isinstance(scenario, Scenario)


def test_resolved_bodies_are_kept_and_refusals_are_not():
    """Scenarios without body overrides share one body object (the routing compiled for
    it is kept), with the plexus switched off too; a refused override is refused again."""
    plain = {"cancer": "prostate", "vertebral_plexus": False}
    a, b = Scenario.from_dict(plain), Scenario.from_dict(dict(plain))
    assert a.resolve()[0] is b.resolve()[0]
    assert "vertebral_plexus" not in a.resolve()[0].junctions
    bad = {**plain, "body_overrides": {"drains_to": {"prostate": {"venous": 0.4}}}}
    for _ in range(2):
        with pytest.raises(ScenarioError, match=r"^body_overrides\.drains_to\.prostate: "):
            Scenario.from_dict(bad)
    assert Scenario.from_dict(plain).resolve()[0] is a.resolve()[0]


def test_identity_memo_keeps_results_by_object():
    from metacascade._memo import IdentityMemo

    memo: IdentityMemo[list[int]] = IdentityMemo(2)
    one, two, three = object(), object(), object()
    first = memo.get((one,), "k", lambda: [1])
    assert memo.get((one,), "k", lambda: [2]) is first
    assert memo.get((one,), "other", lambda: [3]) == [3]
    with pytest.raises(ZeroDivisionError):
        memo.get((two,), "k", lambda: [1 // 0])
    assert memo.get((two,), "k", lambda: [4]) == [4]  # a failure is not kept
    memo.get((three,), "k", lambda: [5])
    assert len(memo) == 2 and memo.get((one,), "k", lambda: [6]) == [6]  # one went first


@pytest.mark.parametrize("value", ["no", "false", 1, 0, None])
@pytest.mark.parametrize("field", ["vertebral_plexus", "clinic.therapy.start_at_m1"])
def test_a_truth_value_field_takes_only_true_or_false(field, value):
    """pydantic's lax bool read "no" as False and 1 as True; the field says what it got."""
    data = {"cancer": "breast", "clinic": {"scans": [{"modality": "ct", "every_weeks": 12}],
                                           "therapy": {"start_at_m1": True,
                                                       "lines": [{"kind": "cytotoxic"}]}}}
    where = data["clinic"]["therapy"] if field.startswith("clinic") else data
    where[field.rsplit(".", 1)[-1]] = value
    with pytest.raises(ScenarioError, match=rf"^{field}: {value!r} is not true or false$"):
        Scenario.from_dict(data)
    where[field.rsplit(".", 1)[-1]] = np.bool_(True)
    Scenario.from_dict(data)  # NumPy's true is true


def test_a_copy_with_changes_is_validated_and_worked_out_again():
    """model_copy(update=...) kept the original's body and cancer (pydantic sets the
    fields without validation): a sweep simulated one value while its provenance
    recorded each."""
    import metacascade

    base = Scenario.from_dict({"cancer": "breast", "horizon_years": 5})
    fast = base.model_copy(update={"cancer_overrides": {"doubling_time": "40 d"}})
    assert fast.resolve()[1].doubling_time.value == 40.0
    assert base.resolve()[1].doubling_time.value == 157.0
    assert fast == Scenario.from_dict({**base.to_dict(),
                                       "cancer_overrides": {"doubling_time": "40 d"}})
    counts = [len(metacascade.simulate(s, seed=1).colonies) for s in (base, fast)]
    assert counts[1] > counts[0]
    prostate = base.model_copy(update={"cancer": "prostate"})
    assert prostate.resolve()[1].name == "prostate"
    assert prostate.resolve()[0].name == "adult_male"
    with pytest.raises(ScenarioError, match="horizon_years"):
        base.model_copy(update={"horizon_years": -1})
    with pytest.raises(ScenarioError, match="colour"):
        base.model_copy(update={"colour": "red"})
    assert base.model_copy() == base


def test_a_scenario_cannot_be_changed_in_place():
    """Its mappings and lists could be changed (soil["lung"] = 50): the simulation kept
    the value validated, the provenance recorded the new one."""
    import copy
    import pickle

    s = Scenario.from_dict({"cancer": "breast", "cancer_overrides": {"soil": {"lung": 2}},
                            "clinic": {"scans": [{"modality": "ct", "every_weeks": 12,
                                                  "regions": ["chest"]}]}})
    changes = [lambda: s.cancer_overrides.soil.__setitem__("lung", 50),
               lambda: s.cancer_overrides.soil.update(lung=3),
               lambda: s.cancer_overrides.soil.pop("lung"),
               lambda: s.clinic.scans.append(s.clinic.scans[0]),
               lambda: s.clinic.scans[0].regions.append("abdomen"),
               lambda: s.clinic.scans.__delitem__(0)]
    for change in changes:
        with pytest.raises(TypeError, match="cannot be changed"):
            change()
    assert s.cancer_overrides.soil == {"lung": 2.0}
    assert s.clinic.scans[0].regions == ["chest"]
    data = s.to_dict()  # plain data: a user may change it to build another scenario
    assert type(data["cancer_overrides"]["soil"]) is dict
    data["cancer_overrides"]["soil"]["lung"] = 50
    assert Scenario.from_dict(data).cancer_overrides.soil == {"lung": 50.0}
    # They are written as what they are (yaml.safe_dump refused them, yaml.dump tagged).
    assert yaml.safe_dump({"soil": s.cancer_overrides.soil}) == "soil:\n  lung: 2.0\n"
    assert yaml.dump(s.clinic.scans[0].regions) == yaml.dump(["chest"])
    for twin in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s), copy.copy(s),
                 Scenario.from_dict(s.to_dict())):
        assert twin == s and hash(twin) == hash(s)
        with pytest.raises(TypeError, match="cannot be changed"):
            twin.cancer_overrides.soil["lung"] = 50


def test_equal_scenarios_are_equal():
    """Equality compared the body and cancer worked out from the fields, by identity."""
    path = Path(__file__).parents[1] / "examples" / "breast_population.yaml"
    data = read_scenario_file(path)
    data.pop("population")
    a, b = Scenario.from_dict(data), Scenario.from_dict(data)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Scenario.from_dict({**data, "horizon_years": 9})
    assert a != data
    # Equal data that JSON writes apart (400 and 400.0 in a quantity, -0.0 and 0.0).
    pairs = [({"cancer_overrides": {"doubling_time": {"value": 400, "unit": "d"}}},
              {"cancer_overrides": {"doubling_time": {"value": 400.0, "unit": "d"}}}),
             ({"primary_diameter_mm": 20}, {"primary_diameter_mm": 20.0}),
             ({"clinic": {"scans": [{"modality": "ct", "every_weeks": 12, "start_day": -0.0}]}},
              {"clinic": {"scans": [{"modality": "ct", "every_weeks": 12, "start_day": 0}]}})]
    for one, other in pairs:
        a, b = (Scenario.from_dict({"cancer": "breast", **x}) for x in (one, other))
        assert a == b and hash(a) == hash(b), one


_LINE = [{"name": "paclitaxel", "kind": "cytotoxic"}]
_CT = [{"modality": "ct", "every_weeks": 12}]


@pytest.mark.parametrize(("clinic", "pattern"), [
    ({"therapy": {"start_at_m1": True, "lines": _LINE}},
     r"^clinic\.therapy\.start_at_m1: the stage becomes M1 only at a scan"),
    ({"therapy": {"start_day": 10, "stop_on": ["progression"], "lines": _LINE}},
     r"^clinic\.therapy\.stop_on: progression is seen only at a scan"),
    ({"draws": [{"every_weeks": 3}],
      "therapy": {"start_day": 10, "switch_on": ["progression", "ctc_unfavourable"],
                  "lines": _LINE}},
     r"^clinic\.therapy\.switch_on: progression is seen only at a scan"),
    ({"scans": _CT, "therapy": {"start_at_m1": True, "switch_on": ["ctc_unfavourable"],
                                "lines": _LINE}},
     r"^clinic\.therapy\.switch_on: ctc_unfavourable is seen only at an arm-vein draw"),
    ({"scans": _CT, "draws": [{"every_weeks": 3, "site": "tumour_vein"}],
      "therapy": {"start_at_m1": True, "stop_on": ["ctc_unfavourable"], "lines": _LINE}},
     r"^clinic\.therapy\.stop_on: ctc_unfavourable is seen only at an arm-vein draw"),
    # (the cut-off holds for peripheral blood: an organ's vein sets off nothing either)
    ({"scans": _CT, "draws": [{"every_weeks": 3, "site": "liver", "volume_ml": 30.0},
                              {"every_weeks": 3, "site": "tumour_vein"}],
      "therapy": {"start_at_m1": True, "switch_on": ["ctc_unfavourable"], "lines": _LINE}},
     r"^clinic\.therapy\.switch_on: ctc_unfavourable is seen only at an arm-vein draw"),
    ({"scans": [{"modality": "ct", "every_weeks": 12, "start_day": 400}],
      "therapy": {"start_at_m1": True, "stop_day": 400, "lines": _LINE}},
     r"^clinic\.therapy\.stop_day: no line starts on or after it \(400\), and no scan "
     r"comes before it"),
])
def test_therapy_rules_nothing_can_set_off_are_refused(clinic, pattern):
    """A therapy that started at M1 in a clinic without scans never started, silently."""
    with pytest.raises(ScenarioError, match=pattern):
        Scenario.from_dict({"cancer": "breast", "clinic": clinic})


def test_therapy_rules_at_their_defaults_are_not_refused():
    """Nor when read back from the plain data, which holds the defaults (the first
    version refused every such scenario written by simulate, and every population)."""
    scenario = Scenario.from_dict({"cancer": "breast", "clinic": {
        "therapy": {"start_day": 10, "lines": _LINE}}})
    clinic = scenario.clinic
    assert clinic is not None and clinic.therapy is not None
    assert clinic.therapy.switch_on == ["progression"]  # (the default: no scans, no switch)
    assert Scenario.from_dict(scenario.to_dict()) == scenario
    assert Scenario.from_dict(yaml.safe_load(scenario.to_yaml())) == scenario
    Scenario.from_dict({"cancer": "breast", "clinic": {
        "scans": _CT, "draws": [{"every_weeks": 3}],
        "therapy": {"start_at_m1": True, "switch_on": ["progression", "ctc_unfavourable"],
                    "lines": _LINE}}})
