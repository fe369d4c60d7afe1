"""Draws of the batched engine that keep no state.

The common fates, drawn at each ledger record (step 6 of the description in
:mod:`metacascade.engine.batch`) from the ``rng`` it is given, in a fixed order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.batch_plan import BatchPlan
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
