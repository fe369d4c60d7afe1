"""What the patients of one batch must share to be followed together.

:func:`check_shared` is what :func:`~metacascade.clinic.batch.follow_batch` checks before
it builds the batch's :class:`~metacascade.clinic._lesions.Lesions`: the clinic section
(but for the regimens' :data:`EFFECT_FIELDS`, which a population may vary by patient),
the horizon, and the body's organs and circulation entries. The cohort groups its
patients by the same key (:func:`_clinic_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metacascade.engine.batch_result import BatchResult
from metacascade.errors import ParameterError
from metacascade.scenario import Clinic, Scenario

#: Regimen fields a population may vary by patient within one batch.
EFFECT_FIELDS = ("dose", "kill_rate", "brain_exposure", "shedding_factor", "ctc_survival",
                 "resistant_fraction")


def check_shared(batch: BatchResult, scenarios: Sequence[Scenario]) -> Clinic:
    """The clinic the patients share; ParameterError naming the first field that differs."""
    if len(batch) != len(scenarios) or not len(batch):
        raise ParameterError(f"results: {len(batch)} results for {len(scenarios)} "
                             "scenarios; give one scenario per result, at least one")
    clinics = [s.clinic if s.clinic is not None else Clinic() for s in scenarios]
    first = _clinic_key(clinics[0])
    for clinic in clinics[1:]:
        key = _clinic_key(clinic)
        where = None if key == first else _difference(first, key)
        if where is not None:
            raise ParameterError(f"clinic{where}: differs between the patients of a batch; "
                                 "follow them one by one")
    model = batch.models[0]
    for other in batch.models[1:]:
        if other.horizon_days != model.horizon_days:
            raise ParameterError("horizon_years: differs between the patients of a batch")
        if (other.organs != model.organs or other.entries != model.entries
                or not np.array_equal(other.organ_entry, model.organ_entry)):
            raise ParameterError("body: the patients of a batch must share the body's "
                                 "organs and circulation entries")
    return clinics[0]


def _clinic_key(clinic: Clinic) -> dict[str, Any]:
    data = clinic.model_dump(mode="json")
    for line in (data.get("therapy") or {}).get("lines", []):
        for name in EFFECT_FIELDS:
            line.pop(name, None)
    return data


def _difference(a: Any, b: Any, where: str = "") -> str | None:
    """Dotted path of the first difference between two plain-data trees, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _difference(a.get(key), b.get(key), f"{where}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _difference(x, y, f"{where}.{i}")
            if found is not None:
                return found
        return None
    return None if a == b else where
