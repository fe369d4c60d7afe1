"""The stores of the batched engine: colonies' lookup and sources.

How they are used step by step is described in :mod:`metacascade.engine.batch` (steps
1, 3 and 5 of its description). :class:`Sources` holds the colonies past their switch
(sorted by (patient, entry)) and those pending, and draws the colony each colonies'
event came from; :class:`ColonyLookup` holds what a colony's children need of it; both
keep their columns in :class:`Columns` (appended to step by step). The draws are made
from the ``rng`` passed in, in the order the engine calls them. The dormant cells are in
:mod:`metacascade.engine.batch_dormant`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.engine import _store_loops as _loops
from metacascade.engine.batch_plan import BatchPlan

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_NO_INTS: IntArray = np.zeros(0, dtype=np.int64)


class Columns:
    """Named columns appended to in chunks, grown by doubling (amortised O(1) per row).

    ``rows`` are in use; :meth:`view` gives a column's rows in use (a view, valid until
    the next append), :meth:`keep` drops rows, keeping the others in order.
    """

    def __init__(self, dtypes: dict[str, type[np.generic]], rows: int = 0) -> None:
        self.rows = rows
        self._data: dict[str, NDArray[Any]] = {
            name: np.zeros(max(rows, 1024), dtype=dtype) for name, dtype in dtypes.items()}

    def view(self, name: str) -> NDArray[Any]:
        """The rows in use of one column (a view)."""
        return self._data[name][: self.rows]

    def whole(self, name: str) -> NDArray[Any]:
        """One column with its rows reserved but not in use (valid until it grows)."""
        return self._data[name]

    def reserve(self, extra: int) -> int:
        """Room for ``extra`` more rows (grown by doubling); returns the first new row."""
        end = self.rows + extra
        capacity = len(next(iter(self._data.values())))
        if end > capacity:
            capacity = max(end, 2 * capacity)
            for name, old in self._data.items():
                grown = np.empty(capacity, dtype=old.dtype)
                grown[: self.rows] = old[: self.rows]
                self._data[name] = grown
        return self.rows

    def append(self, **values: NDArray[Any]) -> None:
        """Append rows: one array per column, all of the same length."""
        size = len(next(iter(values.values())))
        at = self.reserve(size)
        for name, column in values.items():
            self._data[name][at:at + size] = column
        self.rows = at + size

    def keep(self, rows: IntArray) -> None:
        """Keep only ``rows`` (increasing), in order."""
        for column in self._data.values():
            column[: rows.size] = column[rows]
        self.rows = rows.size


class StepRuns:
    """Rows due in later steps, kept in runs by step (for the compiled loops).

    ``rows`` hold the columns, appended to in chunks; each chunk's rows are sorted by the
    step they are due in, and each step's rows of a chunk are one run (its first row and
    size in ``runs``), linked at the end of the step's list (its first run ``head`` and
    last ``tail``, -1 for none; a run's next, ``runs`` column "next"). ``due``: the rows
    of each step's list. Rows are never dropped.
    """

    def __init__(self, steps: int, dtypes: dict[str, type[np.generic]]) -> None:
        self.rows = Columns(dtypes)
        self.runs = Columns({"start": np.int64, "size": np.int64, "next": np.int64})
        self.head = np.full(steps, -1, dtype=np.int64)
        self.tail = np.full(steps, -1, dtype=np.int64)
        self.due = np.zeros(steps, dtype=np.int64)

    def reserve(self, extra: int) -> tuple[int, int]:
        """Room for ``extra`` more rows and their runs: the first new row and run."""
        return self.rows.reserve(extra), self.runs.reserve(min(extra, self.head.size))

    def links(self) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray]:
        """The runs' columns (whole: start, size, next), ``head``, ``tail`` and ``due``."""
        run = self.runs.whole
        return run("start"), run("size"), run("next"), self.head, self.tail, self.due

    def runs_in_use(self) -> tuple[IntArray, IntArray, IntArray]:
        """The runs' columns in use (start, size, next)."""
        run = self.runs.view
        return run("start"), run("size"), run("next")


class ColonyLookup:
    """What a colony's children need of it (id within its patient, generation), by code.

    A source's code is its patient for the primary and ``P`` + its store index for a
    colony; the first ``P`` rows are the primaries' (id 0 and generation 0, so that a
    child's parent is ``local[code]`` and its generation ``generation[code] + 1``, with
    no case for the primary's children).
    """

    def __init__(self, patients: int) -> None:
        self.patients = patients
        self._columns = Columns({"local": np.int64, "generation": np.int64}, rows=patients)

    @property
    def size(self) -> int:
        """Colonies stored."""
        return self._columns.rows - self.patients

    def add(self, local: IntArray, generation: IntArray) -> None:
        """Append colonies: their id within the patient and their generation."""
        self._columns.append(local=local, generation=generation)

    @property
    def local(self) -> IntArray:
        """The id of each source within its patient (from 1, in founding order), by code."""
        return self._columns.view("local")

    @property
    def generation(self) -> IntArray:
        """The generation of each source (1 for the primary's children), by code."""
        return self._columns.view("generation")


class Sources:
    """Colonies past their switch (the sources), and those to become sources later.

    The sources' columns are kept in the order they became sources (grown by doubling),
    with a permutation that sorts them by key patient * entries + entry (in that order
    within a key); the colonies not yet sources that will be within the horizon are
    kept in founding order with the step they become one.
    """

    def __init__(self, plan: BatchPlan) -> None:
        self.plan = plan
        # Per source: key patient * entries + entry, code (P + store index), switch day,
        # its patient's Gompertz numbers (capacity, log(avascular/capacity), -alpha) and
        # shedding rate, and its size at the end of step size_step (for the first
        # `sized` sources).
        self._columns = Columns({
            "key": np.int64, "code": np.int64, "switch": np.float64,
            "capacity": np.float64, "log_ka_km": np.float64, "neg_alpha": np.float64,
            "shedding": np.float64, "size": np.float64})
        self.size_step = -1
        self.sized = 0
        #: (4, P) what a source reads of its patient.
        self._patient_numbers = np.stack([plan.capacity, plan.log_ka_km, -plan.alpha,
                                          plan.shedding])
        #: The sources sorted by key, and the sources of group g (patient * entries +
        #: entry) at order[offsets[g]:offsets[g + 1]].
        self.order = _NO_INTS
        self.offsets = np.zeros(plan.P * plan.n_entries + 1, dtype=np.int64)
        #: Colonies to become sources: the step they do, code, key and switch day (in
        #: founding order; rows of past steps are dropped now and then).
        self._pending = Columns({"step": np.int32, "code": np.int64, "key": np.int64,
                                 "switch": np.float64})
        self._done = 0  # pending rows whose step is past
        #: With the compiled loops (:mod:`._store_loops`; chosen once, for the whole
        #: run), the pending rows are kept by step (never dropped); the buffer holds
        #: the shedding's exponents.
        self._compiled = _jit.ENABLED
        self._by_step = StepRuns(plan.n_steps, {"code": np.int64, "key": np.int64,
                                                "switch": np.float64})
        self._buffer = np.zeros(0)
        #: (P,) patients whose colonies shed no more (:meth:`stop`).
        self._stopped = np.zeros(plan.P, dtype=bool)

    @property
    def n(self) -> int:
        """Sources so far."""
        return self._columns.rows

    def column(self, name: str) -> NDArray[Any]:
        """The sources' values of one column (a view)."""
        return self._columns.view(name)

    def stop(self, patients: IntArray) -> None:
        """The colonies of ``patients`` shed no more (their histories have ended).

        Their sources are dropped now, and their colonies that pass their switch later
        when they do (:meth:`activate`): an ended history founds nothing, so shedding
        would only add to its ledger, at a cost that grows with its colonies.
        """
        self._stopped[patients] = True
        self._drop_stopped(0)

    def _drop_stopped(self, first: int) -> None:
        """Drop the sources of stopped patients, if any is among rows ``first`` on.

        The others keep their order (by key, then as they became sources) and sizes.
        """
        entries = self.plan.n_entries
        key = self.column("key")
        if not self._stopped[key[first:] // entries].any():
            return
        keep = ~self._stopped[key // entries]
        self.sized = int(np.count_nonzero(keep[: self.sized]))
        index = np.cumsum(keep) - 1  # a kept row's index once the others are dropped
        self.order = np.asarray(index[self.order[keep[self.order]]], dtype=np.int64)
        self._columns.keep(np.flatnonzero(keep))
        self.offsets[1:] = np.cumsum(np.bincount(self.column("key"),
                                                 minlength=self.offsets.size - 1))

    def activate(self, k: int) -> None:
        """Colonies whose switch is at or before step k's start become sources.

        (Those of a patient whose colonies shed no more, :meth:`stop`, are dropped.)
        """
        first = self.n
        self._activate(k)
        if self._stopped.any():
            self._drop_stopped(first)

    def _activate(self, k: int) -> None:
        if self._compiled:
            self._activate_compiled(k)
            return
        pending = self._pending
        if not pending.rows:
            return
        due = np.flatnonzero(pending.view("step") == k)
        if not due.size:
            return
        code, key, switch = (pending.view(name)[due] for name in ("code", "key", "switch"))
        self._done += due.size
        if 2 * self._done > pending.rows:  # drop the rows of past steps (order kept)
            pending.keep(np.flatnonzero(pending.view("step") > k))
            self._done = 0
        plan = self.plan
        p = key // plan.n_entries
        n = self.n
        capacity, log_ka_km, neg_alpha, shedding = self._patient_numbers[:, p]
        self._columns.append(key=key, code=code, switch=switch, capacity=capacity,
                             log_ka_km=log_ka_km, neg_alpha=neg_alpha, shedding=shedding)
        # The new sources go after their group's (a stable merge): at the group's end, as
        # np.insert(order, offsets[key + 1], n + fresh) would put them.
        fresh = np.argsort(key, kind="stable")
        at = self.offsets[key[fresh] + 1]
        at += np.arange(fresh.size)  # (their positions once inserted)
        order = np.empty(n + fresh.size, dtype=np.int64)
        old = np.ones(order.size, dtype=bool)
        old[at] = False
        order[at] = n + fresh
        order[old] = self.order
        self.order = order
        self.offsets[1:] += np.cumsum(np.bincount(key, minlength=self.offsets.size - 1))

    def _activate_compiled(self, k: int) -> None:
        """:meth:`activate` with the compiled loops: step k's list of pending rows."""
        by_step = self._by_step
        m = int(by_step.due[k])
        if not m:
            return
        columns, n, pending = self._columns, self.n, by_step.rows.view
        columns.rows = columns.reserve(m) + m
        col = columns.view
        self.order = _loops.activate(
            int(by_step.head[k]), m, *by_step.runs_in_use(), pending("code"),
            pending("key"), pending("switch"), self.plan.n_entries,
            self._patient_numbers, n, col("key"), col("code"), col("switch"),
            col("capacity"), col("log_ka_km"), col("neg_alpha"), col("shedding"),
            self.order, self.offsets)

    def _vascular(self, t: float, at: slice, out: FloatArray) -> None:
        """Cells at ``t`` of the sources ``at`` (Gompertz), into ``out``.

        The operations of :func:`vascular_cells` in the same order, in place; its
        ``maximum(t - switch, 0)`` is ``t - switch`` here, as a source's switch is at or
        before the start of every step it sheds in.
        """
        col = self._columns.view
        np.subtract(t, col("switch")[at], out=out)
        np.multiply(col("neg_alpha")[at], out, out=out)
        np.exp(out, out=out)
        np.multiply(col("log_ka_km")[at], out, out=out)
        np.exp(out, out=out)
        np.multiply(col("capacity")[at], out, out=out)

    def shedding(self, k: int) -> tuple[FloatArray, FloatArray]:
        """Expected cells shed in step k by each source, and per (patient, entry)."""
        plan = self.plan
        if not self.n:
            return np.zeros(0), np.zeros((plan.P, plan.n_entries))
        t0, t1 = plan.starts[k], plan.ends[k]
        # A source's size at the step's start is its size at the last step's end.
        size = self.column("size")
        if not (self.size_step == k - 1 and k and plan.ends[k - 1] == t0):
            self.sized = 0
        if self._compiled:
            return self._shedding_compiled(k, t0, t1, size)
        if self.sized < self.n:
            self._vascular(t0, slice(self.sized, self.n), size[self.sized:])
        # (start + 4 mid + end) / 6 * (t1 - t0), as vascular_cells' callers computed it;
        # the end overwrites the start once added.
        integral = np.empty(self.n)
        self._vascular(0.5 * (t0 + t1), slice(None), integral)
        integral *= 4.0
        integral += size
        self._vascular(t1, slice(None), size)
        integral += size
        integral /= 6.0
        integral *= t1 - t0
        self.size_step, self.sized = k, self.n
        expected = np.multiply(self.column("shedding"), integral, out=integral)
        groups = np.bincount(self.column("key"), weights=expected,
                             minlength=plan.P * plan.n_entries)
        return expected, np.asarray(groups.reshape(plan.P, plan.n_entries), dtype=float)

    def _shedding_compiled(self, k: int, t0: float, t1: float, size: FloatArray,
                           ) -> tuple[FloatArray, FloatArray]:
        """:meth:`shedding` with the compiled loops, from its sizes' check (same bytes)."""
        plan, n, sized, col = self.plan, self.n, self.sized, self.column
        used = 3 * n - sized
        if self._buffer.size < used:
            self._buffer = np.zeros(max(used, 2 * self._buffer.size))
        cells = self._buffer[:used]
        _loops.exponents(sized, np.array([t0, 0.5 * (t0 + t1), t1]), col("switch"),
                         col("neg_alpha"), cells)
        np.exp(cells, out=cells)
        _loops.scale(sized, col("log_ka_km"), cells)
        np.exp(cells, out=cells)
        expected, groups = _loops.shed(sized, col("capacity"), col("shedding"), col("key"),
                                       plan.P * plan.n_entries, float(t1 - t0), cells, size)
        self.size_step, self.sized = k, n
        return expected, groups.reshape(plan.P, plan.n_entries)

    def schedule(self, k: int, code: IntArray, p: IntArray, o: IntArray,
                 switch: FloatArray) -> None:
        """Colonies founded in step k become sources from the first step at their switch.

        ``code``, ``p``, ``o`` and ``switch`` are the colonies' source code, patient,
        organ and switch day; those whose switch is past the last step's start never
        become sources.
        """
        plan = self.plan
        if self._compiled:
            by_step = self._by_step
            rows, runs = by_step.reserve(switch.size)
            whole = by_step.rows.whole
            by_step.rows.rows, by_step.runs.rows = _loops.schedule(
                k, code, p, o, switch, plan.starts, plan.n_entries, plan.organ_entry, rows,
                runs, whole("code"), whole("key"), whole("switch"), *by_step.links())
            return
        soon = np.flatnonzero(switch <= plan.starts[-1])  # (most switch later)
        step = np.maximum(np.searchsorted(plan.starts, switch[soon], side="left"), k + 1)
        soon, step = soon[step < plan.n_steps], step[step < plan.n_steps]
        if soon.size:
            self._pending.append(
                step=step, code=code[soon], switch=switch[soon],
                key=p[soon] * plan.n_entries + plan.organ_entry[o[soon]])

    def draw_colonies(self, rng: np.random.Generator, p: IntArray, entry: IntArray,
                      expected: FloatArray) -> IntArray:
        """Source code of each event, drawn within its (patient, entry) group.

        The colony is drawn proportional to ``expected`` (the step's expected shedding
        of each source) by binary search within the group's sources: the same index as
        ``searchsorted`` on the cumulative sum over the sources sorted by key, clipped
        to the group.
        """
        plan = self.plan
        if _jit.ENABLED:  # (the draw first: what comes before it draws nothing)
            return _draw_sources(rng.random(p.size), p, entry, plan.n_entries, self.offsets,
                                 expected, self.order, self.column("code"))
        group = p * plan.n_entries + entry
        start, end = self.offsets[group], self.offsets[group + 1]
        total = np.empty(self.n + 1)
        total[0] = 0.0
        np.cumsum(np.take(expected, self.order), out=total[1:])  # (take: a faster gather)
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
        return np.asarray(self.column("code")[self.order[j]], dtype=np.int64)


@_jit.jit
def _draw_sources(uniform: FloatArray, p: IntArray, entry: IntArray, entries: int,
                  offsets: IntArray, expected: FloatArray, order: IntArray, code: IntArray,
                  ) -> IntArray:
    """:meth:`Sources.draw_colonies` after its draw (``uniform``): the same codes.

    Replaces the cumulative sum of ``expected`` over the sources sorted by key (``np.take``
    then ``np.cumsum``, which adds in index order, as here), each event's point ``base +
    uniform * (total[end] - base)`` and the binary lifting: a binary search for the same
    index, the last of the group whose cumulative sum before it is ``<= at`` (the sums
    never decrease).
    """
    total = np.empty(order.size + 1)
    total[0] = 0.0
    if order.size:
        running = expected[order[0]]
        total[1] = running
        for i in range(1, order.size):
            running += expected[order[i]]
            total[i + 1] = running
    out = np.empty(p.size, dtype=np.int64)
    for e in range(p.size):
        group = p[e] * entries + entry[e]
        start, end = offsets[group], offsets[group + 1]
        base = total[start]
        at = base + uniform[e] * (total[end] - base)
        low, high = start, end - 1  # total[low] <= at; the answer is in [low, high]
        while low < high:
            middle = (low + high + 1) >> 1
            if total[middle] <= at:
                low = middle
            else:
                high = middle - 1
        out[e] = code[order[low]]
    return out
