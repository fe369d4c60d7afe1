"""metacascade: a simulator of hematogenous metastasis.

Cancer cells leave a tumour through its veins, ride the blood through a model of the
human circulation, die or arrest in capillary beds, and may grow into metastases.
``route`` gives where a primary's cells arrest (closed form); ``simulate`` runs one
patient of a :class:`Scenario` (``load_scenario`` reads one from a file) through the
whole cascade and returns a :class:`Result`, and ``follow`` follows it through the
clinic; ``simulate_cohort`` runs a :class:`Population` of patients into a Parquet
dataset (:mod:`metacascade.cohort`) and ``analyze`` analyses it
(:mod:`metacascade.analysis`). Each is imported when first used, so that ``import
metacascade`` (and the command line, until a command needs them) does not wait for
NumPy and pandas.
"""

import importlib
from typing import TYPE_CHECKING, Any

from metacascade._version import __version__
from metacascade.errors import (
    BodyError,
    CatalogError,
    MetacascadeError,
    ParameterError,
    ScenarioError,
)

if TYPE_CHECKING:
    from metacascade.analysis.analyze import analyze
    from metacascade.clinic.course import follow
    from metacascade.cohort import Population, load_population, simulate_cohort
    from metacascade.engine.kernel import simulate
    from metacascade.engine.result import Result
    from metacascade.engine.route import RouteResult, route
    from metacascade.scenario import Scenario, load_scenario

__all__ = [
    "BodyError",
    "CatalogError",
    "MetacascadeError",
    "ParameterError",
    "Population",
    "Result",
    "RouteResult",
    "Scenario",
    "ScenarioError",
    "__version__",
    "analyze",
    "follow",
    "load_population",
    "load_scenario",
    "route",
    "simulate",
    "simulate_cohort",
]

#: The names imported on first use, and their modules (the engine needs NumPy and
#: pandas, about half a second to import; the cohort also pyarrow; a scenario pydantic
#: and pint).
_LAZY = {"simulate": "metacascade.engine.kernel", "Result": "metacascade.engine.result",
         "route": "metacascade.engine.route", "RouteResult": "metacascade.engine.route",
         "Scenario": "metacascade.scenario", "load_scenario": "metacascade.scenario",
         "follow": "metacascade.clinic.course", "analyze": "metacascade.analysis",
         **dict.fromkeys(("Population", "load_population", "simulate_cohort"),
                         "metacascade.cohort")}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'metacascade' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # (looked up here from now on)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
