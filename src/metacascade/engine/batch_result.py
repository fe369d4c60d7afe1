"""Many patients' engine results as flat columns: :class:`BatchResult`.

The batch engine makes every colony of a batch in a few arrays; building one
:class:`~metacascade.engine.result.Result` per patient means slicing and copying them
again. A cohort never needs those objects: the batch clinic and the cohort tables read
the flat columns directly. :class:`BatchResult` holds them, and builds a patient's
:class:`Result` only when asked (:meth:`BatchResult.result`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import CompiledModel
from metacascade.engine.result import COLONY_DTYPES, Result, Snapshot, build_result

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BatchSnapshot:
    """Every patient's :class:`Snapshot` at one ledger time (arrays over patients)."""

    t_days: float
    shed: IntArray
    died: IntArray
    #: (patients, organs, 5) cumulative counters.
    counters: IntArray
    #: (patients, organs) dormant cells now.
    dormant_now: IntArray
    colonies: IntArray


@dataclass(frozen=True, eq=False)
class BatchResult:
    """The engine results of a batch of patients, as flat columns.

    Attributes
    ----------
    models, seeds
        Patient ``i``'s compiled model and recorded seed.
    engine
        The engine's name (the results' provenance).
    offsets
        (patients + 1,) patient ``i``'s colonies are rows ``offsets[i]:offsets[i + 1]``
        of ``colonies``, in id order.
    colonies
        The columns of :data:`~metacascade.engine.result.COLONY_DTYPES`, every
        colony of the batch, patient by patient.
    snapshots
        One :class:`BatchSnapshot` per ledger time.
    primary_cells_end
        (patients,) cells in each primary at the horizon.
    history_end
        (patients,) day each patient's history ends: inf for the horizon, else the start
        of the step in which its colonies would have passed
        :data:`~metacascade.engine.limits.MAX_COLONIES`. It is exact up to that day and
        holds no colony founded after it; its ledger stops at the last snapshot before
        that day (the later ones repeat it). None: every history ran to the horizon.

    """

    models: tuple[CompiledModel, ...]
    seeds: tuple[int, ...]
    engine: str
    offsets: IntArray
    colonies: Mapping[str, NDArray[Any]] = field(repr=False)
    snapshots: tuple[BatchSnapshot, ...] = field(repr=False)
    primary_cells_end: FloatArray = field(repr=False)
    history_end: FloatArray | None = field(repr=False, default=None)

    def __len__(self) -> int:
        """Number of patients."""
        return len(self.models)

    @property
    def counts(self) -> IntArray:
        """(patients,) colonies founded by each patient."""
        return np.asarray(np.diff(self.offsets), dtype=np.int64)

    @property
    def patient(self) -> IntArray:
        """(colonies,) the patient (batch position) of each colony row."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.counts)

    @property
    def history_end_day(self) -> FloatArray:
        """(patients,) :attr:`history_end`, inf for every patient if None."""
        if self.history_end is None:
            return np.full(len(self), np.inf)
        return self.history_end

    def result(self, i: int) -> Result:
        """Patient ``i``'s :class:`Result` (its colony columns copied)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        snapshots = [Snapshot(s.t_days, int(s.shed[i]), int(s.died[i]), s.counters[i],
                              s.dormant_now[i], int(s.colonies[i])) for s in self.snapshots]
        return build_result(self.models[i], self.seeds[i], self.engine,
                            {name: x[a:b] for name, x in self.colonies.items()},
                            snapshots, primary_cells_end=float(self.primary_cells_end[i]),
                            history_end_day=float(self.history_end_day[i]))

    def results(self) -> list[Result]:
        """Every patient's :class:`Result`, in order."""
        return [self.result(i) for i in range(len(self))]


def as_batch(results: Sequence[Result] | BatchResult) -> BatchResult:
    """A :class:`BatchResult` of per-patient results (their columns concatenated).

    The ledger snapshots are not carried over (the clinic and the cohort tables do not
    read them); the results' ``history_end_day`` are (None if every one is inf); a
    :class:`BatchResult` is returned as it is.
    """
    if isinstance(results, BatchResult):
        return results
    counts = np.array([len(r.raw.organ) for r in results], dtype=np.int64)
    ends = np.array([r.history_end_day for r in results], dtype=float)

    def join(name: str, dtype: type[np.generic]) -> NDArray[Any]:
        parts = [np.asarray(getattr(r.raw, name)) for r in results]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    return BatchResult(
        models=tuple(r.model for r in results),
        seeds=tuple(int(r.provenance["seed"]) for r in results),
        engine=str(results[0].provenance["engine"]) if results else "",
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        colonies={name: join(name, dtype) for name, dtype in COLONY_DTYPES.items()},
        snapshots=(),
        primary_cells_end=np.array([r.primary_cells_end for r in results], dtype=float),
        history_end=ends if np.isfinite(ends).any() else None)
