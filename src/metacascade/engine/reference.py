"""The reference engine: every shed cell followed one by one. Slow and obviously correct.

It runs the same :class:`~metacascade.engine.compile.CompiledModel` as the fast engine
(:mod:`metacascade.engine.kernel`), with the same step semantics, but draws nothing in
bulk: where the kernel draws multinomial counts, this module follows each embolus and
each cell. The verification suite (``verification/test_engine_reference.py``) compares
the two statistically. Per step ``[t0, t1)`` (``step_days``, the last one shortened):

1. **Sources** are the primary (id 0) and every colony whose angiogenic switch is at or
   before ``t0``. Each sheds, per embolus kind, a Poisson number of emboli with mean
   ``shedding_per_cell_per_day * integral N dt * embolus_share[kind] /
   cells_per_shed_embolus`` (Simpson's rule on the closed-form size of
   :mod:`metacascade.engine.growth`, the shared model). Each embolus of the primary
   enters the lymphatics with probability ``lymphatic_share``, else the primary organ's
   venous outflow; a colony's enter its organ's outflow.
2. **Circulation.** Each embolus walks the absorbing Markov chain of its kind: a first
   leg from its entry (row of ``E`` and ``E_death``), then one bed at a time (rows of
   ``Q`` and ``R``) until it arrests in a bed or dies in blood. The closed form
   ``B = E (I - Q)^-1 R`` is never used.
3. **Arrested cells** (all ``cells_per_embolus`` cells of an arrested embolus, each on
   its own) extravasate with probability ``1 - p_fail_extravasation`` of the organ, and
   then become dormant (``p_dormant``), divide (``p_divide``) or die (the rest).
4. **A dividing cell** starts a linear birth-death lineage with birth rate
   ``b = r / q`` and death rate ``d = b - r`` (``r`` the growth rate, ``q`` the
   establishment probability). The lineage is followed event by event (its jump chain:
   a birth with probability ``b / (b + d)``) until it dies out or reaches
   :func:`lineage_cap` cells; a lineage at the cap founds a colony (the chance that it
   would still die out, ``(d/b)^cap``, is below :data:`LINEAGE_TOLERANCE`). The kernel
   draws ``1 - d/b`` directly; this checks it.
5. **Dormant cells** join the pool at the end of the step that made them dormant. There
   each carries two exponential clocks, to waking (rate ``wake_rate_per_day``) and to
   death (``dormant_death_rate_per_day``); in the step where the first clock rings the
   cell wakes or dies. By memorylessness this is the kernel's per-step competing-hazard
   draw, which it therefore checks. A woken cell divides as in 4.
6. **Colonies** are founded at a time uniform in the step, with a Kendall scale W of
   exponential distribution of mean ``1/q``, a surface depth with probability
   ``surface_share`` and an angiogenic switch an Exp(``switch_rate_per_day``) wait after
   reaching the avascular limit. Their parent is the source that shed the founding cell
   (for a woken cell, the source that shed it before dormancy).

Cost grows with the number of cells (a few microseconds each: 4.5e5 shed cells take
about a second); the engine is for verification only.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from metacascade.engine import kernel
from metacascade.engine.compile import CompiledModel
from metacascade.engine.growth import (
    avascular_time,
    colony_cells,
    integral_simpson,
    primary_step_integrals,
)
from metacascade.engine.limits import poisson
from metacascade.engine.result import (
    ARRESTED,
    COLONY_DTYPES,
    DIED_AFTER,
    EXTINCT,
    FAILED,
    WOKE,
    Result,
    Snapshot,
    build_result,
)
from metacascade.random import make_rng

#: Largest expected number of shed cells in one step the reference accepts.
MAX_CELLS_PER_STEP = 1e7
#: Bound on the chance that a birth-death lineage stopped at the cap would have died out.
LINEAGE_TOLERANCE = 1e-12

#: Per-organ counters, in the order of :data:`metacascade.engine.result.ORGAN_FIELDS`
#: where they appear there.
#: Fates of one arrested cell.
_FATE_FAILED, _FATE_DORMANT, _FATE_DIVIDE, _FATE_DIED = range(4)


class _Uniforms:
    """Uniform numbers on [0, 1) from a Generator, handed out one at a time."""

    def __init__(self, rng: np.random.Generator, block: int = 8192) -> None:
        self._rng = rng
        self._block = block
        self._values: list[float] = []
        self._next = 0

    def __call__(self) -> float:
        if self._next == len(self._values):
            self._values = self._rng.random(self._block).tolist()
            self._next = 0
        value = self._values[self._next]
        self._next += 1
        return value


def _cumulative(p: NDArray[np.float64]) -> list[float]:
    """Cumulative distribution of a probability row (normalised, last entry exactly 1)."""
    total = float(p.sum())
    if not abs(total - 1.0) < 1e-9:
        raise ValueError(f"a routing row sums to {total!r}, not 1")
    cumulative: list[float] = (np.cumsum(p) / total).tolist()
    cumulative[-1] = 1.0
    return cumulative


def _pick(cumulative: list[float], u: float) -> int:
    """Index of the category that a uniform ``u`` falls in."""
    return bisect.bisect_right(cumulative, u)


class _Circulation:
    """Per-embolus walks through the compiled chains of every embolus kind.

    A walk's states are numbered 0..n-1 (about to enter bed i) and n..2n (absorbed:
    arrested in bed i - n, or died in blood at 2n).
    """

    def __init__(self, model: CompiledModel) -> None:
        n = model.n_organs
        kinds = range(len(model.embolus_share))
        self.n = n
        self.first = [[_cumulative(np.concatenate([model.E[k, e], np.zeros(n),
                                                   [model.E_death[k, e]]]))
                       for e in range(len(model.entries))] for k in kinds]
        self.step = [[_cumulative(np.concatenate([model.Q[k, i], model.R[k, i]]))
                      for i in range(n)] for k in kinds]

    def walk(self, kind: int, entry: int, uniform: _Uniforms) -> int:
        """Where one embolus entering at ``entry`` ends: a bed index, or n (died)."""
        state = _pick(self.first[kind][entry], uniform())
        rows = self.step[kind]
        while state < self.n:
            state = _pick(rows[state], uniform())
        return state - self.n


def lineage_cap(q: float, tolerance: float = LINEAGE_TOLERANCE) -> int:
    """Lineage size at which a birth-death lineage counts as established.

    The smallest ``m`` with ``(1 - q)^m <= tolerance``: from ``m`` cells a lineage with
    ``d/b = 1 - q`` still dies out with probability ``(d/b)^m``.
    """
    if q >= 1.0:
        return 1
    return max(1, math.ceil(math.log(tolerance) / math.log1p(-q)))


def _lineage_survives(birth: float, death: float, cap: int, rng: np.random.Generator) -> bool:
    """Follow one cell's linear birth-death lineage until extinction or ``cap`` cells.

    Each event of the lineage is a birth with probability ``birth / (birth + death)``
    (per-cell rates times the size cancel), else a death. Events are drawn in blocks
    and scanned for the first time the size reaches 0 or ``cap``.
    """
    p_birth = birth / (birth + death)
    size, block = 1, 16
    while True:
        path = size + np.cumsum(np.where(rng.random(block) < p_birth, 1, -1))
        ended = np.flatnonzero((path <= 0) | (path >= cap))
        if ended.size:
            return bool(path[ended[0]] >= cap)
        size = int(path[-1])
        block = min(2 * block, 1 << 16)


@dataclass
class _Colony:
    organ: int
    parent: int
    generation: int
    founded: float
    w: float
    switch: float
    via: int
    surface: bool


@dataclass
class _DormantCell:
    organ: int
    source: int
    wake_day: float
    death_day: float


@dataclass
class _State:
    """Everything that changes during a reference run."""

    model: CompiledModel
    rng: np.random.Generator
    uniform: _Uniforms
    circulation: _Circulation
    shed: int = 0
    died_in_blood: int = 0
    counters: NDArray[np.int64] = field(init=False)
    dormant: list[_DormantCell] = field(default_factory=list)
    colonies: list[_Colony] = field(default_factory=list)
    #: Per-cell birth and death rates of a dividing lineage (per day), and its cap.
    birth: float = field(init=False)
    death: float = field(init=False)
    cap: int = field(init=False)
    #: Per-organ fate probabilities as plain lists (read once per cell).
    p_fail: list[float] = field(init=False)
    p_dormant: list[float] = field(init=False)
    p_dormant_or_divide: list[float] = field(init=False)
    wake_divide: list[float] = field(init=False)

    def __post_init__(self) -> None:
        model = self.model
        self.counters = np.zeros((model.n_organs, 5), dtype=np.int64)
        r, q = model.colony_rate_per_day, model.establishment
        self.birth = r / q
        self.death = self.birth - r
        self.cap = lineage_cap(q)
        self.p_fail = model.p_fail_extravasation.tolist()
        self.p_dormant = model.p_dormant.tolist()
        self.p_dormant_or_divide = (model.p_dormant + model.p_divide).tolist()
        self.wake_divide = (model.wake_founding() / q).tolist()

    def divide(self, organ: int, parent: int, via: int, t0: float, t1: float) -> None:
        """A cell starts dividing: its lineage founds a colony or dies out."""
        if _lineage_survives(self.birth, self.death, self.cap, self.rng):
            self.found(organ, parent, via, t0, t1)
        else:
            self.counters[organ, EXTINCT] += 1

    def found(self, organ: int, parent: int, via: int, t0: float, t1: float) -> None:
        """Record a new colony founded in ``[t0, t1)``."""
        model, rng = self.model, self.rng
        founded = float(rng.uniform(t0, t1))
        w = float(rng.exponential(1.0 / model.establishment))
        wait = float(rng.exponential(1.0 / model.switch_rate_per_day))
        surface = bool(self.uniform() < model.surface_share)
        limit = float(avascular_time(model, np.array([founded]), np.array([w]))[0])
        generation = 1 if parent == 0 else self.colonies[parent - 1].generation + 1
        self.colonies.append(_Colony(organ, parent, generation, founded, w, limit + wait,
                                     via, surface))

    def fate(self, organ: int) -> int:
        """The fate of one arrested cell in ``organ``."""
        if self.uniform() < self.p_fail[organ]:
            return _FATE_FAILED
        u = self.uniform()  # the cell crossed the vessel wall
        if u < self.p_dormant[organ]:
            return _FATE_DORMANT
        if u < self.p_dormant_or_divide[organ]:
            return _FATE_DIVIDE
        return _FATE_DIED


def _clock(rng: np.random.Generator, start: float, rate: float) -> float:
    """Time an exponential clock of ``rate`` started at ``start`` rings (inf if rate 0)."""
    return start + float(rng.exponential(1.0 / rate)) if rate > 0 else math.inf


def _sources(state: _State, t0: float, t1: float) -> list[tuple[int, int, float]]:
    """(source id, organ or -1 for the primary, expected cells shed) for the step."""
    model = state.model
    width = t1 - t0
    times = np.array([t0, 0.5 * (t0 + t1), t1])
    primary = primary_step_integrals(model, np.array([t0]), np.array([t1]))
    out = [(0, -1, float(primary[0]))]
    vascular = [(i + 1, c) for i, c in enumerate(state.colonies) if c.switch <= t0]
    if vascular:
        # The closed-form sizes (shared model), evaluated for all colonies at once.
        founded, w, switch = (np.array([getattr(c, name) for _, c in vascular])
                              for name in ("founded", "w", "switch"))
        s = colony_cells(model, times[:, None], founded, w, switch)
        cells = integral_simpson(s[0], s[1], s[2], width)
        out += [(sid, c.organ, float(x)) for (sid, c), x in zip(vascular, cells, strict=True)]
    return [(sid, organ, model.shedding_per_cell_per_day * cells)
            for sid, organ, cells in out]


def _wake_dormant(state: _State, t0: float, t1: float) -> None:
    """Dormant cells present at ``t0`` whose first clock rings before ``t1``."""
    staying = []
    for cell in state.dormant:
        if min(cell.wake_day, cell.death_day) >= t1:
            staying.append(cell)
        elif cell.wake_day < cell.death_day:
            state.counters[cell.organ, WOKE] += 1
            if state.uniform() < state.wake_divide[cell.organ]:
                state.divide(cell.organ, cell.source, 1, t0, t1)
            else:  # the soil keeps it from growing out: its lineage ends
                state.counters[cell.organ, EXTINCT] += 1
        else:
            state.counters[cell.organ, DIED_AFTER] += 1
    state.dormant = staying


def _shed(state: _State, sources: list[tuple[int, int, float]], t0: float,
          t1: float) -> list[_DormantCell]:
    """Shed, route and settle every embolus of the step; return the new dormant cells."""
    model, rng, uniform = state.model, state.rng, state.uniform
    total = sum(expected for _, _, expected in sources)
    if total > MAX_CELLS_PER_STEP:
        raise kernel.EngineError(
            f"the reference engine follows every cell; {total:.3g} expected shed cells in "
            f"one step (day {t0:.0f}) is more than {MAX_CELLS_PER_STEP:.0e}")
    per_embolus = [int(k) for k in model.cells_per_embolus]
    new_dormant: list[_DormantCell] = []
    for source, organ, expected in sources:
        for kind, share in enumerate(model.embolus_share.tolist()):
            mean = expected * share / model.cells_per_shed_embolus
            for _ in range(int(poisson(rng, mean))):
                if organ >= 0:
                    entry = int(model.organ_entry[organ])
                elif uniform() < model.lymphatic_share:
                    entry = model.lymph_entry
                else:
                    entry = model.primary_entry
                end = state.circulation.walk(kind, entry, uniform)
                k = per_embolus[kind]
                state.shed += k
                if end == model.n_organs:
                    state.died_in_blood += k
                    continue
                state.counters[end, ARRESTED] += k
                for _cell in range(k):
                    fate = state.fate(end)
                    if fate == _FATE_FAILED:
                        state.counters[end, FAILED] += 1
                    elif fate == _FATE_DIED:
                        state.counters[end, DIED_AFTER] += 1
                    elif fate == _FATE_DIVIDE:
                        state.divide(end, source, 0, t0, t1)
                    else:
                        new_dormant.append(_DormantCell(
                            end, source, _clock(rng, t1, model.wake_rate_per_day),
                            _clock(rng, t1, model.dormant_death_rate_per_day)))
    return new_dormant


def _snapshot(state: _State, t1: float) -> Snapshot:
    """What the ledger needs at ``t1``."""
    dormant_now = np.bincount(np.array([c.organ for c in state.dormant], dtype=np.int64),
                              minlength=state.model.n_organs)
    return Snapshot(t1, state.shed, state.died_in_blood, state.counters.copy(), dormant_now,
                    len(state.colonies))


def run_reference(model: CompiledModel, seed: int) -> Result:
    """Run the per-cell reference engine on a compiled model.

    Parameters
    ----------
    model
        The compiled model (the same input as :func:`metacascade.engine.kernel.run`).
    seed
        Seed of the random stream (:func:`metacascade.random.make_rng`).

    Returns
    -------
    Result
        The same tables as the fast engine; ``provenance["engine"]`` is
        ``"reference"``. The random stream differs from the kernel's: only the
        distributions agree.

    """
    rng = make_rng(seed)
    state = _State(model, rng, _Uniforms(rng), _Circulation(model))
    records = model.record_days()
    snapshots: list[Snapshot] = []
    for t0, t1 in zip(*(b.tolist() for b in model.step_bounds()), strict=True):
        if t1 <= t0:
            break
        sources = _sources(state, t0, t1)  # before this step founds any colony
        _wake_dormant(state, t0, t1)
        state.dormant.extend(_shed(state, sources, t0, t1))
        if records and t1 >= records[0] - 1e-9:
            records.pop(0)
            snapshots.append(_snapshot(state, t1))
    columns = {name: [getattr(c, name) for c in state.colonies] for name in COLONY_DTYPES}
    return build_result(model, seed, "reference", columns, snapshots)
