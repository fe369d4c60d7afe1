"""Compiled loops (:mod:`metacascade._jit`) of :class:`~metacascade.clinic._sizes.Sizes`.

The untreated sizes of ``Sizes._untreated`` and ``Sizes._untreated_grid``, element by
element in three passes around NumPy's exponentials:
:func:`untreated_exponents` computes each element's branch and the argument of its
first ``exp``, :func:`untreated_values` the avascular sizes and the argument of the
Gompertz branch's second ``exp``, :func:`untreated_gompertz` the Gompertz sizes. Each
element gets the operations of its branch on its own numbers, in the order the NumPy
code applies them; the exponentials are ``np.exp`` of the arrays the loops fill
(element by element, as NumPy computes them on the branch's subsets). Minima and maxima
propagate NaN as ``np.minimum``/``np.maximum`` do. ``Sizes.vascular`` (the Gompertz
branch and the primaries' table only) has its own three passes (:func:`vascular_exponents`,
:func:`vascular_second`, :func:`vascular_cells`), and ``Sizes.survival`` its own
(:func:`survival_modes` on).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Int8Array = NDArray[np.int8]

#: The branches of an element: not founded (0), avascular, Gompertz, a primary's table.
ZERO, EARLY, LATE, PRIMARY = 0, 1, 2, 3




@_jit.jit
def untreated_exponents(ids: IntArray, t: FloatArray, pat: IntArray, founded: FloatArray,
                        switch: FloatArray, is_primary: BoolArray, r: FloatArray,
                        alpha: FloatArray,
                        ) -> tuple[FloatArray, Int8Array, IntArray]:
    """Each element's branch and first exponent: (rows, n) each, and the primaries.

    ``t`` is (rows, 1) or (rows, n) (a scalar as (1, 1), one per lesion as (1, n)); the
    per-lesion arrays are the whole batch's, read at ``ids``. The branch as
    ``_untreated`` chooses it (``grown = t >= founded``, ``switched = t >= switch``: a
    primary its table, grown and switched the Gompertz branch, grown and not switched
    the avascular one, else 0). The exponent: avascular ``min(r * (t - founded), 700)``,
    Gompertz ``(-alpha) * max(t - switch, 0)`` (``-alpha * m`` in NumPy: the same, as
    negation is exact), 0 otherwise. Also the positions (in ``ids``) of the primaries.
    (The loops over lesions are innermost and simple, so that they vectorize.)
    """
    n = ids.size
    rows, cols = t.shape
    arg = np.zeros((rows, n))
    branch = np.zeros((rows, n), dtype=np.int8)
    n_heads = 0
    for i in range(n):
        if is_primary[ids[i]]:
            n_heads += 1
    heads = np.empty(n_heads, dtype=np.int64)
    if n_heads:
        h = 0
        for i in range(n):
            if is_primary[ids[i]]:
                heads[h] = i
                h += 1
    for row in range(rows):
        a = arg[row]
        b = branch[row]
        times = t[row]
        for i in range(n):
            g = ids[i]
            at = times[0] if cols == 1 else times[i]
            f, s = founded[g], switch[g]
            if is_primary[g]:
                b[i] = PRIMARY
            elif at >= s and at >= f:
                b[i] = LATE
                a[i] = -alpha[pat[g]] * _jit.maximum(at - s, 0.0)
            elif at >= f:
                b[i] = EARLY
                a[i] = _jit.minimum(r[pat[g]] * (at - f), 700.0)
    return arg, branch, heads


@_jit.jit
def untreated_values(ids: IntArray, pat: IntArray, branch: Int8Array, e: FloatArray,
                     w: FloatArray, ka: FloatArray, log_ratio: FloatArray) -> FloatArray:
    """The sizes of the avascular branch (others 0), from ``e = exp(first exponent)``.

    ``min(max(w * e, 1), ka)``. In place, ``e`` becomes the Gompertz branch's second
    exponent ``log_ratio * e`` (0 elsewhere, so that its ``exp`` cannot overflow).
    """
    rows, n = e.shape
    out = np.zeros((rows, n))
    for row in range(rows):
        o = out[row]
        b = branch[row]
        x = e[row]
        for i in range(n):
            g = ids[i]
            if b[i] == EARLY:
                o[i] = _jit.minimum(_jit.maximum(w[g] * x[i], 1.0), ka[pat[g]])
                x[i] = 0.0
            elif b[i] == LATE:
                x[i] = log_ratio[pat[g]] * x[i]
            else:
                x[i] = 0.0
    return out


@_jit.jit
def untreated_gompertz(ids: IntArray, pat: IntArray, branch: Int8Array, e: FloatArray,
                       km: FloatArray, out: FloatArray) -> None:
    """The sizes of the Gompertz branch, ``km * e`` (``e = exp(second exponent)``)."""
    rows, n = e.shape
    for row in range(rows):
        o = out[row]
        b = branch[row]
        x = e[row]
        for i in range(n):
            if b[i] == LATE:
                o[i] = km[pat[ids[i]]] * x[i]


@_jit.jit
def survival_modes(pat: IntArray, lines: IntArray, started: BoolArray,
                   whole: bool) -> Int8Array:
    """Each line's mode as ``Sizes.survival`` chooses it, for lesions of patients ``pat``.

    0: no lesion's patient has started it (skipped); 1: computed for every lesion
    (``whole`` and at least half the lesions' patients have started it); 2: only for
    the lesions of those who have.
    """
    n = pat.size
    mode = np.zeros(lines.size, dtype=np.int8)
    for j in range(lines.size):
        on = started[lines[j]]
        count = 0
        for i in range(n):
            count += on[pat[i]]
        if count:
            mode[j] = 1 if whole and 2 * count >= n else 2
    return mode


@_jit.jit
def survival_exponents(ids: IntArray, pat: IntArray, t: FloatArray, lines: IntArray,
                       mode: Int8Array, started: BoolArray, line_start: FloatArray,
                       line_end: FloatArray, founded: FloatArray, neg_kill: FloatArray,
                       pat_organ: IntArray) -> FloatArray:
    """The exponents ``-kill * exposed`` of ``Sizes.survival``: (lines, rows, n).

    ``t`` is (rows, 1) or (rows, n). Each line of :func:`survival_modes`' ``mode`` for
    the lesions it is computed for (the others' exponents are left 0 and not used):
    ``max(min(t, end) - max(start, founded), 0)`` times ``-kill`` (``_neg_kill_flat``,
    a (lines, patients * organs) table here).
    """
    n = ids.size
    rows, cols = t.shape
    out = np.zeros((lines.size, rows, n))
    for j in range(lines.size):
        m = mode[j]
        if m == 0:
            continue
        k = lines[j]
        on = started[k]
        start, end, nk = line_start[:, k], line_end[:, k], neg_kill[k]
        for row in range(rows):
            o = out[j, row]
            times = t[row]
            for i in range(n):
                p = pat[i]
                if m == 2 and not on[p]:
                    continue
                g = ids[i]
                at = times[0] if cols == 1 else times[i]
                exposed = _jit.maximum(
                    _jit.minimum(at, end[p]) - _jit.maximum(start[p], founded[g]), 0.0)
                o[i] = nk[pat_organ[g]] * exposed
    return out


@_jit.jit
def survival_product(ids: IntArray, pat: IntArray, lines: IntArray, mode: Int8Array,
                     started: BoolArray, resistant: FloatArray,
                     decay: FloatArray) -> FloatArray:
    """``Sizes.survival`` from the exponentials of :func:`survival_exponents`: (rows, n).

    Per lesion, the product in line order, from 1.0, of ``decay * (1 - rho) + rho`` over
    the lines computed for it, as ``survival`` multiplies them (its first factor stored
    as is: ``1.0 * factor`` is the same; ``(1 - rho) * e`` is ``e * (1 - rho)``).
    """
    n_lines, rows, n = decay.shape
    out = np.ones((rows, n))
    for j in range(n_lines):
        m = mode[j]
        if m == 0:
            continue
        k = lines[j]
        on = started[k]
        for row in range(rows):
            o = out[row]
            d = decay[j, row]
            for i in range(n):
                if m == 2 and not on[pat[i]]:
                    continue
                rho = resistant[ids[i], k]
                o[i] = o[i] * (d[i] * (1.0 - rho) + rho)
    return out


@_jit.jit
def vascular_exponents(ids: IntArray, pat: IntArray, is_primary: BoolArray,
                       switch: FloatArray, alpha: FloatArray, t: float) -> FloatArray:
    """The first exponent of ``Sizes.vascular``'s Gompertz branch, lesion by lesion.

    ``-alpha * max(t - switch, 0)`` of each colony (``(-alpha) * m`` in NumPy: the same,
    as negation is exact), 0 of each primary (read from its table instead, in
    :func:`vascular_cells`). Its ``exp`` is NumPy's, on this array.
    """
    n = ids.size
    arg = np.empty(n)
    for i in range(n):
        g = ids[i]
        if is_primary[g]:
            arg[i] = 0.0
        else:
            arg[i] = -alpha[pat[g]] * _jit.maximum(t - switch[g], 0.0)
    return arg


@_jit.jit
def vascular_second(ids: IntArray, pat: IntArray, is_primary: BoolArray,
                    log_ratio: FloatArray, e: FloatArray) -> None:
    """In place, ``e = exp(first exponent)`` becomes the second, ``log_ratio * e``.

    0 for the primaries (so that its ``exp``, NumPy's, cannot overflow).
    """
    for i in range(ids.size):
        g = ids[i]
        e[i] = 0.0 if is_primary[g] else log_ratio[pat[g]] * e[i]


@_jit.jit
def vascular_cells(ids: IntArray, pat: IntArray, is_primary: BoolArray, km: FloatArray,
                   primary: FloatArray, column: int, e: FloatArray) -> None:
    """In place, ``e = exp(second exponent)`` becomes the cells of ``Sizes.vascular``.

    ``km * e`` of each colony, as ``km[pg] * np.exp(...)``; each primary's
    ``primary[patient, column]``, its table's, as the NumPy code reads it.
    """
    for i in range(ids.size):
        g = ids[i]
        p = pat[g]
        e[i] = primary[p, column] if is_primary[g] else km[p] * e[i]
