"""Drawing a population's patients: the same scenarios, seeds, values and errors as
validating each patient's plain data, however the draws are sped up (validated sections
shared between patients, streams of many patients derived together)."""

import copy
from pathlib import Path

import numpy as np
import pytest

from metacascade.cohort import Population, load_population
from metacascade.cohort.population import Distribution, _set_path, patient_seed
from metacascade.cohort.seeds import rng_from_state, seed_states
from metacascade.errors import MetacascadeError, ScenarioError
from metacascade.scenario import Scenario, read_scenario_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TRIAL = EXAMPLES / "virtual_trial_breast.yaml"


def _uniform(low: float, high: float) -> dict:
    return {"uniform": {"low": low, "high": high}}


def _trial(distributions: dict, *, check: bool = True) -> Population:
    data = copy.deepcopy(read_scenario_file(TRIAL))
    data["population"] = distributions
    return Population.from_dict(data, check=check)


#: Paths into a list item beside one that is not sampled, into a dict the base lacks,
#: into a list of strings, into body and cascade overrides, with some values invalid
#: (in ranges whose middle is valid; unchecked, since the check refuses ranges whose ends
#: are invalid, and an invalid discrete value, up front).
WIDE = {
    "clinic.therapy.lines.0.resistant_fraction": _uniform(0.0, 0.2),
    "clinic.therapy.lines.1.kill_rate": _uniform(-0.002, 0.05),
    "clinic.scans.0.regions.0": {"discrete": {"values": ["chest", "head", "pelvis"],
                                              "weights": [5, 5, 1]}},
    "clinic.draws.0.site": {"discrete": {"values": ["arm_vein", "liver", "tumour_vein"],
                                         "weights": [5, 5, 1]}},
    "cancer_overrides.soil.bone_marrow": {"lognormal": {"median": 1.0, "sigma": 1.0}},
    "body_overrides.arrest_per_pass.liver": _uniform(0.6, 1.0),
    "cascade_overrides.establishment": _uniform(-0.05, 0.5),
    "vertebral_plexus": {"discrete": {"values": [True, False]}},
}


def _populations() -> list[Population]:
    return [load_population(EXAMPLES / "breast_population.yaml"), load_population(TRIAL),
            _trial(WIDE, check=False)]


def _plain_patient(population: Population, cohort_seed: int, patient: int):
    """A patient as drawn before any speed-up: its plain data, validated as a whole."""
    rng = np.random.default_rng(np.random.SeedSequence(cohort_seed, spawn_key=(3, patient)))
    data = copy.deepcopy(population.scenario)
    values = {}
    for (path, dist), name in zip(population.distributions.items(),
                                  population.parameter_names(), strict=True):
        values[name] = dist.draw_number(rng)
        _set_path(data, path, dist.with_unit(values[name]))
    data["seed"] = patient_seed(cohort_seed, patient)
    try:
        return Scenario.from_dict(data), data["seed"], values
    except ScenarioError as error:
        return f"patient {patient}: {error}"


def _same(drawn, plain) -> None:
    if isinstance(plain, str):
        assert drawn == plain
        return
    scenario, seed, values = drawn
    assert (seed, values) == plain[1:]
    # Bodies, cancers and cascades compare by identity (a scenario's equal another's
    # only if shared), so compare what they hold.
    assert scenario.__dict__ == plain[0].__dict__
    assert scenario.model_dump() == plain[0].model_dump()
    assert scenario.model_fields_set == plain[0].model_fields_set
    assert repr(scenario.resolve()) == repr(plain[0].resolve())
    assert repr(scenario.cascade()) == repr(plain[0].cascade())


def _draw(population: Population, cohort_seed: int, patient: int):
    try:
        return population.patient(cohort_seed, patient)
    except ScenarioError as error:
        return str(error)


@pytest.mark.parametrize("index", range(3))
def test_patients_are_their_plain_data_validated(index):
    population = _populations()[index]
    refused = 0
    for i in range(60):
        plain = _plain_patient(population, 4, i)
        refused += isinstance(plain, str)
        _same(_draw(population, 4, i), plain)
    assert refused < 60
    if index == 2:  # every kind of refusal of WIDE came up, with the field named
        messages = [_draw(population, 4, i) for i in range(60)]
        for field in ("clinic.therapy.lines.1.kill_rate",
                      "body_overrides.arrest_per_pass.liver",
                      "cascade_overrides.establishment"):
            assert any(isinstance(m, str) and f": {field}" in m for m in messages), field


def test_drawing_patients_changes_no_shared_section():
    population = _trial(WIDE, check=False)
    shared = repr(population._shared)
    plain = copy.deepcopy(population.scenario)
    first = [_draw(population, 1, i) for i in range(8)]
    dumps = [d[0].model_dump() for d in first if not isinstance(d, str)]
    for i in range(8, 60):
        _draw(population, 1, i)
    assert repr(population._shared) == shared and population.scenario == plain
    assert [d[0].model_dump() for d in first if not isinstance(d, str)] == dumps
    # Unsampled sections are the validated objects themselves (frozen, never changed).
    one_line = _trial({"clinic.therapy.lines.0.resistant_fraction": _uniform(0.0, 0.2)})
    a, b = (one_line.patient(1, i)[0] for i in (0, 1))
    assert a.clinic is not None and b.clinic is not None
    assert a.clinic.therapy is not None and b.clinic.therapy is not None
    assert a.clinic.therapy.lines[1] is b.clinic.therapy.lines[1]
    assert a.clinic.scans[0] is b.clinic.scans[0] and a.clinic.scans is not b.clinic.scans
    assert a.clinic.therapy.lines[0] != b.clinic.therapy.lines[0]


def test_patients_together_are_the_patients_one_by_one():
    population = _trial({k: WIDE[k] for k in ("clinic.therapy.lines.0.resistant_fraction",
                                              "cancer_overrides.soil.bone_marrow")})
    numbers = [*range(40), 2**32 - 1, 2**32 + 5, 2**70]
    together = population.patients(7, numbers)
    for number, drawn in zip(numbers, together, strict=True):
        _same(drawn, population.patient(7, number))
    # The first patient refused stops both the same way.
    wide = _trial(WIDE, check=False)
    first = next(i for i in range(60) if isinstance(_draw(wide, 7, i), str))
    with pytest.raises(ScenarioError) as error:
        wide.patients(7, range(60))
    assert str(error.value) == _draw(wide, 7, first)
    with pytest.raises(MetacascadeError, match=r"^cohort_seed: -1 must be a whole number"):
        wide.patients(-1, range(20))


@pytest.mark.parametrize(("seed", "index", "needle"), [
    # (numpy's "expected non-negative integer", a SeedSequence TypeError, or accepted)
    (-1, 0, r"^cohort_seed: -1 must be a whole number in \[0, 2\^63\)$"),
    (1.5, 0, r"^cohort_seed: 1\.5 must be a whole number in \[0, 2\^63\)$"),
    (True, 0, r"^cohort_seed: True must be a whole number in \[0, 2\^63\)$"),
    (2**63, 0, r"^cohort_seed: 9223372036854775808 must be a whole number in \[0, 2\^63\)$"),
    (0, -1, r"^patient: -1 must be a whole number >= 0 \(a patient's index\)$"),
    (0, 1.5, r"^patient: 1\.5 must be a whole number >= 0"),
    (0, True, r"^patient: True must be a whole number >= 0"),
    (0, "3", r"^patient: '3' must be a whole number >= 0"),
])
def test_a_bad_cohort_seed_or_patient_index_is_named(seed, index, needle):
    population = load_population(EXAMPLES / "breast_population.yaml")
    with pytest.raises(MetacascadeError, match=needle):
        population.patient(seed, index)
    with pytest.raises(MetacascadeError, match=needle):
        patient_seed(seed, index)
    with pytest.raises(MetacascadeError, match=needle):
        population.patients(seed, [index] * 20)  # (the streams derived together)


def test_numpy_whole_numbers_draw_the_same_patient():
    population = load_population(EXAMPLES / "breast_population.yaml")
    assert patient_seed(np.uint32(7), np.int64(3)) == patient_seed(7, 3)
    assert population.patient(np.int64(7), np.uint8(3))[2] == population.patient(7, 3)[2]


@pytest.mark.parametrize("rng", [1, None, np.random.SeedSequence(1)])
def test_a_distribution_draws_from_a_generator_only(rng):
    """(``draw(1)`` was "'int' object has no attribute 'uniform'")."""
    dist = Distribution.model_validate({"uniform": {"low": 1, "high": 2}, "unit": "mm"})
    needle = (r"^rng: expected a numpy Generator \(such as np\.random\.default_rng\(seed\)\), "
              f"not {type(rng).__name__}$")
    with pytest.raises(MetacascadeError, match=needle):
        dist.draw(rng)
    with pytest.raises(MetacascadeError, match=needle):
        dist.draw_number(rng)
    assert 1 <= dist.draw_number(np.random.default_rng(1)) <= 2


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1, 2**32, 2**64 + 3, 2**130 + 11])
def test_seed_states_are_numpys(seed):
    patients = [0, 1, 17, 255, 2**31, 2**32 - 1, 2**32, 2**33 + 1, 2**70]
    for stream in (2, 3, 2**40):
        for n_words in (1, 4):
            expected = [np.random.SeedSequence(seed, spawn_key=(stream, p)).generate_state(
                n_words, np.uint64) for p in patients]
            np.testing.assert_array_equal(seed_states(seed, stream, patients, n_words),
                                          np.array(expected))
    for p, state in zip(patients, seed_states(seed, 3, patients, 4), strict=True):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, p)))
        assert rng_from_state(state).bit_generator.state == rng.bit_generator.state


def _breast(path: str, spec: dict, **base) -> Population:
    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data.update(base)
    data["population"][path] = spec
    return Population.from_dict(data)


@pytest.mark.parametrize(("path", "spec", "base", "needle"), [
    ("cancer_overrides.doubling_time",
     {"lognormal": {"median": 157, "sigma": 0.4}, "unit": "mm"}, {},
     r"^population\.cancer_overrides\.doubling_time: its median '157.0 mm' is refused "
     r"\(cancer_overrides\.doubling_time: unit 'mm' cannot be converted to 'd'"),
    ("cancer_overrides.doubling_time",
     {"lognormal": {"median": 157, "sigma": 0.4}, "unit": "d", "truncate": [1000, 2000]}, {},
     r"^population\.cancer_overrides\.doubling_time\.truncate: \[1000\.0, 2000\.0\] keeps "
     r"\S+ of the lognormal; a patient's 1000 draws would all miss it with probability "
     r"\S+; widen it$"),
    ("primary_diameter_mm", {"uniform": {"low": 400, "high": 500}}, {},
     r"^population\.primary_diameter_mm: its middle 450\.0 is refused \(primary_diameter_mm: "),
    ("primary_diameter_mm", {"uniform": {"low": 10, "high": 40}, "truncate": [50, 60]}, {},
     r"truncate: \[50\.0, 60\.0\] keeps 0 of the uniform"),
    ("cancer", {"discrete": {"values": ["breast", "prostate"]}}, {},
     r"^population\.cancer: its value 'prostate' is refused with the other distributions "
     r"at their typical values \(.*arises in 'prostate'"),
    ("clinic.therapy.lines.0.resistant_fraction",
     {"lognormal": {"median": 0.05, "sigma": 0.7}, "unit": "d", "truncate": [0, 1]}, {},
     r"its median '0\.05 d' is refused \(unit: 'd', but this parameter is a plain number: "
     r"give no unit\)$"),
    ("clinic.draws.0.site", {"discrete": {"values": ["arm_vein", "toe"],
                                          "weights": [1, 0]}}, {}, None),  # (never drawn)
    # Numbers and quantities in one column: a shard of one kind could not be read with
    # the other's (pyarrow's "Could not convert '4 month'"; or an unreadable cohort).
    ("cancer_overrides.doubling_time", {"discrete": {"values": [80, "120 d", "4 month"]}},
     {}, r"^population\.cancer_overrides\.doubling_time\.discrete\.values: \[80\.0, "
     r"'120 d', '4 month'\] mix numbers and strings; give values of one kind"),
    ("vertebral_plexus", {"discrete": {"values": [True, 1]}}, {},
     r"mix numbers and truth values"),
    ("cancer_overrides.doubling_time",  # a truncation away from the median, kept enough
     {"lognormal": {"median": 157, "sigma": 0.4}, "unit": "d", "truncate": [300, 400]}, {},
     None),
])
def test_values_a_cohort_would_refuse_are_refused_up_front(path, spec, base, needle):
    """Before any patient: they stopped the cohort at the first patient to draw one."""
    if needle is None:
        _breast(path, spec, **base).patient(1, 0)
        return
    with pytest.raises(ScenarioError, match=needle):
        _breast(path, spec, **base)


def test_the_truncation_check_is_the_chance_of_a_refusal():
    """Kept share m: a patient's 1000 draws all miss with probability (1 - m) ** 1000."""
    from scipy import stats

    from metacascade.cohort.population import TRUNCATION_MISS

    median, sigma = 157.0, 0.4
    # The upper bound that keeps exactly the share whose misses have the allowed chance.
    kept = 1 - TRUNCATION_MISS ** (1 / 1000)
    edge = median * float(np.exp(sigma * stats.norm.ppf(kept)))
    spec = {"lognormal": {"median": median, "sigma": sigma}, "unit": "d"}
    below = stats.lognorm(sigma, scale=median).cdf(40.0)  # (kept out by the 40 d bound)
    assert below < 0.05 * kept
    _breast("cancer_overrides.doubling_time", {**spec, "truncate": [40.0, edge * 1.03]})
    with pytest.raises(ScenarioError, match="widen it"):
        _breast("cancer_overrides.doubling_time", {**spec, "truncate": [40.0, edge * 0.97]})


def test_a_combination_is_refused_with_the_typical_values_named():
    """Each value is valid alone; with the other distribution's typical value it is not."""
    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data.pop("body")
    del data["clinic"]
    data["population"] = {"cancer": {"discrete": {"values": ["breast", "prostate"],
                                                  "weights": [3, 1]}},
                          "body": {"discrete": {"values": ["adult_female", "adult_male"],
                                                "weights": [3, 1]}}}
    with pytest.raises(ScenarioError, match=r"^population\.cancer: its value 'prostate' is "
                       r"refused with the other distributions at their typical values \(body: "
                       r"cancer "
                       r"'prostate' arises in 'prostate', which body 'adult_female'"):
        Population.from_dict(data)


def test_a_nested_path_is_told_to_be_written_dotted():
    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data["population"] = {"cancer_overrides": {"doubling_time": {
        "lognormal": {"median": 157, "sigma": 0.4}, "unit": "d"}}}
    with pytest.raises(ScenarioError, match=r"^population\.cancer_overrides: no distribution "
                       r"\(lognormal, uniform or discrete\); a path is written dotted, as "
                       r"'cancer_overrides\.doubling_time: \{lognormal: \.\.\.\}'$"):
        Population.from_dict(data)


@pytest.mark.parametrize(("changes", "base"), [
    # a median outside the truncation: every draw inside it (was refused by its median)
    ({"clinic.therapy.lines.0.resistant_fraction": {
        "lognormal": {"median": 1.5, "sigma": 0.7}, "truncate": [0, 1]}}, {}),
    # a window drawn at both ends, valid together whatever the file's placeholders say
    ({"clinic.scans.0.start_day": {"uniform": {"low": 200, "high": 300}},
      "clinic.scans.0.stop_day": {"uniform": {"low": 400, "high": 500}}},
     {"clinic": {"scans": [{"modality": "ct", "every_weeks": 12, "start_day": 0,
                            "stop_day": 100}]}}),
    # a median below a one-sided truncation: the draws lie just above its low end (the
    # middle of [10, 100000] is far past the 300 mm bound; no draw goes there)
    ({"primary_diameter_mm": {"lognormal": {"median": 8, "sigma": 0.5},
                              "truncate": [10, 100000]}}, {}),
    ({"cancer_overrides.doubling_time": {"lognormal": {"median": 30, "sigma": 0.5},
                                         "unit": "d", "truncate": [60, 1e9]}}, {}),
    # no spread: the draw is the median, inside the interval that starts there
    ({"cancer_overrides.doubling_time": {"lognormal": {"median": 157, "sigma": 0},
                                         "unit": "d", "truncate": [157, 400]}}, {}),
])
def test_valid_populations_are_not_refused(changes, base):
    """False refusals a review found (each population's patients are all valid)."""
    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data.update(base)
    data["population"] = changes
    population = Population.from_dict(data)
    for i in range(20):
        scenario, _, values = population.patient(3, i)  # (a refused patient raises)
        assert isinstance(scenario, Scenario)
        for (path, dist), name in zip(population.distributions.items(),
                                      population.parameter_names(), strict=True):
            low, high = dist.truncate or (-np.inf, np.inf)
            assert low <= values[name] <= high, (path, values[name])


@pytest.mark.parametrize(("nested", "dotted"), [
    ({"cancer_overrides": {"doubling_time": {"lognormal": {"median": 100, "sigma": 0.2},
                                             "unit": "d"},
                           "soil": {"lung": {"uniform": {"low": 1, "high": 2}}}}},
     "cancer_overrides.doubling_time"),
    ({"cancer_overrides": {"soil": {"lung": {"lognormal": {"median": 1, "sigma": 0.2}}}}},
     "cancer_overrides.soil.lung"),
])
def test_a_path_nested_deeper_is_told_its_dotted_form(nested, dotted):
    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data["population"] = nested
    with pytest.raises(ScenarioError, match=rf"a path is written dotted, as '{dotted}: "):
        Population.from_dict(data)


def test_a_misspelt_distribution_is_not_taken_for_a_nested_path():
    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data["population"] = {"cancer_overrides.doubling_time": {"normal": {"mean": 1, "sd": 1}}}
    with pytest.raises(ScenarioError) as caught:
        Population.from_dict(data)
    assert "dotted" not in str(caught.value)
    assert str(caught.value).startswith("population.cancer_overrides.doubling_time.normal")


def test_a_population_already_run_is_read_without_the_check():
    """A cohort's manifest holds the population it was made with: reading it (the report,
    the tables' columns, the workers) must not refuse it for checks added since."""
    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data["population"]["primary_diameter_mm"] = {"uniform": {"low": 400, "high": 500}}
    with pytest.raises(ScenarioError, match="is refused"):
        Population.from_dict(data)
    read = Population.from_dict(data, check=False)
    assert "param_primary_diameter_mm" in read.parameter_names()


def test_a_range_whose_ends_are_refused_is_refused_up_front():
    """A drawn surgery day near the low end of its range, after a tumour-vein draw: the
    population passed its check (the typical patient) and the cohort stopped at the
    first patient to draw such a day."""
    data = copy.deepcopy(read_scenario_file(TRIAL))
    data["clinic"]["surgery_day"] = 1000
    data["clinic"]["draws"].append({"site": "tumour_vein", "every_weeks": 12,
                                    "start_day": 0, "stop_day": 600})
    data["population"] = {"clinic.surgery_day": _uniform(400, 1500)}
    with pytest.raises(ScenarioError, match=r"^population\.clinic\.surgery_day: its values "
                       r"near 400\.0011, the end of its range, are refused \(clinic\.draws"
                       r"\.\d: a tumour_vein draw on day 420, on or after surgery_day"):
        Population.from_dict(data)
    data["population"] = {"clinic.surgery_day": _uniform(700, 1500)}  # (after every draw)
    Population.from_dict(data)
    # WIDE's ranges pass invalid values: refused up front, the first such field named.
    with pytest.raises(ScenarioError, match=r"^population\.[\w.]+: its values near "
                       r"\S+, the end of its range, are refused with the other "
                       r"distributions at their typical values \("):
        _trial(WIDE)


def _from_yaml(lines: str) -> Population:
    import yaml

    data = copy.deepcopy(read_scenario_file(EXAMPLES / "breast_population.yaml"))
    data["population"] = yaml.safe_load(lines)
    return Population.from_dict(data)


def test_discrete_values_yaml_reads_as_text_are_numbers_where_the_parameter_is_one():
    """PyYAML reads 1e9 and 1.0e5 (no dot, or no sign in the exponent) as strings: the
    patients table held them as text, a unit was not appended, and [1e9, 100000] was
    refused as mixing numbers and strings."""
    population = _from_yaml(
        "cascade_overrides.doubling_reference_cells: {discrete: {values: [1e9, 100000]}}\n"
        "cancer_overrides.doubling_time: {discrete: {values: [1.2e2, 9E1, 2e+2]}, unit: d}\n"
        "clinic.therapy.lines.0.name: {discrete: {values: [1e3, 2e3]}}\n")
    values = {path: dist.discrete.values for path, dist in population.distributions.items()}
    assert values == {"cascade_overrides.doubling_reference_cells": [1e9, 1e5],
                      "cancer_overrides.doubling_time": [120.0, 90.0, 200.0],
                      "clinic.therapy.lines.0.name": ["1e3", "2e3"]}  # (a label: text)
    scenario, _, drawn = population.patient(1, 0)
    assert type(drawn["param_cascade_overrides__doubling_reference_cells"]) is float
    assert scenario.cancer_overrides.doubling_time == (
        f"{drawn['param_cancer_overrides__doubling_time']!r} d")  # (its unit appended)
    assert drawn["param_clinic__therapy__lines__0__name"] in ("1e3", "2e3")
    assert scenario.clinic.therapy.lines[0].name in ("1e3", "2e3")
    # What the manifest keeps reads back the same; so does a Distribution given as one.
    assert Population.from_dict(population.to_dict(), check=False).to_dict() == (
        population.to_dict())
    given = Population(population.scenario, {"cascade_overrides.doubling_reference_cells":
                                             Distribution(discrete={"values": ["1e9"]})})
    assert given.distributions["cascade_overrides.doubling_reference_cells"].discrete.values \
        == [1e9]


@pytest.mark.parametrize(("lines", "needle"), [
    ("cancer_overrides.doubling_time: {discrete: {values: [9e1, 4 month]}}",
     r"values: \[90\.0, '4 month'\] mix numbers and strings"),
    ("cascade_overrides.doubling_reference_cells: {discrete: {values: [1e9, 1e40]}}",
     r"^population\.cascade_overrides\.doubling_reference_cells: its value 1e\+40 is "
     r"refused"),
])
def test_discrete_numbers_read_as_text_are_refused_as_numbers(lines, needle):
    with pytest.raises(ScenarioError, match=needle):
        _from_yaml(lines)


def _readme_rerun_snippet() -> str:
    """The README's Python block that reruns one cohort patient alone."""
    import re

    readme = (EXAMPLES.parent / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S)
              if "population.patient(" in b]
    assert len(blocks) == 1, blocks
    return blocks[0]


def test_the_readme_s_rerun_of_one_cohort_patient_is_that_patient(monkeypatch):
    """The README said patient 17 of --engine patient is exactly simulate + follow "of its
    scenario and seed", but not how to get them; its snippet (and Population's
    docstring, which shows the same lines) gives the cohort's rows of that patient."""
    import pandas as pd

    from metacascade.cohort import patient_tables

    snippet = _readme_rerun_snippet()
    code = [line for line in snippet.splitlines() if line and not line.startswith("#")]
    doc = [line.strip() for line in (Population.__doc__ or "").splitlines()]
    assert all(line.strip() in doc for line in code), "Population's docstring differs"
    monkeypatch.chdir(EXAMPLES.parent)
    names: dict = {}
    exec(compile(snippet, "README.md", "exec"), names)
    population, scenario, seed, values = (names[k] for k in (
        "population", "scenario", "seed", "values"))
    row, colonies, observations = patient_tables(population, 1, 17)
    assert row["patient"] == 17 and row["seed"] == seed == scenario.seed
    assert values == {k: row[k] for k in population.parameter_names()}
    pd.testing.assert_frame_equal(
        observations.drop(columns="patient").reset_index(drop=True),
        names["course"].observations.reset_index(drop=True))
    assert row["colonies_founded"] == names["result"].final["colonies_founded"]
    assert len(colonies) and set(colonies["id"]) <= set(names["result"].colonies["id"])
