"""Compiled loops (:mod:`metacascade._jit`) of the decision loop of ``batch.py``.

Each loop replaces a chain of NumPy gathers and masks of ``_Batch`` and gives the same
bytes (its docstring says why); the call site runs it only when
:data:`metacascade._jit.ENABLED`, and the NumPy code otherwise. The random draws, the
exponentials and logarithms and the sizes stay with NumPy, between the loops.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@_jit.jit
def settle_new(group: IntArray, treated: BoolArray, pat: IntArray, active: IntArray,
               resistant_fraction: FloatArray, shedding_factor: FloatArray,
               ctc_survival: FloatArray, parents: IntArray, offsets: IntArray,
               founded: FloatArray,
               ) -> tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray, IntArray,
                          FloatArray]:
    """The colonies ``_Batch._settle`` settles, and what it reads of them, in one pass.

    Replaces, for ``group = founded_in(k)``::

        new = group[treated[pat[group]]]
        p, line = pat[new], active[pat[new]]; on = line >= 0
        met, met_line = new[on], line[on]
        rho = resistant_fraction[p[on], met_line]
        q = ones; q[on] = shedding_factor[p[on], met_line] * ctc_survival[p[on], met_line]
        parent = parent_of(new); founded[new]

    and returns ``new, met, met_line, rho, q, parent, founded[new]`` (in ``group``'s
    order). The one float operation is the product of the two effects, as NumPy's.
    """
    size = group.size
    new = np.empty(size, dtype=np.int64)
    met = np.empty(size, dtype=np.int64)
    met_line = np.empty(size, dtype=np.int64)
    rho = np.empty(size)
    q = np.empty(size)
    parent = np.empty(size, dtype=np.int64)
    when = np.empty(size)
    n = m = 0
    for j in range(size):
        i = group[j]
        p = pat[i]
        if not treated[p]:
            continue
        new[n] = i
        line = active[p]
        if line >= 0:
            met[m] = i
            met_line[m] = line
            rho[m] = resistant_fraction[p, line]
            m += 1
            q[n] = shedding_factor[p, line] * ctc_survival[p, line]
        else:
            q[n] = 1.0
        local = parents[i - p - 1]  # the colony's row of the batch (Lesions.parent_of)
        parent[n] = local + offsets[p] if local >= 0 else -1
        when[n] = founded[i]
        n += 1
    return new[:n], met[:m], met_line[:m], rho[:m], q[:n], parent[:n], when[:n]


@_jit.jit
def start_lesions(patients: BoolArray, offsets: IntArray, had: BoolArray,
                  founded: FloatArray, t: float) -> IntArray:
    """The lesions a starting line meets: ``_Batch._start``'s first selection.

    Replaces ``ids = lesions_of(patients); ids[had[ids] & (founded[ids] <= t)]``: every
    lesion of the patients in the mask, in order, that is had and founded by ``t``.
    Comparisons only.
    """
    count = 0
    for p in range(patients.size):
        if patients[p]:
            count += offsets[p + 1] - offsets[p]
    ids = np.empty(count, dtype=np.int64)
    n = 0
    for p in range(patients.size):
        if not patients[p]:
            continue
        for i in range(offsets[p], offsets[p + 1]):
            if had[i] and founded[i] <= t:
                ids[n] = i
                n += 1
    return ids[:n]


@_jit.jit
def start_shares(ids: IntArray, untreated: FloatArray, factor: FloatArray,
                 is_always: BoolArray, pat: IntArray, next_line: IntArray,
                 resistant_fraction: FloatArray,
                 ) -> tuple[IntArray, FloatArray, FloatArray, IntArray, FloatArray,
                            IntArray, FloatArray]:
    """What ``_Batch._start`` reads of the lesions it meets, between their sizes and draws.

    Replaces::

        cells = untreated * factor
        bounded = nonzero(~is_always[ids])
        met, met_untreated, met_factor = ids[bounded], untreated[bounded], factor[bounded]
        alive = cells >= 1.0
        ids, n = ids[alive], maximum(cells[alive], 1.0)
        lesion_line = next_line[pat[ids]]
        rho = resistant_fraction[pat[ids], lesion_line]

    and returns ``met, met_untreated, met_factor, ids, n, lesion_line, rho``. The one
    float operation is the product ``untreated * factor``, as NumPy's; ``n`` is that
    product itself (at least 1.0 where kept, so the maximum with 1.0 is it).
    """
    size = ids.size
    met = np.empty(size, dtype=np.int64)
    met_untreated = np.empty(size)
    met_factor = np.empty(size)
    kept = np.empty(size, dtype=np.int64)
    n = np.empty(size)
    lesion_line = np.empty(size, dtype=np.int64)
    rho = np.empty(size)
    b = a = 0
    for j in range(size):
        i = ids[j]
        if not is_always[i]:
            met[b] = i
            met_untreated[b] = untreated[j]
            met_factor[b] = factor[j]
            b += 1
        cells = untreated[j] * factor[j]
        if cells >= 1.0:
            p = pat[i]
            line = next_line[p]
            kept[a] = i
            n[a] = cells
            lesion_line[a] = line
            rho[a] = resistant_fraction[p, line]
            a += 1
    return (met[:b], met_untreated[:b], met_factor[:b], kept[:a], n[:a], lesion_line[:a],
            rho[:a])
