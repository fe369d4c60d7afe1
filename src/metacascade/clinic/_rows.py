"""Observation rows of many patients, collected in blocks and sorted once."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.clinic.course import _KIND_ORDER, OBSERVATION_COLUMNS

#: The fields of a block after its patients, and each one's column type.
_FIELDS: tuple[type, ...] = (np.float64, np.int64, object, object, np.int64, np.float64)


class Rows:
    """Blocks of observation rows; :meth:`table` sorts them as ``_observation_table`` does.

    Each patient's rows go by time, kind (:data:`_KIND_ORDER`), lesion, then the order
    they were added, as :func:`~metacascade.clinic.course.follow` orders them.

    A block keeps its fields as given (one value for all its rows, or one per row) and
    :meth:`table` builds the columns once: each column repeats the blocks' single values
    and then writes the blocks' own rows over theirs (the same values, converted to the
    column's type by the same assignment, as building each block's column apart).
    """

    def __init__(self) -> None:
        self._blocks: list[tuple[NDArray[np.int64], tuple[Any, ...]]] = []
        #: Each block's blood volume, mL (NaN: not a draw).
        self._volumes: list[float] = []
        #: After :meth:`table`: each row's blood volume, mL (NaN but for draws).
        self.volume_ml: NDArray[np.float64] = np.zeros(0)

    def add(self, patients: NDArray[np.int64], t: Any, kind: str, name: Any, organ: Any,
            lesion: Any, value: Any, *, volume_ml: float = math.nan) -> None:
        """One row per patient in ``patients``; the other fields broadcast against it.

        ``volume_ml``: a draw's blood volume (:attr:`volume_ml` gives it per row).
        """
        if len(patients) == 0:
            return
        self._blocks.append((np.asarray(patients, dtype=np.int64),
                             (t, _KIND_ORDER[kind], name, organ, lesion, value)))
        self._volumes.append(volume_ml)

    def table(self) -> pd.DataFrame:
        """``patient`` and :data:`OBSERVATION_COLUMNS`, sorted.

        :attr:`volume_ml` is then each row's blood volume (NaN but for draws).
        """
        kinds = np.empty(len(_KIND_ORDER), dtype=object)
        for kind_name, code in _KIND_ORDER.items():
            kinds[code] = kind_name
        counts = np.array([len(p) for p, _ in self._blocks], dtype=np.int64)
        patient = (np.concatenate([p for p, _ in self._blocks]) if self._blocks
                   else np.zeros(0, dtype=np.int64))
        ends = np.cumsum(counts).tolist()
        starts = [end - count for end, count in zip(ends, counts.tolist(), strict=True)]
        time, kind, name, organ, lesion, value = (
            self._column(j, dtype, counts, starts, ends) for j, dtype in enumerate(_FIELDS))
        order = np.arange(len(patient), dtype=np.int64)
        sort = np.lexsort((order, lesion, kind, time, patient))
        self.volume_ml = np.repeat(np.array(self._volumes, dtype=np.float64), counts)[sort]
        return pd.DataFrame({
            "patient": patient[sort], "time_days": time[sort], "kind": kinds[kind[sort]],
            "name": name[sort], "organ": organ[sort], "lesion": lesion[sort],
            "value": value[sort]}, columns=["patient", *OBSERVATION_COLUMNS])

    def _column(self, j: int, dtype: type, counts: NDArray[np.int64], starts: list[int],
                ends: list[int]) -> NDArray[Any]:
        """The j-th field of every block as one column of ``dtype``."""
        single: NDArray[Any] = np.empty(len(self._blocks), dtype=dtype)
        own: list[int] = []
        for i, (_, fields) in enumerate(self._blocks):
            if np.ndim(fields[j]) == 0:
                single[i] = fields[j]
            else:
                single[i] = 0 if dtype is not object else None
                own.append(i)
        out: NDArray[Any] = np.repeat(single, counts)
        for i in own:
            out[starts[i]:ends[i]] = self._blocks[i][1][j]
        return out
