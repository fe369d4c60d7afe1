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
