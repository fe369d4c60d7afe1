"""metacascade: a simulator of hematogenous metastasis.

Cancer cells leave a tumour through its veins, ride the blood through a model of the
human circulation, die or arrest in capillary beds, and may grow into metastases.
``route`` gives where a primary's cells arrest (closed form); ``simulate`` runs one
patient through the whole cascade and returns a :class:`Result`; ``simulate_cohort``
runs a population of patients into a Parquet dataset (:mod:`metacascade.cohort`,
imported when first used, as are ``Population`` and ``load_population``).
"""

from typing import Any

from metacascade._version import __version__
from metacascade.engine.kernel import simulate
from metacascade.engine.result import Result
from metacascade.engine.route import RouteResult, route
from metacascade.errors import (
    BodyError,
    CatalogError,
    MetacascadeError,
    ParameterError,
    ScenarioError,
)

__all__ = [
    "BodyError",
    "CatalogError",
    "MetacascadeError",
    "ParameterError",
    "Population",
    "Result",
    "RouteResult",
    "ScenarioError",
    "__version__",
    "load_population",
    "route",
    "simulate",
    "simulate_cohort",
]

#: Names given by metacascade.cohort, imported on first use (it needs pandas and pyarrow).
_COHORT = ("Population", "load_population", "simulate_cohort")


def __getattr__(name: str) -> Any:
    if name in _COHORT:
        from metacascade import cohort

        return getattr(cohort, name)
    raise AttributeError(f"module 'metacascade' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_COHORT))
