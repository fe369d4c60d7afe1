"""The immutable result of one simulated patient: ledger, colonies, events, provenance.

Ledger fields (cells, integers). At every recorded time, for every organ::

    arrested = failed_extravasation + died_after_extravasation + dormant_now
               + colonies_founded + colonies_extinct
    colonies_founded = colonies_avascular + colonies_vascularised

and in total ``shed = died_in_blood + sum(arrested)``. Each field in a sentence (they
are the ``ledger`` and ``ledger_by_organ`` of ``summary.json``):

``shed``
    Cells that left the primary and the vascularised colonies for the blood.
``died_in_blood``
    Shed cells that died in the circulation before arresting anywhere.
``arrested``
    Cells that stopped in the organ's capillary bed.
``failed_extravasation``
    Arrested cells that did not cross the vessel wall, and died.
``died_after_extravasation``
    Cells that crossed and then died, dormant cells that died included.
``dormant_now``
    Cells that crossed and sit dormant on the recorded day (a pool, not a total).
``woke``
    Dormant cells that woke so far; each then founded a colony or went extinct.
``colonies_founded``
    Cells that started dividing and whose lineage escaped extinction: the colonies.
``colonies_extinct``
    Cells that started dividing but whose lineage died out; they are *not* among
    ``colonies_founded`` (the cells that divided are the sum of the two).
``colonies_avascular``, ``colonies_vascularised``
    Colonies before and after their angiogenic switch (they add up to the founded).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from metacascade._version import __version__
from metacascade.engine.compile import CompiledModel
from metacascade.engine.growth import (
    avascular_time,
    colony_cells,
    primary_cells,
    time_to_reach,
)

#: Per-organ ledger columns, in order.
ORGAN_FIELDS = (
    "arrested", "failed_extravasation", "died_after_extravasation", "dormant_now", "woke",
    "colonies_founded", "colonies_extinct", "colonies_avascular", "colonies_vascularised",
)
#: Whole-body ledger columns: shed and died in blood, then the organ fields summed.
TOTAL_FIELDS = ("shed", "died_in_blood", *ORGAN_FIELDS)

#: Columns of the engines' per-organ cumulative counters (the other organ fields are
#: derived from the dormant pool and the colonies when a row is recorded).
ARRESTED, FAILED, DIED_AFTER, WOKE, EXTINCT = range(5)

COLONY_COLUMNS = (
    "id", "organ", "parent", "generation", "founded_day", "via", "w", "avascular_day",
    "switch_day", "macro_day", "depth", "cells_end", "diameter_mm_end",
    "necrotic_fraction_end",
)
EVENT_COLUMNS = ("time_days", "kind", "organ", "colony", "parent")


def ledger_rows(model: CompiledModel, t_days: float, shed: int, died: int,
                counters: NDArray[np.int64], dormant_now: NDArray[np.int64],
                colony_organ: NDArray[np.int64], colony_switch: NDArray[np.float64],
                ) -> tuple[list[Any], list[list[Any]]]:
    """The whole-body ledger row and the per-organ rows at ``t_days``.

    ``counters`` holds the cumulative columns :data:`ARRESTED` ... :data:`EXTINCT` per
    organ; colonies count as vascularised once their switch day has passed.
    """
    n = model.n_organs
    founded = np.bincount(colony_organ, minlength=n)
    vascular = np.bincount(colony_organ[colony_switch <= t_days], minlength=n)
    per_organ = np.column_stack([
        counters[:, ARRESTED], counters[:, FAILED], counters[:, DIED_AFTER], dormant_now,
        counters[:, WOKE], founded, counters[:, EXTINCT], founded - vascular, vascular,
    ])
    rows = [[t_days, model.organs[o], *per_organ[o].tolist()] for o in range(n)]
    return [t_days, shed, died, *per_organ.sum(axis=0).tolist()], rows


#: The raw colony columns an engine records (row i is colony id i + 1), and their types.
#: ``via`` is 0 for a colony founded on arrest, 1 for one founded by a woken cell.
COLONY_DTYPES: Mapping[str, type[np.generic]] = MappingProxyType({
    "organ": np.int64, "parent": np.int64, "generation": np.int64, "founded": np.float64,
    "w": np.float64, "switch": np.float64, "via": np.int8, "surface": np.bool_,
})


class Snapshot(NamedTuple):
    """What an engine records at a ledger time (the rows are derived from it later)."""

    t_days: float
    shed: int
    died: int
    #: Per-organ cumulative counters (columns :data:`ARRESTED` ... :data:`EXTINCT`).
    counters: NDArray[np.int64]
    dormant_now: NDArray[np.int64]
    #: Colonies founded so far (the first rows of the colony columns).
    colonies: int


@dataclass(frozen=True)
class _Raw:
    """What an engine recorded, before it is turned into tables (on first access).

    The colony fields are the columns of :data:`COLONY_DTYPES`.
    """

    snapshots: list[Snapshot]
    organ: NDArray[np.int64]
    parent: NDArray[np.int64]
    generation: NDArray[np.int64]
    founded: NDArray[np.float64]
    w: NDArray[np.float64]
    switch: NDArray[np.float64]
    via: NDArray[np.int8]
    surface: NDArray[np.bool_]


def build_result(model: CompiledModel, seed: int, engine: str,
                 colonies: Mapping[str, ArrayLike], snapshots: list[Snapshot], *,
                 primary_cells_end: float | None = None,
                 history_end_day: float = math.inf) -> Result:
    """The :class:`Result` of an engine run (tables are built when first read).

    ``colonies`` maps every name of :data:`COLONY_DTYPES` to that column (copied).
    ``primary_cells_end`` (the primary's size at the horizon) is computed if not given.
    ``history_end_day``: see :attr:`Result.history_end_day`.
    """
    raw = _Raw(snapshots=snapshots,
               **{name: np.array(colonies[name], dtype=dtype, copy=True)
                  for name, dtype in COLONY_DTYPES.items()})
    provenance = {
        "seed": seed,
        "package": "metacascade",
        "version": __version__,
        "engine": engine,
        "scenario": model.scenario,
        "citations": list(model.citations),
    }
    if primary_cells_end is None:
        primary_cells_end = float(primary_cells(model, model.horizon_days))
    return Result(primary_cells_end=primary_cells_end,
                  provenance=provenance, model=model, raw=raw,
                  history_end_day=float(history_end_day))


@dataclass(frozen=True, eq=False)
class Result:
    """One simulated patient.

    The tables are built from the engine's raw record the first time they are read.

    Attributes
    ----------
    ledger
        Whole-body cell fates per recorded time (columns ``time_days`` and
        :data:`TOTAL_FIELDS`).
    ledger_by_organ
        The same per organ (columns ``time_days``, ``organ`` and :data:`ORGAN_FIELDS`).
    colonies
        One row per colony that escaped extinction (:data:`COLONY_COLUMNS`); ``parent``
        is 0 for the primary, else the seeding colony's ``id``.
    events
        Colony founded, angiogenic switch and macrometastasis events within the horizon.
    primary_cells_end
        Cells in the primary at the horizon.
    provenance
        Scenario, seed, package version, engine and citation keys used.
    history_end_day
        inf when the history ran to the horizon; else the start of the step in which the
        patient's colonies would have passed
        :data:`~metacascade.engine.limits.MAX_COLONIES`, where the engine ended it. It
        is exact up to that day and holds no colony founded after it; its ledger stops at
        the last record before that day (the later rows repeat it), and the clinic
        refuses the patient if still alive then.
    counted_to_day
        The day the run's counts are taken (:attr:`final`, :meth:`counted_colonies`,
        :meth:`macrometastases`, :meth:`summary`): the horizon, or, for a history
        ended at the colony limit, its last ledger record before
        :attr:`history_end_day`.

    """

    primary_cells_end: float
    provenance: dict[str, Any]
    model: CompiledModel = field(repr=False)
    raw: _Raw = field(repr=False)
    history_end_day: float = math.inf

    @cached_property
    def _ledger_rows(self) -> tuple[list[list[Any]], list[list[Any]]]:
        raw = self.raw
        totals: list[list[Any]] = []
        organ_rows: list[list[Any]] = []
        for snap in raw.snapshots:
            total, rows = ledger_rows(self.model, snap.t_days, snap.shed, snap.died,
                                      snap.counters, snap.dormant_now,
                                      raw.organ[: snap.colonies], raw.switch[: snap.colonies])
            totals.append(total)
            organ_rows.extend(rows)
        return totals, organ_rows

    @cached_property
    def _ledger(self) -> pd.DataFrame:
        """Whole-body ledger per recorded time."""
        ledger = pd.DataFrame(self._ledger_rows[0], columns=["time_days", *TOTAL_FIELDS])
        return ledger.astype({f: "int64" for f in TOTAL_FIELDS})

    @cached_property
    def _ledger_by_organ(self) -> pd.DataFrame:
        """Per-organ ledger per recorded time."""
        by_organ = pd.DataFrame(self._ledger_rows[1],
                                columns=["time_days", "organ", *ORGAN_FIELDS])
        return by_organ.astype({f: "int64" for f in ORGAN_FIELDS})

    @cached_property
    def _colonies(self) -> pd.DataFrame:
        """One row per colony (:data:`COLONY_COLUMNS`)."""
        model, raw = self.model, self.raw
        horizon = model.horizon_days
        cells_end = colony_cells(model, horizon, raw.founded, raw.w, raw.switch)
        diameter = model.diameter_mm(cells_end)
        rim = model.necrosis_diameter_mm
        with np.errstate(divide="ignore", invalid="ignore"):
            necrotic = np.where(diameter > rim, ((diameter - rim) / diameter) ** 3, 0.0)
        macro_cells = model.cells_for_diameter(model.macrometastasis_diameter_mm)
        macro = time_to_reach(model, macro_cells, raw.founded, raw.w, raw.switch)
        organs = np.asarray(model.organs, dtype=object)
        return pd.DataFrame({
            "id": np.arange(1, len(raw.organ) + 1, dtype=np.int64),
            "organ": organs[raw.organ] if len(raw.organ) else np.zeros(0, dtype=object),
            "parent": raw.parent,
            "generation": raw.generation,
            "founded_day": raw.founded,
            "via": np.where(raw.via == 1, "woke", "arrest"),
            "w": raw.w,
            "avascular_day": avascular_time(model, raw.founded, raw.w),
            "switch_day": raw.switch,
            "macro_day": np.where(macro <= horizon, macro, np.nan),
            "depth": np.where(raw.surface, "surface", "deep"),
            "cells_end": cells_end,
            "diameter_mm_end": diameter,
            "necrotic_fraction_end": necrotic,
        }, columns=list(COLONY_COLUMNS))

    @cached_property
    def _events(self) -> pd.DataFrame:
        """Colony founded, angiogenic switch and macrometastasis events, in time order."""
        colonies, horizon = self._colonies, self.model.horizon_days
        frames = []
        for kind, column in (("colony_founded", "founded_day"),
                             ("angiogenic_switch", "switch_day"),
                             ("macrometastasis", "macro_day")):
            hit = colonies[colonies[column] <= horizon]
            frames.append(pd.DataFrame({"time_days": hit[column], "kind": kind,
                                        "organ": hit["organ"], "colony": hit["id"],
                                        "parent": hit["parent"]}))
        events = pd.concat(frames, ignore_index=True)
        events = events.sort_values(["time_days", "colony"], kind="stable")
        return events.reset_index(drop=True)[list(EVENT_COLUMNS)]

    @property
    def ledger(self) -> pd.DataFrame:
        """Whole-body ledger per recorded time (a copy: change it freely)."""
        return self._ledger.copy()

    @property
    def ledger_by_organ(self) -> pd.DataFrame:
        """Per-organ ledger per recorded time (a copy)."""
        return self._ledger_by_organ.copy()

    @property
    def colonies(self) -> pd.DataFrame:
        """One row per colony (:data:`COLONY_COLUMNS`; a copy).

        Its ``cells_end``, ``diameter_mm_end`` and ``necrotic_fraction_end`` are the
        untreated natural history's at the horizon, past death too; a cohort's
        ``colonies`` table has a ``diameter_mm_end`` of its own, the size with therapy at
        the end of follow-up (:attr:`ClinicalCourse.final_cells
        <metacascade.clinic.course.ClinicalCourse.final_cells>`).
        """
        return self._colonies.copy()

    @property
    def events(self) -> pd.DataFrame:
        """Colony founded, angiogenic switch and macrometastasis events (a copy)."""
        return self._events.copy()

    @property
    def seed(self) -> int:
        """The seed that reproduces this result."""
        return int(self.provenance["seed"])

    @property
    def final(self) -> dict[str, int]:
        """Whole-body ledger at :attr:`counted_to_day` (the horizon for a full history)."""
        row = self._ledger.iloc[-1]
        return {name: int(row[name]) for name in TOTAL_FIELDS}

    @cached_property
    def counted_to_day(self) -> float:
        """The day every count of this run is taken (see the class's attributes).

        The horizon; for a history ended at the colony limit the ledger stops at its
        last record before :attr:`history_end_day` (0 if none), so the colonies and
        macrometastases are counted to that record too: every count is then of one
        period, and each step of the cascade holds at most the cells of the one before.
        """
        times = self._ledger["time_days"]
        if math.isinf(self.history_end_day):
            return float(times.iloc[-1])
        recorded = times[times <= self.history_end_day]
        return float(recorded.max()) if len(recorded) else 0.0

    def counted_colonies(self) -> pd.DataFrame:
        """Colonies founded by :attr:`counted_to_day` (the ledger's ``colonies_founded``).

        Every colony of :attr:`colonies` unless the history was ended at the colony
        limit: then those of the last ledger record before the end (the first ones by
        id; the colonies founded between that record and the end are left out).
        """
        return self._colonies.iloc[: self.final["colonies_founded"]]

    def colony_cells_at(self, t_days: float) -> np.ndarray:
        """Cells in each colony (rows of :attr:`colonies`) at ``t_days``."""
        c = self._colonies
        return colony_cells(self.model, t_days, c["founded_day"].to_numpy(),
                            c["w"].to_numpy(), c["switch_day"].to_numpy())

    def colony_diameter_mm_at(self, t_days: float) -> np.ndarray:
        """Diameter of each colony at ``t_days``, mm."""
        return self.model.diameter_mm(self.colony_cells_at(t_days))

    def macrometastases(self) -> pd.DataFrame:
        """Colonies at or above the macrometastasis diameter at :attr:`counted_to_day`.

        That is the horizon (their ``diameter_mm_end``), unless the history was ended at
        the colony limit: then among :meth:`counted_colonies`, at their size that day.
        """
        c, least = self._colonies, self.model.macrometastasis_diameter_mm
        if math.isinf(self.history_end_day):
            return c[c["diameter_mm_end"] >= least]
        counted = self.counted_colonies()
        day = self.counted_to_day
        diameter = self.model.diameter_mm(colony_cells(
            self.model, day, counted["founded_day"].to_numpy(), counted["w"].to_numpy(),
            counted["switch_day"].to_numpy()))
        return counted[diameter >= least]

    def summary(self) -> dict[str, Any]:
        """The natural history's part of ``summary.json``.

        Every count is taken at :attr:`counted_to_day` (``counted_to_day``): the ledger,
        the colonies and macrometastases per organ. The file also holds what
        :func:`metacascade.outputs.summary_data` adds (``cancer``, ``body``,
        ``horizon_years``) and :func:`~metacascade.outputs.write_simulation` adds (the
        ``clinical`` block).
        """
        organs = self.model.organs
        by_organ = self.counted_colonies().groupby("organ").size()
        macro = self.macrometastases().groupby("organ").size()
        final_organ = self._ledger_by_organ[
            self._ledger_by_organ["time_days"] == self._ledger["time_days"].iloc[-1]]
        return {
            "seed": self.seed,
            "horizon_days": float(self._ledger["time_days"].iloc[-1]),
            "ledger": self.final,
            "ledger_by_organ": {
                row["organ"]: {f: int(row[f]) for f in ORGAN_FIELDS}
                for _, row in final_organ.iterrows()
            },
            "colonies_by_organ": {o: int(by_organ.get(o, 0)) for o in organs},
            "macrometastases_by_organ": {o: int(macro.get(o, 0)) for o in organs},
            "macrometastases": len(self.macrometastases()),
            "primary_cells_end": self.primary_cells_end,
            "primary_diameter_mm_end": float(self.model.diameter_mm(self.primary_cells_end)),
            "counted_to_day": self.counted_to_day,
            # (null: the history ran to the horizon)
            "history_end_day": (None if math.isinf(self.history_end_day)
                                else self.history_end_day),
        }
