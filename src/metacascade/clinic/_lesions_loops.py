"""Compiled loops (:mod:`metacascade._jit`) of :class:`~metacascade.clinic._lesions.Lesions`.

Each loop replaces a chain of NumPy calls of ``_lesions.py`` or ``batch.py`` and gives
the same bytes (its docstring says why); the call site runs it only when
:data:`metacascade._jit.ENABLED`, and the NumPy code otherwise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@_jit.jit
def draw_rates(ids: IntArray, cells: FloatArray, t: float, alive: IntArray,
               active: IntArray, is_primary: BoolArray, pat: IntArray,
               pat_organ: IntArray, switch: FloatArray, shedding: FloatArray,
               lymphatic_share: FloatArray, primary_entry: IntArray,
               lymph_entry: IntArray, entry_cell: IntArray, shedding_factor: FloatArray,
               ctc_survival: FloatArray, n_patients: int, n_entries: int) -> FloatArray:
    """(alive, entries) cells shed per day with therapy, as ``_Batch._draw`` computes them.

    Replaces ``Lesions.shedding_by_entry(ids, cells, t)[alive]`` times each living
    patient's factor ``shedding_factor * ctc_survival`` of its running line (1 without).
    Each (patient, entry) sum starts at 0.0, adds the primary's shares (the entry's
    ``(1 - lymphatic_share) * shed``, then the lymph entry's ``lymphatic_share * shed``,
    as the two fancy ``+=`` do, the second onto the first when the entries are the same),
    then the vascular colonies' ``shedding * cells`` in the order of ``ids``, as the
    ``bincount`` does (0.0 plus the primary's sum is that sum, its first weight). The
    primaries go in a first pass, so the order does not depend on where in ``ids`` they
    are. The factor multiplies each sum as ``rates * factor[:, None]`` does (x * 1.0 is
    x). Only products and sums: no exp or log.
    """
    rates = np.zeros((n_patients, n_entries))
    for j in range(ids.size):
        i = ids[j]
        if not is_primary[i]:
            continue
        p = pat[i]
        shed = shedding[p] * cells[j]
        share = lymphatic_share[p]
        rates[p, primary_entry[p]] += (1.0 - share) * shed
        rates[p, lymph_entry[p]] += share * shed
    flat = rates.reshape(-1)
    for j in range(ids.size):
        i = ids[j]
        if is_primary[i] or not (switch[i] <= t) or not (cells[j] > 0):
            continue
        p = pat[i]
        flat[entry_cell[pat_organ[i]]] += shedding[p] * cells[j]
    out = np.empty((alive.size, n_entries))
    for a in range(alive.size):
        p = alive[a]
        line = active[p]
        factor = 1.0
        if line >= 0:
            factor = shedding_factor[p, line] * ctc_survival[p, line]
        for e in range(n_entries):
            out[a, e] = rates[p, e] * factor
    return out


@_jit.jit
def flat_lesions(counts: IntArray, offsets: IntArray, primary_organ: IntArray,
                 organ_column: IntArray, founded_column: FloatArray, w_column: FloatArray,
                 switch_column: FloatArray, n_organs: int, horizon: float,
                 ) -> tuple[IntArray, BoolArray, IntArray, FloatArray, FloatArray,
                            FloatArray, IntArray, IntArray]:
    """The flat per-lesion arrays of :class:`Lesions`, each primary first, in one pass.

    Replaces (``Lesions.__init__``)::

        pat = np.repeat(np.arange(n_p), counts + 1); is_primary[offsets[:-1]] = True
        organ, founded, w, switch = flat(column, head) for each column
        pat_organ = pat * n_organs + organ
        vascular = np.nonzero(~is_primary & (switch <= horizon))[0]
        readable = np.concatenate([offsets[:-1], vascular])

    with the heads ``primary_organ[p]``, 0.0, 1.0 and -inf (colony row ``j`` of patient
    ``p`` is lesion ``j + p + 1``). Copies and comparisons only.
    """
    n_p = counts.size
    n = offsets[n_p]
    pat = np.empty(n, dtype=np.int64)
    is_primary = np.zeros(n, dtype=np.bool_)
    organ = np.empty(n, dtype=np.int64)
    founded = np.empty(n)
    w = np.empty(n)
    switch = np.empty(n)
    pat_organ = np.empty(n, dtype=np.int64)
    readable = np.empty(n, dtype=np.int64)
    r = n_p
    for p in range(n_p):
        head = offsets[p]
        readable[p] = head
        pat[head] = p
        is_primary[head] = True
        organ[head] = primary_organ[p]
        founded[head] = 0.0
        w[head] = 1.0
        switch[head] = -np.inf
        pat_organ[head] = p * n_organs + primary_organ[p]
        for i in range(head + 1, offsets[p + 1]):
            row = i - p - 1
            pat[i] = p
            organ[i] = organ_column[row]
            founded[i] = founded_column[row]
            w[i] = w_column[row]
            switch[i] = switch_column[row]
            pat_organ[i] = p * n_organs + organ_column[row]
    for i in range(n):
        if not is_primary[i] and switch[i] <= horizon:
            readable[r] = i
            r += 1
    return pat, is_primary, organ, founded, w, switch, pat_organ, readable[:r]
