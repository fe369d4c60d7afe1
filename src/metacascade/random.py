"""One randomness convention: every stochastic function takes ``seed`` or ``rng``.

``seed`` is a whole number in [0, 2^63 - 1], recorded in the result's provenance
(:func:`~metacascade.simulate`, :func:`~metacascade.simulate_cohort`); a run without
one draws one from the operating system and records it, so it can be replayed. A
Generator cannot be recorded, so ``seed`` is never one. ``rng`` is a NumPy Generator
that a lower-level function draws from and whose seed is the caller's to keep
(:func:`~metacascade.engine.batch.run_batch`,
:func:`~metacascade.clinic.batch.follow_batch`): ``np.random.default_rng(seed)`` makes
one; a seed is not taken for it. Cohorts spawn one stream per patient with
:meth:`numpy.random.SeedSequence.spawn`, so results do not depend on worker count.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from metacascade.errors import MetacascadeError

MAX_SEED = 2**63 - 1


def resolve_seed(seed: int | None) -> int:
    """The given seed, checked; or a fresh one from the operating system."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % MAX_SEED)  # type: ignore[operator]
    valid = isinstance(seed, int | np.integer) and not isinstance(seed, bool)
    if not valid or not 0 <= seed <= MAX_SEED:
        why = (" (a Generator cannot be recorded to replay the run: give a whole number)"
               if isinstance(seed, np.random.Generator) else "")
        raise MetacascadeError(f"seed: {seed!r} is not a whole number in [0, 2^63 - 1]"
                               + why)
    return int(seed)


def check_rng(rng: object, what: str = "rng") -> np.random.Generator:
    """``rng`` if it is a NumPy Generator; else :class:`MetacascadeError` naming ``what``.

    An object that draws from a Generator's bit generator passes too (the benchmarks wrap
    one to time its draws).
    """
    if isinstance(getattr(rng, "bit_generator", None), np.random.BitGenerator):
        return cast(np.random.Generator, rng)
    raise MetacascadeError(f"{what}: expected a numpy Generator (such as "
                           f"np.random.default_rng(seed)), not {type(rng).__name__}")


def make_rng(seed: int) -> np.random.Generator:
    """The Generator for a seed (PCG64 through SeedSequence)."""
    return np.random.default_rng(np.random.SeedSequence(seed))


def spawn_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent child seeds of ``seed`` (one per patient)."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(2, dtype=np.uint64)[0] % MAX_SEED) for c in children]
