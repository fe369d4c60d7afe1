"""Compiled loops (:mod:`metacascade._jit`) of :mod:`.batch`: founding the colonies.

Each kernel replaces a chain of NumPy calls of :meth:`.batch._Batch._found` and gives
their bytes: no draws (the founding times' uniforms and the colonies' clocks stay NumPy
draws), no ``log``/``exp``, and the only floating-point operations are the NumPy code's,
element by element, in its order. (Kept apart from :mod:`.batch` for its length.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@_jit.jit
def per_patient(p: IntArray, count: IntArray, colonies: IntArray, most: int,
                ) -> tuple[IntArray, int]:
    """New colonies per patient, and the first patient over ``most`` colonies (or -1).

    Replaces ``bincount(repeat(p, count), minlength=P)`` and the check of
    ``colonies + per_patient > most`` (integers only).
    """
    out = np.zeros(colonies.size, dtype=np.int64)
    for j in range(p.size):
        out[p[j]] += count[j]
    for i in range(out.size):
        if colonies[i] + out[i] > most:
            return out, i
    return out, -1


@_jit.jit
def found(uniform: FloatArray, p: IntArray, o: IntArray, code: IntArray, count: IntArray,
          sizes: IntArray, vias: NDArray[np.int8], new: IntArray, colonies: IntArray,
          start: float, length: float, numbers: FloatArray, lookup_local: IntArray,
          lookup_generation: IntArray,
          ) -> tuple[IntArray, IntArray, IntArray, NDArray[np.int8], FloatArray, FloatArray,
                     IntArray, IntArray, IntArray]:
    """The step's colonies in order of (patient, founding time), and what they read.

    Replaces, in :meth:`_Batch._found`, the founders' repeat by ``count``, the keys
    ``p + 0.5 * uniform``, their stable argsort (:func:`.batch._key_order`), the reordered
    ``p, o, code, via``, ``u = 2.0 * (key - p)``, ``founded = start + u * length``, the
    repeat of the patients' ``numbers`` (5, P), the ids within the patient
    (``colonies + 1 - first + position``), the parents and the generations (``new``: the
    patients' new colonies; ``sizes``, ``vias``: each part's founders and via). Each
    float is the NumPy code's operations on the same numbers, in its order.

    The order is the stable argsort's, ties included: a key ``p + u / 2`` (``0 <= u <
    1``) is at most ``p + 0.5``, below every key of the next patient. Each key goes to
    one of its patient's ``m`` buckets (``m`` its new colonies), ``int((key - p) * 2.0
    * m)`` clipped to ``m - 1``, which never decreases as the key grows (equal keys
    share a bucket); a stable counting sort by bucket, then a stable insertion sort of
    each patient's rows (nearly sorted: only rows of one bucket can be out of order).

    Returns p, o, code, via, founded, numbers (5 x colonies), local id, parent and
    generation, all in the new order.
    """
    total = uniform.size
    src = np.empty(total, dtype=np.int64)  # the founder of each repeated row
    i = 0
    for j in range(p.size):
        for _ in range(count[j]):
            src[i] = j
            i += 1
    first = np.empty(new.size, dtype=np.int64)
    at = 0
    for q in range(new.size):
        first[q] = at
        at += new[q]
    key = np.empty(total)
    bucket = np.empty(total, dtype=np.int64)
    begin = np.zeros(total + 1, dtype=np.int64)
    for i in range(total):
        q = p[src[i]]
        value = q + 0.5 * uniform[i]
        key[i] = value
        m = new[q]
        b = min(int((value - q) * 2.0 * m), m - 1)
        b += first[q]
        bucket[i] = b
        begin[b + 1] += 1
    for b in range(total):
        begin[b + 1] += begin[b]
    order = np.empty(total, dtype=np.int64)
    ordered = np.empty(total)  # key[order], kept along
    for i in range(total):
        b = bucket[i]
        order[begin[b]] = i
        ordered[begin[b]] = key[i]
        begin[b] += 1
    for q in range(new.size):
        a = first[q]
        for x in range(a + 1, a + new[q]):
            value = ordered[x]
            if ordered[x - 1] <= value:
                continue
            row = order[x]
            y = x - 1
            while y >= a and ordered[y] > value:
                order[y + 1] = order[y]
                ordered[y + 1] = ordered[y]
                y -= 1
            order[y + 1] = row
            ordered[y + 1] = value
    via_of = np.empty(p.size, dtype=np.int8)  # each founder's via
    j = 0
    for s in range(sizes.size):
        for _ in range(sizes[s]):
            via_of[j] = vias[s]
            j += 1
    founded = np.empty(total)
    p_out = np.empty(total, dtype=np.int64)
    o_out = np.empty(total, dtype=np.int64)
    code_out = np.empty(total, dtype=np.int64)
    via = np.empty(total, dtype=np.int8)
    for i in range(total):  # (loops split: faster than one loop doing all)
        f = src[order[i]]
        q = p[f]
        u = 2.0 * (ordered[i] - q)
        founded[i] = start + u * length
        p_out[i] = q
        o_out[i] = o[f]
        code_out[i] = code[f]
        via[i] = via_of[f]
    parent = np.empty(total, dtype=np.int64)
    generation = np.empty(total, dtype=np.int64)
    for i in range(total):
        c = code_out[i]
        parent[i] = lookup_local[c]
        generation[i] = lookup_generation[c] + 1
    drawn = np.empty((numbers.shape[0], total))
    local = np.empty(total, dtype=np.int64)
    for q in range(new.size):
        a, m = first[q], new[q]
        for x in range(numbers.shape[0]):
            value = numbers[x, q]
            for i in range(a, a + m):
                drawn[x, i] = value
        base = colonies[q] + 1 - a
        for i in range(a, a + m):
            local[i] = base + i
    return p_out, o_out, code_out, via, founded, drawn, local, parent, generation

