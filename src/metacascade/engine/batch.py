"""The batched engine: many patients at once, step by step, as arrays of patients x organs.

The law is the per-patient kernel's (:mod:`.kernel`): time in steps of ``step_days``,
rates piecewise constant within a step, the same sources, emboli, fates, dormant pool
and colonies. Only the order of the draws differs, so a batch of one patient does not
reproduce ``kernel.run`` draw for draw; it reproduces it in law.

Each step, for the whole batch:

1. **Sources.** The primary of every patient, and every colony whose switch is at or
   before the step's start, shed Poisson cells with mean ``shedding_per_cell_per_day``
   times the Simpson integral of their size over the step. The expected emboli ending
   in each absorbing state are summed per patient in two **parts**: the primary's, and
   the colonies' (grouped by entry: a colony's emboli enter at its organ's outflow).
   By Poisson superposition the two parts are independent and can be drawn apart.
2. **The primary's part** needs no attribution (its source is the primary). Single
   cells made dormant or founding a colony: a Poisson count per patient, kind and
   organ (see below for how). Clusters, per patient and organ: where rare clusters
   (with a dormant or dividing cell) are many, cell by cell (a Poisson number of
   clusters, then binomial dormant cells and founders; the other cells' fates are
   multinomial, drawn at the record); where few, the rare clusters one by one (split
   cell by cell with a zero-truncated binomial) and the plain ones at the record.
3. **The colonies' part** is small. Its rare fates are Poisson counts too, each
   event then attributed to its source in two categorical draws: the entry (weights:
   the patient's expected cells per entry times the routing, summed once per (patient,
   organ, kind) met), then the colony within (patient, entry) proportional to its
   expected shedding (one global cumulative sum over the sources sorted by (patient,
   entry), each event's segment from per-group offsets). Both draws find their index
   by a vectorised binary search over each event's own row or segment (the index
   ``searchsorted`` would give). Rare clusters are split cell by cell as the
   primary's.

   A field of Poisson counts (patients x kinds and organs) is drawn one count per mean
   where the mean is above :data:`DENSE_MEAN`, and by Poisson splitting elsewhere (a
   Poisson total per patient, each event's column from one global cumulative sum with
   per-patient offsets and ``searchsorted``): the same law, at a cost that grows with
   the events rather than the cells of the field.
4. **Dormant cohorts**: the cells made dormant by the primaries (patients x organs),
   and those made dormant by colonies as flat arrays (source, organ, cells, patient)
   sorted by key. The pool at the step's start has ``Binomial(cells, 1 - exp(-(w + m)
   dt))`` events per cohort, ``Binomial(events, w / (w + m))`` of them wakings, of
   which ``Binomial(woken, q_wake)`` found colonies (founded uniformly in the step,
   parent the cohort's source); the rest died or went extinct. Empty cohorts are
   skipped (a binomial of 0 cells is 0 and takes nothing from the stream); emptied
   colonies' cohorts are dropped once they are a quarter of all. Cells made dormant in
   the step join the pool at its end (new keys sorted by a radix argsort and merged).
5. **Colonies** founded in the step get a uniform founding time in it, ``W ~ Exp(mean
   1/q)``, a depth and a switch, are sorted by (patient, founding time) and appended;
   each becomes a source from the first step starting at or after its switch (kept
   until then in that step's list). A source's size at a step's start is its size at
   the previous step's end.
6. **Common fates** (failed, died after extravasation, extinct, died in blood, plain
   clusters) only feed the counters: their Poisson means are summed per patient and
   drawn once per ledger record interval (Poisson additivity, exact given the sources).

Python work is paid per step (a few hundred NumPy calls), NumPy work grows with the
patients, organs, sources, dormant cohorts and colonies, never with cells. The draws
are made in a fixed order from the one ``rng``, so the same stream gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.batch_plan import BatchPlan, vascular_cells
from metacascade.engine.batch_result import BatchResult, BatchSnapshot
from metacascade.engine.compile import CompiledModel
from metacascade.engine.kernel import MAX_COLONIES, MAX_POISSON_MEAN, EngineError
from metacascade.engine.result import (
    ARRESTED,
    COLONY_DTYPES,
    DIED_AFTER,
    EXTINCT,
    FAILED,
    WOKE,
    Result,
)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: Colonies to found: (patient, organ, source code, count, via) per part.
Founders = list[tuple[IntArray, IntArray, IntArray, IntArray, int]]
#: Cells made dormant: (source code, organ, cells, patient) per part.
Dormant = list[tuple[IntArray, IntArray, IntArray, IntArray]]

#: Means of the colonies' rare fates above which each is drawn as its own Poisson count
#: rather than by splitting a per-patient total (both exact; this bounds the cost).
DENSE_MEAN = 0.5

_NO_INTS: IntArray = np.zeros(0, dtype=np.int64)


def run_batch(models: Sequence[CompiledModel], rng: np.random.Generator, *,
              seeds: Sequence[int] | None = None) -> BatchResult:
    """Simulate one patient per compiled model, all at once.

    Parameters
    ----------
    models
        One compiled model per patient. They may differ in growth, shedding, soils,
        establishment and the other per-patient numbers, but must share the body, the
        embolus kinds, the entries, the step grid and the horizon.
    rng
        The one random stream of the whole batch.
    seeds
        Recorded as each result's seed (0 by default).

    Returns
    -------
    BatchResult
        The colonies of every patient as flat columns, with ``engine="kernel-batch"``
        (:meth:`BatchResult.results` gives one :class:`Result` per model, in order).

    Raises
    ------
    EngineError
        If the models differ in a structural field (named), a patient founds more than
        ``MAX_COLONIES`` colonies (the patient index is named), or shedding is beyond
        ``MAX_POISSON_MEAN``.

    """
    if not models:
        raise EngineError("models: give at least one compiled model")
    if seeds is not None and len(seeds) != len(models):
        raise EngineError(f"{len(seeds)} seeds for {len(models)} models")
    plan = BatchPlan(models)
    state = _Batch(plan, rng)
    record_at = set(plan.record_steps)
    for k in range(plan.n_steps):
        state.step(k)
        if k in record_at:
            state.record(k)
    return state.batch_result([0] * len(models) if seeds is None else list(seeds))


def simulate_batch(models: Sequence[CompiledModel], rng: np.random.Generator, *,
                   seeds: Sequence[int] | None = None) -> list[Result]:
    """Simulate one patient per compiled model, all at once: one :class:`Result` each.

    :func:`run_batch` (same arguments, same draws), with the results built per patient
    (``engine="kernel-batch"``); an empty list for no models.
    """
    if not models:
        return []
    return run_batch(models, rng, seeds=seeds).results()


class _Lookup:
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
        self._flush()
        return self.columns[0][: self.size]

    @property
    def local(self) -> IntArray:
        self._flush()
        return self.columns[1][: self.size]

    @property
    def generation(self) -> IntArray:
        self._flush()
        return self.columns[2][: self.size]


class _Batch:
    """The state of a batch run: counters, dormant cohorts, sources, colonies."""

    def __init__(self, plan: BatchPlan, rng: np.random.Generator) -> None:
        self.plan, self.rng = plan, rng
        P, n = plan.P, plan.n
        self.counters = np.zeros((P, n, 5), dtype=np.int64)
        self.shed = np.zeros(P, dtype=np.int64)
        self.died = np.zeros(P, dtype=np.int64)
        self.colonies = np.zeros(P, dtype=np.int64)
        self.lookup = _Lookup()
        #: The colonies founded in each step (COLONY_DTYPES columns, in store order).
        self.chunks: list[dict[str, NDArray[Any]]] = []
        # Sources (colonies past their switch), sorted by key patient * entries + entry.
        self.src_key = _NO_INTS
        self.src_index = _NO_INTS
        self.src_switch = np.zeros(0)
        # Per source: its patient's Gompertz numbers (capacity, log(avascular/capacity),
        # alpha) and shedding rate, and its size at the end of step src_size_step (NaN
        # for a source added since).
        self.src_growth = [np.zeros(0) for _ in range(4)]
        self.src_size = np.zeros(0)
        self.src_size_step = -1
        #: Sources of group g (patient * entries + entry): src_offsets[g]:src_offsets[g + 1].
        self.src_offsets = np.zeros(plan.P * plan.n_entries + 1, dtype=np.int64)
        #: Colonies not yet sources that will be within the horizon, by the step they
        #: become one: chunks (store index, key, switch) in the order they were founded.
        self.pending: list[list[tuple[IntArray, IntArray, FloatArray]]] = [
            [] for _ in range(plan.n_steps)]
        # Dormant cohorts: the primaries' (patients x organs), and the colonies', sorted
        # by key (source code * organs + organ). A source code is the patient for a
        # primary, P + the colony's store index for a colony.
        self.pool = np.zeros((P, n), dtype=np.int64)
        self.d_key = _NO_INTS
        self.d_count = _NO_INTS
        self.d_patient = _NO_INTS  # the patient of each colonies' cohort
        self.d_empty = 0  # (about how many of them are empty)
        # Means (and cells) of the common fates since the last record; acc_plain: the
        # clusters (organs + 1) whose rare ones were drawn one by one.
        self.acc_single = np.zeros((P, n + 1))
        self.acc_cluster_blood = np.zeros((P, len(plan.cluster_sizes)))
        self.acc_plain = [np.zeros((P, n + 1)) for _ in plan.cluster_sizes]
        self.acc_rest = np.zeros((P, n), dtype=np.int64)
        self.acc_total = np.zeros(P)
        self.snapshots: list[tuple[float, IntArray, IntArray, IntArray, IntArray,
                                   IntArray]] = []

    # -- one step ----------------------------------------------------------------
    def step(self, k: int) -> None:
        plan = self.plan
        n = plan.n
        self._activate(k)
        expected, groups = self._shedding(k)
        prim = plan.primary_expected[:, k]
        self.acc_total += prim + groups.sum(axis=1)
        if float(self.acc_total.max()) > MAX_POISSON_MEAN or not np.isfinite(
                self.acc_total).all():
            p = int(np.argmax(np.where(np.isfinite(self.acc_total), self.acc_total, np.inf)))
            raise EngineError(
                f"patient {p}: shedding of {self.acc_total[p]:.3g} cells by day "
                f"{plan.ends[k]:.0f} is beyond what the engine can draw exactly; shorten "
                "the horizon or lower the shedding rate or tumour size")
        # Expected emboli per absorbing state (P x organs + 1), primary and colonies.
        single_prim = prim[:, None] * plan.single_primary_row
        single_col = np.einsum("pe,pes->ps", groups, plan.single_by_entry)
        cluster_prim = [prim[:, None] * row for row in plan.cluster_primary_rows]
        cluster_col = [(groups @ absorption) * share[:, None] for absorption, share in
                       zip(plan.cluster_absorption, plan.cluster_per_cell, strict=True)]
        self.acc_single += single_prim + single_col
        for c in range(len(plan.cluster_sizes)):
            self.acc_cluster_blood[:, c] += cluster_prim[c][:, n]
            self.acc_plain[c] += cluster_col[c]

        dormant: Dormant = []
        founders: Founders = []
        self._primary_part(single_prim, cluster_prim, dormant, founders)
        self._colony_part(k, expected, groups, single_col, cluster_col, dormant, founders)
        self._dormant_events(k, founders)
        self._join(dormant)
        self._found(k, founders)

    def _activate(self, k: int) -> None:
        """Colonies whose switch is at or before the step's start become sources."""
        fresh, self.pending[k] = self.pending[k], []
        if not fresh:
            return
        index, key, switch = (np.concatenate(x) for x in zip(*fresh, strict=True))
        order = np.argsort(key, kind="stable")
        key, index, switch = key[order], index[order], switch[order]
        at = np.searchsorted(self.src_key, key, side="right")
        self.src_key = np.insert(self.src_key, at, key)
        self.src_index = np.insert(self.src_index, at, index)
        self.src_switch = np.insert(self.src_switch, at, switch)
        p = key // self.plan.n_entries
        plan = self.plan
        self.src_growth = [np.insert(column, at, values[p]) for column, values in zip(
            self.src_growth, (plan.capacity, plan.log_ka_km, plan.alpha, plan.shedding),
            strict=True)]
        self.src_size = np.insert(self.src_size, at, np.nan)
        self.src_offsets[1:] = np.cumsum(np.bincount(
            self.src_key, minlength=self.plan.P * self.plan.n_entries))

    def _shedding(self, k: int) -> tuple[FloatArray, FloatArray]:
        """Expected cells shed in step k by each colony source, and per (patient, entry)."""
        plan = self.plan
        groups = np.zeros((plan.P, plan.n_entries))
        if not self.src_key.size:
            return np.zeros(0), groups
        t0, t1 = plan.starts[k], plan.ends[k]
        capacity, log_ka_km, alpha, shedding = self.src_growth

        def size(t: float, at: slice | IntArray = slice(None)) -> FloatArray:
            return vascular_cells(capacity[at], log_ka_km[at], alpha[at], t,
                                  self.src_switch[at])

        # A source's size at the step's start is its size at the last step's end.
        if self.src_size_step == k - 1 and k and plan.ends[k - 1] == t0:
            start = self.src_size
            new = np.flatnonzero(np.isnan(start))
            start[new] = size(t0, new)
        else:
            start = size(t0)
        sizes = [start, size(0.5 * (t0 + t1)), size(t1)]
        self.src_size, self.src_size_step = sizes[2], k
        integral = (sizes[0] + 4.0 * sizes[1] + sizes[2]) / 6.0 * (t1 - t0)
        expected = shedding * integral
        groups.ravel()[:] = np.bincount(self.src_key, weights=expected,
                                        minlength=plan.P * plan.n_entries)
        return expected, groups

    def _primary_part(self, single: FloatArray, clusters: list[FloatArray],
                      dormant: Dormant,
                      founders: Founders) -> None:
        """Rare fates of the primary's cells: dormant cells and founders per organ.

        Single cells: Poisson counts (large means one by one, small ones by splitting).
        Clusters, per patient and organ: where rare clusters are many, cell by cell (a
        Poisson number of clusters, binomial dormant cells and founders, the other
        cells' fates kept for the record); where few, rare clusters one by one (split
        cell by cell) and the plain ones kept for the record as a Poisson mean.
        """
        plan, rng, n = self.plan, self.rng, self.plan.n
        means = np.concatenate([single[:, :n] * plan.p_dormant, single[:, :n] * plan.p_found],
                               axis=1)
        p, column, count = _poisson_counts(rng, means)
        kind, o = np.divmod(column, n)
        self._tally(p, o, (ARRESTED, count))
        asleep, found = kind == 0, kind == 1
        dormant.append((p[asleep], o[asleep], count[asleep], p[asleep]))
        founders.append((p[found], o[found], p[found], count[found], 0))
        for c, m in enumerate(plan.cluster_sizes):
            arrested = clusters[c][:, :n]
            rare = arrested * plan.cluster_rare[c]
            many = rare > DENSE_MEAN
            at = np.flatnonzero(many)
            cells = m * rng.poisson(arrested.ravel()[at])
            c_asleep = rng.binomial(cells, plan.p_dormant.ravel()[at])
            c_found = rng.binomial(cells - c_asleep, plan.founder_given_active.ravel()[at])
            pa, oa = np.divmod(at, n)  # each (patient, organ) once
            self.counters[pa, oa, ARRESTED] += cells
            self.acc_rest[pa, oa] += cells - c_asleep - c_found
            dormant.append((pa, oa, c_asleep, pa))
            founders.append((pa, oa, pa, c_found, 0))
            self.acc_plain[c][:, :n] += np.where(many, 0.0, arrested)
            p, column, count = _poisson_counts(rng, np.where(many, 0.0, rare))
            if p.size:
                p, o = np.repeat(p, count), np.repeat(column, count)
                self._split_clusters(c, p, o, p, dormant, founders)

    def _colony_part(self, k: int, expected: FloatArray, groups: FloatArray,
                     single: FloatArray, clusters: list[FloatArray],
                     dormant: Dormant,
                     founders: Founders) -> None:
        """Rare fates of the colonies' cells, each attributed to its source."""
        plan, n = self.plan, self.plan.n
        if not expected.size:
            return
        means = np.concatenate(
            [single[:, :n] * plan.p_dormant, single[:, :n] * plan.p_found,
             *(clusters[c][:, :n] * plan.cluster_rare[c]
               for c in range(len(plan.cluster_sizes)))], axis=1)
        p, column, count = _poisson_counts(self.rng, means)
        if not p.size:
            return
        p, column = np.repeat(p, count), np.repeat(column, count)
        kind, o = np.divmod(column, n)
        code = self._attribute(p, kind, o, expected, groups)
        for which, parts in ((0, dormant), (1, None)):
            chosen = kind == which
            if chosen.any():
                ones = np.ones(int(chosen.sum()), dtype=np.int64)
                self._tally(p[chosen], o[chosen], (ARRESTED, 1))
                if parts is None:
                    founders.append((p[chosen], o[chosen], code[chosen], ones, 0))
                else:
                    parts.append((code[chosen], o[chosen], ones, p[chosen]))
        for c in range(len(plan.cluster_sizes)):
            chosen = kind == 2 + c
            if chosen.any():
                self._split_clusters(c, p[chosen], o[chosen], code[chosen], dormant,
                                     founders)

    def _attribute(self, p: IntArray, kind: IntArray, o: IntArray, expected: FloatArray,
                   groups: FloatArray) -> IntArray:
        """Source code of each rare event of the colonies' part (two categorical draws).

        The entry's weights depend only on the event's row (patient, organ and single
        cell or cluster kind): they are built and summed once per row met, and each
        event's entry is found by binary search in its row's cumulative sum. The colony
        is then found by binary search within the sources of its (patient, entry) group
        (the same index as ``searchsorted`` on the global cumulative sum, clipped).
        """
        plan, rng = self.plan, self.rng
        E, P, n = plan.n_entries, plan.P, plan.n
        # Row of each event: (single cell or cluster kind c) x patient x organ.
        family = np.maximum(kind - 1, 0)
        row = (family * P + p) * n + o
        seen = np.zeros((1 + len(plan.cluster_sizes)) * P * n, dtype=bool)
        seen[row] = True
        rows = np.flatnonzero(seen)
        number = np.cumsum(seen) - 1
        r_family, r_rest = np.divmod(rows, P * n)
        r_p, r_o = np.divmod(r_rest, n)
        weights = np.empty((rows.size, E))
        single = r_family == 0
        weights[single] = plan.single_by_entry[r_p[single], :, r_o[single]]
        for c in range(len(plan.cluster_sizes)):
            chosen = r_family == 1 + c
            weights[chosen] = plan.cluster_absorption[c][:, r_o[chosen]].T
        weights *= groups[r_p]
        cum = np.cumsum(weights, axis=1)
        last = E - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
        r = number[row]
        u = rng.random(p.size) * cum[r, -1]
        # Entry: how many of the row's cumulative weights are <= u (they never decrease):
        # one plus the last index whose weight is <= u, by binary lifting from -1.
        flat, base = cum.ravel(), r * E
        top = np.full(p.size, -1, dtype=np.int64)
        step = 1 << int(E - 1).bit_length()
        while step:
            cand = np.minimum(top + step, E - 1)
            top = np.where(flat[base + cand] <= u, cand, top)
            step >>= 1
        entry = np.minimum(top + 1, last[r])
        group = p * E + entry
        start, end = self.src_offsets[group], self.src_offsets[group + 1]
        total = np.concatenate([[0.0], np.cumsum(expected)])
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
        return np.asarray(plan.P + self.src_index[j], dtype=np.int64)

    def _split_clusters(self, c: int, p: IntArray, o: IntArray, code: IntArray,
                        dormant: Dormant,
                        founders: Founders,
                        ) -> None:
        """Split rare clusters of kind ``c`` cell by cell (zero-truncated binomial)."""
        plan, rng = self.plan, self.rng
        m = plan.cluster_sizes[c]
        u = rng.random(p.size)
        r = 1 + (u[:, None] >= plan.cluster_rare_cdf[c][p, o, :-1]).sum(axis=1)
        asleep = rng.binomial(r, plan.dormant_given_rare[p, o])
        divide = r - asleep
        found = rng.binomial(divide, plan.q[p])
        failed = rng.binomial(m - r, plan.fail_given_common[p, o])
        self._tally(p, o, (ARRESTED, m), (FAILED, failed), (DIED_AFTER, m - r - failed),
                    (EXTINCT, divide - found))
        some = asleep > 0
        dormant.append((code[some], o[some], asleep[some], p[some]))
        some = found > 0
        founders.append((p[some], o[some], code[some], found[some], 0))

    def _dormant_events(self, k: int, founders: Founders) -> None:
        """Wakings and deaths of the pool at the step's start; woken cells may found.

        Each cohort has ``Binomial(cells, 1 - exp(-(w + m) dt))`` events, each a waking
        with probability w / (w + m); a woken cell founds a colony with the organ's
        ``wake_founding``, else goes extinct.
        """
        plan, rng, n = self.plan, self.rng, self.plan.n
        p_event = plan.p_event[:, k]
        # The primaries' cohorts (patients x organs), then the colonies'. Empty cohorts
        # are skipped: a binomial of 0 cells is 0 and draws nothing from the stream.
        pool = self.pool.ravel()
        held = np.flatnonzero(pool)
        events = rng.binomial(pool[held], p_event[held // n])
        some = events > 0
        hit, ev = held[some], events[some]
        pool[hit] -= ev
        ph, oh = np.divmod(hit, n)
        ch = ph
        if self.d_key.size:
            d_events = rng.binomial(self.d_count, p_event[self.d_patient])
            hit = np.flatnonzero(d_events)
            if hit.size:
                self.d_count[hit] -= d_events[hit]
                code, o = np.divmod(self.d_key[hit], n)
                ph, oh, ch, ev = (np.concatenate([a, b]) for a, b in
                                  ((ph, self.d_patient[hit]), (oh, o), (ch, code),
                                   (ev, d_events[hit])))
                # Emptied cohorts stay (their binomials draw nothing) until they are a
                # quarter of all.
                self.d_empty += int(np.count_nonzero(self.d_count[hit] == 0))
                if 4 * self.d_empty > self.d_count.size:
                    keep = self.d_count > 0
                    self.d_key, self.d_count, self.d_patient = (
                        self.d_key[keep], self.d_count[keep], self.d_patient[keep])
                    self.d_empty = 0
        if not ev.size:
            return
        woke = rng.binomial(ev, plan.wake_share[ph])
        found = rng.binomial(woke, plan.wake_founding[ph, oh])
        self._tally(ph, oh, (DIED_AFTER, ev - woke), (WOKE, woke), (EXTINCT, woke - found))
        some = found > 0
        founders.append((ph[some], oh[some], ch[some], found[some], 1))

    def _tally(self, p: IntArray, o: IntArray, *columns: tuple[int, IntArray | int]) -> None:
        """Add values to the counters of (patient, organ) pairs, which may repeat."""
        flat = self.counters.ravel()  # (a view: the counters are contiguous)
        at = (p * self.plan.n + o) * self.counters.shape[2]
        for column, values in columns:
            np.add.at(flat, at + column, values)

    def _join(self, parts: Dormant) -> None:
        """Cells made dormant in the step join the pool (merged by key)."""
        if not parts:
            return
        code = np.concatenate([x[0] for x in parts])
        o = np.concatenate([x[1] for x in parts])
        cells = np.concatenate([x[2] for x in parts])
        primary = code < self.plan.P
        np.add.at(self.pool.ravel(), code[primary] * self.plan.n + o[primary], cells[primary])
        if primary.all():
            return
        colony = ~primary
        key = code[colony] * self.plan.n + o[colony]
        sort = _argsort_ints(key)
        key, order = key[sort], np.flatnonzero(colony)[sort]
        first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
        key, cells = key[first], np.add.reduceat(cells[order], first)
        patient = np.concatenate([x[3] for x in parts])[order[first]]
        at = np.searchsorted(self.d_key, key)
        found = at < self.d_key.size
        found[found] = self.d_key[at[found]] == key[found]
        self.d_count[at[found]] += cells[found]  # (distinct keys, distinct places)
        new = ~found
        at = at[new]
        self.d_key = np.insert(self.d_key, at, key[new])
        self.d_count = np.insert(self.d_count, at, cells[new])
        self.d_patient = np.insert(self.d_patient, at, patient[new])

    def _found(self, k: int,
               parts: Founders) -> None:
        """Found the step's colonies: fates, order by (patient, day), ids, generations."""
        if not parts:
            return
        plan, rng, lookup = self.plan, self.rng, self.lookup
        p, o, code, count = (np.concatenate([part[i] for part in parts]) for i in range(4))
        via = np.concatenate([np.full(part[0].size, part[4], dtype=np.int8)
                              for part in parts])
        if not count.sum():
            return
        per_patient = np.bincount(p, weights=count, minlength=plan.P).astype(np.int64)
        over = np.flatnonzero(self.colonies + per_patient > MAX_COLONIES)
        if over.size:
            raise EngineError(
                f"patient {int(over[0])}: more than {MAX_COLONIES} colonies founded by day "
                f"{plan.ends[k]:.0f}: colonisation in this scenario is implausibly efficient "
                "(lower divide_after_extravasation or soil, or shorten the horizon)")
        p, o, code, via = (np.repeat(x, count) for x in (p, o, code, via))
        # Founding times uniform in the step, in order within each patient: sorted by
        # patient + u / 2, the share u of the step is read back from the sorted keys
        # (rounded to the keys' precision, so that it never decreases within a patient).
        key = p + 0.5 * rng.random(p.size)
        order = np.argsort(key, kind="stable")  # (the parts come in runs sorted by p)
        p, o, code, via = (x[order] for x in (p, o, code, via))
        u = 2.0 * (key[order] - p)
        founded = plan.starts[k] + u * (plan.ends[k] - plan.starts[k])
        w = rng.exponential(size=p.size) / plan.q[p]
        wait = rng.exponential(size=p.size) / plan.switch_rate[p]
        surface = rng.random(p.size) < plan.surface_share[p]
        switch = founded + np.log(plan.avascular[p] / w) / plan.rate[p] + wait
        # Rank within the patient: position minus the position of its first colony.
        starts = np.flatnonzero(np.concatenate([[True], p[1:] != p[:-1]]))
        first = np.repeat(starts, np.diff(np.append(starts, p.size)))
        local = self.colonies[p] + 1 + np.arange(p.size) - first
        self.colonies += per_patient
        colony = code >= plan.P
        parent = np.zeros(p.size, dtype=np.int64)
        generation = np.ones(p.size, dtype=np.int64)
        if colony.any():
            parent[colony] = lookup.local[code[colony] - plan.P]
            generation[colony] += lookup.generation[code[colony] - plan.P]
        index = lookup.size + np.arange(p.size)
        lookup.add(p, local, generation)
        self.chunks.append({"organ": o, "parent": parent,
                            "generation": generation, "founded": founded, "w": w,
                            "switch": switch, "via": via, "surface": surface})
        # A source from the first step starting at or after its switch.
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

    # -- records and results -------------------------------------------------------
    def record(self, k: int) -> None:
        """Draw the common fates since the last record; keep a snapshot of every patient."""
        plan, rng, n = self.plan, self.rng, self.plan.n
        single = self.acc_single
        common = rng.poisson(single[:, :n, None] * plan.p_common)  # failed, died, extinct
        delta = np.zeros((plan.P, n, 5), dtype=np.int64)
        delta[:, :, ARRESTED] = common.sum(axis=2)
        delta[:, :, FAILED] = common[:, :, 0]
        delta[:, :, DIED_AFTER] = common[:, :, 1]
        delta[:, :, EXTINCT] = common[:, :, 2]
        blood = rng.poisson(single[:, n])
        for c, m in enumerate(plan.cluster_sizes):
            plain = rng.poisson(self.acc_plain[c][:, :n, None]
                                * plan.cluster_plain_split[c])
            j = np.arange(m + 1)
            delta[:, :, ARRESTED] += m * plain.sum(axis=2)
            delta[:, :, FAILED] += plain @ j
            delta[:, :, DIED_AFTER] += plain @ (m - j)
            blood += m * rng.poisson(self.acc_cluster_blood[:, c]
                                     + self.acc_plain[c][:, n])
        rest = self.acc_rest
        failed = rng.binomial(rest, plan.fail_given_rest)
        died = rng.binomial(rest - failed, plan.died_given_rest)
        delta[:, :, FAILED] += failed
        delta[:, :, DIED_AFTER] += died
        delta[:, :, EXTINCT] += rest - failed - died
        self.counters += delta
        self.died += blood
        self.shed = self.died + self.counters[:, :, ARRESTED].sum(axis=1)
        self.acc_single[:] = 0.0
        self.acc_cluster_blood[:] = 0.0
        for acc in self.acc_plain:
            acc[:] = 0.0
        self.acc_rest[:] = 0
        self.acc_total[:] = 0.0
        asleep = self.pool + np.bincount(
            self.d_patient * n + self.d_key % n, weights=self.d_count,
            minlength=plan.P * n).astype(np.int64).reshape(plan.P, n)
        self.snapshots.append((float(plan.ends[k]), self.shed.copy(), self.died.copy(),
                               self.counters.copy(), asleep, self.colonies.copy()))

    def batch_result(self, seeds: list[int]) -> BatchResult:
        """The batch's colonies grouped by patient (in founding order) as flat columns."""
        plan = self.plan
        # Row of each colony once grouped by patient: its patient's offset + its id - 1.
        offsets = np.concatenate([[0], np.cumsum(self.colonies)]).astype(np.int64)
        row = offsets[self.lookup.patient] + self.lookup.local - 1
        columns = {name: np.empty(self.lookup.size, dtype=dtype)
                   for name, dtype in COLONY_DTYPES.items()}
        at = 0
        for chunk in self.chunks:
            rows = row[at:at + len(chunk["organ"])]
            at += rows.size
            for name, column in columns.items():
                column[rows] = chunk[name]
        snapshots = tuple(BatchSnapshot(t, shed, died, counters, asleep, colonies)
                          for t, shed, died, counters, asleep, colonies in self.snapshots)
        return BatchResult(models=tuple(plan.models), seeds=tuple(seeds),
                           engine="kernel-batch", offsets=offsets, colonies=columns,
                           snapshots=snapshots,
                           primary_cells_end=np.asarray(plan.primary_cells_end, dtype=float))


def _poisson_counts(rng: np.random.Generator, means: FloatArray,
                    ) -> tuple[IntArray, IntArray, IntArray]:
    """Independent Poisson counts of a (patients x columns) field: the nonzero ones.

    Means above :data:`DENSE_MEAN` are drawn one by one; the rest by Poisson splitting:
    a Poisson total per patient, each event's column from the row's means (one global
    cumulative sum, per-patient offsets, ``searchsorted``; an event is a count of 1).
    Returns (patient, column, count).
    """
    P, W = means.shape
    flat = means.ravel()
    large = flat > DENSE_MEAN
    dense = np.flatnonzero(large)
    dense_counts = rng.poisson(flat[dense])
    some = dense_counts > 0
    index, counts = [dense[some]], [dense_counts[some]]
    sparse = np.where(large, 0.0, flat)
    cum = np.cumsum(sparse)
    row_end = cum[W - 1::W]
    offset = np.concatenate([[0.0], row_end[:-1]])
    total = np.maximum(row_end - offset, 0.0)
    events = rng.poisson(total)
    if events.any():
        p = np.repeat(np.arange(P), events)
        at = offset[p] + rng.random(p.size) * total[p]
        chosen = np.searchsorted(cum, at, side="right")
        # The cumulative sum only rises at positive means, so an event falls on one of
        # its row's, unless rounding carries it past the row: then on the row's last.
        past = np.flatnonzero(chosen >= (p + 1) * W)
        if past.size:
            rows = p[past]
            chosen[past] = rows * W + W - 1 - np.argmax(
                sparse.reshape(P, W)[rows, ::-1] > 0, axis=1)
        index.append(chosen)
        counts.append(np.ones(p.size, dtype=np.int64))
    p, column = np.divmod(np.concatenate(index), W)
    return p, column, np.concatenate(counts)


def _argsort_ints(key: IntArray) -> IntArray:
    """A stable argsort of nonnegative integers: radix sort, 16 bits at a time."""
    order = np.arange(key.size)
    top = int(key.max(initial=0))
    shift = 0
    while top >> shift:
        digit = ((key[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order
