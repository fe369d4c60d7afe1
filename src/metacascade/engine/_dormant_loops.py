"""Compiled loops (:mod:`metacascade._jit`) of :class:`.batch_dormant.DormantCells`.

With the loops on, the calendar of wakings that found a colony is kept in runs by step
(:class:`.batch_store.StepRuns`) rather than in a list of arrays per step, and the
sleepers that will wake are scheduled by one loop after their draws. Each kernel
replaces a chain of NumPy calls and gives their bytes: no draws (the clocks, the
founding uniforms and the split at arrival stay NumPy draws, in the same order and
sizes), and the only floating-point operations are the NumPy code's (``ends[k] + e /
hazard[p]``, comparisons); the rest is integer counting, exact in any order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.engine._store_loops import _stable_order, due_rows, link_runs

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@_jit.inner
def _wake(k: IntArray, p: IntArray, o: IntArray, code: IntArray, clock: FloatArray,
          uniform: FloatArray, founding: bool, ends: FloatArray, hazard: FloatArray,
          wake_founding: FloatArray, record_of: IntArray, n: int,
          sleeping_change: IntArray, woke: IntArray, extinct: IntArray, rows: int,
          runs: int, cal_p: IntArray, cal_o: IntArray, cal_code: IntArray,
          run_start: IntArray, run_size: IntArray, run_next: IntArray, head: IntArray,
          tail: IntArray, due: IntArray) -> tuple[int, int]:
    steps = ends.size
    cells = hazard.size * n  # (patients x organs: one record's ledger)
    chosen = np.empty(p.size, dtype=np.int64)
    step = np.empty(p.size, dtype=np.int64)
    m = 0
    for i in range(p.size):
        ring = ends[k[i]] + clock[i] / hazard[p[i]]
        low = _jit.search_right(ends, ring)  # (NaN: past the end)
        flat = p[i] * n + o[i]
        found = founding or uniform[i] < wake_founding[flat]
        sleeping_change[record_of[k[i]] * cells + flat] += 1
        if low < steps:
            at = record_of[low] * cells + flat
            sleeping_change[at] -= 1
            woke[at] += 1
            if found:
                chosen[m] = i
                step[m] = low
                m += 1
            else:
                extinct[at] += 1
    order = _stable_order(step[:m])
    runs = link_runs(step, order, rows, runs, run_start, run_size, run_next, head, tail,
                     due)
    for j in range(m):
        i = chosen[order[j]]
        cal_p[rows + j] = p[i]
        cal_o[rows + j] = o[i]
        cal_code[rows + j] = code[i]
    return rows + m, runs


@_jit.jit
def wake(k: IntArray, p: IntArray, o: IntArray, code: IntArray, clock: FloatArray,
         uniform: FloatArray, founding: bool, ends: FloatArray, hazard: FloatArray,
         wake_founding: FloatArray, record_of: IntArray, n: int, sleeping_change: IntArray,
         woke: IntArray, extinct: IntArray, rows: int, runs: int, cal_p: IntArray,
         cal_o: IntArray, cal_code: IntArray, run_start: IntArray, run_size: IntArray,
         run_next: IntArray, head: IntArray, tail: IntArray, due: IntArray,
         ) -> tuple[int, int]:
    """:meth:`DormantCells.wake` after its draws (``clock``, ``uniform``).

    Replaces the waking time ``ends[k] + clock / hazard[p]`` (the same two roundings; a
    zero hazard gives inf, as under ``errstate(divide="ignore")``), its step
    ``searchsorted(ends, ring, "right")`` (a binary search; NaN sorts last, as in
    NumPy), ``uniform < wake_founding[p, o]`` (unless ``founding``), the ``np.add.at``
    of the ledger (integers: any order), and the calendar: the wakers that found, by
    step (a stable sort), appended to the calendar's rows from ``rows`` as runs
    (:func:`.link_runs`). The ledger arrays are flat (records x patients x organs).
    Returns the calendar's rows and runs in use.
    """
    return _wake(k, p, o, code, clock, uniform, founding, ends, hazard, wake_founding,
                 record_of, n, sleeping_change, woke, extinct, rows, runs, cal_p, cal_o,
                 cal_code, run_start, run_size, run_next, head, tail, due)


@_jit.jit
def arrive(k: IntArray, code: IntArray, o: IntArray, cells: IntArray, p: IntArray,
           waking: IntArray, clock: FloatArray, uniform: FloatArray, ends: FloatArray,
           hazard: FloatArray, wake_founding: FloatArray, record_of: IntArray, n: int,
           sleeping_change: IntArray, woke: IntArray, extinct: IntArray, rows: int,
           runs: int, cal_p: IntArray, cal_o: IntArray, cal_code: IntArray,
           run_start: IntArray, run_size: IntArray, run_next: IntArray, head: IntArray,
           tail: IntArray, due: IntArray,
           ) -> tuple[IntArray, IntArray, IntArray, IntArray, int, int]:
    """:meth:`DormantCells.arrive` after its draws (``waking`` of ``cells``, then the clocks).

    Replaces the cells that will die (``cells - waking`` where not zero: their patient,
    organ, count and step) and the repeat of each element by its ``waking`` cells
    (integers only), then :func:`wake` of those (``clock`` and ``uniform``: one each).
    Returns the dying parts and the calendar's rows and runs in use.
    """
    some = 0
    for i in range(cells.size):
        if cells[i] - waking[i]:
            some += 1
    p_die = np.empty(some, dtype=np.int64)
    o_die = np.empty(some, dtype=np.int64)
    die = np.empty(some, dtype=np.int64)
    k_die = np.empty(some, dtype=np.int64)
    j = 0
    for i in range(cells.size):
        if cells[i] - waking[i]:
            p_die[j] = p[i]
            o_die[j] = o[i]
            die[j] = cells[i] - waking[i]
            k_die[j] = k[i]
            j += 1
    total = clock.size
    k_w = np.empty(total, dtype=np.int64)
    p_w = np.empty(total, dtype=np.int64)
    o_w = np.empty(total, dtype=np.int64)
    code_w = np.empty(total, dtype=np.int64)
    j = 0
    for i in range(cells.size):
        for _ in range(waking[i]):
            k_w[j] = k[i]
            p_w[j] = p[i]
            o_w[j] = o[i]
            code_w[j] = code[i]
            j += 1
    rows, runs = _wake(k_w, p_w, o_w, code_w, clock, uniform, False, ends, hazard,
                       wake_founding, record_of, n, sleeping_change, woke, extinct, rows,
                       runs, cal_p, cal_o, cal_code, run_start, run_size, run_next, head,
                       tail, due)
    return p_die, o_die, die, k_die, rows, runs


@_jit.jit
def wakings(run: int, m: int, run_start: IntArray, run_size: IntArray, run_next: IntArray,
            cal_p: IntArray, cal_o: IntArray, cal_code: IntArray,
            ) -> tuple[IntArray, IntArray, IntArray]:
    """:meth:`DormantCells.wakings`: the ``m`` calendar rows of a step (its runs from ``run``).

    Replaces the concatenation of the step's chunks (in the order they were added: the
    runs' order). Copies only.
    """
    rows = due_rows(run, m, run_start, run_size, run_next)
    p = np.empty(m, dtype=np.int64)
    o = np.empty(m, dtype=np.int64)
    code = np.empty(m, dtype=np.int64)
    for i in range(m):
        p[i] = cal_p[rows[i]]
        o[i] = cal_o[rows[i]]
        code[i] = cal_code[rows[i]]
    return p, o, code
