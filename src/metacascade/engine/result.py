"""The immutable result of one simulated patient: ledger, colonies, events, provenance.

Ledger fields (cells, integers). At every recorded time, for every organ::

    arrested = failed_extravasation + died_after_extravasation + dormant_now
               + colonies_founded + colonies_extinct
    colonies_founded = colonies_avascular + colonies_vascularised

and in total ``shed = died_in_blood + sum(arrested)``. ``woke`` counts dormant cells
that woke (each then founded a colony or went extinct); ``died_after_extravasation``
includes dormant cells that died.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.engine.compile import CompiledModel
from metacascade.engine.growth import colony_cells

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


@dataclass(frozen=True, eq=False)
class Result:
    """One simulated patient.

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

    """

    ledger: pd.DataFrame
    ledger_by_organ: pd.DataFrame
    colonies: pd.DataFrame
    events: pd.DataFrame
    primary_cells_end: float
    provenance: dict[str, Any]
    model: CompiledModel = field(repr=False)

    @property
    def seed(self) -> int:
        """The seed that reproduces this result."""
        return int(self.provenance["seed"])

    @property
    def final(self) -> dict[str, int]:
        """Whole-body ledger at the horizon."""
        row = self.ledger.iloc[-1]
        return {name: int(row[name]) for name in TOTAL_FIELDS}

    def colony_cells_at(self, t_days: float) -> np.ndarray:
        """Cells in each colony (rows of :attr:`colonies`) at ``t_days``."""
        c = self.colonies
        return colony_cells(self.model, t_days, c["founded_day"].to_numpy(),
                            c["w"].to_numpy(), c["switch_day"].to_numpy())

    def colony_diameter_mm_at(self, t_days: float) -> np.ndarray:
        """Diameter of each colony at ``t_days``, mm."""
        return self.model.diameter_mm(self.colony_cells_at(t_days))

    def macrometastases(self) -> pd.DataFrame:
        """Colonies at or above the macrometastasis diameter at the horizon."""
        c = self.colonies
        return c[c["diameter_mm_end"] >= self.model.macrometastasis_diameter_mm]

    def summary(self) -> dict[str, Any]:
        """Plain data for ``summary.json``."""
        organs = self.model.organs
        by_organ = self.colonies.groupby("organ").size()
        macro = self.macrometastases().groupby("organ").size()
        final_organ = self.ledger_by_organ[
            self.ledger_by_organ["time_days"] == self.ledger["time_days"].iloc[-1]]
        return {
            "seed": self.seed,
            "horizon_days": float(self.ledger["time_days"].iloc[-1]),
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
        }
