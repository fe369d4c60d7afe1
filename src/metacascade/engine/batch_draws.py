"""Draws of the batched engine that keep no state.

The common fates, drawn at each ledger record, and the split of loud clusters cell by
cell (steps 6 and 2 of the description in :mod:`metacascade.engine.batch`), from the
``rng`` given, in a fixed order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.batch_plan import BatchPlan
from metacascade.engine.limits import poisson
from metacascade.engine.result import ARRESTED, DIED_AFTER, EXTINCT, FAILED

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


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
    common = poisson(rng, single[:, :n, None] * plan.p_common)  # failed, died, extinct
    delta = np.zeros((plan.P, n, 5), dtype=np.int64)
    delta[:, :, ARRESTED] = common.sum(axis=2)
    delta[:, :, FAILED] = common[:, :, 0]
    delta[:, :, DIED_AFTER] = common[:, :, 1]
    delta[:, :, EXTINCT] = common[:, :, 2]
    blood = poisson(rng, single[:, n])
    for c, m in enumerate(plan.cluster_sizes):
        # Plain clusters (no rare cell): each cell fails or dies after extravasation.
        cells = m * poisson(rng, plain[c][:, :n] * (1.0 - plan.cluster_rare[c]))
        failed = rng.binomial(cells, plan.fail_given_common)
        delta[:, :, ARRESTED] += cells
        delta[:, :, FAILED] += failed
        delta[:, :, DIED_AFTER] += cells - failed
        blood += m * poisson(rng, cluster_blood[:, c] + plain[c][:, n])
    failed = rng.binomial(rest, plan.fail_given_rest)
    died = rng.binomial(rest - failed, plan.died_given_rest)
    delta[:, :, FAILED] += failed
    delta[:, :, DIED_AFTER] += died
    delta[:, :, EXTINCT] += rest - failed - died
    return delta, blood


def split_clusters(rng: np.random.Generator, plan: BatchPlan, c: int, p: IntArray,
                   o: IntArray) -> dict[str, IntArray]:
    """Split loud clusters of kind ``c`` (patients ``p``, organs ``o``) cell by cell.

    A loud cluster's rare cells (dormant or dividing) number r >= 1 from the loud
    distribution (quiet clusters, whose only rare cell is a sleeper that will die, are
    drawn at the record). With r = 1 the rare cell is a sleeper that will wake or a
    dividing cell; with more, each is dormant with the rare cells' share. Returns per
    cluster: ``failed``, ``died`` (after extravasation), ``extinct``, ``asleep`` (sleepers
    to split at arrival), ``wakes`` (1 for a sleeper known to wake) and ``found``.
    """
    m = plan.cluster_sizes[c]
    u = rng.random(p.size)
    # Tables of patients x organs read at flat indices (take, rather than indexing by
    # (p, o) pairs); the rare cells count the cumulative probabilities at or below u.
    po = p * plan.n + o
    cdf = plan.cluster_loud_cdf[c].reshape(-1, m)
    r = np.ones(p.size, dtype=np.int64)
    for j in range(m - 1):
        r += u >= cdf[:, j].take(po)
    asleep = np.zeros(p.size, dtype=np.int64)
    several = np.flatnonzero(r > 1)
    asleep[several] = rng.binomial(r[several],
                                   plan.dormant_given_rare.ravel().take(po[several]))
    one = np.flatnonzero(r == 1)
    wakes = np.zeros(p.size, dtype=np.int64)
    wakes[one[rng.random(one.size) < plan.wake_given_one.ravel().take(po[one])]] = 1
    divide = r - asleep - wakes
    found = rng.binomial(divide, plan.q.take(p))
    failed = rng.binomial(m - r, plan.fail_given_common.ravel().take(po))
    return {"failed": failed, "died": m - r - failed, "extinct": divide - found,
            "asleep": asleep, "wakes": wakes, "found": found}
