"""Compiled loops (:mod:`metacascade._jit`) of :class:`.batch_store.Sources`, step by step.

With the loops on, :class:`~.batch_store.Sources` keeps its pending colonies in one
list per step they become sources in (of runs of rows), so that a step's colonies are
found without scanning the pending store, and its sources' shedding is
three passes around NumPy's two ``exp``. Each kernel replaces a chain of NumPy calls
and gives their bytes: no draws, no ``exp``/``log`` (computed by NumPy between the
kernels), and the floating-point operations are the NumPy code's, element by element,
in its order. (Kept apart from :mod:`.batch_store` for its length.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@_jit.inner
def link_runs(step: IntArray, order: IntArray, rows: int, runs: int, run_start: IntArray,
              run_size: IntArray, run_next: IntArray, head: IntArray, tail: IntArray,
              due: IntArray) -> int:
    """Rows ``rows`` on, due in ``step[order[j]]`` for the j-th (by step), as runs.

    Each step's rows (consecutive) are one run (``runs`` on: its first row and size),
    linked at the end of the step's list of runs (``head``/``tail``/``run_next``, -1 for
    none) and counted in ``due``. Returns the runs in use.
    """
    run, last = runs - 1, -1
    for j in range(order.size):
        at = step[order[j]]
        if at != last:
            run += 1
            last = at
            run_start[run] = rows + j
            run_size[run] = 0
            run_next[run] = -1
            if head[at] < 0:
                head[at] = run
            else:
                run_next[tail[at]] = run
            tail[at] = run
        run_size[run] += 1
        due[at] += 1
    return run + 1


@_jit.inner
def due_rows(run: int, m: int, run_start: IntArray, run_size: IntArray,
             run_next: IntArray) -> IntArray:
    """The ``m`` rows of a step's list of runs (from ``run``), in order."""
    out = np.empty(m, dtype=np.int64)
    i = 0
    while i < m:
        start = run_start[run]
        for x in range(run_size[run]):
            out[i + x] = start + x
        i += run_size[run]
        run = run_next[run]
    return out


@_jit.jit
def schedule(k: int, code: IntArray, p: IntArray, o: IntArray, switch: FloatArray,
             starts: FloatArray, entries: int, organ_entry: IntArray, rows: int, runs: int,
             pending_code: IntArray, pending_key: IntArray, pending_switch: FloatArray,
             run_start: IntArray, run_size: IntArray, run_next: IntArray, head: IntArray,
             tail: IntArray, due: IntArray) -> tuple[int, int]:
    """:meth:`Sources.schedule`: the colonies to become sources, appended from ``rows``.

    Replaces ``flatnonzero(switch <= starts[-1])``, the step ``maximum(searchsorted(starts,
    switch, "left"), k + 1)`` (a binary search for the first start not below the switch),
    the rows past the last step left out, and the append of code, key ``p * entries +
    organ_entry[o]`` and switch. The rows are appended by step (a stable sort: in
    founding order within a step), as runs (:func:`link_runs`). Comparisons and integers
    only. Returns the rows and runs in use.
    """
    last = starts[starts.size - 1]
    steps = starts.size
    chosen = np.empty(switch.size, dtype=np.int64)
    step = np.empty(switch.size, dtype=np.int64)
    m = 0
    for i in range(switch.size):
        s = switch[i]
        if not s <= last:
            continue
        at = max(_jit.search_left(starts, s), k + 1)
        if at < steps:
            chosen[m] = i
            step[m] = at
            m += 1
    order = _stable_order(step[:m])
    runs = link_runs(step, order, rows, runs, run_start, run_size, run_next, head, tail,
                     due)
    for j in range(m):
        i = chosen[order[j]]
        pending_code[rows + j] = code[i]
        pending_key[rows + j] = p[i] * entries + organ_entry[o[i]]
        pending_switch[rows + j] = switch[i]
    return rows + m, runs


@_jit.jit
def activate(run: int, m: int, run_start: IntArray, run_size: IntArray,
             run_next: IntArray, pending_code: IntArray,
             pending_key: IntArray, pending_switch: FloatArray, entries: int,
             numbers: FloatArray, n: int, key: IntArray, code: IntArray, switch: FloatArray,
             capacity: FloatArray, log_ka_km: FloatArray, neg_alpha: FloatArray,
             shedding: FloatArray, order: IntArray, offsets: IntArray) -> IntArray:
    """:meth:`Sources.activate`: the step's ``m`` pending rows (its list of runs from ``run``).

    Replaces the pending rows due (``flatnonzero(step == k)``, in founding order: the
    runs' order, as they were scheduled), their gathers and their patients' ``numbers``
    (4 x P), the columns' append (into rows ``n`` on, reserved), the stable merge of the
    new sources after their group's in ``order`` (in their own order within a group, as
    the stable argsort by key put them: a stable sort of the new keys, then the old
    sources' blocks between them) and ``offsets[1:] += cumsum(bincount(key))``: copies
    and integer sums only. Returns the new order; ``offsets`` is updated.
    """
    new = np.empty(m, dtype=np.int64)
    for i, row in enumerate(due_rows(run, m, run_start, run_size, run_next)):
        g = pending_key[row]
        q = g // entries
        key[n + i] = g
        new[i] = g
        code[n + i] = pending_code[row]
        switch[n + i] = pending_switch[row]
        capacity[n + i] = numbers[0, q]
        log_ka_km[n + i] = numbers[1, q]
        neg_alpha[n + i] = numbers[2, q]
        shedding[n + i] = numbers[3, q]
    fresh = _stable_order(new)
    merged = np.empty(n + m, dtype=np.int64)
    copied = 0  # old sources placed
    below = offsets.size  # groups whose offsets are updated: from the last new's
    for j in range(m):  # the j-th new source in key order
        g = new[fresh[j]]
        end = offsets[g + 1]  # (its group's old end)
        merged[copied + j:end + j] = order[copied:end]
        copied = end
        merged[end + j] = n + fresh[j]
    merged[copied + m:] = order[copied:]
    for j in range(m - 1, -1, -1):  # offsets[g + 1:] += 1 for each new source's g
        g = new[fresh[j]]
        for x in range(g + 1, below):
            offsets[x] += j + 1
        below = g + 1
    return merged


@_jit.inner
def _stable_order(keys: IntArray) -> IntArray:
    """``argsort(keys, kind="stable")`` of keys ``>= 0``: a radix sort, a byte a pass."""
    m = keys.size
    order = np.arange(m)
    most = 0
    for i in range(m):
        most = max(most, keys[i])
    spare = np.empty(m, dtype=np.int64)
    count = np.empty(257, dtype=np.int64)
    shift = 0
    while shift < 64 and most >> shift:
        count[:] = 0
        for i in range(m):
            count[((keys[i] >> shift) & 255) + 1] += 1
        for b in range(256):
            count[b + 1] += count[b]
        for i in range(m):  # (in the last pass's order: stable)
            row = order[i]
            b = (keys[row] >> shift) & 255
            spare[count[b]] = row
            count[b] += 1
        order, spare = spare, order
        shift += 8
    return order


@_jit.inner
def _exponent(t: float, switch: FloatArray, neg_alpha: FloatArray, out: FloatArray) -> None:
    for i in range(out.size):
        out[i] = neg_alpha[i] * (t - switch[i])


@_jit.jit
def exponents(sized: int, times: FloatArray, switch: FloatArray, neg_alpha: FloatArray,
              out: FloatArray) -> None:
    """The first ``exp``'s arguments of :meth:`Sources._vascular`, for a step.

    ``neg_alpha * (t - switch)`` (``np.subtract`` then ``np.multiply``, the same two
    roundings) of the sources ``sized`` on at ``times[0]`` (the step's start), then of
    every source at ``times[1]`` (its middle) and at ``times[2]`` (its end), one after
    the other in ``out``. (Loops over slices, so that they compile to vector code.)
    """
    n = switch.size
    _exponent(times[0], switch[sized:], neg_alpha[sized:], out[:n - sized])
    _exponent(times[1], switch, neg_alpha, out[n - sized:2 * n - sized])
    _exponent(times[2], switch, neg_alpha, out[2 * n - sized:3 * n - sized])


@_jit.inner
def _scale(factor: FloatArray, out: FloatArray) -> None:
    for i in range(out.size):
        out[i] = factor[i] * out[i]


@_jit.jit
def scale(sized: int, log_ka_km: FloatArray, out: FloatArray) -> None:
    """The second ``exp``'s arguments: ``log_ka_km * out``, the sources as in :func:`exponents`."""
    n = log_ka_km.size
    _scale(log_ka_km[sized:], out[:n - sized])
    _scale(log_ka_km, out[n - sized:2 * n - sized])
    _scale(log_ka_km, out[2 * n - sized:3 * n - sized])


@_jit.inner
def _integral(capacity: FloatArray, rate: FloatArray, middle: FloatArray, end: FloatArray,
              size: FloatArray, length: float, expected: FloatArray) -> None:
    for i in range(expected.size):
        integral = capacity[i] * middle[i]
        integral *= 4.0
        integral += size[i]
        last = capacity[i] * end[i]
        size[i] = last
        integral += last
        integral /= 6.0
        integral *= length
        expected[i] = rate[i] * integral


@_jit.jit
def shed(sized: int, capacity: FloatArray, rate: FloatArray, key: IntArray, groups: int,
         length: float, cells: FloatArray, size: FloatArray,
         ) -> tuple[FloatArray, FloatArray]:
    """:meth:`Sources.shedding` after its two ``exp`` (``cells``, as :func:`exponents`).

    Replaces ``capacity * cells`` at each time (the sizes at the step's start of the
    sources ``sized`` on into ``size``, then the middle and the end), the integral
    ``((4 * middle + start) + end) / 6 * length`` in the NumPy code's order (``size``
    ends as the end's), ``rate * integral`` and ``bincount(key, weights=expected)``
    (which adds in index order from zero, as here). Returns expected and the sums per
    group.
    """
    n = capacity.size
    _scale(capacity[sized:], cells[:n - sized])
    size[sized:] = cells[:n - sized]
    expected = np.empty(n)
    _integral(capacity, rate, cells[n - sized:2 * n - sized], cells[2 * n - sized:3 * n - sized],
              size, length, expected)
    sums = np.zeros(groups)
    for i in range(n):
        sums[key[i]] += expected[i]
    return expected, sums
