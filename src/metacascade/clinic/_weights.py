"""The circulation weights of the draw sites, for a batch of patients.

For :class:`~metacascade.clinic._lesions.Lesions`: each patient's concentration weights
(:meth:`~metacascade.clinic.biopsy.Circulation.concentration_weights`) at every draw site
of the clinic, computed once per distinct circulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.clinic.course import circulation_for
from metacascade.engine.compile import CompiledModel
from metacascade.errors import ParameterError
from metacascade.physiology import get_body, list_bodies
from metacascade.scenario import Clinic, Scenario

FloatArray = NDArray[np.float64]


def circulation_weights(models: Sequence[CompiledModel], scenarios: Sequence[Scenario],
                        clinic: Clinic) -> dict[str, FloatArray]:
    """Per draw site, the (patients, entries) concentration weights (none without draws).

    ParameterError if a patient's circulation does not have its model's entries.
    """
    sites = sorted({d.site for d in clinic.draws})
    if not sites:
        return {}
    rows: dict[str, list[FloatArray]] = {s: [] for s in sites}
    # The weights depend only on what Circulation.for_cancer reads: for a catalog body
    # (routing compiled by name), its name, the cancer's size class, emboli and
    # primary organ, the cluster size and the vertebral plexus option.
    known: dict[tuple[Any, ...], tuple[tuple[str, ...], list[FloatArray]]] = {}
    for model, scenario in zip(models, scenarios, strict=True):
        body, cancer = scenario.resolve()
        key: tuple[Any, ...] | None = None
        if body.name in list_bodies() and get_body(body.name) is body:
            cancer.check_body(body)
            key = (body.name, cancer.size_class.name, cancer.cluster_share.value,
                   cancer.platelet_share.value, cancer.primary_organ,
                   cancer.lymphatic_share.value,
                   scenario.cascade().cells_per_cluster.value, scenario.vertebral_plexus)
        if key is None or key not in known:
            circulation = circulation_for(scenario)
            found = (circulation.entries,
                     [circulation.concentration_weights(site) for site in sites])
            if key is not None:
                known[key] = found
        else:
            found = known[key]
        entries, weights = found
        if entries != model.entries:
            raise ParameterError("clinic: the circulation's entries differ from the "
                                 "model's")
        for site, w in zip(sites, weights, strict=True):
            rows[site].append(w)
    return {s: np.stack(v) for s, v in rows.items()}
