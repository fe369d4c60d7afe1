"""Edge cases of the batch engine's compiled loops that whole batches rarely reach.

Ties among the founding keys and groups of sources that shed nothing: the loops must
still give the NumPy code's bytes (``tests/test_jit.py`` checks whole batches).
"""

import numpy as np
import pytest

from metacascade import _jit
from metacascade.engine import _found_loops
from metacascade.engine.batch import _key_order
from metacascade.engine.batch_store import _draw_sources

pytestmark = pytest.mark.skipif(_jit.numba is None, reason="the compiled loops need numba")


def test_founding_order_is_the_stable_argsorts_with_ties():
    rng = np.random.default_rng(3)
    P = 40
    p = np.sort(rng.integers(0, P, 600))[::-1].copy()  # (founders in no patient order)
    count = rng.integers(1, 4, p.size)
    total = int(count.sum())
    # Few distinct uniforms: many equal keys within a patient; 0.9999... rounds to p + 0.5.
    uniform = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0 - 2.0**-53], total)
    o, code = rng.integers(0, 22, p.size), rng.integers(0, P + 50, p.size)
    colonies = rng.integers(0, 100, P)
    numbers = rng.random((5, P))
    local, generation = rng.integers(0, 9, P + 50), rng.integers(0, 9, P + 50)
    new, over = _found_loops.per_patient(p, count, colonies, 10**9)
    assert over == -1
    got = _found_loops.found(uniform, p, o, code, count, np.array([p.size]),
                             np.array([1], dtype=np.int8), new, colonies, 2.0, 0.5,
                             numbers, local, generation)
    # The NumPy code of _Batch._found
    source = np.repeat(np.arange(p.size), count)
    pr = p[source]
    key = pr + 0.5 * uniform
    order = _key_order(key, pr, P)
    ps = pr[order]
    at = source[order]
    first = np.cumsum(new) - new
    ids = np.repeat(colonies + 1 - first, new) + np.arange(total)
    want = (ps, o[at], code[at], np.ones(total, dtype=np.int8),
            2.0 + 2.0 * (key[order] - ps) * 0.5, np.repeat(numbers, new, axis=1), ids,
            local[code[at]], generation[code[at]] + 1)
    assert np.array_equal(order, np.argsort(key, kind="stable"))
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        assert a.tobytes() == b.tobytes()


def test_colony_draw_skips_sources_that_shed_nothing():
    rng = np.random.default_rng(4)
    groups, n = 30, 400
    key = np.sort(rng.integers(0, groups, n))
    offsets = np.searchsorted(key, np.arange(groups + 1))
    order = np.arange(n)
    expected = rng.random(n) * (rng.random(n) < 0.5)  # half shed nothing
    code = rng.permutation(n) + 7
    has = np.flatnonzero(np.bincount(key, weights=expected, minlength=groups) > 0)
    g = rng.choice(has, 500)
    uniform = rng.random(g.size)
    uniform[:20] = 0.0
    got = _draw_sources(uniform, g // 3, g % 3, 3, offsets, expected, order, code)
    # The NumPy code of Sources.draw_colonies
    total = np.concatenate([[0.0], np.cumsum(expected[order])])
    start, end = offsets[g], offsets[g + 1]
    at = total[start] + uniform * (total[end] - total[start])
    j, final = start, end - 1
    step = 1 << int((end - start).max() - 1).bit_length()
    while step:
        cand = np.minimum(j + step, final)
        j = np.where(total[cand] <= at, cand, j)
        step >>= 1
    assert np.array_equal(got, code[order[j]])
    assert (expected[order[j]] > 0).all()

