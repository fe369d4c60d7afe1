"""The fast engine: exact draws of cell fates, no loop over cells.

Time advances in steps of ``step_days`` (the last one shortened to end at the
horizon). Within a step every rate is taken as constant at its integrated value, and
every draw below is exact for that piecewise-constant model:

1. **Sources** are the primary and every colony vascularised at the step's start. A
   source of N(t) cells sheds a Poisson number of cells with mean
   ``shedding_per_cell_per_day * integral N dt`` (Simpson's rule on the closed-form
   size). The primary's cells enter at its organ's venous outflow, except the
   lymphatic share, which enters the lymphatics; a colony's enter at its organ's
   outflow.
2. **Emboli** of each kind (single, platelet-cloaked, cluster of k cells) are a Poisson
   thinning of the shed cells; the numbers of emboli from one source ending in each
   absorbing state of the compiled circulation (arrest per organ, death in blood) are
   independent Poisson draws with means ``emboli * B[kind, entry, state]``.
3. **Arrested cells** (per source and organ) split by one multinomial draw into failed
   extravasation, dormant, dividing and died after extravasation. A dividing cell's
   birth-death lineage survives with probability q = 1 - d/b (a binomial draw); a
   survivor founds a colony, the rest are extinct.
4. **Dormant cells** present at the step's start (per organ and source) wake or die
   with competing hazards: one multinomial draw with
   ``p_wake = w/(w+m) (1 - exp(-(w+m) dt))`` and ``p_die`` likewise. Woken cells divide
   (binomial q as above). Cells made dormant in a step join the pool at its end.
5. **Colonies** get a founding time uniform in the step, a Kendall scale W ~ Exp(mean
   1/q), a depth (surface with probability ``surface_share``) and an angiogenic switch
   after an Exp(``switch_rate``) wait at the avascular limit; their sizes are then
   closed forms (:mod:`metacascade.engine.growth`).

Cost grows with steps and with colonies (events), never with the number of cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade._version import __version__
from metacascade.engine.compile import CompiledModel, compile_scenario
from metacascade.engine.growth import (
    avascular_time,
    colony_cells,
    integral_simpson,
    primary_cells,
    time_to_reach,
)
from metacascade.engine.result import (
    ARRESTED,
    COLONY_COLUMNS,
    DIED_AFTER,
    EVENT_COLUMNS,
    EXTINCT,
    FAILED,
    ORGAN_FIELDS,
    TOTAL_FIELDS,
    WOKE,
    Result,
    ledger_rows,
)
from metacascade.errors import MetacascadeError
from metacascade.random import make_rng, resolve_seed
from metacascade.scenario import Scenario

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: Largest Poisson mean drawn in one step; beyond it a scenario is refused.
MAX_POISSON_MEAN = 1e17
#: Largest number of colonies one patient may found.
MAX_COLONIES = 200_000



class EngineError(MetacascadeError):
    """A scenario the engine cannot run correctly (it would overflow or explode)."""


def simulate(scenario: Scenario | Mapping[str, Any], *, seed: int | None = None) -> Result:
    """Simulate one patient.

    Parameters
    ----------
    scenario
        A :class:`~metacascade.scenario.Scenario` or plain data for one.
    seed
        Seed of the random stream; by default the scenario's, else a fresh one (recorded
        in the result's provenance, so the run can be replayed).

    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.from_dict(dict(scenario))
    used_seed = resolve_seed(seed if seed is not None else scenario.seed)
    model = compile_scenario(scenario)
    return run(model, used_seed)


class _Colonies:
    """Column store of colonies with capacity doubling (ids start at 1; 0 is the primary)."""

    def __init__(self) -> None:
        self.size = 0
        self._cap = 0
        self._columns: dict[str, NDArray[Any]] = {}
        self._grow(64)

    def _grow(self, needed: int) -> None:
        cap = max(needed, 2 * self._cap)
        specs = {"organ": np.int64, "parent": np.int64, "generation": np.int64,
                 "founded": np.float64, "w": np.float64, "switch": np.float64,
                 "via": np.int8, "surface": np.bool_}
        for name, dtype in specs.items():
            column: NDArray[Any] = np.zeros(cap, dtype=dtype)
            if name in self._columns:
                column[: self.size] = self._columns[name][: self.size]
            self._columns[name] = column
        self._cap = cap

    def __len__(self) -> int:
        return self.size

    def _view(self, name: str) -> NDArray[Any]:
        return self._columns[name][: self.size]

    organ = property(lambda self: self._view("organ"))
    parent = property(lambda self: self._view("parent"))
    generation = property(lambda self: self._view("generation"))
    founded = property(lambda self: self._view("founded"))
    w = property(lambda self: self._view("w"))
    switch = property(lambda self: self._view("switch"))
    via = property(lambda self: self._view("via"))
    surface = property(lambda self: self._view("surface"))

    def add(self, model: CompiledModel, rng: np.random.Generator, organ: IntArray,
            parent: IntArray, via: int, t0: float, t1: float) -> None:
        k = len(organ)
        if k == 0:
            return
        if self.size + k > MAX_COLONIES:
            raise EngineError(
                f"more than {MAX_COLONIES} colonies founded by day {t1:.0f}: colonisation "
                "in this scenario is implausibly efficient (lower divide_after_extravasation "
                "or soil, or shorten the horizon)"
            )
        if self.size + k > self._cap:
            self._grow(self.size + k)
        founded = rng.uniform(t0, t1, size=k)
        w = rng.exponential(1.0 / model.establishment, size=k)
        wait = rng.exponential(1.0 / model.switch_rate_per_day, size=k)
        surface = rng.random(k) < model.surface_share
        generation = np.ones(k, dtype=np.int64)
        seeded = parent > 0
        generation[seeded] += self.generation[parent[seeded] - 1]
        new = slice(self.size, self.size + k)
        c = self._columns
        c["organ"][new] = organ
        c["parent"][new] = parent
        c["generation"][new] = generation
        c["founded"][new] = founded
        c["w"][new] = w
        c["switch"][new] = avascular_time(model, founded, w) + wait
        c["via"][new] = via
        c["surface"][new] = surface
        self.size += k


class _Dormant:
    """Dormant cells per organ and source (column per source that ever shed)."""

    def __init__(self, n_organs: int) -> None:
        self.counts = np.zeros((n_organs, 8), dtype=np.int64)
        self.source_of_column = [0]
        self.column_of_source = {0: 0}

    def columns(self, sources: IntArray) -> IntArray:
        for s in sources.tolist():
            if s not in self.column_of_source:
                self.column_of_source[s] = len(self.source_of_column)
                self.source_of_column.append(s)
        if len(self.source_of_column) > self.counts.shape[1]:
            grown = np.zeros((self.counts.shape[0], 2 * len(self.source_of_column)),
                             dtype=np.int64)
            grown[:, : self.counts.shape[1]] = self.counts
            self.counts = grown
        return np.array([self.column_of_source[s] for s in sources.tolist()], dtype=np.int64)


def run(model: CompiledModel, seed: int) -> Result:
    """Run the fast engine on a compiled model with a given seed."""
    rng = make_rng(seed)
    n = model.n_organs
    n_entries = len(model.entries)
    records = model.record_days()
    q = model.establishment
    kind_share = model.embolus_share / model.cells_per_shed_embolus
    cells_per_embolus = model.cells_per_embolus.astype(np.int64)
    extravasate = 1.0 - model.p_fail_extravasation
    # Fates of an arrested cell: failed, dormant, divide, died after extravasation.
    fates = np.stack([model.p_fail_extravasation, extravasate * model.p_dormant,
                      extravasate * model.p_divide,
                      extravasate * (1.0 - model.p_dormant - model.p_divide)], axis=1)
    hazard = model.wake_rate_per_day + model.dormant_death_rate_per_day
    absorption = model.absorption.transpose(1, 0, 2)  # entries, kinds, states

    shed = died = 0
    counters = np.zeros((n, 5), dtype=np.int64)
    dormant = _Dormant(n)
    col = _Colonies()
    totals: list[list[Any]] = []
    organ_rows: list[list[Any]] = []

    # The primary's integrated size over every step, at once.
    starts, ends = model.step_bounds()
    mids: FloatArray = 0.5 * (starts + ends)
    primary_integrals = integral_simpson(
        primary_cells(model, starts), primary_cells(model, mids),
        primary_cells(model, ends), 1.0) * (ends - starts)
    primary_split = np.array([1.0 - model.lymphatic_share, model.lymphatic_share])
    primary_ids = np.zeros(2, dtype=np.int64)
    primary_entries = np.array([model.primary_entry, model.lymph_entry])

    for step in range(len(starts)):
        t0 = float(starts[step])
        t1 = float(ends[step])
        width = t1 - t0
        if width <= 0:
            break
        # 1. sources (primary, vascularised colonies) and their expected shedding
        src_ids = [primary_ids]
        src_entry = [primary_entries]
        src_cells = [primary_integrals[step] * primary_split]
        vascular = np.nonzero(col.switch <= t0)[0] if col.size else ()
        if len(vascular):
            times = np.array([t0, 0.5 * (t0 + t1), t1])
            sizes = colony_cells(model, times[:, None], col.founded[vascular], col.w[vascular],
                                 col.switch[vascular])
            src_ids.append(np.asarray(vascular) + 1)
            src_entry.append(model.organ_entry[col.organ[vascular]])
            src_cells.append(integral_simpson(sizes[0], sizes[1], sizes[2], width))
        ids = np.concatenate(src_ids)
        entry_of = np.concatenate(src_entry)
        expected = model.shedding_per_cell_per_day * np.concatenate(src_cells)
        per_entry = np.bincount(entry_of, weights=expected, minlength=n_entries)
        # Entries that receive cells this step (none if nothing sheds; dormant cells
        # still wake and die below).
        active = np.nonzero(per_entry > 0)[0]
        # 2. emboli per entry, kind and absorbing state: independent Poisson draws
        means = per_entry[active, None, None] * kind_share[None, :, None] * absorption[active]
        if means.max(initial=0.0) > MAX_POISSON_MEAN:
            raise EngineError(
                f"shedding of {expected.sum():.3g} cells in one step (day {t0:.0f}) is beyond "
                "what the engine can draw exactly; shorten step_days or lower the shedding "
                "rate or tumour size"
            )
        cells = rng.poisson(means) * cells_per_embolus[None, :, None]
        shed += int(cells.sum())
        died += int(cells[..., n].sum())
        arrested = cells[..., :n].sum(axis=1)  # active entries x organs
        counters[:, ARRESTED] += arrested.sum(axis=0)
        # 3. fates of arrested cells
        split = rng.multinomial(arrested, fates[None, :, :])
        counters[:, FAILED] += split[..., 0].sum(axis=0)
        counters[:, DIED_AFTER] += split[..., 3].sum(axis=0)
        established = rng.binomial(split[..., 2], q)
        counters[:, EXTINCT] += (split[..., 2] - established).sum(axis=0)
        # 4. dormant cells present at the step's start: wake, die or stay
        woken_organ = woken_parent = None
        pool = dormant.counts
        if hazard > 0 and pool.any():
            p_event = -math.expm1(-hazard * width)
            p_wake = p_event * model.wake_rate_per_day / hazard
            used = np.nonzero(pool.any(axis=0))[0]
            draws = rng.multinomial(pool[:, used], [p_wake, p_event - p_wake, 1.0 - p_event])
            woke, gone = draws[..., 0], draws[..., 1]
            pool[:, used] -= woke + gone
            counters[:, WOKE] += woke.sum(axis=1)
            counters[:, DIED_AFTER] += gone.sum(axis=1)
            woken = rng.binomial(woke, q)
            counters[:, EXTINCT] += (woke - woken).sum(axis=1)
            o_idx, c_idx = np.nonzero(woken)
            counts = woken[o_idx, c_idx]
            sources = np.asarray(dormant.source_of_column)[used[c_idx]]
            woken_organ, woken_parent = np.repeat(o_idx, counts), np.repeat(sources, counts)
        # 5. attribute new dormant cells and new colonies to their sources; by Poisson
        #    splitting, each cell from an entry came from source s with probability
        #    proportional to s's expected shedding there.
        new_organ: list[IntArray] = []
        new_parent: list[IntArray] = []
        for a, e in enumerate(active.tolist()):
            mine = entry_of == e
            members, weights = ids[mine], expected[mine]
            dormant_here = split[a, :, 1]
            est_here = established[a]
            if members.size == 1:
                columns = dormant.columns(members)
                dormant.counts[:, columns[0]] += dormant_here
                o_idx = np.nonzero(est_here)[0]
                new_organ.append(np.repeat(o_idx, est_here[o_idx]))
                new_parent.append(np.full(int(est_here.sum()), members[0], dtype=np.int64))
                continue
            p = weights / weights.sum()
            if dormant_here.any():
                columns = dormant.columns(members)
                dormant.counts[:, columns] += rng.multinomial(dormant_here, p)
            if est_here.any():
                o_idx = np.nonzero(est_here)[0]
                organs = np.repeat(o_idx, est_here[o_idx])
                new_organ.append(organs)
                new_parent.append(members[rng.choice(members.size, size=organs.size, p=p)])
        if new_organ:
            col.add(model, rng, np.concatenate(new_organ), np.concatenate(new_parent), 0,
                    t0, t1)
        if woken_organ is not None and woken_parent is not None:
            col.add(model, rng, woken_organ, woken_parent, 1, t0, t1)
        _record(records, t1, model, col, counters, dormant, shed, died, totals, organ_rows)
    return _result(model, seed, col, totals, organ_rows)


def _record(records: list[float], t1: float, model: CompiledModel, col: _Colonies,
            counters: IntArray, dormant: _Dormant, shed: int, died: int,
            totals: list[list[Any]], organ_rows: list[list[Any]]) -> None:
    """Append ledger rows when ``t1`` reaches the next recorded time."""
    if not records or t1 < records[0] - 1e-9:
        return
    records.pop(0)
    total, rows = ledger_rows(model, t1, shed, died, counters, dormant.counts.sum(axis=1),
                              col.organ, col.switch)
    totals.append(total)
    organ_rows.extend(rows)


def _result(model: CompiledModel, seed: int, col: _Colonies, totals: list[list[Any]],
            organ_rows: list[list[Any]]) -> Result:
    horizon = model.horizon_days
    ledger = pd.DataFrame(totals, columns=["time_days", *TOTAL_FIELDS])
    ledger = ledger.astype({f: "int64" for f in TOTAL_FIELDS})
    by_organ = pd.DataFrame(organ_rows, columns=["time_days", "organ", *ORGAN_FIELDS])
    by_organ = by_organ.astype({f: "int64" for f in ORGAN_FIELDS})
    cells_end = colony_cells(model, horizon, col.founded, col.w, col.switch)
    diameter = model.diameter_mm(cells_end)
    rim = model.necrosis_diameter_mm
    with np.errstate(divide="ignore", invalid="ignore"):
        necrotic = np.where(diameter > rim, ((diameter - rim) / diameter) ** 3, 0.0)
    macro_cells = model.cells_for_diameter(model.macrometastasis_diameter_mm)
    macro = time_to_reach(model, macro_cells, col.founded, col.w, col.switch)
    organs = np.asarray(model.organs, dtype=object)
    colonies = pd.DataFrame({
        "id": np.arange(1, len(col) + 1, dtype=np.int64),
        "organ": organs[col.organ] if len(col) else np.zeros(0, dtype=object),
        "parent": col.parent,
        "generation": col.generation,
        "founded_day": col.founded,
        "via": np.where(col.via == 1, "woke", "arrest"),
        "w": col.w,
        "avascular_day": avascular_time(model, col.founded, col.w),
        "switch_day": col.switch,
        "macro_day": np.where(macro <= horizon, macro, np.nan),
        "depth": np.where(col.surface, "surface", "deep"),
        "cells_end": cells_end,
        "diameter_mm_end": diameter,
        "necrotic_fraction_end": necrotic,
    }, columns=list(COLONY_COLUMNS))
    events = _events(colonies, horizon)
    provenance = {
        "seed": seed,
        "package": "metacascade",
        "version": __version__,
        "engine": "kernel",
        "scenario": model.scenario,
        "citations": list(model.citations),
    }
    return Result(ledger=ledger, ledger_by_organ=by_organ, colonies=colonies, events=events,
                  primary_cells_end=float(primary_cells(model, horizon)),
                  provenance=provenance, model=model)


def _events(colonies: pd.DataFrame, horizon: float) -> pd.DataFrame:
    frames = []
    for kind, column in (("colony_founded", "founded_day"), ("angiogenic_switch", "switch_day"),
                         ("macrometastasis", "macro_day")):
        hit = colonies[colonies[column] <= horizon]
        frames.append(pd.DataFrame({"time_days": hit[column], "kind": kind,
                                    "organ": hit["organ"], "colony": hit["id"],
                                    "parent": hit["parent"]}))
    events = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=list(EVENT_COLUMNS))
    events = events.sort_values(["time_days", "colony"], kind="stable").reset_index(drop=True)
    return events[list(EVENT_COLUMNS)]
