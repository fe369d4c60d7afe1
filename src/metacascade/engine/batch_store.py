"""The stores of the batched engine: colonies' lookup and sources.

How they are used step by step is described in :mod:`metacascade.engine.batch` (steps
1, 3 and 5 of its description). :class:`Sources` holds the colonies past their switch
(sorted by (patient, entry)) and those pending, and draws the colony each colonies'
event came from; :class:`ColonyLookup` holds what a colony's children need of it. The
draws are made from the ``rng`` passed in, in the order the engine calls them. The
dormant cells are in :mod:`metacascade.engine.batch_dormant`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.batch_plan import BatchPlan, vascular_cells

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_NO_INTS: IntArray = np.zeros(0, dtype=np.int64)


class ColonyLookup:
    """What a colony's children need of it (patient, id, generation), by store index.

    Added chunks are kept aside and copied into the columns (grown by doubling) only
    when the columns are read; the colonies' other columns are kept as one chunk per
    step.
    """

    def __init__(self) -> None:
        self.size = 0
        self.stored = 0
        self.columns = [np.zeros(0, dtype=np.int64) for _ in range(3)]
        self.added: list[tuple[IntArray, ...]] = []

    def add(self, *columns: IntArray) -> None:
        """Append colonies: their patient, id within the patient and generation."""
        self.added.append(columns)
        self.size += len(columns[0])

    def _flush(self) -> None:
        if not self.added:
            return
        if self.size > len(self.columns[0]):
            cap = max(self.size, 2 * len(self.columns[0]), 1024)
            for i, old in enumerate(self.columns):
                grown = np.empty(cap, dtype=np.int64)
                grown[: self.stored] = old[: self.stored]
                self.columns[i] = grown
        for i, column in enumerate(self.columns):
            column[self.stored:self.size] = np.concatenate([x[i] for x in self.added])
        self.stored, self.added = self.size, []

    @property
    def patient(self) -> IntArray:
        """The patient of each colony."""
        self._flush()
        return self.columns[0][: self.size]

    @property
    def local(self) -> IntArray:
        """The id of each colony within its patient (from 1, in founding order)."""
        self._flush()
        return self.columns[1][: self.size]

    @property
    def generation(self) -> IntArray:
        """The generation of each colony (1 for the primary's children)."""
        self._flush()
        return self.columns[2][: self.size]


class Sources:
    """Colonies past their switch (the sources), and those to become sources later.

    The sources' columns are kept in the order they became sources (grown by doubling),
    with a permutation that sorts them by key patient * entries + entry (in that order
    within a key); the colonies not yet sources that will be within the horizon are
    kept by the step they become one.
    """

    def __init__(self, plan: BatchPlan) -> None:
        self.plan = plan
        self.n = 0  # sources so far
        # Per source: key patient * entries + entry, store index, switch day, its
        # patient's Gompertz numbers (capacity, log(avascular/capacity), alpha) and
        # shedding rate, and its size at the end of step size_step (NaN for a source
        # added since).
        self._columns: dict[str, NDArray[np.generic]] = {
            "key": _NO_INTS, "index": _NO_INTS, "switch": np.zeros(0),
            "capacity": np.zeros(0), "log_ka_km": np.zeros(0), "alpha": np.zeros(0),
            "shedding": np.zeros(0), "size": np.zeros(0)}
        self.size_step = -1
        #: The sources sorted by key, their keys, and the sources of group g
        #: (patient * entries + entry) at order[offsets[g]:offsets[g + 1]].
        self.order = _NO_INTS
        self.sorted_key = _NO_INTS
        self.offsets = np.zeros(plan.P * plan.n_entries + 1, dtype=np.int64)
        #: Chunks (store index, key, switch) by the step they become sources, in the
        #: order they were founded.
        self.pending: list[list[tuple[IntArray, IntArray, FloatArray]]] = [
            [] for _ in range(plan.n_steps)]

    def column(self, name: str) -> NDArray[Any]:
        """The sources' values of one column (a view)."""
        return self._columns[name][: self.n]

    def activate(self, k: int) -> None:
        """Colonies whose switch is at or before step k's start become sources."""
        fresh, self.pending[k] = self.pending[k], []
        if not fresh:
            return
        index, key, switch = (np.concatenate(x) for x in zip(*fresh, strict=True))
        plan = self.plan
        p = key // plan.n_entries
        new = {"key": key, "index": index, "switch": switch, "capacity": plan.capacity[p],
               "log_ka_km": plan.log_ka_km[p], "alpha": plan.alpha[p],
               "shedding": plan.shedding[p], "size": np.full(key.size, np.nan)}
        end = self.n + key.size
        if end > len(self._columns["key"]):
            cap = max(end, 2 * len(self._columns["key"]), 1024)
            for name, old in self._columns.items():
                grown = np.empty(cap, dtype=old.dtype)
                grown[: self.n] = old[: self.n]
                self._columns[name] = grown
        for name, values in new.items():
            self._columns[name][self.n:end] = values
        fresh_order = np.argsort(key, kind="stable")
        at = np.searchsorted(self.sorted_key, key[fresh_order], side="right")
        self.order = np.insert(self.order, at, self.n + fresh_order)
        self.sorted_key = np.insert(self.sorted_key, at, key[fresh_order])
        self.offsets[1:] += np.cumsum(np.bincount(key, minlength=self.offsets.size - 1))
        self.n = end

    def shedding(self, k: int) -> tuple[FloatArray, FloatArray]:
        """Expected cells shed in step k by each source, and per (patient, entry)."""
        plan = self.plan
        groups = np.zeros((plan.P, plan.n_entries))
        if not self.n:
            return np.zeros(0), groups
        t0, t1 = plan.starts[k], plan.ends[k]
        capacity, log_ka_km, alpha, switch = (
            self.column(name) for name in ("capacity", "log_ka_km", "alpha", "switch"))

        def size(t: float, at: slice | IntArray = slice(None)) -> FloatArray:
            return vascular_cells(capacity[at], log_ka_km[at], alpha[at], t, switch[at])

        # A source's size at the step's start is its size at the last step's end.
        start = self.column("size")
        if self.size_step == k - 1 and k and plan.ends[k - 1] == t0:
            new = np.flatnonzero(np.isnan(start))
            start[new] = size(t0, new)
        else:
            start[:] = size(t0)
        end = size(t1)
        integral = (start + 4.0 * size(0.5 * (t0 + t1)) + end) / 6.0 * (t1 - t0)
        start[:] = end
        self.size_step = k
        expected = self.column("shedding") * integral
        groups.ravel()[:] = np.bincount(self.column("key"), weights=expected,
                                        minlength=plan.P * plan.n_entries)
        return expected, groups

    def schedule(self, k: int, index: IntArray, p: IntArray, o: IntArray,
                 switch: FloatArray) -> None:
        """Colonies founded in step k become sources from the first step at their switch.

        ``index``, ``p``, ``o`` and ``switch`` are the colonies' store index, patient,
        organ and switch day; those whose switch is past the last step's start never
        become sources.
        """
        plan = self.plan
        soon = np.flatnonzero(switch <= plan.starts[-1])
        step = np.maximum(np.searchsorted(plan.starts, switch[soon], side="left"), k + 1)
        soon, step = soon[step < plan.n_steps], step[step < plan.n_steps]
        if soon.size:
            order = np.argsort(step, kind="stable")
            soon, steps = soon[order], step[order]
            index = index[soon]
            key = p[soon] * plan.n_entries + plan.organ_entry[o[soon]]
            switch = switch[soon]
            cuts = [0, *(np.flatnonzero(steps[1:] != steps[:-1]) + 1).tolist(), steps.size]
            for a, b in pairwise(cuts):  # (a loop over steps)
                self.pending[int(steps[a])].append((index[a:b], key[a:b], switch[a:b]))

    def draw_colonies(self, rng: np.random.Generator, p: IntArray, entry: IntArray,
                      expected: FloatArray) -> IntArray:
        """Source code of each event, drawn within its (patient, entry) group.

        The colony is drawn proportional to ``expected`` (the step's expected shedding
        of each source) by binary search within the group's sources: the same index as
        ``searchsorted`` on the cumulative sum over the sources sorted by key, clipped
        to the group.
        """
        plan = self.plan
        group = p * plan.n_entries + entry
        start, end = self.offsets[group], self.offsets[group + 1]
        total = np.concatenate([[0.0], np.cumsum(expected[self.order])])
        base_w = total[start]
        at = base_w + rng.random(p.size) * (total[end] - base_w)
        # The last source of the group whose cumulative shedding before it is <= at (as
        # searchsorted on total, clipped to the group), by binary lifting from start.
        j, final = start, end - 1
        step = 1 << int((end - start).max(initial=1) - 1).bit_length()
        while step:
            cand = np.minimum(j + step, final)
            j = np.where(total[cand] <= at, cand, j)
            step >>= 1
        return np.asarray(plan.P + self.column("index")[self.order[j]], dtype=np.int64)
