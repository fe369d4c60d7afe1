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
def merge_live(current: IntArray, new: IntArray, had: BoolArray, alive: BoolArray,
               pat: IntArray) -> IntArray:
    """``Lesions.switched``'s merge of the newly readable lesions and its filter.

    Replaces::

        current = np.insert(current, np.searchsorted(current, new), new)
        ids = current[had[current] & alive[pat[current]]]

    for ``current`` and ``new`` sorted (``new`` may be empty). The lesions of the two
    are distinct, so the insertion is their merge in increasing order; the lesions kept
    are then those had and of patients alive, in that order. No float operation.
    """
    n_c, n_n = current.size, new.size
    out = np.empty(n_c + n_n, dtype=np.int64)
    i = j = m = 0
    while i < n_c or j < n_n:
        if j >= n_n or (i < n_c and current[i] < new[j]):
            g = current[i]
            i += 1
        else:
            g = new[j]
            j += 1
        if had[g] and alive[pat[g]]:
            out[m] = g
            m += 1
    return out[:m]
