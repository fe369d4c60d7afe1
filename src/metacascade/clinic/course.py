"""The clinical course of one simulated patient: scans, blood draws, stage, progression, death.

:func:`follow` reads a :class:`~metacascade.engine.result.Result` (whose tumour sizes are
closed forms of time) and the scenario's ``clinic`` section, and returns a
:class:`ClinicalCourse`:

* **Death** comes at the first time (weekly grid, :data:`DEATH_GRID_DAYS`) when the total
  tumour burden (primary and every colony) reaches ``lethal_burden_cells`` (about 1e12
  cells, Coumans et al. 2013) or the burden in a vital organ reaches its threshold
  (:data:`VITAL_ORGAN_LETHAL_CELLS`, stated assumptions). Nothing is observed after death.
* **Scans** (:mod:`metacascade.clinic.imaging`) at every scheduled time find each lesion
  present with the modality's probability for its organ and diameter.
* **Blood draws** (:mod:`metacascade.clinic.biopsy`) count CTCs in the sample: Poisson
  with mean from the live cells shed at that moment by the primary and every
  vascularised metastasis, routed through the compiled circulation to the draw site.
  The cancer's cut-off classifies each count as favourable or unfavourable.
* **Stage** is M1 from the first scan that finds a distant lesion (any organ but the
  primary's and the regional lymph nodes); M0 before.
* **Progression** (RECIST 1.1, simplified): after a baseline scan, a lesion found that no
  earlier scan found, or a sum of target diameters (up to 5 lesions of >= 10 mm, at most
  2 per organ, chosen at the first scan that finds any) at least 20% and 5 mm above its
  smallest value so far.

The course draws from its own random stream (the result's seed, spawn key 1), so the
engine's draws are the same with and without a clinic, and the same seed gives the same
course.

Observations are one table (:data:`OBSERVATION_COLUMNS`): ``time_days``, ``kind``
(``scan``, ``draw``, ``stage``, ``progression``, ``death``), ``name`` (modality, draw
site, stage, progression reason or death cause), ``organ``, ``lesion`` (colony id, 0 the
primary, -1 none) and ``value`` (diameter mm of a lesion found; lesions found by a scan;
CTC count; burden in cells at death).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.citations import Parameter, assumed, cited
from metacascade.clinic.biopsy import FALSE_POSITIVE_MEAN, RECOVERY, Circulation, ctc_cutoff
from metacascade.clinic.biopsy import expected_ctc as expected_ctc_mean
from metacascade.clinic.imaging import detection_probability
from metacascade.engine.growth import colony_cells, primary_cells
from metacascade.engine.result import Result
from metacascade.errors import ParameterError
from metacascade.references import COUMANS_2013
from metacascade.scenario import Clinic, Scenario

FloatArray = NDArray[np.float64]

OBSERVATION_COLUMNS = ("time_days", "kind", "name", "organ", "lesion", "value")
#: Resolution of the death time, days.
DEATH_GRID_DAYS = 7.0
#: Smallest diameter of a target lesion (RECIST 1.1: 10 mm on CT), mm.
TARGET_MIN_MM = 10.0
#: Growth of the target sum over its nadir that is progression (RECIST 1.1).
PROGRESSION_GROWTH = 0.20
PROGRESSION_MIN_MM = 5.0

#: Total tumour burden at death, about 1 kg (the scenario's default).
LETHAL_BURDEN = cited(1e12, "cell", COUMANS_2013, bounds=(1e11, 1e13))
#: Burden in a vital organ that kills, cells (1e9 cells per cm^3).
VITAL_ORGAN_LETHAL_CELLS: Mapping[str, Parameter] = MappingProxyType({
    "liver": assumed(5e11, "cell", "about a third of a 1.5 kg liver replaced by tumour",
                     bounds=(1e11, 1e12)),
    "lung": assumed(5e11, "cell", "about half of the lungs' parenchyma replaced",
                    bounds=(1e11, 1e12)),
    "brain": assumed(3e10, "cell", "about 30 mL of intracranial mass (midline shift)",
                     bounds=(1e10, 1e11)),
})


@dataclass(frozen=True, eq=False)
class ClinicalCourse:
    """What the clinic saw of one patient.

    Attributes
    ----------
    observations
        Every observation in time order (:data:`OBSERVATION_COLUMNS`).
    detected
        Colony ids found by any scan (distant or not).
    death_day, death_cause
        Day and cause (``"total"`` or the vital organ) of death, or None.
    progression_day, progression_reason
        First progression (``"new_lesion"`` or ``"target_growth"``), or None.
    first_detection_day
        First scan that found a distant lesion, or None.
    horizon_days
        End of follow-up when the patient lives.
    cutoff
        CTC count at or above which a draw is unfavourable.

    """

    observations: pd.DataFrame
    detected: frozenset[int]
    death_day: float | None
    death_cause: str | None
    progression_day: float | None
    progression_reason: str | None
    first_detection_day: float | None
    horizon_days: float
    cutoff: int

    @property
    def end_day(self) -> float:
        """Death, or the horizon."""
        return self.death_day if self.death_day is not None else self.horizon_days

    def draws(self) -> pd.DataFrame:
        """Blood draws: ``time_days``, ``site``, ``count``, ``unfavourable``."""
        obs = self.observations[self.observations["kind"] == "draw"]
        count = obs["value"].round().astype(np.int64).to_numpy()
        return pd.DataFrame({"time_days": obs["time_days"].to_numpy(),
                             "site": obs["name"].to_numpy(), "count": count,
                             "unfavourable": count >= self.cutoff})

    def summary(self) -> dict[str, Any]:
        """Plain data for the ``clinical`` block of ``summary.json``."""
        obs = self.observations
        stages = obs[obs["kind"] == "stage"]
        draws = self.draws()
        dead = self.death_day is not None
        pfs_end = min(d for d in (self.progression_day, self.death_day, self.horizon_days)
                      if d is not None)
        return {
            "stage_over_time": [{"time_days": float(t), "stage": str(s)}
                                for t, s in zip(stages["time_days"], stages["name"],
                                                strict=True)],
            "first_detection_day": self.first_detection_day,
            "ctc_cutoff": self.cutoff,
            "ctc_draws": [{"time_days": float(t), "site": str(site), "count": int(c),
                           "unfavourable": bool(u)}
                          for t, site, c, u in draws.itertuples(index=False)],
            "scans": int((obs["kind"] == "scan").groupby(obs["time_days"]).any().sum()),
            "lesions_detected": len(self.detected),
            "progression_day": self.progression_day,
            "progression_reason": self.progression_reason,
            "death_day": self.death_day,
            "death_cause": self.death_cause,
            "overall_survival_days": self.end_day,
            "overall_survival_censored": not dead,
            "progression_free_survival_days": pfs_end,
            "progression_free_survival_censored": (self.progression_day is None
                                                   and not dead),
        }


def course_rng(seed: int) -> np.random.Generator:
    """The clinic's random stream for a result's seed (independent of the engine's)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def follow(result: Result, scenario: Scenario, *, clinic: Clinic | None = None,
           ) -> ClinicalCourse:
    """Follow a simulated patient through the scenario's clinic (or ``clinic``)."""
    clinic = clinic if clinic is not None else scenario.clinic
    if clinic is None:
        clinic = Clinic()
    model = result.model
    rng = course_rng(result.seed)
    lesions = _Lesions(result)
    death_day, cause, burden = _death(lesions, clinic, model.horizon_days)
    end = death_day if death_day is not None else model.horizon_days
    rows: list[tuple[float, str, str, str, int, float]] = []
    found_at = _scans(lesions, clinic, end, rng, rows)
    _draws(result, scenario, clinic, end, rng, rows)
    first, progression, reason = _stage_and_progression(lesions, found_at, rows)
    if death_day is not None:
        rows.append((death_day, "death", cause or "total",
                     cause if cause not in (None, "total") else "", -1, burden))
    observations = pd.DataFrame(rows, columns=list(OBSERVATION_COLUMNS))
    kinds = {"stage": 0, "scan": 1, "draw": 2, "progression": 3, "death": 4}
    observations = (observations.assign(_k=observations["kind"].map(kinds))
                    .sort_values(["time_days", "_k", "lesion"], kind="stable")
                    .drop(columns="_k").reset_index(drop=True))
    observations = observations.astype({"time_days": "float64", "lesion": "int64",
                                        "value": "float64"})
    detected = frozenset(int(i) for found in found_at.values() for i in found)
    return ClinicalCourse(observations=observations, detected=detected,
                          death_day=death_day, death_cause=cause,
                          progression_day=progression, progression_reason=reason,
                          first_detection_day=first, horizon_days=model.horizon_days,
                          cutoff=ctc_cutoff(scenario.cancer))


class _Lesions:
    """The primary (id 0) and every colony, with sizes at any time."""

    def __init__(self, result: Result) -> None:
        model, raw = result.model, result.raw
        self.model = model
        self.organs = np.asarray(model.organs)
        self.organ = np.concatenate([[model.primary_organ], raw.organ]).astype(np.int64)
        self.founded, self.w, self.switch = raw.founded, raw.w, raw.switch
        self.ids = np.arange(len(self.organ), dtype=np.int64)
        lymph = model.organs.index("lymph_node") if "lymph_node" in model.organs else -1
        self.distant = (self.organ != model.primary_organ) & (self.organ != lymph)
        self.distant[0] = False

    def cells(self, t: float | FloatArray) -> FloatArray:
        """(times..., lesions) cells; the primary first."""
        t = np.asarray(t, dtype=float)
        colonies = colony_cells(self.model, t[..., None], self.founded, self.w, self.switch)
        primary = primary_cells(self.model, t)[..., None]
        return np.concatenate([primary, colonies], axis=-1)

    def diameter_mm(self, t: float) -> FloatArray:
        return self.model.diameter_mm(self.cells(t))


def _death(lesions: _Lesions, clinic: Clinic, horizon: float,
           ) -> tuple[float | None, str | None, float]:
    """First grid day with a lethal burden (total or in a vital organ)."""
    times = np.append(np.arange(0.0, horizon, DEATH_GRID_DAYS), horizon)
    vital = ({o: p.value for o, p in VITAL_ORGAN_LETHAL_CELLS.items()}
             if clinic.vital_organ_lethal_cells is None else clinic.vital_organ_lethal_cells)
    organs = lesions.model.organs
    checks: list[tuple[str, NDArray[np.bool_], float]] = [
        ("total", np.ones(len(lesions.organ), dtype=bool), clinic.lethal_burden_cells)]
    checks += [(organ, lesions.organ == organs.index(organ), cells)
               for organ, cells in vital.items() if organ in organs]
    best: tuple[float | None, str | None, float] = (None, None, math.nan)
    chunk = max(1, 2_000_000 // max(1, len(lesions.organ)))
    for start in range(0, len(times), chunk):
        cells = lesions.cells(times[start:start + chunk])
        for name, mask, lethal in checks:
            burden = cells[:, mask].sum(axis=1)
            hit = np.nonzero(burden >= lethal)[0]
            if hit.size and (best[0] is None or times[start + hit[0]] < best[0]):
                best = (float(times[start + hit[0]]), name, float(burden[hit[0]]))
        if best[0] is not None:
            return best
    return best


def _schedule(start: float, every_weeks: float, stop: float | None, end: float) -> FloatArray:
    last = end if stop is None else min(stop, end)
    return np.arange(start, last + 1e-9, 7.0 * every_weeks)


def _scans(lesions: _Lesions, clinic: Clinic, end: float, rng: np.random.Generator,
           rows: list[tuple[float, str, str, str, int, float]]) -> dict[float, NDArray[Any]]:
    """Every scheduled scan: the lesions it finds (rows, and ids per scan time)."""
    found_at: dict[float, NDArray[Any]] = {}
    for scan in clinic.scans:
        for t in _schedule(scan.start_day, scan.every_weeks, scan.stop_day, end).tolist():
            diameter = lesions.diameter_mm(t)
            present = np.nonzero(diameter > 0)[0]
            p = detection_probability(scan.modality, lesions.organs[lesions.organ[present]],
                                      diameter[present], regions=scan.regions)
            found = present[rng.random(present.size) < p]
            for i in found.tolist():
                rows.append((t, "scan", scan.modality, str(lesions.organs[lesions.organ[i]]),
                             i, float(diameter[i])))
            if found.size == 0:
                rows.append((t, "scan", scan.modality, "", -1, 0.0))
            previous = found_at.get(t)
            found_at[t] = found if previous is None else np.union1d(previous, found)
    return dict(sorted(found_at.items()))


def circulation_for(scenario: Scenario) -> Circulation:
    """The circulation (with the cancer's emboli) of a scenario's resolved body."""
    body, cancer = scenario.resolve()
    return Circulation.for_cancer(cancer, body, cascade=scenario.cascade(),
                                  vertebral_plexus=scenario.vertebral_plexus)


def shedding_by_entry(result: Result, t: float) -> FloatArray:
    """(entries,) cells shed per day at ``t`` by the primary and vascularised colonies."""
    model, raw = result.model, result.raw
    rates = np.zeros(len(model.entries))
    primary = model.shedding_per_cell_per_day * float(primary_cells(model, t))
    rates[model.primary_entry] += (1.0 - model.lymphatic_share) * primary
    rates[model.lymph_entry] += model.lymphatic_share * primary
    vascular = (raw.switch <= t) & (raw.founded <= t)
    if vascular.any():
        cells = colony_cells(model, t, raw.founded[vascular], raw.w[vascular],
                             raw.switch[vascular])
        np.add.at(rates, model.organ_entry[raw.organ[vascular]],
                  model.shedding_per_cell_per_day * cells)
    return rates


def _draws(result: Result, scenario: Scenario, clinic: Clinic, end: float,
           rng: np.random.Generator,
           rows: list[tuple[float, str, str, str, int, float]]) -> None:
    if not clinic.draws:
        return
    circulation = circulation_for(scenario)
    if circulation.entries != result.model.entries:
        raise ParameterError("clinic: the circulation's entries differ from the model's")
    for draw in clinic.draws:
        times = _schedule(draw.start_day, draw.every_weeks, draw.stop_day, end)
        if times.size == 0:
            continue
        rates = np.stack([shedding_by_entry(result, t) for t in times.tolist()])
        mean = expected_ctc_mean(
            rates, circulation, draw_site=draw.site, volume_ml=draw.volume_ml,
            recovery=RECOVERY.value if draw.recovery is None else draw.recovery,
            false_positive_mean=(FALSE_POSITIVE_MEAN.value if draw.false_positive_mean is None
                                 else draw.false_positive_mean))
        counts = rng.poisson(mean)
        rows.extend((float(t), "draw", draw.site, "", -1, float(c))
                    for t, c in zip(times.tolist(), counts.tolist(), strict=True))


def _stage_and_progression(lesions: _Lesions, found_at: dict[float, NDArray[Any]],
                           rows: list[tuple[float, str, str, str, int, float]],
                           ) -> tuple[float | None, float | None, str | None]:
    """Stage after every scan; first distant detection; first RECIST progression."""
    stage = ""
    first: float | None = None
    progression: float | None = None
    reason: str | None = None
    seen: set[int] = set()
    targets: NDArray[Any] | None = None
    nadir = math.inf
    for i, (t, found) in enumerate(found_at.items()):
        distant = [int(j) for j in found if lesions.distant[j]]
        now = "M1" if (distant or stage == "M1") else "M0"
        if now != stage:
            rows.append((t, "stage", now, "", -1, float(len(distant))))
            stage = now
        if distant and first is None:
            first = t
        diameter = lesions.diameter_mm(t)
        if targets is None and distant:
            targets = _targets(lesions, np.array(distant), diameter)
        new = [j for j in distant if j not in seen]
        if progression is None and i > 0:
            total = float(diameter[targets].sum()) if targets is not None else 0.0
            if new:
                progression, reason = t, "new_lesion"
            elif (targets is not None and targets.size
                  and total >= (1 + PROGRESSION_GROWTH) * nadir
                  and total - nadir >= PROGRESSION_MIN_MM):
                progression, reason = t, "target_growth"
            if progression is not None:
                rows.append((t, "progression", reason or "", "", -1, total))
        if targets is not None and targets.size:
            nadir = min(nadir, float(diameter[targets].sum()))
        seen.update(distant)
    return first, progression, reason


def _targets(lesions: _Lesions, found: NDArray[Any], diameter: FloatArray) -> NDArray[Any]:
    """Up to 5 measurable lesions (>= 10 mm), at most 2 per organ, largest first."""
    order = found[np.argsort(-diameter[found], kind="stable")]
    chosen: list[int] = []
    per_organ: dict[int, int] = {}
    for j in order.tolist():
        organ = int(lesions.organ[j])
        if diameter[j] < TARGET_MIN_MM or per_organ.get(organ, 0) >= 2:
            continue
        chosen.append(j)
        per_organ[organ] = per_organ.get(organ, 0) + 1
        if len(chosen) == 5:
            break
    return np.array(chosen, dtype=np.int64)
