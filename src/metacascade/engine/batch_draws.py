"""Draws of the batched engine that keep no state.

Fields of Poisson counts, the entry of each colonies' event and the common fates. How
and when the engine makes them is described in :mod:`metacascade.engine.batch` (steps
2, 3 and 6 of its description); each function draws from the ``rng`` it is given, in a
fixed order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.batch_plan import BatchPlan
from metacascade.engine.result import ARRESTED, DIED_AFTER, EXTINCT, FAILED

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def poisson_counts(rng: np.random.Generator, means: FloatArray, *, dense_above: float,
                   ) -> tuple[IntArray, IntArray, IntArray]:
    """Independent Poisson counts of a (patients x columns) field: the nonzero ones.

    Means above ``dense_above`` (the engine's :data:`~metacascade.engine.batch.DENSE_MEAN`)
    are drawn one by one; the rest by Poisson splitting: a Poisson total per patient,
    each event's column from the row's means (one global cumulative sum, per-patient
    offsets, ``searchsorted``; an event is a count of 1). Returns (patient, column,
    count).
    """
    P, W = means.shape
    flat = means.ravel()
    large = flat > dense_above
    dense = np.flatnonzero(large)
    dense_counts = rng.poisson(flat[dense])
    some = dense_counts > 0
    index, counts = [dense[some]], [dense_counts[some]]
    sparse = np.where(large, 0.0, flat)
    cum = np.cumsum(sparse)
    row_end = cum[W - 1::W]
    offset = np.concatenate([[0.0], row_end[:-1]])
    total = np.maximum(row_end - offset, 0.0)
    events = rng.poisson(total)
    if events.any():
        p = np.repeat(np.arange(P), events)
        at = offset[p] + rng.random(p.size) * total[p]
        chosen = np.searchsorted(cum, at, side="right")
        # The cumulative sum only rises at positive means, so an event falls on one of
        # its row's, unless rounding carries it past the row: then on the row's last.
        past = np.flatnonzero(chosen >= (p + 1) * W)
        if past.size:
            rows = p[past]
            chosen[past] = rows * W + W - 1 - np.argmax(
                sparse.reshape(P, W)[rows, ::-1] > 0, axis=1)
        index.append(chosen)
        counts.append(np.ones(p.size, dtype=np.int64))
    p, column = np.divmod(np.concatenate(index), W)
    return p, column, np.concatenate(counts)


def draw_entries(rng: np.random.Generator, plan: BatchPlan, p: IntArray, kind: IntArray,
                 o: IntArray, groups: FloatArray) -> IntArray:
    """Entry of each rare event of the colonies' part (the first categorical draw).

    An event of patient ``p``, organ ``o`` and ``kind`` (0 and 1 single cells, 2 + c a
    cluster of kind c) came in through entry e with weight ``groups[p, e]`` (the
    patient's expected cells shed into e) times the routing from e to the event's
    organ and kind. The weights depend only on the event's row (patient, organ and
    single cell or cluster kind): they are built and summed once per row met, and each
    event's entry is found by binary search in its row's cumulative sum.
    """
    E, P, n = plan.n_entries, plan.P, plan.n
    # Row of each event: (single cell or cluster kind c) x patient x organ.
    family = np.maximum(kind - 1, 0)
    row = (family * P + p) * n + o
    seen = np.zeros((1 + len(plan.cluster_sizes)) * P * n, dtype=bool)
    seen[row] = True
    rows = np.flatnonzero(seen)
    number = np.cumsum(seen) - 1
    r_family, r_rest = np.divmod(rows, P * n)
    r_p, r_o = np.divmod(r_rest, n)
    weights = np.empty((rows.size, E))
    single = r_family == 0
    weights[single] = plan.single_by_entry[r_p[single], :, r_o[single]]
    for c in range(len(plan.cluster_sizes)):
        chosen = r_family == 1 + c
        weights[chosen] = plan.cluster_absorption[c][:, r_o[chosen]].T
    weights *= groups[r_p]
    cum = np.cumsum(weights, axis=1)
    last = E - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    r = number[row]
    u = rng.random(p.size) * cum[r, -1]
    # Entry: how many of the row's cumulative weights are <= u (they never decrease):
    # one plus the last index whose weight is <= u, by binary lifting from -1.
    flat, base = cum.ravel(), r * E
    top = np.full(p.size, -1, dtype=np.int64)
    step = 1 << int(E - 1).bit_length()
    while step:
        cand = np.minimum(top + step, E - 1)
        top = np.where(flat[base + cand] <= u, cand, top)
        step >>= 1
    return np.asarray(np.minimum(top + 1, last[r]), dtype=np.int64)


def common_fates(rng: np.random.Generator, plan: BatchPlan, single: FloatArray,
                 cluster_blood: FloatArray, plain: list[FloatArray], rest: IntArray,
                 ) -> tuple[IntArray, IntArray]:
    """Draw the common fates of the cells accumulated since the last record.

    ``single``: expected single cells per patient and absorbing state (organs + blood);
    ``cluster_blood``: expected clusters of each kind dying in blood (the primary's);
    ``plain``: per cluster kind, expected clusters (organs + blood) whose rare ones were
    drawn apart; ``rest``: cells of clusters drawn cell by cell, neither dormant nor
    founding, whose fates are still to draw. Returns the counters to add (patients x
    organs x 5) and the cells that died in blood per patient.
    """
    n = plan.n
    common = rng.poisson(single[:, :n, None] * plan.p_common)  # failed, died, extinct
    delta = np.zeros((plan.P, n, 5), dtype=np.int64)
    delta[:, :, ARRESTED] = common.sum(axis=2)
    delta[:, :, FAILED] = common[:, :, 0]
    delta[:, :, DIED_AFTER] = common[:, :, 1]
    delta[:, :, EXTINCT] = common[:, :, 2]
    blood = rng.poisson(single[:, n])
    for c, m in enumerate(plan.cluster_sizes):
        counts = rng.poisson(plain[c][:, :n, None] * plan.cluster_plain_split[c])
        j = np.arange(m + 1)
        delta[:, :, ARRESTED] += m * counts.sum(axis=2)
        delta[:, :, FAILED] += counts @ j
        delta[:, :, DIED_AFTER] += counts @ (m - j)
        blood += m * rng.poisson(cluster_blood[:, c] + plain[c][:, n])
    failed = rng.binomial(rest, plan.fail_given_rest)
    died = rng.binomial(rest - failed, plan.died_given_rest)
    delta[:, :, FAILED] += failed
    delta[:, :, DIED_AFTER] += died
    delta[:, :, EXTINCT] += rest - failed - died
    return delta, blood
