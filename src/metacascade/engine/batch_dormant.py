"""Dormant cells of the batched engine, split at arrival by the event that will end them.

A dormant cell has one exponential clock of rate ``h = w + m`` (waking ``w``, death
``m``), started when it joins the pool at the end of the step that made it dormant; its
event is a waking with probability ``w / h``, independent of when it rings. The engine
of steps drew, every step, ``Binomial(cells, 1 - exp(-h dt))`` events per cohort and
split them into wakings and deaths. The same law costs far less drawn at arrival:

- **Cells that will wake** (about 1 % of dormant cells in the catalog's cascade) are
  drawn one by one: the step of their waking from their clock (``Exp(h)`` from the end
  of the arrival step; never, if past the horizon) and whether they found a colony
  (the organ's ``wake_founding``). Those that found wait on a calendar by step; their
  wakings and extinctions are counted in the ledger record that follows. The
  primary's single cells that will wake and go extinct (about 99 % of its wakers)
  change only the ledger: they are Poisson counts per patient, organ and the interval
  between records they wake in, drawn when their arrival interval is.
- **Cells that will die** only change the ledger, which is read at the records: they
  are counts per patient and organ. A cell arriving in step k is alive at the next
  record ``R`` with probability ``exp(-h (end(R) - end(k)))``; those alive there are
  thinned binomially from record to record. The primary's single cells arrive as
  Poisson counts, so by Poisson thinning its dying cells need no draw per step: the
  means of those alive at the next record and of those dead by then are summed over
  the steps and drawn once at the record (ledger: arrested and died after
  extravasation). So are the colonies' single cells (their means per patient and
  entry), and the **quiet clusters** (a cluster whose only dormant or dividing cell is
  a sleeper that will die; the clusters are Poisson, so the quiet ones are too):
  alive and dead at the record, then their other cells' failures binomially. Cells
  that arrive in compound numbers (the rest of the clusters' sleepers) are kept with
  their step and thinned binomially at the record.

Counts of cells are never looped over; the cost grows with the wakings, the patients x
organs and the records, not with the cells or the steps they sleep.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.engine import _dormant_loops as _loops
from metacascade.engine.batch_plan import BatchPlan
from metacascade.engine.batch_store import StepRuns
from metacascade.engine.limits import poisson
from metacascade.engine.result import ARRESTED, DIED_AFTER, EXTINCT, FAILED, WOKE

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: Cells made dormant in compound numbers: (source code, organ, cells, patient) per part.
Dormant = list[tuple[IntArray, IntArray, IntArray, IntArray]]
_NO_INTS: IntArray = np.zeros(0, dtype=np.int64)
_NO_FLOATS: FloatArray = np.zeros(0)
#: Colonies founded by woken cells in a step: (patient, organ, source code).
Wakings = tuple[IntArray, IntArray, IntArray]


class DormantCells:
    """The batch's dormant cells: a calendar of wakings and counts of dying cells."""

    def __init__(self, plan: BatchPlan, dying: FloatArray, dying_by_entry: FloatArray,
                 ) -> None:
        self.plan = plan
        #: Single cells made dormant that will die, per cell the primary sheds (patients
        #: x organs) and per cell the colonies shed into each entry (patients x entries
        #: x organs).
        self.dying_row, self.dying_by_entry = dying, dying_by_entry
        P, n = plan.P, plan.n
        records = np.asarray(plan.record_steps, dtype=np.int64)
        self.records = records
        #: Index of the first record at or after each step (every step has one: the
        #: last step is a record).
        self.record_of = np.searchsorted(records, np.arange(plan.n_steps), side="left")
        #: Days from each step's end to the end of its record (the same subtraction as
        #: ``ends[records[record_of[k]]] - ends[k]``, made once).
        self.to_record = plan.ends[records[self.record_of]] - plan.ends
        self.next = 0  # the next record's index
        R = len(records)
        # Per record (R, P, n): wakings and extinctions to count there, and the change
        # in cells that will wake but sleep at it.
        self.woke = np.zeros((R, P, n), dtype=np.int64)
        self.extinct = np.zeros((R, P, n), dtype=np.int64)
        self.sleeping_change = np.zeros((R, P, n), dtype=np.int64)
        self.sleeping = np.zeros((P, n), dtype=np.int64)  # those cells at the last record
        # Cells that will die: alive at the last record; arrived since (compound); and
        # the Poisson means of the primary's single cells alive and dead at the next
        # record.
        self.dying = np.zeros((P, n), dtype=np.int64)
        self.arrived: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
        self.weight_alive = np.zeros(P)
        self.weight_dead = np.zeros(P)
        self.weight_alive_entry = np.zeros((P, plan.n_entries))
        self.weight_dead_entry = np.zeros((P, plan.n_entries))
        #: Per cluster kind: the weights of the steps whose clusters were drawn cell by
        #: cell, per patient and organ, to leave out of the quiet clusters.
        self.apart_alive = [np.zeros((P, n)) for _ in plan.cluster_sizes]
        self.apart_dead = [np.zeros((P, n)) for _ in plan.cluster_sizes]
        #: The last step's survival to the record per patient, and its complement.
        self._survival: tuple[int, FloatArray, FloatArray] = (-1, np.zeros(P), np.zeros(P))
        self._buffer = np.zeros((P, plan.n_entries))
        #: Colonies founded by woken cells, by step.
        self.calendar: list[list[Wakings]] = [[] for _ in range(plan.n_steps)]
        #: With the compiled loops (:mod:`._dormant_loops`; chosen once, for the whole
        #: run), the calendar's rows are kept in runs by step instead.
        self._compiled = _jit.ENABLED
        self._by_step = StepRuns(plan.n_steps, {"p": np.int64, "o": np.int64,
                                                "code": np.int64})

    # -- arrivals ------------------------------------------------------------------
    def add_poisson(self, k: int, prim: FloatArray | None,
                    groups: FloatArray | None) -> None:
        """Single cells that will die, arriving in step k.

        Poisson counts with means ``prim`` (the primary's expected cells shed in the
        step, per patient; None if drawn apart, :meth:`add_primary`) times the dying row,
        plus ``groups`` (the colonies' per patient and entry; None if there are none)
        times the dying rows by entry.
        """
        alive = self.survival(k)
        dead = self._survival[2]
        if prim is not None:
            self.weight_alive += prim * alive
            self.weight_dead += prim * dead
        if groups is not None:
            buffer = self._buffer  # (the same products, without a new array each)
            self.weight_alive_entry += np.multiply(groups, alive[:, None], out=buffer)
            self.weight_dead_entry += np.multiply(groups, dead[:, None], out=buffer)

    def add_primary(self, first: int, prim: FloatArray) -> None:
        """The primary's single cells that will die, arriving in steps ``first`` on.

        ``prim``: its expected cells shed per patient (rows) and step (columns, from
        step ``first``, all before the same record).
        """
        steps = np.arange(first, first + prim.shape[1])
        alive = self.alive(steps[None, :], np.arange(self.plan.P)[:, None])
        self.weight_alive += (prim * alive).sum(axis=1)
        self.weight_dead += (prim * (1.0 - alive)).sum(axis=1)

    def alive(self, k: IntArray, p: IntArray) -> FloatArray:
        """Chance that a sleeper of patient p arriving in step k is alive at the next record."""
        return np.asarray(np.exp(-self.plan.hazard[p] * self.to_record[k]), dtype=float)

    def survival(self, k: int) -> FloatArray:
        """Per patient: chance that a sleeper arriving in step k is alive at the next record."""
        if self._survival[0] != k:
            alive = np.exp(-self.plan.hazard * self.to_record[k])
            self._survival = (k, alive, 1.0 - alive)
        return self._survival[1]

    def exclude(self, k: IntArray, c: int, p: IntArray, pon: IntArray, prim: FloatArray,
                ) -> None:
        """The primary's clusters of kind c in (k, p, o) were drawn cell by cell.

        ``k``: the step of each; ``pon``: its flat (patient, organ) index ``p * organs +
        o``; ``prim``: the primary's expected cells shed in that step by patient ``p``.
        Leaves them out of the quiet clusters of the record.
        """
        alive = self.alive(k, p)
        np.add.at(self.apart_alive[c].ravel(), pon, prim * alive)
        np.add.at(self.apart_dead[c].ravel(), pon, prim * (1.0 - alive))

    def join(self, rng: np.random.Generator, k: int, parts: Dormant,
             waking: list[Wakings]) -> None:
        """Cells made dormant in step k join: ``parts`` to split, ``waking`` will wake.

        Each part's cells are split into those that will wake (``Binomial(cells, w /
        h)``) and those that will die; ``waking`` (patient, organ, source code, one cell
        each) are cells already known to wake.
        """
        arrays = [np.concatenate([x[i] for x in parts]) if parts else _NO_INTS
                  for i in range(4)]
        self.arrive(rng, np.full(arrays[0].size, k), *arrays)
        if waking:
            p, o, code = (np.concatenate([x[i] for x in waking]) for i in range(3))
            self.wake(rng, np.full(p.size, k), p, o, code)

    def arrive(self, rng: np.random.Generator, k: IntArray, code: IntArray, o: IntArray,
               cells: IntArray, p: IntArray) -> None:
        """Sleepers arriving in compound numbers: ``cells`` in step ``k`` (per element).

        Split into those that will wake (``Binomial(cells, w / h)``, scheduled one by
        one) and those that will die (thinned at the record).
        """
        if not cells.size:
            return
        wake = rng.binomial(cells, self.plan.wake_share[p])
        if self._compiled:
            total = int(wake.sum())
            clock, uniform = ((rng.exponential(size=total), rng.random(total)) if total
                              else (_NO_FLOATS, _NO_FLOATS))
            *dying, rows, runs = _loops.arrive(k, code, o, cells, p, wake, clock, uniform,
                                              *self._wake_arguments(total))
            self._by_step.rows.rows, self._by_step.runs.rows = rows, runs
            if dying[2].size:
                self.arrived.append((dying[0], dying[1], dying[2], dying[3]))
            return
        die = cells - wake
        some = np.flatnonzero(die)
        if some.size:
            self.arrived.append((p[some], o[some], die[some], k[some]))
        some = np.flatnonzero(wake)
        if some.size:
            count = wake[some]
            k_w, p_w, o_w, code_w = (np.repeat(x[some], count) for x in (k, p, o, code))
            self.wake(rng, k_w, p_w, o_w, code_w)

    def wake(self, rng: np.random.Generator, k: IntArray, p: IntArray, o: IntArray,
             code: IntArray, founding: bool = False) -> None:
        """Sleepers that will wake, arriving in step ``k`` (per cell).

        Draws the step each wakes in (never, past the horizon) and whether it founds a
        colony (not if ``founding``: all do); counts the wakings and extinctions at
        their records.
        """
        if not p.size:
            return
        if self._compiled:
            clock = rng.exponential(size=p.size)
            uniform = _NO_FLOATS if founding else rng.random(p.size)
            self._by_step.rows.rows, self._by_step.runs.rows = _loops.wake(
                k, p, o, code, clock, uniform, founding, *self._wake_arguments(p.size))
            return
        plan = self.plan
        n = plan.n
        with np.errstate(divide="ignore"):
            ring = plan.ends[k] + rng.exponential(size=p.size) / plan.hazard[p]
        step = np.searchsorted(plan.ends, ring, side="right")
        flat = p * n + o
        if founding:
            found = np.ones(p.size, dtype=bool)
        else:
            found = rng.random(p.size) < plan.wake_founding.ravel().take(flat)
        np.add.at(self.sleeping_change.ravel(), self.record_of[k] * (plan.P * n) + flat, 1)
        within = step < plan.n_steps
        if not within.any():
            return
        at = self.record_of[step[within]] * (plan.P * n) + flat[within]
        np.add.at(self.sleeping_change.ravel(), at, -1)
        np.add.at(self.woke.ravel(), at, 1)
        np.add.at(self.extinct.ravel(), at[~found[within]], 1)
        chosen = np.flatnonzero(within & found)
        if not chosen.size:
            return
        chosen = chosen[np.argsort(step[chosen], kind="stable")]
        steps, p, o, code = step[chosen], p[chosen], o[chosen], code[chosen]
        cuts = [0, *(np.flatnonzero(steps[1:] != steps[:-1]) + 1).tolist(), steps.size]
        for a, b in pairwise(cuts):  # (a loop over the steps with wakings to come)
            self.calendar[int(steps[a])].append((p[a:b], o[a:b], code[a:b]))

    def _wake_arguments(self, extra: int) -> tuple[Any, ...]:
        """What the compiled loops of :meth:`wake` read and write, with room for ``extra``."""
        plan, by_step = self.plan, self._by_step
        rows, runs = by_step.reserve(extra)
        whole = by_step.rows.whole
        return (plan.ends, plan.hazard, plan.wake_founding.ravel(), self.record_of, plan.n,
                self.sleeping_change.ravel(), self.woke.ravel(), self.extinct.ravel(), rows,
                runs, whole("p"), whole("o"), whole("code"), *by_step.links())

    def add_idle(self, rng: np.random.Generator, first: int, prim: FloatArray,
                 row: FloatArray) -> IntArray:
        """The primary's sleepers that will wake and go extinct, arriving in steps ``first`` on.

        They arrive as Poisson counts (``prim``, patients x steps of one interval, times
        ``row``, patients x organs) and change only the ledger, so they are drawn as
        Poisson counts per patient, organ and the interval they wake in (or never): a
        cell arriving in step k wakes between two records with the difference of its
        exponential clock's survival to them, from the end of step k. Returns the cells
        arrived (patients x organs).
        """
        plan = self.plan
        r = int(self.record_of[first])
        ends = plan.ends[first:first + prim.shape[1]]
        t = plan.ends[self.records[r:]]
        with np.errstate(over="ignore"):
            survive = np.exp(-plan.hazard[:, None, None]
                             * np.maximum(t[None, None, :] - ends[None, :, None], 0.0))
        # Per patient and interval (r .. last, then never): expected cells arriving, by
        # the interval their clock rings in: 1 - survive to the first, the drops of
        # survive between records (-diff), survive at the last. Written in place, the
        # same operations as concatenating them (signed zeros included).
        P, L, B = survive.shape
        shares = np.empty((P, L, B + 1))
        np.subtract(1.0, survive[:, :, 0], out=shares[:, :, 0])
        drops = shares[:, :, 1:B]
        np.subtract(survive[:, :, 1:], survive[:, :, :-1], out=drops)
        np.negative(drops, out=drops)
        shares[:, :, B] = survive[:, :, B - 1]
        weights = np.einsum("pl,plb->pb", prim, shares)
        cells = poisson(rng, weights[:, None, :] * row[:, :, None])  # P x organs x (b, never)
        woke = np.ascontiguousarray(np.moveaxis(cells[:, :, :-1], 2, 0))
        self.woke[r:] += woke
        self.extinct[r:] += woke
        arrived = woke.sum(axis=0) + cells[:, :, -1]  # (integers: any order is exact)
        self.sleeping_change[r] += arrived
        self.sleeping_change[r:] -= woke
        return np.asarray(arrived, dtype=np.int64)

    # -- events ----------------------------------------------------------------------
    def wakings(self, k: int) -> Wakings | None:
        """The colonies founded by cells waking in step k (patient, organ, source code)."""
        if self._compiled:
            by_step = self._by_step
            m = int(by_step.due[k])
            if not m:
                return None
            by_step.due[k] = 0
            rows = by_step.rows.view
            return _loops.wakings(int(by_step.head[k]), m, *by_step.runs_in_use(), rows("p"),
                                  rows("o"), rows("code"))
        due, self.calendar[k] = self.calendar[k], []
        if not due:
            return None
        p, o, code = (np.concatenate([x[i] for x in due]) for i in range(3))
        return p, o, code

    def record(self, rng: np.random.Generator, k: int) -> tuple[IntArray, IntArray]:
        """At the record at the end of step k: the ledger's change and cells asleep.

        Draws the deaths of the dying cells since the last record (binomial for those
        alive then and for compound arrivals, Poisson for the primary's single cells).
        Returns the counters to add (patients x organs x 5) and the dormant cells now
        (patients x organs).
        """
        plan = self.plan
        r = self.next
        if r >= len(self.records) or self.records[r] != k:
            raise ValueError(f"step {k} is not the next record")
        self.next += 1
        P, n = plan.P, plan.n
        died = np.zeros((P, n), dtype=np.int64)
        end = plan.ends[k]
        if r:
            since = end - plan.ends[self.records[r - 1]]
            held = np.flatnonzero(self.dying)
            p_held = held // n
            dead = rng.binomial(self.dying.ravel()[held],
                                -np.expm1(-plan.hazard[p_held] * since))
            self.dying.ravel()[held] -= dead
            died.ravel()[held] += dead
        if self.arrived:
            p, o, cells = (np.concatenate([x[i] for x in self.arrived]) for i in range(3))
            step = np.concatenate([x[3] for x in self.arrived])
            alive = rng.binomial(cells, np.exp(-plan.hazard[p] * (end - plan.ends[step])))
            flat = p * n + o
            # (bincount sums exactly: counts far below 2**53)
            self.dying += np.bincount(flat, weights=alive, minlength=P * n).astype(
                np.int64).reshape(P, n)
            died += np.bincount(flat, weights=cells - alive, minlength=P * n).astype(
                np.int64).reshape(P, n)
            self.arrived = []
        delta = np.zeros((P, n, 5), dtype=np.int64)
        weights = ((self.weight_alive, self.weight_alive_entry, self.apart_alive),
                   (self.weight_dead, self.weight_dead_entry, self.apart_dead))
        counts = [poisson(rng, w[:, None] * self.dying_row
                              + np.einsum("pe,pen->pn", by_entry, self.dying_by_entry))
                  for w, by_entry, _ in weights]
        self.dying += counts[0]
        died += counts[1]
        delta[:, :, ARRESTED] = counts[0] + counts[1]
        # Quiet clusters (one sleeper that will die, the other cells failed or died
        # after extravasation): alive and dead at the record, then the failed cells.
        for c, m in enumerate(plan.cluster_sizes):
            row = plan.cluster_primary_rows[c][:, :n]
            quiet = [poisson(rng, np.maximum(w[:, None] - apart[c], 0.0) * row
                                 * plan.cluster_quiet[c]
                                 + (by_entry @ plan.cluster_absorption[c][:, :n])
                                 * (plan.cluster_per_cell[c][:, None]
                                    * plan.cluster_quiet[c]))
                     for w, by_entry, apart in weights]
            clusters = quiet[0] + quiet[1]
            failed = rng.binomial((m - 1) * clusters, plan.fail_given_common)
            self.dying += quiet[0]
            died += quiet[1] + (m - 1) * clusters - failed
            delta[:, :, ARRESTED] += m * clusters
            delta[:, :, FAILED] += failed
            self.apart_alive[c][:] = 0.0
            self.apart_dead[c][:] = 0.0
        for w in (self.weight_alive, self.weight_dead, self.weight_alive_entry,
                  self.weight_dead_entry):
            w[:] = 0.0
        delta[:, :, DIED_AFTER] = died
        delta[:, :, WOKE] = self.woke[r]
        delta[:, :, EXTINCT] = self.extinct[r]
        self.sleeping += self.sleeping_change[r]
        return delta, self.dying + self.sleeping
