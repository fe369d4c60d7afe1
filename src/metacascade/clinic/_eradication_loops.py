"""Compiled loops (:mod:`metacascade._jit`) of ``Eradication`` (``_eradication.py``).

Each loop replaces a chain of NumPy gathers and masks of ``_eradication.py`` and gives
the same bytes (its docstring says why); the call site runs it only when
:data:`metacascade._jit.ENABLED`, and the NumPy code otherwise. The logarithms,
exponentials and sizes stay with NumPy, between the loops.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Int8Array = NDArray[np.int8]


@_jit.jit
def candidates(always: IntArray, new: IntArray, blocks: IntArray, ends: IntArray,
               made: IntArray, latest: int, restarted: IntArray, treated: BoolArray,
               pat: IntArray, is_always: BoolArray, had: BoolArray, founded: FloatArray,
               t: float, previous: float, floor: bool, log_w: FloatArray, r: FloatArray,
               log_ka: FloatArray, switch: FloatArray, is_primary: BoolArray,
               ) -> tuple[IntArray, IntArray, BoolArray, FloatArray, IntArray, IntArray]:
    """The lesions ``Eradication.examine`` examines, and its floor of their sizes.

    Replaces (``blocks`` the pending blocks of the interval one after the other, block
    ``b`` ending at ``ends[b]`` and made at ``made[b]``)::

        parts = [always[treated[pat[always]]],
                 new[treated[pat[new]] & ~is_always[new]]]
        parts += [block if made > latest else block[restarted[pat[block]] < made] ...]
        ids = np.concatenate(parts)
        keep = treated[pat[ids]] & had[ids] & (founded[ids] <= t)
        ids, pat = ids[keep], pat[ids][keep]; always = is_always[ids]
        log_size = zeros, or (``floor``: ``previous`` finite) log_untreated_floor(ids,
            previous, pat)
        then = np.nonzero(~always & (switch[ids] <= previous) & (founded <= previous))[0]
        heads = np.nonzero(is_primary[ids])[0]

    and returns ``ids, pat, always, log_size, then, heads`` (``then`` empty without
    ``floor``). The floor as ``Sizes.log_untreated_floor`` computes it:
    ``min(max(log_w + r * (previous - founded), 0), log_ka)`` before the switch,
    ``log_ka`` past it; no exponential or logarithm (``log_w``, ``log_ka`` are
    NumPy's).
    """
    size = always.size + new.size + blocks.size
    cand = np.empty(size, dtype=np.int64)
    n = 0
    for j in range(always.size):
        g = always[j]
        if treated[pat[g]]:
            cand[n] = g
            n += 1
    for j in range(new.size):
        g = new[j]
        if treated[pat[g]] and not is_always[g]:
            cand[n] = g
            n += 1
    lo = 0
    for b in range(ends.size):
        hi = ends[b]
        m = made[b]
        for j in range(lo, hi):
            g = blocks[j]
            if m > latest or restarted[pat[g]] < m:
                cand[n] = g
                n += 1
        lo = hi
    ids = np.empty(n, dtype=np.int64)
    pats = np.empty(n, dtype=np.int64)
    kinds = np.empty(n, dtype=np.bool_)
    log_size = np.zeros(n)
    then = np.empty(n, dtype=np.int64)
    heads = np.empty(n, dtype=np.int64)
    m = n_then = n_heads = 0
    for j in range(n):
        g = cand[j]
        p = pat[g]
        f = founded[g]
        if not (treated[p] and had[g] and f <= t):
            continue
        ids[m] = g
        pats[m] = p
        kinds[m] = is_always[g]
        if floor:
            if switch[g] <= previous:
                log_size[m] = log_ka[p]
            else:
                log_size[m] = _jit.minimum(_jit.maximum(log_w[g] + r[p] * (previous - f),
                                                        0.0), log_ka[p])
            if not is_always[g] and switch[g] <= previous and f <= previous:
                then[n_then] = m
                n_then += 1
        if is_primary[g]:
            heads[n_heads] = m
            n_heads += 1
        m += 1
    return ids[:m], pats[:m], kinds[:m], log_size[:m], then[:n_then], heads[:n_heads]


@_jit.jit
def next_day_rates(t: float, ids: IntArray, pat: IntArray, running: BoolArray,
                   line: IntArray, kill_flat: FloatArray, pat_organ: IntArray,
                   resistant: FloatArray, line_start: FloatArray, line_end: FloatArray,
                   founded: FloatArray,
                   ) -> tuple[FloatArray, FloatArray, FloatArray, Int8Array]:
    """What ``Eradication.next_day`` gathers before its logarithms, lesion by lesion.

    Replaces::

        kappa = kill_now.reshape(-1)[pat_organ[ids]]
        on = np.nonzero(running[pat])[0]; k = line[pat[on]]
        rho = resistant.reshape(-1)[ids[on] * n_k + k]
        later = np.nonzero(k > 0)[0]
        exposed = max(min(t, line_end[q, kq]) - max(line_start[q, kq], founded), 0)
        ... np.exp(-kappa[later] * exposed) ...

    and returns per lesion ``kappa``, ``rho`` (1.0 off a running line), the exponent
    ``-kappa * exposed`` (``(-kappa) * exposed`` in NumPy, the same: negation is
    exact) of the lesions whose running line is not the first (0 elsewhere) and the
    state: 0 without a running line, 1 the first, 2 a later one. The exponential and
    logarithms are NumPy's, on the whole arrays (element by element, as on the subsets).
    """
    n = ids.size
    kappa = np.empty(n)
    rho = np.empty(n)
    arg = np.zeros(n)
    state = np.zeros(n, dtype=np.int8)
    for i in range(n):
        g = ids[i]
        p = pat[i]
        kappa[i] = kill_flat[pat_organ[g]]
        rho[i] = 1.0
        if not running[p]:
            continue
        k = line[p]
        rho[i] = resistant[g, k]
        if k > 0:
            exposed = _jit.maximum(_jit.minimum(t, line_end[p, k])
                                   - _jit.maximum(line_start[p, k], founded[g]), 0.0)
            arg[i] = -kappa[i] * exposed
            state[i] = 2
        else:
            state[i] = 1
    return kappa, rho, arg, state


@_jit.jit
def buckets(ids: IntArray, due: FloatArray, stops: FloatArray, k: int,
            ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """``Eradication.postpone``'s intervals of ``ids`` and their runs, in one pass.

    Replaces::

        at = np.clip(np.searchsorted(stops, due, side="right"), k + 1, n)
        ids = ids[np.argsort(at, kind="stable")]
        counts = np.bincount(at, minlength=n + 1); high = np.cumsum(counts)
        keys = np.flatnonzero(counts[:n])

    and returns ``ids`` so sorted, ``keys`` and each key's run ``high - counts`` and
    ``high``. The search is NumPy's binary search (the first stop that ``due`` is less
    than, NaN after every number, so NaN goes last); the sort a stable counting sort.
    No float arithmetic.
    """
    n = stops.size
    m = ids.size
    at = np.empty(m, dtype=np.int64)
    counts = np.zeros(n + 1, dtype=np.int64)
    for i in range(m):
        a = min(max(_jit.search_right(stops, due[i]), k + 1), n)
        at[i] = a
        counts[a] += 1
    start = np.empty(n + 1, dtype=np.int64)
    total = 0
    n_keys = 0
    for j in range(n + 1):
        start[j] = total
        total += counts[j]
        if j < n and counts[j]:
            n_keys += 1
    keys = np.empty(n_keys, dtype=np.int64)
    los = np.empty(n_keys, dtype=np.int64)
    his = np.empty(n_keys, dtype=np.int64)
    q = 0
    for j in range(n):
        if counts[j]:
            keys[q] = j
            los[q] = start[j]
            his[q] = start[j] + counts[j]
            q += 1
    out = np.empty(m, dtype=np.int64)
    for i in range(m):
        a = at[i]
        out[start[a]] = ids[i]
        start[a] += 1
    return out, keys, los, his
