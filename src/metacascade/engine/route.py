"""Where the cells shed by a primary end up: the closed-form routing of one cancer.

Cells leave the primary through its venous drainage, except a share
(``lymphatic_share``) that goes through the lymphatics first. The arrest shares are the
absorption probabilities of the compiled chain, mixed over those two entry points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from metacascade._checks import is_truth_value
from metacascade.cancers import Cancer, get_cancer
from metacascade.errors import CatalogError, ParameterError
from metacascade.physiology import Body, get_body
from metacascade.physiology.routing import RoutingChain, compile_routing


@dataclass(frozen=True)
class RouteResult:
    """Fates of cells shed by one primary, over all passes through the circulation.

    Attributes
    ----------
    cancer, body, embolus
        What was routed.
    vertebral_plexus
        Whether the vertebral venous plexus was open.
    arrest
        Organ -> share of shed cells that ends arrested there.
    died_in_blood
        Share killed in the blood before arresting anywhere.
    mean_time_in_blood_s
        Mean time in blood until arrest or death, in s (time in lymph not counted).

    """

    cancer: str
    body: str
    embolus: str
    vertebral_plexus: bool
    arrest: dict[str, float]
    died_in_blood: float
    mean_time_in_blood_s: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as ``metacascade route --json`` prints it: every attribute.

        ``{"cancer", "body", "embolus", "vertebral_plexus", "arrest": {organ: share},
        "died_in_blood", "mean_time_in_blood_s"}``.
        """
        return {
            "cancer": self.cancer,
            "body": self.body,
            "embolus": self.embolus,
            "vertebral_plexus": self.vertebral_plexus,
            "arrest": dict(self.arrest),
            "died_in_blood": self.died_in_blood,
            "mean_time_in_blood_s": self.mean_time_in_blood_s,
        }

    def ranked(self) -> list[tuple[str, float]]:
        """Organs by arrest share, largest first."""
        return sorted(self.arrest.items(), key=lambda item: -item[1])


def entry_weights(cancer: Cancer) -> dict[str, float]:
    """Entry points of cells shed by ``cancer`` and the share entering at each."""
    lymph = cancer.lymphatic_share.value
    weights = {cancer.primary_organ: 1.0 - lymph}
    if lymph > 0:
        weights["lymphatic"] = lymph
    return weights


def route_chain(chain: RoutingChain, cancer: Cancer) -> tuple[np.ndarray, float]:
    """Absorption probabilities and mean time in blood for cells shed by ``cancer``."""
    shares = np.zeros(len(chain.absorbing))
    time = 0.0
    for entry, weight in entry_weights(cancer).items():
        i = chain.entry_index(entry)
        shares += weight * chain.absorption[i]
        time += weight * float(chain.time_in_blood_s[i])
    return shares, time


def route(cancer: str | Cancer, *, body: str | Body | None = None, embolus: str = "single",
          vertebral_plexus: bool = True) -> RouteResult:
    """Route the cells shed by a primary through the compiled circulation.

    Parameters
    ----------
    cancer
        A cancer type or its catalog name.
    body
        A body or its catalog name; by default the cancer's default body.
    embolus
        ``"single"``, ``"cluster"`` or ``"platelet"``.
    vertebral_plexus
        ``False`` closes the vertebral venous plexus (for comparison).

    Returns
    -------
    RouteResult
        Arrest share per organ, share died in blood (together summing to 1) and mean
        time in blood.

    """
    if not isinstance(cancer, str | Cancer):
        raise CatalogError(f"cancer: expected a cancer's catalog name or a Cancer, not "
                           f"{type(cancer).__name__}")
    if not is_truth_value(vertebral_plexus):
        raise ParameterError(f"vertebral_plexus: {vertebral_plexus!r} is not true or false")
    vertebral_plexus = bool(vertebral_plexus)
    cancer_obj = get_cancer(cancer) if isinstance(cancer, str) else cancer
    body_obj = (body if isinstance(body, Body)
                else get_body(cancer_obj.default_body if body is None else body))
    cancer_obj.check_body(body_obj)
    chain = compile_routing(body_obj, embolus, size_class=cancer_obj.size_class.name,
                            vertebral_plexus=vertebral_plexus)
    shares, time = route_chain(chain, cancer_obj)
    return RouteResult(
        cancer=cancer_obj.name,
        body=body_obj.name,
        embolus=embolus,
        vertebral_plexus=chain.vertebral_plexus,
        arrest={organ: float(shares[i]) for i, organ in enumerate(chain.states)},
        died_in_blood=float(shares[-1]),
        mean_time_in_blood_s=time,
    )
