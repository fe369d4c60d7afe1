"""The engines' limits, and the error raised for a scenario beyond them.

Shared by the per-patient kernel (:mod:`.kernel`) and the batched engine (:mod:`.batch`).
Each limit keeps a draw exact or bounds a cost; none changes the law of what is drawn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metacascade.errors import MetacascadeError, ScenarioError

#: Largest Poisson mean drawn in one block; beyond it a scenario is refused.
MAX_POISSON_MEAN = 1e17
#: Largest mean :func:`poisson` hands to NumPy's sampler in one draw (2^40, about
#: 1.1e12). NumPy's sampler for large means (PTRS) evaluates the log-probability as a
#: difference of terms of size mean x log(mean) and loses its precision as they grow:
#: its variance is about 0.75 % too large at a mean of 1e14, 4 % at 1e15 and 40 % at
#: 1e16 (numpy/numpy#31986; measured here with NumPy 2.4), none detectable up to 1e13.
POISSON_PART = 2.0**40
#: Largest number of colonies one patient may found.
MAX_COLONIES = 200_000
#: Most colonies one batch of the batch engine may hold: this many, or
#: :data:`BATCH_COLONIES_PER_PATIENT` per patient if more (about 250 bytes each while it
#: runs: some 500 MB at 512 patients). A batch that would pass it is stopped
#: (:class:`BatchTooLarge`); the cohort runner then runs its patients in two halves,
#: each on a stream of its own, down to one patient (who holds at most
#: :data:`MAX_COLONIES`). So a scenario whose patients found many colonies runs in
#: bounded memory, and the same way whatever the number of workers or shards. Must be
#: at least :data:`MAX_COLONIES`.
MAX_BATCH_COLONIES = 2_000_000
#: Colonies per patient a batch may hold on average (see :data:`MAX_BATCH_COLONIES`):
#: a larger batch may hold more. The example populations found 1,600-3,100 on average
#: over their horizons (up to 21,000 for one patient).
BATCH_COLONIES_PER_PATIENT = 5_000
#: Most steps drawn in one block (bounds the memory of a block's arrays).
MAX_BLOCK_STEPS = 128
#: Expected rare clusters in a block above which clusters are drawn per step and organ
#: rather than one by one (both exact; this bounds the cost).
RARE_CLUSTERS = 2_000.0
#: Mean rare fates per (step, kind, organ) of a block above which they are drawn as one
#: Poisson count each rather than event by event (both exact; this bounds the cost).
DENSE_SHARE = 0.125
#: Up to this many binomial or multinomial draws are made one by one (same law; a NumPy
#: call on an array costs as much as a dozen scalar draws).
SCALAR_DRAWS = 8
#: Most blocks (with the primary as only source) whose means are kept per model.
MEANS_CACHE = 64


class EngineError(MetacascadeError):
    """A scenario the engine cannot run correctly (it would overflow or explode)."""


class BatchTooLarge(EngineError):
    """A batch whose colonies would pass :data:`MAX_BATCH_COLONIES` (run fewer patients)."""


def too_many_colonies(limit: int, day: float, patient: int | None = None) -> EngineError:
    """The error of a patient (of a batch, if given) past ``limit`` colonies by ``day``."""
    who = "" if patient is None else f"patient {patient}: "
    return EngineError(
        f"{who}more than {limit} colonies founded by day {day:.0f} (year "
        f"{day / 365.25:.1f}): colonisation in this scenario is implausibly efficient "
        "(lower divide_after_extravasation or soil, or end the horizon before then)")


def poisson(rng: np.random.Generator, lam: Any) -> Any:
    """``rng.poisson(lam)``, exact also for means above :data:`POISSON_PART`.

    A mean above it is drawn as the sum of ``ceil(mean / POISSON_PART)`` Poisson draws
    of equal means (the same law: a sum of independent Poisson counts is Poisson). When
    no mean is above it, this is ``rng.poisson(lam)``: the same draws, the same bytes.
    The block limit :data:`MAX_POISSON_MEAN` bounds the extra draws (under 10^5 per
    patient and block).
    """
    means = np.asarray(lam, dtype=np.float64)
    if not means.size or not means.max() > POISSON_PART:  # (NaN: NumPy says what is wrong)
        return rng.poisson(lam)
    first = means.ravel().copy()
    big = np.flatnonzero(first > POISSON_PART)
    parts = np.ceil(first[big] / POISSON_PART)
    share = first[big] / parts
    first[big] = share
    counts = rng.poisson(first)
    n_more = parts.astype(np.int64) - 1  # >= 1 each
    more = rng.poisson(np.repeat(share, n_more))
    starts = np.concatenate(([0], np.cumsum(n_more)[:-1]))
    counts[big] += np.add.reduceat(more, starts)
    if means.ndim == 0:  # as NumPy draws for a scalar mean: an int
        return int(counts[0])
    return counts.reshape(means.shape)


#: Most engine steps a model may have; beyond, :func:`compile_model` refuses it. The
#: engines hold arrays of a number per step (per patient in a batch) and go through the
#: steps one by one, so a tiny ``step_days`` exhausted the memory (1e-6 day over a year:
#: 2.7 GiB for one array). This allows a 10-year horizon in hourly steps (87,660) and
#: the longest horizon, 100 years, in daily ones (36,525); the defaults (10 years in
#: steps of 14 days) make 261. At the limit the kernel holds some 10 MB of per-step
#: arrays, a cohort's batch some 80 bytes per patient and step (4 GB for 512 patients).
MAX_STEPS = 100_000


def step_count(horizon_days: float, step_days: float) -> int:
    """Number of engine steps over the horizon (the last one ends at the horizon)."""
    return max(1, math.ceil(horizon_days / step_days - 1e-9))


def check_steps(horizon_years: float, step_days: float) -> None:
    """Raise :class:`ScenarioError` if ``step_days`` makes more than :data:`MAX_STEPS` steps.

    The steps over a horizon of ``horizon_years`` (:func:`step_count`).
    """
    horizon_days = 365.25 * horizon_years
    ratio = horizon_days / step_days  # (inf for a step of a few 1e-324 days)
    if ratio - 1e-9 <= MAX_STEPS:  # (as step_count, which cannot take inf)
        return
    count = f"{math.ceil(ratio - 1e-9):,}" if ratio < 1e15 else f"{ratio:.3g}"
    # the smallest step allowed, rounded up to three significant digits (> 0: the
    # horizon is above MAX_STEPS steps of at least the smallest float)
    scale = 10.0 ** (math.floor(math.log10(horizon_days / MAX_STEPS)) - 2)
    least = math.ceil(horizon_days / MAX_STEPS / scale) * scale
    raise ScenarioError(
        f"step_days: {step_days:g} makes {count} steps over horizon_years "
        f"{horizon_years:g}; at most {MAX_STEPS:,} are allowed (a step_days of at least "
        f"{least:.3g} for this horizon)")
