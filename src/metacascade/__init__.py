"""metacascade: a simulator of hematogenous metastasis.

Cancer cells leave a tumour through its veins, ride the blood through a model of the
human circulation, die or arrest in capillary beds, and may grow into metastases.
``route`` gives where a primary's cells arrest (closed form); ``simulate`` runs one
patient through the whole cascade and returns a :class:`Result`.
"""

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
    "Result",
    "RouteResult",
    "ScenarioError",
    "__version__",
    "route",
    "simulate",
]
