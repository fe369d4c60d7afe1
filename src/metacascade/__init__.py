"""metacascade: a simulator of hematogenous metastasis.

Cancer cells leave a tumour through its veins, ride the blood through a model of the
human circulation, die or arrest in capillary beds, and may grow into metastases.
The foundation exposes the catalogs (reference bodies, cancer types), the routing of
cells through the circulation as an absorbing Markov chain, and scenarios.
"""

from metacascade.engine.route import RouteResult, route
from metacascade.errors import (
    BodyError,
    CatalogError,
    MetacascadeError,
    ParameterError,
    ScenarioError,
)

__version__ = "0.1.0"

__all__ = [
    "BodyError",
    "CatalogError",
    "MetacascadeError",
    "ParameterError",
    "RouteResult",
    "ScenarioError",
    "__version__",
    "route",
]
