"""Eradication for a batch of patients: which lesions fall below one cell, and when to look.

For :func:`~metacascade.clinic.batch.follow_batch`: :class:`Eradication` examines the
lesions of treated patients on the death grid of each interval (as
``_Patient._eradicate_quiet`` of :mod:`~metacascade.clinic.course` does), but only those
that may be candidates. Each other lesion waits in :attr:`Eradication.pending` for the
first interval that ends after its next possible day: the untreated size never shrinks
and the survival factor falls at most at the kill rates of the running and coming lines,
so before that day neither bound can let it through.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from metacascade.clinic._lesions import Lesions
from metacascade.clinic._rules import Rules
from metacascade.clinic.course import BOUND_MARGIN

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Margin of the cheap eradication bound, in log cells: far above its rounding.
LOG_MARGIN = 1e-6
#: Margin of a lesion's next possible day, in log cells: far above the rounding of the
#: bounds it is computed from.
LOG_SLACK = 1e-6


class Eradication:
    """The lesions to examine in each interval, and their examination.

    ``stops`` are the ends of the intervals (the decision days, then the horizon);
    ``rules`` give each patient's running and next line (the kill rates to come).
    """

    def __init__(self, lesions: Lesions, rules: Rules, stops: FloatArray) -> None:
        self.x, self.rules, self.stops = lesions, rules, stops
        #: Per interval, the lesions to examine for eradication then (:meth:`postpone`).
        self.pending: list[list[IntArray]] = [[] for _ in range(len(stops))]
        self._kills: tuple[int, BoolArray, IntArray, FloatArray, FloatArray] | None = None

    def examine(self, k: int, previous: float, t: float, times: FloatArray,
                treated: BoolArray) -> None:
        """Lesions of treated patients below one cell on the grid (``_eradicate_quiet``).

        Only the lesions that may be candidates are examined: the primaries and the
        lesions of patients whose sizes are not bounded (always), the colonies founded in
        the interval, and the lesions whose next possible day (:meth:`postpone`, set
        when the patient's first line starts and at each examination) has come. The
        others would fail one of the bounds below, so the eradications are the same.
        """
        x = self.x
        new = x.founded_in(k)
        parts = [x.always[treated[x.pat[x.always]]],
                 new[treated[x.pat[new]] & ~x.is_always[new]], *self.pending[k]]
        self.pending[k] = []
        ids = np.concatenate(parts)
        pat, founded = x.pat[ids], x.founded[ids]
        keep = treated[pat] & x.had[ids] & (founded <= t)
        ids, pat, founded = ids[keep], pat[keep], founded[keep]
        always = x.is_always[ids]
        due = np.full(ids.size, -np.inf)
        rest = np.ones(ids.size, dtype=bool)
        if not math.isinf(previous):
            # A first, cheap bound (per patient for therapy, in logs for the size):
            # most lesions are far above one cell.
            floor = x.log_survival_floor(t)[pat]
            cheap = x.log_untreated_floor(ids, previous, pat) + floor
            rest = (cheap < LOG_MARGIN) | always
            far = ~rest
            due[far] = _later(t, cheap[far] - 2.0 * LOG_MARGIN, x.kappa_all[pat[far]])
        # The second bound, for every lesion examined (its next possible day is usually
        # the later); the grid is evaluated for the lesions both bounds let through.
        lower = x.survival(ids, t, pat)
        if not math.isinf(previous):
            # max(untreated, 1): 1 for the colonies founded since (0 untreated cells).
            then = np.nonzero(founded <= previous)[0]
            size = np.ones(ids.size)
            size[then] = np.maximum(x.untreated(ids[then], previous), 1.0)
            lower = lower * size
        maybe = (lower < 1.0 + BOUND_MARGIN) | always
        above = np.nonzero(~maybe)[0]
        due[above] = np.maximum(due[above], self.survival_due(
            t, ids[above], lower[above], pat[above]))
        grid = ids[rest & maybe]
        if grid.size:
            column = times[:, None]
            cells = x.untreated(grid, column) * x.survival(grid, column)
            below = (cells < 1.0) & (column >= x.founded[grid])
            hit = below.any(axis=0)
            if hit.any():
                x.eradicated[grid[hit]] = times[np.argmax(below[:, hit], axis=0)]
                x.had[grid[hit]] = False
        later = ~always & x.had[ids]
        self.postpone(k, ids[later], due[later])

    def survival_due(self, t: float, ids: IntArray, lower: FloatArray,
                     pat: IntArray | None = None) -> FloatArray:
        """Next possible day of lesions whose survival bound ``lower`` (>= 1) holds at t.

        The log bound falls only through the survival factor (the untreated size never
        decreases): the running line's factor (kill rate k, resistant share rho) by at
        most k per day and never below rho, so by at most c = log(factor / rho) in all;
        the lines not started yet by at most their largest kill rate k_next per day
        (one line at a time). Over d days the fall is at most min(max(k, k_next) d,
        c + k_next d); ended lines no longer change.
        """
        x = self.x
        if pat is None:
            pat = x.pat[ids]
        with np.errstate(divide="ignore"):
            room = np.log(lower) - LOG_SLACK
        n_k = x.n_lines
        running, line, kill_now, kill_next = self._kill_rates()
        where = pat * len(x.organs) + x.organ[ids]
        k_now = kill_now.reshape(-1)[where]
        k_next = kill_next.reshape(-1)[where]
        c = np.zeros(ids.size)
        on = np.nonzero(running[pat])[0]
        if on.size:
            sub, p = ids[on], pat[on]
            k = line[p]
            rho = x.resistant.reshape(-1)[sub * n_k + k]
            start = x.line_start[p, k]
            end = x.line_end[p, k]
            exposed = np.maximum(np.minimum(t, end) - np.maximum(start, x.founded[sub]), 0.0)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                factor = (1.0 - rho) * np.exp(-k_now[on] * exposed) + rho
                # No floor without a resistant share.
                c[on] = np.where(rho > 0, np.log(factor) - np.log(rho), np.inf)
        return np.maximum(_later(t, room, np.maximum(k_now, k_next)),
                          _later(t, room - c, k_next))

    def _kill_rates(self) -> tuple[BoolArray, IntArray, FloatArray, FloatArray]:
        """Whether each patient runs a line, the line, and the kill rates ahead.

        Per patient: running a line, the line (0 without); per (patient, organ): the
        running line's kill rate and the largest of the lines still to come (0 without).
        Computed again only when the rules have changed a running or next line.
        """
        if self._kills is None or self._kills[0] != self.rules.version:
            x = self.x
            n_p, n_k = x.n_patients, x.n_lines
            active, next_line = self.rules.active, self.rules.next_line
            running = active >= 0
            line = np.where(running, active, 0)
            table = x.kill_table
            kill_now = np.where(running[:, None], table[np.arange(n_p), line], 0.0)
            ahead = np.arange(n_k)[None, :] >= next_line[:, None]
            kill_next = np.where(ahead[:, :, None], table, 0.0).max(axis=1, initial=0.0)
            self._kills = (self.rules.version, running, line, kill_now, kill_next)
        return self._kills[1:]

    def postpone(self, k: int, ids: IntArray, due: FloatArray) -> None:
        """Examine ``ids`` again in the first interval after k that ends after ``due``.

        ``due`` is the lesion's next possible day: before it, neither bound of
        :meth:`examine` can let it through (never, if infinite).
        """
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
            self.pending[key].append(ids[lo:hi])


def _later(t: float, room: FloatArray, rate: FloatArray) -> FloatArray:
    """The day a log bound ``room`` above its threshold at ``t`` may reach it at ``rate``.

    Never (inf) if it does not fall (rate 0) and is above; ``t`` or before if it is not.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = t + room / rate
    out[np.isnan(out)] = -np.inf  # rate 0 and no room
    return out
