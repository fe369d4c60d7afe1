"""Deaths for a batch of patients: the lethal checks, their bounds and the weekly grid.

For :func:`~metacascade.clinic.batch.follow_batch`: :class:`Deaths` holds the lethal
checks of the clinic (the total burden, then each vital organ's, as ``Patient`` of
:mod:`~metacascade.clinic._patient`) and finds each patient's first lethal grid time in an
interval, evaluating the grid only for the patients whose burden bound may be lethal,
and the bound only for those whose quiet day (before which its growth cannot make it
lethal) has come.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.clinic._lesions import Lesions
from metacascade.clinic.course import BOUND_MARGIN, VITAL_ORGAN_LETHAL_CELLS
from metacascade.scenario import Clinic

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: The most of the primary's table times :meth:`Deaths._quiet_until` looks at (about a
#: year of the weekly grid and the decisions).
QUIET_TIMES = 64
#: Most (grid time, lesion) values :meth:`Deaths.find` computes at once (8 bytes each,
#: a few arrays of them). A grid larger than this (a patient with hundreds of thousands
#: of colonies followed over years without a decision) is evaluated a piece of its
#: times at a time, and a patient found dead is left out of the later pieces.
GRID_VALUES = 1 << 23


class Deaths:
    """The lethal checks of a batch: the total, then each vital organ of the body."""

    def __init__(self, lesions: Lesions, clinic: Clinic) -> None:
        x = self.x = lesions
        vital = ({o: p.value for o, p in VITAL_ORGAN_LETHAL_CELLS.items()}
                 if clinic.vital_organ_lethal_cells is None
                 else clinic.vital_organ_lethal_cells)
        n_organs = len(x.organs)
        checks = [("total", np.ones(n_organs, dtype=bool), clinic.lethal_burden_cells)]
        checks += [(organ, np.arange(n_organs) == x.organs.index(organ), cells)
                   for organ, cells in vital.items() if organ in x.organs]
        self.check_names = [name for name, _, _ in checks]
        #: The organ of each vital organ's check (the checks after the total).
        self.vital = np.array([x.organs.index(name) for name in self.check_names[1:]],
                              dtype=np.int64)
        self.lethal = np.array([lethal for _, _, lethal in checks])
        #: (organs, checks) 1.0 where a check counts the organ's lesions.
        self.check_organ = np.stack([mask for _, mask, _ in checks], axis=1).astype(float)
        # Each lesion's (patient, organ) cell in a (patients, organs) table.
        where = x.pat_organ
        per_organ = np.bincount(where, minlength=x.n_patients * n_organs)
        per_organ[where[x.offsets[:-1]]] -= 1  # the primaries
        colonies = per_organ.reshape(x.n_patients, n_organs).astype(float)
        #: (patients, checks): every colony counted at its avascular limit (a bound).
        self.avascular_bound = (colonies @ self.check_organ) * x.ka[:, None]
        #: (patients, checks) 1.0 where a check counts the patient's primary.
        self.primary_check = self.check_organ[x.organ[x.offsets[:-1]]]
        #: (patients,) no grid time before this day can be lethal (:meth:`_quiet_until`).
        self.quiet_until = np.full(x.n_patients, -np.inf)
        #: (patients,) with a colony founded past its switch (above its avascular limit
        #: from its founding): never given a quiet day.
        self.restless = np.bincount(x.pat[(x.switch < x.founded) & ~x.is_primary],
                                    minlength=x.n_patients) > 0

    def check(self, ids: IntArray) -> FloatArray:
        """(ids, checks) 1.0 where a check counts the lesion."""
        return np.asarray(self.check_organ.take(self.x.organ[ids], axis=0), dtype=float)

    def find(self, previous: float, t: float, times: FloatArray, alive: BoolArray,
             ) -> list[tuple[int, float, str, float]]:
        """(patient, day, cause, burden) of the deaths on the grid ``times`` in (previous, t].

        A patient is evaluated on the grid only if a bound of ``_may_die`` reaches a
        lethal burden: every colony past its switch at its untreated size at ``t`` times
        its survival factor at ``previous`` (1 if founded later), every other colony at
        its avascular limit, and the primary as a switched colony (never skipped over
        its removal). The bound itself is computed only for the patients whose quiet
        day (:meth:`_quiet_until`, set when the bound was last below lethal) has come.
        """
        x = self.x
        may = alive & (~x.bounded | ((previous < x.removed) & (x.removed <= t)))
        # The bound of the others, but for those who cannot die by t (:meth:`_quiet_until`).
        quiet = alive & ~may & (self.quiet_until <= t)
        if _jit.ENABLED:
            if quiet.any():
                self._bound_loops(previous, t, alive, may, quiet)
        elif quiet.any():
            ids, upper = x.switched(t, alive)
            keep = quiet[x.pat[ids]]
            ids, upper = ids[keep], upper[keep]
            if not math.isinf(previous):
                # A patient never treated has a survival factor of exactly 1.
                before = (x.founded[ids] <= previous) & x.treated[x.pat[ids]]
                upper[before] *= x.survival_read(ids[before], previous)
            # The total, then each vital organ's (a per-organ sum adds the organ's lesions
            # in the same order as the sum over the patient's lesions with the others'
            # zeros: the same numbers).
            pat, n_organs = x.pat[ids], len(x.organs)
            bound = self.avascular_bound.copy()
            bound[:, 0] += np.bincount(pat, weights=upper, minlength=x.n_patients)
            per_organ = np.bincount(x.pat_organ[ids], weights=upper,
                                    minlength=x.n_patients * n_organs)
            bound[:, 1:] += per_organ.reshape(x.n_patients, n_organs)[:, self.vital]
            may |= quiet & (bound >= self.lethal * (1.0 - BOUND_MARGIN)).any(axis=1)
            # The others cannot die before their quiet day.
            calm = np.nonzero(quiet & ~may & ~self.restless)[0]
            heads = x.is_primary[ids]
            primary = np.zeros(x.n_patients)
            primary[pat[heads]] = upper[heads]
            self.quiet_until[calm] = self._quiet_until(t, calm, bound[calm], primary[calm])
        if not may.any():
            return []
        # The grid of every patient who may die at once (in pieces of its times if it is
        # too large); the burdens patient by patient.
        ids = x.lesions_of(may)
        ids = ids[x.kept[ids] & (x.eradicated[ids] > previous)]
        patients = np.nonzero(may)[0]
        counted = self.check(ids)
        # Cells are computed for the lesions founded by the last time (:meth:`_on_grid`),
        # a patient's burdens over all its lesions: a piece's times hold at most
        # GRID_VALUES of either.
        bounds = np.searchsorted(x.pat[ids], np.append(patients, x.n_patients))
        computed = int((_founded_by(x.founded[ids], bounds, times[-1]) - bounds[:-1]).sum())
        widest = int(np.diff(bounds).max(initial=1))
        out: list[tuple[int, float, str, float]] = []
        start = 0
        while start < times.size and patients.size:
            piece = times[start:start + max(1, GRID_VALUES // max(computed, widest, 1))]
            start += piece.size
            deaths = self._on_grid(piece, ids, patients, counted)
            out += deaths
            if deaths and start < times.size:  # the dead are left out of later pieces
                dead = np.array([death[0] for death in deaths], dtype=np.int64)
                patients = patients[~np.isin(patients, dead)]
                keep = ~np.isin(x.pat[ids], dead)
                ids, counted = ids[keep], counted[keep]
        return sorted(out)

    def _on_grid(self, times: FloatArray, ids: IntArray, patients: IntArray,
                 counted: FloatArray) -> list[tuple[int, float, str, float]]:
        """(patient, day, cause, burden) of ``patients``' first lethal times of ``times``.

        ``ids``: their lesions (live after the interval's start), in patient order;
        ``counted``: their checks (:meth:`check`).

        A lesion founded after the last time holds no cells on the grid: each patient's
        lesions after the last one founded by then (a run at the end of its lesions, in
        id order) are not computed. An explosive history founds most of its colonies
        long after the patient's death. The burdens still sum their zeros: a shorter sum
        can round otherwise (BLAS), and a patient's burdens are the same numbers whatever
        the grid's pieces.
        """
        x = self.x
        column = times[:, None]
        bounds = np.searchsorted(x.pat[ids], np.append(patients, x.n_patients))
        ends = _founded_by(x.founded[ids], bounds, times[-1])
        # Each patient's run bounds[i]..ends[i]-1: a running index shifted by its start
        # (as Lesions.lesions_of).
        counts = ends - bounds[:-1]
        computed = ids[np.repeat(bounds[:-1] - (np.cumsum(counts) - counts), counts)
                       + np.arange(int(counts.sum()), dtype=np.int64)]
        cells = x.cells(computed, column)
        cells = np.where(column < x.eradicated[computed], cells, 0.0)
        out: list[tuple[int, float, str, float]] = []
        at = 0
        for i, p in enumerate(patients.tolist()):
            lo, hi, end = int(bounds[i]), int(bounds[i + 1]), int(ends[i])
            block = np.zeros((times.size, hi - lo))
            block[:, :end - lo] = cells[:, at:at + end - lo]
            at += end - lo
            death = self._death(block, counted[lo:hi], times)
            if death is not None:
                out.append((p, *death))
        return out

    def _bound_loops(self, previous: float, t: float, alive: BoolArray, may: BoolArray,
                     quiet: BoolArray) -> None:
        """:meth:`find`'s bound of the ``quiet`` patients in compiled loops (sets ``may``).

        The same steps: the survival factors at ``previous`` of the lesions that have
        one (:func:`_quiet_before`, then :meth:`survival_read`), the bound, its lethal
        checks and the calm patients' bounds (:func:`_quiet_bound`), their quiet days.
        """
        x = self.x
        ids, upper = x.switched(t, alive)
        if math.isinf(previous):
            before = np.zeros(0, dtype=np.int64)
            factor = np.ones(0)
        else:
            before = _quiet_before(ids, quiet, x.pat, x.founded, x.treated, previous)
            factor = (x.survival_read(before, previous) if before.size else np.ones(0))
        calm, bound, primary = _quiet_bound(
            ids, upper, before.size > 0, factor, quiet, may, self.restless, x.pat,
            x.pat_organ, x.founded, x.treated, previous, x.is_primary,
            self.avascular_bound, self.vital, self.lethal * (1.0 - BOUND_MARGIN),
            len(x.organs))
        self.quiet_until[calm] = self._quiet_until(t, calm, bound, primary)

    def _quiet_until(self, t: float, patients: IntArray, bound: FloatArray,
                     primary: FloatArray) -> FloatArray:
        r"""A day before which no grid time after ``t`` is lethal to ``patients``.

        ``bound`` (patients, checks) is each one's bound of :meth:`find` in the interval
        ending at ``t`` (below lethal), ``primary`` its primary's part. The bound is a
        bound of the burden on the grid at any later time :math:`\tau` too, but for
        growth. The patients are bounded (:math:`r > 0`, :math:`K_m > K_a \ge 1`): a
        colony past its switch grows by Gompertz, at most at r in logs
        (:math:`\alpha \log(K_m / U) \le \alpha \log(K_m / K_a) = r`), and every other
        one holds at most :math:`K_a` until its switch and grows from there the same
        way (those founded after t are among the avascular bound's colonies; none is
        founded past its switch, :attr:`restless`); survival factors only fall. So the
        colonies hold at most :math:`C e^{r(\tau - t)}`, C the bound less the
        primary's part, and the primary at most its untreated size, which the grid
        reads from the primary's table (every grid time is one of the table's times; a
        removal only lowers it). The day returned is the first of the table's times
        after t at which this bound of a check reaches a lethal burden (with
        :data:`BOUND_MARGIN`), looking at :data:`QUIET_TIMES` of them at most (the next
        one if none of those is; inf if none is left).
        """
        x = self.x
        lo = int(np.searchsorted(x.times, t, side="right"))
        hi = min(lo + QUIET_TIMES, len(x.times))
        days = x.times[lo:hi]
        if not days.size:
            return np.full(patients.size, np.inf)
        # The exponent capped: inf cells would be lethal anyway, and 0 stays 0.
        growth = np.exp(np.minimum(x.r[patients, None] * (days - t), 700.0))
        after = x.times[hi] if hi < len(x.times) else np.inf
        if _jit.ENABLED:
            return _quiet_days(patients, bound, primary, growth, x.primary, lo,
                               self.primary_check, self.lethal * (1.0 - BOUND_MARGIN),
                               days, after)
        colonies = bound - primary[:, None] * self.primary_check[patients]
        cells = (x.primary[patients, None, lo:hi] * self.primary_check[patients, :, None]
                 + colonies[:, :, None] * growth[:, None, :])
        lethal = (cells >= (self.lethal * (1.0 - BOUND_MARGIN))[:, None]).any(axis=1)
        first = np.argmax(lethal, axis=1)
        hit = lethal[np.arange(patients.size), first]
        # None lethal among the times looked at: quiet until the next one.
        return np.asarray(np.where(hit, days[first], after), dtype=float)

    def _death(self, cells: FloatArray, counted: FloatArray, times: FloatArray,
               ) -> tuple[float, str, float] | None:
        """A patient's first lethal grid time (the total first on ties), or None.

        ``cells`` (times, lesions) of its lesions on the grid, ``counted`` their checks.
        """
        burdens = cells @ counted
        best: tuple[float, str, float] | None = None
        for c, name in enumerate(self.check_names):
            hit = np.nonzero(burdens[:, c] >= self.lethal[c])[0]
            if hit.size and (best is None or times[hit[0]] < best[0]):
                best = (float(times[hit[0]]), name, float(burdens[hit[0], c]))
        return best


def _founded_by(founded: FloatArray, bounds: IntArray, day: float) -> IntArray:
    """(patients,) the end of each patient's lesions up to its last founded by ``day``.

    ``founded``: the founding days of lesions grouped by patient, patient ``i``'s at
    ``bounds[i]:bounds[i + 1]`` (in id order, not always in founding order). The lesions
    after the end (a run) are all founded after ``day``.
    """
    by_then = np.flatnonzero(founded <= day)
    ends = np.asarray(bounds[:-1], dtype=np.int64).copy()
    if by_then.size:
        last = np.searchsorted(by_then, bounds[1:])  # by_then[last - 1]: a patient's last
        ends = np.maximum(ends, np.where(last > 0, by_then[np.maximum(last - 1, 0)] + 1, 0))
    return ends


# -- compiled loops (metacascade._jit) ----------------------------------------------------
@_jit.jit
def _quiet_before(ids: IntArray, quiet: BoolArray, pat: IntArray, founded: FloatArray,
                  treated: BoolArray, previous: float) -> IntArray:
    """The lesions of ``ids`` whose bound :meth:`Deaths.find` multiplies by a factor.

    Replaces ``keep = quiet[pat[ids]]; ids = ids[keep]`` and
    ``ids[(founded[ids] <= previous) & treated[pat[ids]]]``: those of quiet patients
    who were treated, founded by ``previous``, in the order of ``ids``. Comparisons only.
    """
    out = np.empty(ids.size, dtype=np.int64)
    n = 0
    for j in range(ids.size):
        i = ids[j]
        p = pat[i]
        if quiet[p] and founded[i] <= previous and treated[p]:
            out[n] = i
            n += 1
    return out[:n]


@_jit.jit
def _quiet_bound(ids: IntArray, upper: FloatArray, survive: bool, factor: FloatArray,
                 quiet: BoolArray, may: BoolArray, restless: BoolArray, pat: IntArray,
                 pat_organ: IntArray, founded: FloatArray, treated: BoolArray,
                 previous: float, is_primary: BoolArray, avascular_bound: FloatArray,
                 vital: IntArray, threshold: FloatArray, n_organs: int,
                 ) -> tuple[IntArray, FloatArray, FloatArray]:
    """:meth:`Deaths.find`'s bound of the quiet patients, its checks and the calm ones.

    Replaces, from ``ids, upper = switched(t, alive)`` on (the factors of
    :func:`_quiet_before`'s lesions given, in its order, when ``survive``)::

        keep = quiet[pat[ids]]; ids, upper = ids[keep], upper[keep]
        upper[before] *= factor
        bound = avascular_bound.copy()
        bound[:, 0] += bincount(pat[ids], weights=upper)
        bound[:, 1:] += bincount(pat_organ[ids], weights=upper)[...][:, vital]
        may |= quiet & (bound >= threshold).any(axis=1)
        calm = nonzero(quiet & ~may & ~restless); primary[pat[heads]] = upper[heads]

    setting ``may`` in place and returning ``calm, bound[calm], primary[calm]``. Each
    sum starts at 0.0 and adds the kept lesions' products ``upper * factor`` in the
    order of ``ids``, as a bincount does, and the avascular bound is added to it after,
    as the ``+=``; the comparisons are the same.
    """
    n_p = quiet.size
    n_checks = threshold.size
    total = np.zeros(n_p)
    per_organ = np.zeros(n_p * n_organs)
    primary = np.zeros(n_p)
    k = 0
    for j in range(ids.size):
        i = ids[j]
        p = pat[i]
        if not quiet[p]:
            continue
        u = upper[j]
        if survive and founded[i] <= previous and treated[p]:
            u = u * factor[k]
            k += 1
        total[p] += u
        per_organ[pat_organ[i]] += u
        if is_primary[i]:
            primary[p] = u
    calm = np.empty(n_p, dtype=np.int64)
    bound = np.empty((n_p, n_checks))
    heads = np.empty(n_p)
    row = np.empty(n_checks)
    m = 0
    for p in range(n_p):
        if not quiet[p]:
            continue
        row[0] = avascular_bound[p, 0] + total[p]
        for c in range(1, n_checks):
            row[c] = avascular_bound[p, c] + per_organ[p * n_organs + vital[c - 1]]
        lethal = False
        for c in range(n_checks):
            if row[c] >= threshold[c]:
                lethal = True
        if lethal:
            may[p] = True
        elif not restless[p]:
            calm[m] = p
            bound[m] = row
            heads[m] = primary[p]
            m += 1
    return calm[:m], bound[:m], heads[:m]


@_jit.jit
def _quiet_days(patients: IntArray, bound: FloatArray, primary: FloatArray,
                growth: FloatArray, table: FloatArray, lo: int, primary_check: FloatArray,
                threshold: FloatArray, days: FloatArray, after: float) -> FloatArray:
    """:meth:`Deaths._quiet_until`'s days from its growth factors (NumPy's exp).

    Replaces::

        colonies = bound - primary[:, None] * primary_check[patients]
        cells = (table[patients, None, lo:hi] * primary_check[patients, :, None]
                 + colonies[:, :, None] * growth[:, None, :])
        lethal = (cells >= threshold[:, None]).any(axis=1)
        first = argmax(lethal, axis=1); hit = lethal[arange, first]
        where(hit, days[first], after)

    The same products and sums of each (patient, check, day), stopping at the first
    lethal day.
    """
    n_checks = threshold.size
    out = np.empty(patients.size)
    colonies = np.empty(n_checks)
    for a in range(patients.size):
        p = patients[a]
        for c in range(n_checks):
            colonies[c] = bound[a, c] - primary[a] * primary_check[p, c]
        out[a] = after
        for d in range(days.size):
            lethal = False
            for c in range(n_checks):
                cells = table[p, lo + d] * primary_check[p, c] + colonies[c] * growth[a, d]
                if cells >= threshold[c]:
                    lethal = True
            if lethal:
                out[a] = days[d]
                break
    return out
