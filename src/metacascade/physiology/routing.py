r"""Compile a body and an embolus type into an absorbing Markov chain.

Transient state *i* is "an embolus about to enter capillary bed *i*". On entering,
the embolus is killed with probability :math:`d_i` (shear, deformation); if it
survives it arrests with probability :math:`a_i`; otherwise it crosses the bed and is
carried along one of the routes out of the bed (through junctions: veins, heart,
aorta, portal vein, vertebral plexus) to the next bed. On the way it may be killed
with hazard :math:`\mu` per second, so a route that takes :math:`t` seconds is
survived with probability :math:`e^{-\mu t}`.

With :math:`Q` the transient-to-transient and :math:`R` the transient-to-absorbing
matrices (absorbing states: arrested in each bed, died in blood), the fundamental
matrix :math:`N = (I - Q)^{-1}` gives the absorption probabilities
:math:`B = N R` from every state, and the expected time in blood
:math:`N m`, with :math:`m_i` the expected duration of a step from state *i*
(Kemeny & Snell, *Finite Markov Chains*, ch. 3). Entry points (an organ's venous
outflow, a junction) are one more routing step into the transient states.

Routing 10 cells or 10^12 then costs the same: one multinomial draw over a row of B.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from numpy.typing import NDArray

from metacascade.errors import BodyError, CatalogError
from metacascade.physiology.emboli import EMBOLI, SIZE_CLASSES
from metacascade.physiology.model import Body

DIED = "died_in_blood"

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class RoutingChain:
    """A body compiled for one embolus type and size class.

    Attributes
    ----------
    states
        Transient states: the capillary beds, in body order.
    absorbing
        Absorbing states: arrested in each bed (same order), then ``died_in_blood``.
    Q, R
        Transient-to-transient (n x n) and transient-to-absorbing (n x (n+1)).
    step_time_s
        Expected duration of one step out of each transient state, in s.
    arrest_per_pass, death_per_pass
        Per-pass arrest and death probabilities per bed for this embolus.
    entries
        Entry points: every bed name (cells released into that bed's venous outflow)
        and every junction name (cells injected into it).
    E, E_death, E_time_s
        Entry -> first transient state, entry -> death on the way, and the expected
        duration of that first leg.
    absorption
        B for every entry: (entries x absorbing); rows sum to 1.
    time_in_blood_s
        Expected time in blood until absorption, per entry, in s.

    """

    body: str
    embolus: str
    size_class: str
    vertebral_plexus: bool
    states: tuple[str, ...]
    Q: FloatArray
    R: FloatArray
    step_time_s: FloatArray
    arrest_per_pass: FloatArray
    death_per_pass: FloatArray
    entries: tuple[str, ...]
    E: FloatArray
    E_death: FloatArray
    E_time_s: FloatArray
    absorption: FloatArray = field(init=False)
    time_in_blood_s: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.states)
        system = np.eye(n) - self.Q
        message = (f"body {self.body!r}: an embolus can circulate forever (no bed arrests "
                   "or kills it); give some bed a positive arrest or death probability")
        try:
            b_states = np.linalg.solve(system, self.R)
            t_states = np.linalg.solve(system, self.step_time_s)
        except np.linalg.LinAlgError:
            raise BodyError(message) from None
        if not (np.isfinite(b_states).all() and np.isfinite(t_states).all()
                and np.abs(b_states.sum(axis=1) - 1.0).max() < 1e-6):
            raise BodyError(message)
        absorption = self.E @ b_states
        absorption[:, -1] += self.E_death
        time = self.E_time_s + self.E @ t_states
        for array in (self.Q, self.R, self.step_time_s, self.E, self.E_death, self.E_time_s,
                      absorption, time):
            array.setflags(write=False)
        object.__setattr__(self, "absorption", absorption)
        object.__setattr__(self, "time_in_blood_s", time)

    @property
    def absorbing(self) -> tuple[str, ...]:
        """Names of the absorbing states: the beds, then ``died_in_blood``."""
        return (*self.states, DIED)

    def entry_index(self, entry: str) -> int:
        """Row of ``entry`` in :attr:`E` and :attr:`absorption`."""
        try:
            return self.entries.index(entry)
        except ValueError:
            raise CatalogError(
                f"unknown entry point {entry!r}; known: {', '.join(self.entries)}"
            ) from None

    def fundamental(self) -> FloatArray:
        """N = (I - Q)^-1: expected visits to each bed before absorption."""
        return np.asarray(np.linalg.inv(np.eye(len(self.states)) - self.Q), dtype=np.float64)

    def absorption_from(self, entry: str) -> FloatArray:
        """Absorption probabilities (beds, then died) for cells entering at ``entry``."""
        row: FloatArray = self.absorption[self.entry_index(entry)]
        return row

    def sample_fates(self, entry: str, n_cells: int,
                     rng: np.random.Generator) -> NDArray[np.int64]:
        """Counts of ``n_cells`` cells entering at ``entry`` over :attr:`absorbing`.

        One multinomial draw over a row of B: the cost does not depend on ``n_cells``.
        """
        if n_cells < 0:
            raise ValueError(f"n_cells must be >= 0, not {n_cells}")
        p = self.absorption_from(entry)
        return rng.multinomial(n_cells, p / p.sum())


def _arrest_probability(base: float, odds_factor: float) -> float:
    """Scale a probability's odds p / (1 - p) by ``odds_factor``."""
    if base >= 1.0:
        return 1.0
    odds = base / (1.0 - base) * odds_factor
    return odds / (1.0 + odds)


def _survive_mean_time(hazard_per_s: float, seconds: float) -> tuple[float, float]:
    """Survival probability over ``seconds`` and the mean of min(T_death, seconds)."""
    if hazard_per_s == 0.0:
        return 1.0, seconds
    survive = math.exp(-hazard_per_s * seconds)
    return survive, -math.expm1(-hazard_per_s * seconds) / hazard_per_s


def _routes(body: Body) -> dict[str, list[tuple[str, float, float]]]:
    """For every node, the routes out of it: (next bed, probability, junction time in s).

    For a bed the routes start at its venous outflow (after its capillaries); for a
    junction at its entrance. Junctions form no loop (checked by ``Body.validate``), so
    the recursion ends.
    """
    memo: dict[str, list[tuple[str, float, float]]] = {}

    def expand(targets: Mapping[str, object], base_time: float,
               weights: Mapping[str, float]) -> list[tuple[str, float, float]]:
        out: list[tuple[str, float, float]] = []
        for target in targets:
            weight = weights[target]
            if weight == 0.0:
                continue
            if target in body.beds:
                out.append((target, weight, base_time))
            else:
                out.extend((bed, weight * p, base_time + t) for bed, p, t in junction(target))
        return out

    def junction(name: str) -> list[tuple[str, float, float]]:
        if name not in memo:
            j = body.junctions[name]
            memo[name] = expand(j.feeds, j.transit.value,
                                {k: v.value for k, v in j.feeds.items()})
        return memo[name]

    routes = {name: junction(name) for name in body.junctions}
    for name, bed in body.beds.items():
        routes[name] = expand(bed.drains_to, 0.0, {k: v.value for k, v in bed.drains_to.items()})
    return routes


def compile_routing(body: Body, embolus: str = "single", *, size_class: str = "medium",
                    vertebral_plexus: bool = True) -> RoutingChain:
    """Compile ``body`` for one embolus type into a :class:`RoutingChain`.

    Parameters
    ----------
    body
        A validated body.
    embolus
        ``"single"``, ``"cluster"`` or ``"platelet"``.
    size_class
        CTC size class (``"small"``, ``"medium"``, ``"large"``): scales arrest odds.
    vertebral_plexus
        With ``False``, the vertebral venous plexus is closed and its share of venous
        blood joins the vena cava (for comparison).

    """
    if embolus not in EMBOLI:
        raise CatalogError(f"unknown embolus {embolus!r}; known: {', '.join(EMBOLI)}")
    if size_class not in SIZE_CLASSES:
        raise CatalogError(
            f"unknown size class {size_class!r}; known: {', '.join(SIZE_CLASSES)}"
        )
    if not vertebral_plexus:
        body = body.without_vertebral_plexus()
    kind = EMBOLI[embolus]
    odds_factor = kind.arrest_odds_factor.value * SIZE_CLASSES[size_class].arrest_odds_factor.value
    hazard = kind.killing_rate.value / 3600.0
    states = tuple(body.beds)
    index = {name: i for i, name in enumerate(states)}
    n = len(states)
    routes = _routes(body)

    arrest = np.array([_arrest_probability(b.arrest_per_pass.value, odds_factor)
                       for b in body.beds.values()])
    death = np.array([min(1.0, b.death_per_pass.value * kind.death_factor.value)
                      for b in body.beds.values()])
    Q = np.zeros((n, n))
    R = np.zeros((n, n + 1))
    step = np.zeros(n)
    for i, (name, bed) in enumerate(body.beds.items()):
        R[i, i] = (1.0 - death[i]) * arrest[i]
        R[i, n] = death[i]
        passing = (1.0 - death[i]) * (1.0 - arrest[i])
        for target, prob, junction_time in routes[name]:
            survive, mean_time = _survive_mean_time(
                hazard, bed.capillary_transit.value + junction_time)
            Q[i, index[target]] += passing * prob * survive
            R[i, n] += passing * prob * (1.0 - survive)
            step[i] += passing * prob * mean_time

    entries = (*states, *body.junctions)
    E = np.zeros((len(entries), n))
    E_death = np.zeros(len(entries))
    E_time = np.zeros(len(entries))
    for e, entry in enumerate(entries):
        for target, prob, junction_time in routes[entry]:
            survive, mean_time = _survive_mean_time(hazard, junction_time)
            E[e, index[target]] += prob * survive
            E_death[e] += prob * (1.0 - survive)
            E_time[e] += prob * mean_time

    return RoutingChain(
        body=body.name, embolus=embolus, size_class=size_class,
        vertebral_plexus=body.has_vertebral_plexus(), states=states, Q=Q, R=R,
        step_time_s=step, arrest_per_pass=arrest, death_per_pass=death, entries=entries,
        E=E, E_death=E_death, E_time_s=E_time,
    )


@cache
def compiled(body_name: str, embolus: str = "single", size_class: str = "medium",
             vertebral_plexus: bool = True) -> RoutingChain:
    """Cached :func:`compile_routing` of a catalog body, by name."""
    from metacascade.physiology.catalog import get_body

    return compile_routing(get_body(body_name), embolus, size_class=size_class,
                           vertebral_plexus=vertebral_plexus)


def walk_cells(chain: RoutingChain, entry: str, n_cells: int,
               rng: np.random.Generator) -> NDArray[np.int64]:
    """Follow ``n_cells`` cells one by one through ``chain``; count where each ends.

    The per-cell reference for :attr:`RoutingChain.absorption`: each cell draws its
    first bed from the entry row, then steps through Q and R until absorbed. Slow and
    obviously correct; for verification only.

    Returns
    -------
    Counts over :attr:`RoutingChain.absorbing` (beds, then died in blood).

    """
    n = len(chain.states)
    n_abs = n + 1
    e = chain.entry_index(entry)
    # Columns: transient states 0..n-1, then absorbing n..2n (arrest per bed, died).
    first = np.concatenate([chain.E[e], np.zeros(n), [chain.E_death[e]]])
    step = np.hstack([chain.Q, chain.R])
    cumulative = np.cumsum(step, axis=1)
    cumulative[:, -1] = 1.0
    first_cum = np.cumsum(first)
    first_cum[-1] = 1.0
    state = np.searchsorted(first_cum, rng.random(n_cells), side="right")
    counts = np.zeros(n_abs, dtype=np.int64)
    while state.size:
        done = state >= n
        np.add.at(counts, state[done] - n, 1)
        state = state[~done]
        if not state.size:
            break
        u = rng.random(state.size)
        state = (u[:, None] >= cumulative[state]).sum(axis=1)
    return counts
