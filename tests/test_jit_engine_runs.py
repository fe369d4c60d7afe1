"""Edge cases of the compiled loops that keep the engine's rows by step (against NumPy).

The sort of the new sources' keys, and the wakings' steps when a clock never rings (zero
hazard) or rings at a step's end exactly; ``tests/test_jit.py`` checks whole batches.
"""

import numpy as np
import pytest

from metacascade import _jit
from metacascade.engine import _dormant_loops, _store_loops

pytestmark = pytest.mark.skipif(_jit.numba is None, reason="the compiled loops need numba")


@_jit.jit
def _order(keys):
    return _store_loops._stable_order(keys)


def test_radix_order_is_the_stable_argsorts():
    rng = np.random.default_rng(5)
    for bits in (0, 1, 7, 8, 9, 16, 40, 62):
        for size in (0, 1, 5, 300):
            keys = rng.integers(0, 2**bits + 1, size) if bits else np.zeros(size, np.int64)
            got = _order(keys.astype(np.int64))
            assert np.array_equal(got, np.argsort(keys, kind="stable"))


def test_wakings_never_ringing_or_at_a_steps_end():
    ends = np.array([1.0, 2.0, 3.0, 4.0])
    hazard = np.array([0.0, 1.0, 2.0])  # patient 0 never wakes (inf)
    n = 2
    k = np.array([0, 1, 2, 0, 1], dtype=np.int64)
    p = np.array([0, 1, 2, 1, 2], dtype=np.int64)
    o = np.array([1, 0, 1, 1, 0], dtype=np.int64)
    clock = np.array([0.5, 1.0, 2.0, 0.0, 0.25])  # ends exactly at ends[2], ends[3], ends[0]
    record_of = np.array([1, 1, 3, 3], dtype=np.int64)
    ledgers = [np.zeros(4 * 3 * n, dtype=np.int64) for _ in range(3)]
    runs = [np.zeros(8, dtype=np.int64) for _ in range(3)]
    calendar = [np.zeros(8, dtype=np.int64) for _ in range(3)]
    head, tail, due = np.full(4, -1), np.full(4, -1), np.zeros(4, dtype=np.int64)
    rows, runs_used = _dormant_loops.wake(k, p, o, p, clock, np.zeros(0), True, ends, hazard,
                                          np.ones(3 * n), record_of, n, *ledgers, 0, 0,
                                          *calendar, *runs, head, tail, due)
    with np.errstate(divide="ignore"):
        ring = ends[k] + clock / hazard[p]
    step = np.searchsorted(ends, ring, side="right")
    within = step < ends.size
    assert rows == within.sum()
    assert due.sum() == rows
    assert runs_used == np.unique(step[within]).size
    for s in range(ends.size):
        assert due[s] == (step[within] == s).sum()
    sleeping, woke, _ = ledgers
    assert woke.sum() == rows
    assert sleeping.sum() == (~within).sum()
