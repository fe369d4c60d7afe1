"""Eradication for a batch of patients: which lesions fall below one cell, and when to look.

For :func:`~metacascade.clinic.batch.follow_batch`: :class:`Eradication` examines the
lesions of treated patients on the death grid of each interval (as
``Patient._eradicate_quiet`` of :mod:`~metacascade.clinic._patient` does), but only those
that may be candidates. Each other lesion waits in :attr:`Eradication.pending` for the
first interval that ends after its next possible day (:meth:`Eradication.next_day`): a
colony grows at its rate r until its avascular limit and never shrinks, and its survival
factor falls at most at the running line's kill rate and no lower than its resistant
share, so before that day it cannot fall below one cell while that line runs (or none
does). A patient's start of a line schedules its colonies again
(:meth:`Eradication.restart`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.clinic import _eradication_loops as loops
from metacascade.clinic._lesions import Lesions
from metacascade.clinic._rules import Rules

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Margin of the eradication bound, in log cells: far above its rounding.
LOG_MARGIN = 1e-6
#: Margin of a lesion's next possible day, in log cells: far above the rounding of the
#: bounds it is computed from.
LOG_SLACK = 1e-6


class Eradication:
    """The lesions to examine in each interval, and their examination.

    ``stops`` are the ends of the intervals (the decision days, then the horizon);
    ``rules`` give each patient's running line (its kill rates).
    """

    def __init__(self, lesions: Lesions, rules: Rules, stops: FloatArray) -> None:
        self.x, self.rules, self.stops = lesions, rules, stops
        #: Per interval, the lesions to examine for eradication then (:meth:`postpone`),
        #: in blocks, each with the count of postponements when it was made.
        self.pending: list[list[tuple[int, IntArray]]] = [[] for _ in range(len(stops))]
        #: Counts the postponements and restarts; each patient's count at its last
        #: restart (:meth:`restart`), and the count at the last restart of any.
        self.clock = 0
        self.restarted = np.zeros(lesions.n_patients, dtype=np.int64)
        self.latest = 0
        self._kills: tuple[int, BoolArray, IntArray, FloatArray] | None = None

    def examine(self, k: int, previous: float, t: float, times: FloatArray,
                treated: BoolArray) -> None:
        """Lesions of treated patients below one cell on the grid (``_eradicate_quiet``).

        Only the lesions that may be candidates are examined: the primaries and the
        lesions of patients whose sizes are not bounded (always), the colonies founded in
        the interval, and the lesions whose next possible day (:meth:`postpone`, set
        when the patient starts a line and at each examination) has come. The others
        would fail one of the bounds below, so the eradications are the same.
        """
        x = self.x
        if _jit.ENABLED:
            ids, pat, always, log_factor, log_size = self._candidates_loops(
                k, previous, t, times, treated)
        else:
            new = x.founded_in(k)
            parts = [x.always[treated[x.pat[x.always]]],
                     new[treated[x.pat[new]] & ~x.is_always[new]]]
            for made, block in self.pending[k]:
                # A block made before its patient's last restart is out of date.
                parts.append(block if made > self.latest
                             else block[self.restarted[x.pat[block]] < made])
            self.pending[k] = []
            ids = np.concatenate(parts)
            pat, founded = x.pat[ids], x.founded[ids]
            keep = treated[pat] & x.had[ids] & (founded <= t)
            ids, pat, founded = ids[keep], pat[keep], founded[keep]
            always = x.is_always[ids]
            with np.errstate(divide="ignore"):
                log_factor = np.log(x.survival(ids, t, pat))
            # A lower bound of log max(untreated, 1) on the grid of (previous, t] and after,
            # from the colony's founding: its avascular branch at previous (in logs; of a
            # colony founded since, below its size at founding), past its switch its size.
            # No patient is treated before the first interval ends.
            log_size = np.zeros(ids.size)
            if not math.isinf(previous):
                log_size = x.log_untreated_floor(ids, previous, pat)
                then = np.nonzero(~always & (x.switch[ids] <= previous)
                                  & (founded <= previous))[0]
                log_size[then] = np.log(np.maximum(x.untreated(ids[then], previous), 1.0))
            # A primary's size on the grid is its table's: at least the smallest there.
            heads = np.nonzero(x.is_primary[ids])[0]
            with np.errstate(divide="ignore"):
                log_size[heads] = np.log(x.smallest_primary(pat[heads], times))
        # The untreated size never decreases (but a primary's) and the survival factor
        # never increases: only the lesions this bound lets through (and those of the
        # patients whose sizes are not bounded) may fall below one cell on the grid.
        grid = ids[(log_size + log_factor < LOG_MARGIN) | ~x.bounded[pat]]
        if grid.size:
            column = times[:, None]
            cells = x.untreated(grid, column) * x.survival(grid, column)
            below = (cells < 1.0) & (column >= x.founded[grid])
            hit = below.any(axis=0)
            if hit.any():
                x.eradicated[grid[hit]] = times[np.argmax(below[:, hit], axis=0)]
                x.had[grid[hit]] = False
        later = np.nonzero(~always & x.had[ids])[0]
        self.postpone(k, ids[later], self.next_day(t, ids[later], log_factor[later],
                                                   log_size[later], pat[later]))

    def _candidates_loops(self, k: int, previous: float, t: float, times: FloatArray,
                          treated: BoolArray,
                          ) -> tuple[IntArray, IntArray, BoolArray, FloatArray, FloatArray]:
        """:meth:`examine`'s lesions and bounds (``ids, pat, always, log_factor, log_size``).

        The choice of the lesions and the floor of their sizes in one compiled loop
        (:func:`~metacascade.clinic._eradication_loops.candidates`); the logarithms of
        their survival factors and of the sizes the floor does not give are NumPy's, as
        in :meth:`examine`.
        """
        x = self.x
        pending = self.pending[k]
        self.pending[k] = []
        blocks = [block for _, block in pending]
        stacked = np.concatenate(blocks) if len(blocks) > 1 else (
            blocks[0] if blocks else x.always[:0])
        ends = np.cumsum(np.array([block.size for block in blocks], dtype=np.int64))
        made = np.array([m for m, _ in pending], dtype=np.int64)
        ids, pat, always, log_size, then, heads = loops.candidates(
            x.always, x.founded_in(k), stacked, ends, made, self.latest, self.restarted,
            treated, x.pat, x.is_always, x.had, x.founded, t, previous,
            not math.isinf(previous), x.log_w, x.r, x.log_ka, x.switch, x.is_primary)
        with np.errstate(divide="ignore"):
            log_factor = np.log(x.survival(ids, t, pat))
            if then.size:
                log_size[then] = np.log(np.maximum(x.untreated(ids[then], previous), 1.0))
            if heads.size:
                log_size[heads] = np.log(x.smallest_primary(pat[heads], times))
        return ids, pat, always, log_factor, log_size

    def next_day(self, t: float, ids: IntArray, log_factor: FloatArray,
                 log_size: FloatArray, pat: IntArray | None = None) -> FloatArray:
        r"""Next possible day of colonies ``ids`` (founded by ``t``, of bounded patients).

        ``log_factor`` is the log of their survival factor at ``t``, ``log_size`` that of
        a lower bound of their untreated size from ``t`` on (its size at t or before,
        or 1). Before the day returned no grid time after ``t`` can find a colony below
        one cell: it is a lower bound of the first such time (inf: never). With
        :math:`d = \tau - t \ge 0`:

        * The untreated size :math:`U` never decreases (the patient is bounded:
          :math:`r > 0`, :math:`K_m > K_a \ge 1`). Before its switch it is the
          avascular branch :math:`\min(\max(w e^{\min(r(\tau - t_f), 700)}, 1), K_a)`,
          whose log is :math:`\min(P, Z, \log K_a)` with
          :math:`P = \max(A + r d, 0)`, :math:`A = \log w + r(t - t_f)` and
          :math:`Z = \max(\log w + 700, 0)`; past its switch it is at least
          :math:`K_a` (Gompertz from :math:`K_a` toward :math:`K_m`); and it is at
          least its size at t. So :math:`\log U(\tau) \ge \min(P, Q)` with
          :math:`Q = \max(\min(\log K_a, \log w + 700), \log size)`.
        * The survival factor, until the patient starts another line (which calls
          :meth:`restart`): :math:`\log S(\tau) \ge \log S(t) - F(d)`,
          :math:`F(d) = \min(\kappa d, c)`: the running line's factor (kill rate
          :math:`\kappa`, 0 without, and resistant share rho) falls by at most
          :math:`\kappa` per day and never below rho, so by at most
          :math:`c = \log(factor / \rho)` in all; ended lines no longer change (a line
          stopping only ends the fall).

        So with :math:`s = \log S(t)` the log cells at :math:`\tau` are at least
        :math:`\min(P, Q) + s - F(d)`, which is at least 0 wherever both
        :math:`P + s - F` and :math:`Q + s - F` are; each holds wherever one of its
        linear lower bounds :math:`a + b d` does (:math:`P \ge A + r d`, and
        :math:`F \le \kappa d` or :math:`F \le c`): half-lines from 0 or to infinity
        (:func:`_first_uncovered`). Growth at r slows the fall (at
        :math:`\kappa - r`), and may outpace it or outlast it (never). Every offset
        ``a`` is lowered by :data:`LOG_SLACK`, far above the rounding of the sizes and
        of the bound.
        """
        x = self.x
        if pat is None:
            pat = x.pat[ids]
        n_k = x.n_lines
        running, line, kill_now = self._kill_rates()
        if _jit.ENABLED:
            kappa, rho, arg, state = loops.next_day_rates(
                t, ids, pat, running, line, kill_now.reshape(-1), x.pat_organ, x.resistant,
                x.line_start, x.line_end, x.founded)
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                e = np.exp(arg, out=arg)
                run = np.log((1.0 - rho) * e + rho)
                log_rho = np.log(rho)
            return _next_day_loop(t, ids, pat, kappa, state, run, rho, log_rho, log_factor,
                                  log_size, x.log_w, x.r, x.log_ka, x.founded)
        kappa = kill_now.reshape(-1)[x.pat_organ[ids]]  # each lesion's (patient, organ)
        c = np.zeros(ids.size)
        on = np.nonzero(running[pat])[0]
        if on.size:
            every = on.size == ids.size
            sub, p = (ids, pat) if every else (ids[on], pat[on])
            k = line[p]
            rho = x.resistant.reshape(-1)[sub * n_k + k]
            # The running line's log factor: the whole factor's if it is the first line
            # (no other line has begun), else its own.
            log_run = log_factor if every else log_factor[on]
            later = np.nonzero(k > 0)[0]
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                if later.size:
                    q, kq, rq = p[later], k[later], rho[later]
                    exposed = np.maximum(np.minimum(t, x.line_end[q, kq])
                                         - np.maximum(x.line_start[q, kq],
                                                      x.founded[sub[later]]), 0.0)
                    log_run = log_run.copy()
                    log_run[later] = np.log((1.0 - rq) * np.exp(
                        -(kappa if every else kappa[on])[later] * exposed) + rq)
                # No floor without a resistant share (rho = 0: c = inf).
                c[on] = np.where(rho > 0.0, log_run - np.log(rho), np.inf)
        log_w = x.log_w[ids]
        r = x.r[pat]
        cap = np.maximum(np.minimum(x.log_ka[pat], log_w + 700.0), log_size)
        s = log_factor - LOG_SLACK
        grown = log_w + r * (t - x.founded[ids]) + s
        growing = _first_uncovered([(grown, kappa - r), (grown - c, -r)])
        # The same for (cap + s, kappa) and (cap + s - c, 0), which does not fall: never
        # if it holds, else the first (at once if it does not fall either, 0 / 0).
        capped = cap + s
        with np.errstate(divide="ignore", invalid="ignore"):
            capped = np.where(capped - c >= 0.0, np.inf, np.fmax(capped / kappa, -np.inf))
        return np.asarray(t + np.minimum(growing, capped), dtype=float)

    def _kill_rates(self) -> tuple[BoolArray, IntArray, FloatArray]:
        """Whether each patient runs a line, the line (0 without), its kill rates.

        The kill rates per (patient, organ), 0 without a line. Computed again only when
        the rules have changed a running line.
        """
        if self._kills is None or self._kills[0] != self.rules.version:
            x = self.x
            active = self.rules.active
            running = active >= 0
            line = np.where(running, active, 0)
            kill_now = np.where(running[:, None],
                                x.kill_table[np.arange(x.n_patients), line], 0.0)
            self._kills = (self.rules.version, running, line, kill_now)
        return self._kills[1:]

    def restart(self, k: int, t: float, patients: IntArray, ids: IntArray,
                log_factor: FloatArray, untreated: FloatArray) -> None:
        """``patients`` started a line at ``t`` (the end of the k-th interval).

        Their colonies ``ids`` (those they have, founded by t, of bounded patients) are
        examined from their next possible day under the new line; the days set before
        (:meth:`next_day` counts only the lines running then) are dropped.
        ``log_factor`` is the log of the colonies' survival factor at t before the
        line, ``untreated`` their untreated sizes at t.
        """
        self.clock += 1
        self.restarted[patients] = self.clock
        self.latest = self.clock
        self.postpone(k, ids, self.next_day(t, ids, log_factor, np.log(untreated)))

    def postpone(self, k: int, ids: IntArray, due: FloatArray) -> None:
        """Examine ``ids`` again in the first interval after k that ends after ``due``.

        ``due`` is the lesion's next possible day (:meth:`next_day`): before it, no grid
        time can find it below one cell (never, if infinite).
        """
        self.clock += 1
        if _jit.ENABLED:
            ids, keys, los, his = loops.buckets(ids, due, self.stops, k)
            for key, lo, hi in zip(keys.tolist(), los.tolist(), his.tolist(), strict=True):
                self.pending[key].append((self.clock, ids[lo:hi]))
            return
        n = len(self.stops)
        at = np.clip(np.searchsorted(self.stops, due, side="right"), k + 1, n)
        small = at.astype(np.int16) if n < 2**15 - 1 else at
        order = np.argsort(small, kind="stable")  # a radix sort in 16 bits
        ids = ids[order]
        # Each interval's lesions, in their order: a run of the sorted ids.
        counts = np.bincount(at, minlength=n + 1)
        high = np.cumsum(counts)
        keys = np.flatnonzero(counts[:n])
        for key, lo, hi in zip(keys.tolist(), (high[keys] - counts[keys]).tolist(),
                               high[keys].tolist(), strict=True):
            self.pending[key].append((self.clock, ids[lo:hi]))


def _first_uncovered(pieces: list[tuple[FloatArray, FloatArray]]) -> FloatArray:
    """A lower bound of the first d >= 0 at which every ``a - f d`` is negative.

    Each piece (a, f), a falling at rate f (rising if f < 0), holds (is >= 0) on a
    half-line of d >= 0: [0, a / f] if f > 0, [a / f, inf) if f < 0, all or nothing if
    f = 0. The union of the ones from 0 ends at X and the others start at Y: the first
    d left out is X if Y > max(X, 0) (X < 0: at once), and there is none (inf)
    otherwise. A piece whose end is not a number (0 / 0) is left out, which only
    makes the bound earlier.
    """
    n = pieces[0][0].size
    head, tail = np.full(n, -np.inf), np.full(n, np.inf)
    for a, f in pieces:
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = a / f
        rising = f < 0
        head = np.fmax(head, np.where(rising, -np.inf, cross))
        tail = np.fmin(tail, np.where(rising, cross, np.inf))
    return np.where(tail <= np.maximum(head, 0.0), np.inf, head)


@_jit.jit
def _next_day_loop(t: float, ids: IntArray, pat: IntArray, kappa: FloatArray,
                   state: NDArray[np.int8], run: FloatArray, rho: FloatArray,
                   log_rho: FloatArray, log_factor: FloatArray, log_size: FloatArray,
                   log_w: FloatArray, r: FloatArray, log_ka: FloatArray,
                   founded: FloatArray) -> FloatArray:
    """The end of :meth:`Eradication.next_day` (from ``c``), lesion by lesion.

    From what :func:`~metacascade.clinic._eradication_loops.next_day_rates` gathers and
    NumPy's logarithms of it (``run``: the log factor of a later running line,
    ``log_rho``): ``c`` as ``np.where(rho > 0.0, log_run - np.log(rho), np.inf)`` of
    the lesions of a running line (``log_run`` the whole ``log_factor`` for the first
    line), 0 of the others. Then the same operations on each lesion's numbers, in the
    same order: ``cap``, ``s``,
    ``grown`` (``(log_w + r * (t - founded)) + s``), :func:`_first_uncovered` of its two
    pieces (``np.fmax``/``np.fmin`` skip NaN, ``np.maximum``/``np.minimum`` propagate
    it, as written out here) and ``capped``. No exponential or logarithm: those are in
    ``log_factor``, ``log_size`` and ``c``, computed by NumPy.
    """
    n = ids.size
    out = np.empty(n)
    for i in range(n):
        g = ids[i]
        p = pat[i]
        lw = log_w[g]
        rp = r[p]
        ci = 0.0
        if state[i]:
            ci = ((run[i] if state[i] == 2 else log_factor[i]) - log_rho[i]
                  if rho[i] > 0.0 else np.inf)
        ki = kappa[i]
        # cap = maximum(minimum(log_ka, log_w + 700), log_size)
        cap = _jit.maximum(_jit.minimum(log_ka[p], lw + 700.0), log_size[i])
        s = log_factor[i] - LOG_SLACK
        grown = lw + rp * (t - founded[g]) + s
        # _first_uncovered([(grown, kappa - r), (grown - c, -r)])
        head = -np.inf
        tail = np.inf
        for piece in range(2):
            a = grown if piece == 0 else grown - ci
            f = ki - rp if piece == 0 else -rp
            cross = a / f
            if f < 0:
                head = _jit.fmax(head, -np.inf)
                tail = _jit.fmin(tail, cross)
            else:
                head = _jit.fmax(head, cross)
                tail = _jit.fmin(tail, np.inf)
        growing = np.inf if tail <= _jit.maximum(head, 0.0) else head
        capped = cap + s
        capped = np.inf if capped - ci >= 0.0 else _jit.fmax(capped / ki, -np.inf)
        out[i] = t + _jit.minimum(growing, capped)
    return out
