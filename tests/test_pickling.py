"""Scenarios, populations and catalog entries can be sent to other processes (pickle).

Researchers spread patients over processes themselves (``multiprocessing``,
``concurrent.futures``, Dask): what they pass must pickle, and the copy must simulate
exactly what the original does.
"""

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import metacascade
from metacascade.cancers import get_cancer
from metacascade.cohort import load_population
from metacascade.physiology import get_body
from metacascade.scenario import Scenario, load_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _short(path: Path) -> Scenario:
    data = load_scenario(path).model_dump(mode="json", exclude_none=True)
    return Scenario.from_dict({**data, "horizon_years": 3, "seed": 11})


def _run(scenario: Scenario) -> dict[str, object]:
    return metacascade.simulate(scenario).summary()


def test_catalog_entries_round_trip() -> None:
    body, cancer = get_body("adult_male"), get_cancer("prostate")
    body2, cancer2 = pickle.loads(pickle.dumps((body, cancer)))
    assert body2.organs == body.organs
    assert dict(body2.beds["lung"].drains_to) == dict(body.beds["lung"].drains_to)
    assert dict(cancer2.soil) == dict(cancer.soil)
    with pytest.raises(TypeError):  # still read-only after the round trip
        cancer2.soil["lung"] = None  # type: ignore[index]


@pytest.mark.parametrize("name", ["prostate_plexus.yaml", "breast_metastatic_ctc.yaml"])
def test_a_pickled_scenario_simulates_the_same(name: str) -> None:
    scenario = _short(EXAMPLES / name)
    copy = pickle.loads(pickle.dumps(scenario))
    assert copy.model_dump() == scenario.model_dump()
    assert _run(copy) == _run(scenario)


def test_a_pickled_population_draws_the_same_patients() -> None:
    population = load_population(EXAMPLES / "breast_population.yaml")
    copy = pickle.loads(pickle.dumps(population))
    for patient in (0, 7):
        ours, seed, values = population.patient(3, patient)
        theirs, seed2, values2 = copy.patient(3, patient)
        assert (seed2, values2) == (seed, values)
        assert theirs.model_dump() == ours.model_dump()


def test_a_scenario_runs_in_another_process() -> None:
    scenario = _short(EXAMPLES / "prostate_plexus.yaml")
    context = multiprocessing.get_context("spawn")  # nothing inherited from this process
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(_run, scenario).result(timeout=300) == _run(scenario)
