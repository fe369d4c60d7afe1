"""The engines' limits, and the error raised for a scenario beyond them.

Shared by the per-patient kernel (:mod:`.kernel`) and the batched engine (:mod:`.batch`).
Each limit keeps a draw exact or bounds a cost; none changes the law of what is drawn.
"""

from __future__ import annotations

from metacascade.errors import MetacascadeError

#: Largest Poisson mean drawn in one block; beyond it a scenario is refused.
MAX_POISSON_MEAN = 1e17
#: Largest number of colonies one patient may found.
MAX_COLONIES = 200_000
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
