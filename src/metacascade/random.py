"""One randomness convention: every stochastic function takes a seed or a Generator.

A run without a seed draws one from the operating system, records it in the result's
provenance, and can be replayed from it. Cohorts spawn one stream per patient with
:meth:`numpy.random.SeedSequence.spawn`, so results do not depend on worker count.
"""

from __future__ import annotations

import numpy as np

from metacascade.errors import MetacascadeError

MAX_SEED = 2**63 - 1


def resolve_seed(seed: int | None) -> int:
    """The given seed, checked; or a fresh one from the operating system."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % MAX_SEED)  # type: ignore[operator]
    valid = isinstance(seed, int | np.integer) and not isinstance(seed, bool)
    if not valid or not 0 <= seed <= MAX_SEED:
        raise MetacascadeError(f"seed: {seed!r} is not a whole number in [0, 2^63 - 1]")
    return int(seed)


def make_rng(seed: int) -> np.random.Generator:
    """The Generator for a seed (PCG64 through SeedSequence)."""
    return np.random.default_rng(np.random.SeedSequence(seed))


def spawn_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent child seeds of ``seed`` (one per patient)."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(2, dtype=np.uint64)[0] % MAX_SEED) for c in children]
