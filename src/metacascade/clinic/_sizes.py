"""The sizes of a batch's lesions: untreated, with therapy, and bounds of them.

:class:`Sizes` is the part of :class:`~metacascade.clinic._lesions.Lesions` that computes
sizes from its flat arrays: the closed forms of :mod:`metacascade.engine.growth` (the
same operations element by element, with each patient's parameters) times the survival
factor of :class:`~metacascade.clinic.therapy.TherapyHistory` (the same product over
lines, with each patient's line start and end days). :class:`Lesions` builds the arrays
it reads (declared here).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.clinic import _sizes_loops as loops
from metacascade.errors import ParameterError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Lesions evaluated at once when every lesion is (a few MB of temporaries).
CHUNK = 1 << 16


class Sizes:
    """Sizes of the lesions of a batch (the arrays are :class:`Lesions`'s)."""

    # Per lesion (flat, patients contiguous, each primary first).
    n: int
    pat: IntArray
    organ: IntArray
    founded: FloatArray
    w: FloatArray
    log_w: FloatArray
    switch: FloatArray
    is_primary: BoolArray
    had: BoolArray
    organs: tuple[str, ...]
    # Per patient.
    r: FloatArray
    ka: FloatArray
    km: FloatArray
    log_ka: FloatArray
    alpha: FloatArray
    log_ratio: FloatArray
    cells_per_cm3: FloatArray
    # The primaries' table: (patients, times) untreated cells at ``times``.
    times: FloatArray
    primary: FloatArray
    _column: dict[float, int]
    # Therapy: (patients, lines) line days, (lesions, lines) resistant shares, kill rates.
    line_start: FloatArray
    line_end: FloatArray
    resistant: FloatArray
    kill_table: FloatArray
    _kill_flat: list[FloatArray]
    #: The same negated (``-kill``, exactly), and whether every kill rate is finite.
    _neg_kill_flat: list[FloatArray]
    _finite_kill: bool
    #: ``_neg_kill_flat`` as one (lines, patients * organs) table (the compiled loops).
    _neg_kill: FloatArray | None = None
    #: Each lesion's index in a flat (patients, organs) table: pat * organs + organ.
    pat_organ: IntArray
    #: The day, lesions (in id order) and survival factors ``visible`` last read.
    _factors: tuple[float, IntArray, FloatArray] | None
    #: Per lesion, its survival factor when ``visible`` last read it (scratch).
    _read_factor: FloatArray
    #: The lines some patient has started (in order), and (lines, patients) who has.
    _begun: list[int]
    _started: BoolArray

    def begin(self, patients: IntArray, line: IntArray | int, t: float) -> None:
        """``patients`` start ``line`` (each its own, or one for all) at ``t``."""
        self.line_start[patients, line] = t
        started = np.isfinite(self.line_start)
        self._begun = np.flatnonzero(started.any(axis=0)).tolist()
        self._started = np.ascontiguousarray(started.T)

    def untreated(self, ids: IntArray, t: float | FloatArray) -> FloatArray:
        """Untreated cells of ``ids`` at ``t`` (scalar, ``times[:, None]`` or per lesion).

        The colonies as :func:`~metacascade.engine.growth.colony_cells`, the primaries
        from :func:`~metacascade.engine.growth.primary_cells` at the clinic's times.
        """
        t = np.asarray(t, dtype=float)
        if t.ndim <= 1 and ids.size > CHUNK:
            return _in_pieces(self.untreated, ids, t)
        if t.ndim == 2 and t.shape[1] == 1 and t.shape[0] and ids.size:
            return self._untreated_grid(ids, t)
        return self._untreated(ids, t)

    def vascular(self, ids: IntArray, t: float) -> FloatArray:
        """:meth:`untreated` of primaries and colonies founded by ``t`` past their switch.

        Only the Gompertz branch is computed for the colonies (the one they are in) and
        the table read for the primaries: the same numbers, without the branch masks.
        """
        if _jit.ENABLED and (column := self._column.get(float(t), -1)) >= 0:
            # Lesion by lesion around NumPy's two exponentials (an unplanned time: the
            # NumPy code, which raises if a primary is asked).
            ids = np.ascontiguousarray(ids)
            e = loops.vascular_exponents(ids, self.pat, self.is_primary, self.switch,
                                         self.alpha, float(t))
            np.exp(e, out=e)
            loops.vascular_second(ids, self.pat, self.is_primary, self.log_ratio, e)
            np.exp(e, out=e)
            loops.vascular_cells(ids, self.pat, self.is_primary, self.km, self.primary,
                                 column, e)
            return e
        heads = self.is_primary[ids]
        cells = np.empty(ids.size)
        colonies = np.flatnonzero(~heads)
        g = ids[colonies]
        pg = self.pat[g]
        cells[colonies] = self.km[pg] * np.exp(self.log_ratio[pg] * np.exp(
            -self.alpha[pg] * np.maximum(t - self.switch[g], 0.0)))
        primaries = np.flatnonzero(heads)
        if primaries.size:
            column = self._column.get(float(t), -1)
            if column < 0:
                raise ParameterError("clinic: a primary's size was asked at an unplanned time")
            cells[primaries] = self.primary[self.pat[ids[primaries]], column]
        return cells

    def _untreated(self, ids: IntArray, t: FloatArray) -> FloatArray:
        """:meth:`untreated`, element by element (any ``t`` that broadcasts)."""
        if _jit.ENABLED and (t.ndim == 0 or t.shape == ids.shape):
            return self._untreated_loops(ids, t)
        founded, switch = self.founded[ids], self.switch[ids]
        primary = self.is_primary[ids]
        at, of, heads = t, ids, primary
        if t.ndim > 1 or (t.ndim == 1 and t.shape != ids.shape):  # a grid of times
            shape = np.broadcast_shapes(t.shape, ids.shape)
            at, of, heads = (np.broadcast_to(t, shape), np.broadcast_to(ids, shape),
                             np.broadcast_to(primary, shape))
            founded, switch = np.broadcast_to(founded, shape), np.broadcast_to(switch, shape)
        # Each element in its branch only (the same operations as both branches and a
        # choice): not founded 0, avascular before the switch, Gompertz after it.
        grown, switched = at >= founded, at >= switch
        late = switched & grown & ~heads
        early = grown & ~switched
        cells = np.zeros(founded.shape)
        if early.any():
            e, te = of[early], (at if at.ndim == 0 else at[early])
            pe = self.pat[e]
            with np.errstate(over="ignore"):
                cells[early] = np.minimum(np.maximum(
                    self.w[e] * np.exp(np.minimum(self.r[pe] * (te - founded[early]), 700.0)),
                    1.0), self.ka[pe])
        if late.any():
            g, tg = of[late], (at if at.ndim == 0 else at[late])
            pg = self.pat[g]
            cells[late] = self.km[pg] * np.exp(self.log_ratio[pg] * np.exp(
                -self.alpha[pg] * np.maximum(tg - switch[late], 0.0)))
        if primary.any():
            rows = self.pat[ids[primary]]
            if at.ndim == 0:
                column = self._column.get(float(at), -1)
                if column < 0:
                    raise ParameterError("clinic: a primary's size was asked at an "
                                         "unplanned time")
                cells[primary] = self.primary[rows, column]
            else:
                cells[..., primary] = self.primary[rows, self._columns(at[..., primary])]
        return cells

    def _untreated_grid(self, ids: IntArray, t: FloatArray) -> FloatArray:
        """:meth:`untreated` at a column of times ``t`` (times, 1): (times, lesions).

        A colony whose branch is the same at every time it is founded by (before its
        switch at the last time, or past it at the first and founded by then) has its
        column computed at once, its parameters read once: the same operations on the
        same numbers as element by element. A colony founded within the times is 0
        before (the avascular branch at those times is computed, with its overflow
        ignored as for the others, and not used). The others (switching within the
        times, or founded past their switch within them) are computed element by
        element (:meth:`_untreated`).
        """
        if _jit.ENABLED:
            return self._untreated_loops(ids, t)
        first, last = float(t.min()), float(t.max())
        founded, switch = self.founded[ids], self.switch[ids]
        primary = self.is_primary[ids]
        cells = np.zeros((t.shape[0], ids.size))
        founding = founded <= last
        early = np.flatnonzero(founding & (last < switch))  # no primary: its switch is -inf
        late = np.flatnonzero((founded <= first) & (switch <= first) & ~primary)
        if early.size:
            e, fe = ids[early], founded[early]
            pe = self.pat[e]
            with np.errstate(over="ignore"):
                block = np.minimum(np.maximum(
                    self.w[e] * np.exp(np.minimum(self.r[pe] * (t - fe), 700.0)), 1.0),
                    self.ka[pe])
            if fe.max() > first:
                block = np.where(t >= fe, block, 0.0)
            cells[:, early] = block
        if late.size:
            pg = self.pat[ids[late]]
            cells[:, late] = self.km[pg] * np.exp(self.log_ratio[pg] * np.exp(
                -self.alpha[pg] * np.maximum(t - switch[late], 0.0)))
        mixed = np.flatnonzero(founding & (switch <= last) & ~primary
                               & ((founded > first) | (switch > first)))
        if mixed.size:
            cells[:, mixed] = self._untreated(ids[mixed], t)
        heads = np.flatnonzero(primary)
        if heads.size:
            columns = self._columns(t[:, 0])
            cells[:, heads] = self.primary[self.pat[ids[heads]]][:, columns].T
        return cells

    def _untreated_loops(self, ids: IntArray, t: FloatArray) -> FloatArray:
        """:meth:`_untreated` in compiled loops (``_sizes_loops``).

        ``t`` a scalar, one per lesion or a column (times, 1): the same numbers as
        element by element, which :meth:`_untreated_grid` gives too.
        """
        at = np.ascontiguousarray(t.reshape(1, -1) if t.ndim < 2 else t)
        ids = np.ascontiguousarray(ids)
        arg, branch, heads = loops.untreated_exponents(
            ids, at, self.pat, self.founded, self.switch, self.is_primary, self.r,
            self.alpha)
        e = np.exp(arg, out=arg)
        cells = loops.untreated_values(ids, self.pat, branch, e, self.w, self.ka,
                                       self.log_ratio)
        np.exp(e, out=e)
        loops.untreated_gompertz(ids, self.pat, branch, e, self.km, cells)
        if heads.size:
            rows = self.pat[ids[heads]]
            if t.ndim == 0:
                column = self._column.get(float(t), -1)
                if column < 0:
                    raise ParameterError("clinic: a primary's size was asked at an "
                                         "unplanned time")
                cells[0, heads] = self.primary[rows, column]
            elif t.ndim == 1:
                cells[0, heads] = self.primary[rows, self._columns(t[heads])]
            else:
                cells[:, heads] = self.primary[rows][:, self._columns(t[:, 0])].T
        return cells if t.ndim == 2 else cells.reshape(ids.shape)

    def _columns(self, at: FloatArray) -> IntArray:
        """The columns of the primaries' table at ``at`` (planned times only)."""
        column = np.searchsorted(self.times, at)
        if not np.array_equal(self.times[np.minimum(column, len(self.times) - 1)], at):
            raise ParameterError("clinic: a primary's size was asked at an unplanned time")
        return column

    def smallest_primary(self, patients: IntArray, times: FloatArray) -> FloatArray:
        """The smallest untreated size of the ``patients``' primaries at ``times``."""
        columns = self._columns(times)
        lo, hi = (int(columns[0]), int(columns[-1]) + 1) if columns.size else (0, 0)
        if columns.size and hi - lo == columns.size:
            # Consecutive columns (the times are increasing): a slice reads the same.
            rows = self.primary[patients, lo:hi]
        else:
            rows = self.primary[patients][:, columns]
        return np.asarray(rows.min(axis=1, initial=np.inf), dtype=float)

    def kill(self, ids: IntArray, line: int) -> FloatArray:
        """Kill rate of a line in each lesion's organ."""
        return np.asarray(self._kill_flat[line][self.pat_organ[ids]], dtype=float)

    def survival(self, ids: IntArray, t: float | FloatArray,
                 pat: IntArray | None = None) -> FloatArray:
        """Survival factor of ``ids`` at ``t`` (``TherapyHistory.survival``).

        The product over the lines some patient has started, in line order, of
        ``(1 - rho) * exp(-kill * exposed) + rho``. A line a patient has not started
        leaves its lesions' factor exactly 1: its start is inf, so the exposure is
        ``max(min(t, end) - inf, 0) = 0`` (t finite), ``exp(-kill * 0) = 1`` (kill
        finite) and its resistant share is 0, a factor of exactly 1.0, and multiplying
        by 1.0 changes nothing. So when most of the lesions' patients have started a
        line, it is computed for every lesion at once (no subsets to gather and
        scatter); otherwise only for the lesions of those who have. ``pat``: the
        lesions' patients, if known.
        """
        t = np.asarray(t, dtype=float)
        if t.ndim <= 1 and ids.size > CHUNK:
            return _in_pieces(self.survival, ids, t)
        shape = ids.shape if t.ndim == 0 else np.broadcast_shapes(t.shape, ids.shape)
        lines = self._begun
        if not lines:
            return np.ones(shape)
        if pat is None:
            pat = self.pat[ids]
        # Whether a line may be computed for every lesion (see above).
        whole = self._finite_kill and bool(np.isfinite(t).all())
        if _jit.ENABLED and (t.ndim == 0 or t.shape == ids.shape
                             or (t.ndim == 2 and t.shape[1] in (1, ids.size))):
            return self._survival_loops(ids, t, pat, whole)
        founded: FloatArray | None = None
        pat_organ: IntArray | None = None
        out: FloatArray | None = None
        per_lesion = t.ndim > 0 and t.shape[-1] == ids.size
        for k in lines:
            started = self._started[k][pat]
            count = int(np.count_nonzero(started))
            if count == 0:
                continue
            if whole and 2 * count >= ids.size:
                if founded is None or pat_organ is None:
                    founded, pat_organ = self.founded[ids], self.pat_organ[ids]
                # min(t, end) per patient and then per lesion: the same numbers.
                cap = (np.minimum(t, self.line_end[:, k])[pat] if t.ndim == 0
                       else np.minimum(t, self.line_end[:, k][pat]))
                exposed = np.subtract(cap, np.maximum(self.line_start[:, k][pat], founded))
                np.maximum(exposed, 0.0, out=exposed)
                rho = self.resistant[:, k][ids]
                # (1 - rho) * exp(-kill * exposed) + rho, in place.
                factor = np.multiply(self._neg_kill_flat[k][pat_organ], exposed, out=exposed)
                np.exp(factor, out=factor)
                factor *= 1.0 - rho
                factor += rho
                if out is None:
                    out = factor  # 1.0 * factor
                else:
                    out *= factor
                continue
            if out is None:
                out = np.ones(shape)
            on = np.nonzero(started)[0]
            p, sub = pat[on], ids[on]
            tk = t[..., on] if per_lesion else t
            exposed = np.maximum(np.minimum(tk, self.line_end[:, k][p])
                                 - np.maximum(self.line_start[:, k][p], self.founded[sub]),
                                 0.0)
            rho = self.resistant[:, k][sub]
            kill = self._kill_flat[k][self.pat_organ[sub]]
            out[..., on] = out[..., on] * ((1.0 - rho) * np.exp(-kill * exposed) + rho)
        return out if out is not None else np.ones(shape)

    def _survival_loops(self, ids: IntArray, t: FloatArray, pat: IntArray,
                        whole: bool) -> FloatArray:
        """:meth:`survival` in compiled loops (t a scalar, one per lesion, or 2-d)."""
        lines = np.array(self._begun, dtype=np.int64)
        ids, pat = np.ascontiguousarray(ids), np.ascontiguousarray(pat)
        mode = loops.survival_modes(pat, lines, self._started, whole)
        if not mode.any():
            return np.ones(ids.shape if t.ndim < 2 else (t.shape[0], ids.size))
        if self._neg_kill is None:
            self._neg_kill = np.stack(self._neg_kill_flat)
        at = np.ascontiguousarray(t.reshape(1, -1) if t.ndim < 2 else t)
        decay = loops.survival_exponents(ids, pat, at, lines, mode, self._started,
                                         self.line_start, self.line_end, self.founded,
                                         self._neg_kill, self.pat_organ)
        np.exp(decay, out=decay)
        out = loops.survival_product(ids, pat, lines, mode, self._started, self.resistant,
                                     decay)
        return out if t.ndim == 2 else out.reshape(ids.shape)

    def survival_read(self, ids: IntArray, t: float) -> FloatArray:
        """:meth:`survival` at ``t``, reusing the factors :meth:`visible` read at ``t``.

        Between a decision and the next interval's deaths a lesion's factor at ``t``
        changes only if its patient started a line at ``t`` (its start and resistant
        share; a line stopped at ``t`` had the same exposure up to ``t``), so the
        factors read are those of the lesions read of the other patients. ``ids``
        must be had now, of patients alive now and founded by ``t`` (as the deaths
        ask): such a lesion was had and its patient alive at ``t`` too (a lesion is had
        from the interval it is founded in until it is eradicated), so it was read
        exactly when it was readable by ``t`` (:meth:`switched`: founded and past its
        switch, ``max(switch, founded) <= t``), and its factor is in the per-lesion
        scratch :meth:`visible` wrote at ``t`` (no search of the lesions read).
        """
        known = self._factors
        if known is None or known[0] != t or not ids.size or not known[1].size:
            return self.survival(ids, t)
        started = (self.line_start == t).any(axis=1)
        hit = ((np.maximum(self.switch[ids], self.founded[ids]) <= t)
               & ~started[self.pat[ids]])
        out = self._read_factor[ids]
        miss = np.flatnonzero(~hit)
        if miss.size:
            out[miss] = self.survival(ids[miss], t)
        return out

    def log_untreated_floor(self, ids: IntArray, t: float,
                            pat: IntArray | None = None) -> FloatArray:
        """A lower bound of log(max(untreated cells, 1)) of founded colonies ``ids`` at ``t``.

        The avascular branch in log form (no exponential); past the switch a colony holds
        at least its avascular limit. (Of a colony founded after ``t``, a lower bound of
        its size from its founding on.) ``pat``: the lesions' patients, if known.
        """
        if pat is None:
            pat = self.pat[ids]
        log_ka = self.log_ka[pat]
        early = np.minimum(np.maximum(self.log_w[ids] + self.r[pat] * (t - self.founded[ids]),
                                      0.0), log_ka)
        return np.asarray(np.where(self.switch[ids] <= t, log_ka, early), dtype=float)

    def cells(self, ids: IntArray, t: float | FloatArray) -> FloatArray:
        """Cells of ``ids`` at ``t`` with therapy (lesions not live are not asked)."""
        return self.untreated(ids, t) * self.survival(ids, t)


    def final_cells(self, end: FloatArray) -> FloatArray:
        """(lesions,) cells at each patient's end, 0 for lesions not live."""
        ids = np.nonzero(self.had)[0]
        out = np.zeros(self.n)
        out[ids] = self.cells(ids, end[self.pat[ids]])
        return out


def _in_pieces(size: Callable[[IntArray, FloatArray], FloatArray], ids: IntArray,
               t: FloatArray) -> FloatArray:
    """``size(ids, t)`` (t scalar or one per lesion) in pieces that fit in the cache.

    Each lesion's value is computed alone, so the pieces give the same numbers.
    """
    out = np.empty(ids.size)
    for lo in range(0, ids.size, CHUNK):
        hi = lo + CHUNK
        out[lo:hi] = size(ids[lo:hi], t if t.ndim == 0 else t[lo:hi])
    return out
