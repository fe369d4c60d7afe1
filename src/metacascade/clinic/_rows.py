"""Observation rows of many patients, collected in blocks and sorted once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.clinic.course import _KIND_ORDER, OBSERVATION_COLUMNS


class Rows:
    """Blocks of observation rows; :meth:`table` sorts them as ``_observation_table`` does.

    Each patient's rows go by time, kind (:data:`_KIND_ORDER`), lesion, then the order
    they were added, as :func:`~metacascade.clinic.course.follow` orders them.
    """

    def __init__(self) -> None:
        self._blocks: list[tuple[NDArray[Any], ...]] = []
        self._count = 0

    def add(self, patients: NDArray[np.int64], t: Any, kind: str, name: Any, organ: Any,
            lesion: Any, value: Any) -> None:
        """One row per patient in ``patients``; the other fields broadcast against it."""
        n = len(patients)
        if n == 0:
            return

        def text(values: Any) -> NDArray[np.object_]:
            column = np.empty(n, dtype=object)
            column[:] = values
            return column

        def column(values: Any, dtype: type) -> NDArray[Any]:
            if np.ndim(values) == 0:
                return np.full(n, values, dtype=dtype)
            out: NDArray[Any] = np.asarray(values, dtype=dtype)
            return out if out.shape == (n,) else np.broadcast_to(out, (n,))

        self._blocks.append((
            np.asarray(patients, dtype=np.int64), column(t, np.float64),
            np.full(n, _KIND_ORDER[kind], dtype=np.int64), text(name), text(organ),
            column(lesion, np.int64), column(value, np.float64),
            np.arange(self._count, self._count + n, dtype=np.int64)))
        self._count += n

    def table(self) -> pd.DataFrame:
        """``patient`` and :data:`OBSERVATION_COLUMNS`, sorted."""
        kinds = np.empty(len(_KIND_ORDER), dtype=object)
        for kind_name, code in _KIND_ORDER.items():
            kinds[code] = kind_name
        if self._blocks:
            columns = [np.concatenate(c) for c in zip(*self._blocks, strict=True)]
        else:
            columns = [np.zeros(0, dtype=d) for d in
                       (np.int64, np.float64, np.int64, object, object, np.int64,
                        np.float64, np.int64)]
        patient, time, kind, name, organ, lesion, value, order = columns
        sort = np.lexsort((order, lesion, kind, time, patient))
        return pd.DataFrame({
            "patient": patient[sort], "time_days": time[sort], "kind": kinds[kind[sort]],
            "name": name[sort], "organ": organ[sort], "lesion": lesion[sort],
            "value": value[sort]}, columns=["patient", *OBSERVATION_COLUMNS])
