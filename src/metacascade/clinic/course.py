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
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.citations import Parameter, assumed, cited
from metacascade.clinic.biopsy import FALSE_POSITIVE_MEAN, RECOVERY, Circulation
from metacascade.clinic.biopsy import expected_ctc as expected_ctc_mean
from metacascade.clinic.imaging import Detector, get_modality
from metacascade.clinic.therapy import TherapyHistory, resolve_regimen
from metacascade.engine.growth import colony_cells, primary_cells
from metacascade.engine.result import Result
from metacascade.errors import ParameterError
from metacascade.references import COUMANS_2013
from metacascade.scenario import Clinic, DrawSchedule, ScanSchedule, Scenario, Therapy

FloatArray = NDArray[np.float64]

OBSERVATION_COLUMNS = ("time_days", "kind", "name", "organ", "lesion", "value")
#: Resolution of the death time, days.
DEATH_GRID_DAYS = 7.0
#: Smallest diameter of a target lesion (RECIST 1.1: 10 mm on CT), mm.
TARGET_MIN_MM = 10.0
#: Growth of the target sum over its nadir that is progression (RECIST 1.1).
PROGRESSION_GROWTH = 0.20
PROGRESSION_MIN_MM = 5.0
#: Relative margin of the bounds that let the weekly grid be skipped: far above the
#: rounding of the values compared (a few ulp per term), far below anything the grid sees.
BOUND_MARGIN = 1e-9

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


@dataclass(frozen=True)
class TherapyLine:
    """One line of therapy as given: ``end_day`` None while it ran to the end of follow-up."""

    line: int
    regimen: str
    kind: str
    start_day: float
    end_day: float | None
    end_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"line": self.line, "regimen": self.regimen, "kind": self.kind,
                "start_day": self.start_day, "end_day": self.end_day,
                "end_reason": self.end_reason}


@dataclass(frozen=True, eq=False)
class ClinicalCourse:
    """What the clinic saw of one patient, and what therapy did.

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
    therapy
        The lines of therapy given, in order.
    final_cells
        (lesions,) cells in every lesion (the primary first, then colony ``id`` order) at
        :attr:`end_day`, with therapy: 0 for a lesion eradicated or never founded
        because therapy prevented it.
    prevented, eradicated
        Colony ids the treated patient never had (thinned foundings and their
        descendants), and colony ids therapy eradicated.
    history, eradicated_day
        The therapy given (each line's kill rates and resistant shares) and, per lesion,
        the day therapy eradicated it (inf: never), for :meth:`cells_at`.

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
    final_cells: FloatArray = field(repr=False)
    therapy: tuple[TherapyLine, ...] = ()
    prevented: frozenset[int] = frozenset()
    eradicated: frozenset[int] = frozenset()
    history: TherapyHistory | None = field(default=None, repr=False)
    eradicated_day: FloatArray | None = field(default=None, repr=False)

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

    def cells_at(self, result: Result, t_days: float) -> FloatArray:
        """(lesions,) cells in every lesion at ``t_days``, with therapy applied.

        The primary comes first, then the colonies in ``id`` order, as in
        :attr:`final_cells` (which this equals at :attr:`end_day`). A lesion's size is its
        untreated closed form (:mod:`metacascade.engine.growth`) times the therapy's
        survival factor :math:`S_i(t)` (:meth:`TherapyHistory.survival`); it is 0 before
        its founding, from the day therapy eradicated it, and always for a colony the
        treated patient never had. ``result`` is the result this course followed.
        """
        model, raw = result.model, result.raw
        cells = np.concatenate([np.atleast_1d(primary_cells(model, t_days)),
                                colony_cells(model, t_days, raw.founded, raw.w, raw.switch)])
        if len(cells) != len(self.final_cells):
            raise ParameterError("cells_at: the result is not the one this course followed")
        if self.history is not None and self.history.periods:
            cells = cells * self.history.survival(t_days)
        if self.eradicated_day is not None:
            cells = np.where(self.eradicated_day <= t_days, 0.0, cells)
        if self.prevented:
            cells[np.fromiter(self.prevented, dtype=np.int64)] = 0.0
        return np.asarray(cells, dtype=float)

    def therapy_spans(self) -> list[tuple[float, float, str]]:
        """(start, end, regimen) of every line, for :func:`~metacascade.plots.plot_ctc`."""
        spans = [(line.start_day, self.end_day if line.end_day is None else line.end_day,
                  line.regimen) for line in self.therapy]
        return [span for span in spans if span[1] > span[0]]

    def summary(self) -> dict[str, Any]:
        """Plain data for the ``clinical`` block of ``summary.json``."""
        obs = self.observations
        stages = obs[obs["kind"] == "stage"]
        draws = self.draws()
        dead = self.death_day is not None
        pfs_end = min(d for d in (self.progression_day, self.death_day, self.horizon_days)
                      if d is not None)
        progressions = obs[obs["kind"] == "progression"]
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
            "progressions": [{"time_days": float(t), "reason": str(r)}
                             for t, r in zip(progressions["time_days"], progressions["name"],
                                             strict=True)],
            "progression_day": self.progression_day,
            "progression_reason": self.progression_reason,
            "therapy": [line.to_dict() for line in self.therapy],
            "colonies_prevented_by_therapy": len(self.prevented),
            "colonies_eradicated_by_therapy": len(self.eradicated),
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


Row = tuple[float, str, str, str, int, float]
_KIND_ORDER = {"stage": 0, "scan": 1, "draw": 2, "progression": 3, "therapy": 4, "death": 5}


def follow(result: Result, scenario: Scenario, *, clinic: Clinic | None = None,
           ) -> ClinicalCourse:
    """Follow a simulated patient through the scenario's clinic (or ``clinic``).

    Time runs forward from one decision (a scan, a draw, a therapy start or stop day) to
    the next; between two decisions therapy is fixed, so the patient's lesions are
    closed forms of time and death is checked on the weekly grid. At a decision the
    scans and draws are made, stage and progression updated, and the therapy rules
    applied to what was just seen.
    """
    clinic = clinic if clinic is not None else scenario.clinic
    if clinic is None:
        clinic = Clinic()
    model = result.model
    horizon = model.horizon_days
    rng = course_rng(result.seed)
    patient = _Patient(result, clinic, rng)
    scans: dict[float, list[ScanSchedule]] = {}
    for scan in clinic.scans:
        for t in _schedule(scan.start_day, scan.every_weeks, scan.stop_day, horizon):
            scans.setdefault(t, []).append(scan)
    draws: dict[float, list[DrawSchedule]] = {}
    for draw in clinic.draws:
        for t in _schedule(draw.start_day, draw.every_weeks, draw.stop_day, horizon):
            draws.setdefault(t, []).append(draw)
    plan = clinic.therapy
    rules = _Rules(plan, patient) if plan is not None else None
    decided = set(scans) | set(draws) | ({d for d in (plan.start_day, plan.stop_day)
                                          if d is not None and d <= horizon} if plan else set())
    decisions = sorted(decided)
    circulation = circulation_for(scenario) if draws else None
    if circulation is not None and circulation.entries != model.entries:
        raise ParameterError("clinic: the circulation's entries differ from the model's")
    # The resolved cancer: ``cancer_overrides.ctc_cutoff`` applies.
    recist = _Recist(patient, int(scenario.resolve()[1].ctc_cutoff.value))
    rows: list[Row] = []
    death: tuple[float, str, float] | None = None
    previous = -math.inf
    for t in [*decisions, horizon]:
        death = patient.advance(previous, t)
        if death is not None or (t >= horizon and t not in decided):
            break
        found = np.zeros(0, dtype=np.int64)
        for scan in scans.get(t, ()):
            found = np.union1d(found, _scan(patient, scan, t, rng, rows))
        unfavourable = False
        for draw in draws.get(t, ()):
            assert circulation is not None
            count = _draw(patient, circulation, draw, t, rng, rows)
            unfavourable |= draw.site == "arm_vein" and count >= recist.cutoff
        progressed = recist.scan(t, found, rows) if t in scans else None
        if rules is not None:
            rules.apply(t, progressed is not None, unfavourable, recist, rows)
        previous = t
    if rules is not None and death is not None:
        patient.therapy.stop(death[0], "death")
        patient.changed()
    end = death[0] if death is not None else horizon
    if death is not None:
        rows.append((death[0], "death", death[1],
                     death[1] if death[1] != "total" else "", -1, death[2]))
    observations = _observation_table(rows)
    lines = tuple(TherapyLine(line=p.line, regimen=p.regimen.name, kind=p.regimen.kind,
                              start_day=p.start_day,
                              end_day=None if math.isinf(p.end_day) else p.end_day,
                              end_reason=p.end_reason)
                  for p in patient.therapy.periods)
    return ClinicalCourse(
        observations=observations, detected=frozenset(recist.detected),
        death_day=None if death is None else death[0],
        death_cause=None if death is None else death[1],
        progression_day=recist.progression_day, progression_reason=recist.progression_reason,
        first_detection_day=recist.first, horizon_days=horizon, cutoff=recist.cutoff,
        therapy=lines, final_cells=patient.cells(end),
        prevented=frozenset(np.nonzero(~patient.kept)[0].tolist()),
        eradicated=frozenset(np.nonzero(np.isfinite(patient.eradicated))[0].tolist()),
        history=patient.therapy, eradicated_day=patient.eradicated.copy())


class _Patient:
    """The primary (lesion 0) and every colony, with therapy applied.

    The engine's lesions are the untreated natural history; :attr:`kept` marks the
    colonies the treated patient has (a thinning of the foundings, module
    :mod:`metacascade.clinic.therapy`), :attr:`eradicated` the day therapy eradicated a
    lesion (inf: never).
    """

    def __init__(self, result: Result, clinic: Clinic, rng: np.random.Generator) -> None:
        model, raw = result.model, result.raw
        self.result, self.model, self.clinic, self.rng = result, model, clinic, rng
        self.organs = np.asarray(model.organs)
        self.organ = np.concatenate([[model.primary_organ], raw.organ]).astype(np.int64)
        self.founded = np.concatenate([[0.0], raw.founded])
        #: Lesions in founding order (the engine's colonies are; checked, not assumed).
        self._in_order = bool(np.all(self.founded[1:] >= self.founded[:-1]))
        self.w, self.switch = raw.w, raw.switch
        self.parent = np.concatenate([[-1], raw.parent]).astype(np.int64)
        n = len(self.organ)
        self.ids = np.arange(n, dtype=np.int64)
        lymph = model.organs.index("lymph_node") if "lymph_node" in model.organs else -1
        self.distant = (self.organ != model.primary_organ) & (self.organ != lymph)
        self.distant[0] = False
        self.kept = np.ones(n, dtype=bool)
        self.eradicated = np.full(n, np.inf)
        self._live_ids: NDArray[np.int64] | None = None
        self._memo: tuple[float, FloatArray] | None = None
        self._checks_for: tuple[NDArray[np.int64], FloatArray] | None = None
        #: Untreated sizes at the last two times asked (:meth:`_untreated_at`), and the
        #: survival factors at the last time asked (:meth:`_survival_at`).
        self._now: tuple[float, FloatArray] | None = None
        self._then: tuple[float, FloatArray] | None = None
        self._factor: tuple[float, FloatArray] | None = None
        self._diameter: tuple[FloatArray, FloatArray] | None = None
        self._seen: tuple[float, FloatArray] | None = None
        #: (time, the live lesions they are of, sizes).
        self._seen_untreated: tuple[float, NDArray[np.int64], FloatArray] | None = None
        #: Day each lesion starts shedding (the primary from the start).
        self.switch_day = np.concatenate([[-np.inf], raw.switch])
        # No scan of this clinic can find a colony at its avascular limit.
        self._blind = all(
            model.diameter_mm(model.avascular_cells) * (1.0 + BOUND_MARGIN)
            <= get_modality(scan.modality).floor_mm.value for scan in clinic.scans)
        self._detectors: dict[tuple[str, tuple[str, ...] | None], Detector] = {}
        # The bounds of advance() need sizes that never shrink: a positive growth rate,
        # and colonies that hold at least one cell from founding and stall below their
        # capacity (then every growth law here is non-decreasing in time).
        self._bounded = (self._in_order and model.growth_rate_per_day > 0
                         and model.metastasis_capacity_cells > model.avascular_cells >= 1.0)
        self.therapy = TherapyHistory(self.organs[self.organ].tolist(), self.founded, rng)
        vital = ({o: p.value for o, p in VITAL_ORGAN_LETHAL_CELLS.items()}
                 if clinic.vital_organ_lethal_cells is None
                 else clinic.vital_organ_lethal_cells)
        self.checks: list[tuple[str, NDArray[np.bool_], float]] = [
            ("total", np.ones(n, dtype=bool), clinic.lethal_burden_cells)]
        self.checks += [(organ, self.organ == model.organs.index(organ), cells)
                        for organ, cells in vital.items() if organ in model.organs]
        self._lethal = np.array([lethal for _, _, lethal in self.checks])
        #: (lesions, checks) 0/1: which lesions count towards each lethal check.
        self._check_all = np.stack([mask for _, mask, _ in self.checks], axis=1).astype(float)

    def untreated(self, t: float | FloatArray, ids: NDArray[np.int64] | None = None,
                  ) -> FloatArray:
        """(times..., lesions) untreated cells of every lesion (or of sorted ``ids``).

        Only the colonies founded by the latest time are evaluated: the engine stores
        colonies in founding order, so they are a prefix of ``ids``, and every later
        colony holds exactly 0 cells (what :func:`colony_cells` gives before founding).
        """
        t = np.asarray(t, dtype=float)
        ids = self.ids if ids is None else ids
        primary = ids.size > 0 and ids[0] == 0
        col = ids[1:] - 1 if primary else ids - 1
        founded = self.founded[1:][col]
        if self._in_order and t.size and col.size:
            m = int(np.searchsorted(founded, t.max(), side="right"))
        else:
            m = col.size
        if m == col.size:
            cells = colony_cells(self.model, t[..., None], founded, self.w[col],
                                 self.switch[col])
        else:
            cells = np.zeros((*t.shape, col.size))
            head = col[:m]
            cells[..., :m] = colony_cells(self.model, t[..., None], founded[:m],
                                          self.w[head], self.switch[head])
        if primary:
            cells = np.concatenate([primary_cells(self.model, t)[..., None], cells], axis=-1)
        return cells

    def changed(self) -> None:
        """Forget cached sizes (kept, eradicated or therapy changed).

        The untreated sizes stay: they depend on time only, and the lesions they were
        computed for only ever lose members (:meth:`live`).
        """
        self._live_ids = None
        self._memo = None
        self._factor = None
        self._seen = None

    def _untreated_at(self, t: float) -> FloatArray:
        """(lesions,) untreated cells at ``t`` of the lesions live when first asked (else 0).

        Computed as :meth:`cells` computes them (one time, the live lesions), so the
        values are the same; kept for the next decision's bounds (:meth:`_eradicate_quiet`).
        """
        if self._now is not None and self._now[0] == t:
            return self._now[1]
        live = self.live()
        full = np.zeros(len(self.ids))
        full[live] = self.untreated(t, live)
        self._then, self._now = self._now, (t, full)
        return full

    def _survival_at(self, t: float) -> FloatArray:
        """(lesions,) survival factors at ``t`` of the live lesions founded by ``t`` (else 1)."""
        if self._factor is not None and self._factor[0] == t:
            return self._factor[1]
        head = self._founded_by(self.live(), t)
        full = np.ones(len(self.ids))
        full[head] = self.therapy.survival(t, head)
        self._factor = (t, full)
        return full

    def _founded_by(self, ids: NDArray[np.int64], t: float) -> NDArray[np.int64]:
        """The sorted ``ids`` founded by ``t`` (a prefix: lesions are in founding order)."""
        return ids[:int(np.searchsorted(self.founded[ids], t, side="right"))]

    def live(self) -> NDArray[np.int64]:
        """Ids of the lesions the treated patient has (kept, not eradicated)."""
        if self._live_ids is None:
            self._live_ids = np.nonzero(self.kept & np.isinf(self.eradicated))[0]
        return self._live_ids

    def cells(self, t: float | FloatArray) -> FloatArray:
        """(times..., lesions) cells with therapy applied.

        Times never go back before the last eradication.
        """
        t = np.asarray(t, dtype=float)
        if t.ndim == 0 and self._memo is not None and self._memo[0] == float(t):
            return self._memo[1]
        live = self.live()
        if t.ndim == 0 and self._in_order:
            # The same values as below: each lesion's size and factor are computed
            # element by element, and a lesion not founded yet holds 0 cells.
            sub = self._untreated_at(float(t))[live]
            if self.therapy.periods:
                sub = sub * self._survival_at(float(t))[live]
        else:
            sub = self.untreated(t, live)
            if self.therapy.periods:
                sub = sub * self.therapy.survival(t[..., None], live)
        cells = np.zeros((*t.shape, len(self.ids)))
        cells[..., live] = sub
        if t.ndim == 0:
            self._memo = (float(t), cells)
        return cells

    def seen(self, t: float) -> FloatArray:
        """(lesions,) cells at ``t`` as scans, blood draws and RECIST read them.

        Exact for the primary and every colony past its angiogenic switch, which is all
        these read: only those shed, and before therapy a colony that has not switched
        holds at most its avascular limit, given here in its place, which no scan of
        the clinic can find (``_blind``) but every scan counts as present (the same
        random draws). Under therapy, or with a scan that could see such a colony,
        :meth:`cells`.
        """
        if self.therapy.periods or not self._blind or not self._in_order:
            return self.cells(t)
        if self._seen is None or self._seen[0] != t:
            live = self.live()
            cells = self._untreated_seen(t)
            assert self._seen_untreated is not None
            if self._seen_untreated[1] is not live:  # computed for more lesions
                cells = np.where(self.kept & np.isinf(self.eradicated), cells, 0.0)
            self._seen = (t, cells)
        return self._seen[1]

    def _untreated_seen(self, t: float) -> FloatArray:
        """(lesions,) untreated cells of the live lesions at ``t`` (0 if not founded).

        The avascular limit stands for a colony that has not switched (an upper bound).
        Kept for ``t`` as :meth:`_untreated_at` is.
        """
        if self._seen_untreated is not None and self._seen_untreated[0] == t:
            return self._seen_untreated[2]
        live = self.live()
        head = self._founded_by(live, t)
        switched = self.switch_day[head] <= t
        full = np.zeros(len(self.ids))
        full[head[~switched]] = self.model.avascular_cells
        exact = head[switched]
        full[exact] = self.untreated(t, exact)
        self._seen_untreated = (t, live, full)
        return full

    def diameter_mm(self, t: float) -> FloatArray:
        """(lesions,) diameters at ``t``, mm, of :meth:`seen` (kept while it is)."""
        cells = self.seen(t)
        if self._diameter is None or self._diameter[0] is not cells:
            self._diameter = (cells, self.model.diameter_mm(cells))
        return self._diameter[1]

    def detector(self, scan: ScanSchedule) -> Detector:
        """Detection curves of a scan schedule for this patient's organs."""
        key = (scan.modality, None if scan.regions is None else tuple(scan.regions))
        if key not in self._detectors:
            self._detectors[key] = Detector(scan.modality, self.model.organs,
                                            regions=scan.regions)
        return self._detectors[key]

    def advance(self, previous: float, t: float) -> tuple[float, str, float] | None:
        """Move from ``previous`` to ``t``; the death (day, cause, burden) or None.

        Settles the foundings in (previous, t], then checks eradication and death on the
        weekly grid in (previous, t] and at ``t``. Most intervals provably hold no death
        (:meth:`_may_die`); then the grid is evaluated only for the lesions that may be
        eradicated (:meth:`_eradicate_quiet`), with the same result.
        """
        self._settle(previous, t)
        first = 0.0 if math.isinf(previous) else previous
        grid = np.arange(math.ceil(first / DEATH_GRID_DAYS) * DEATH_GRID_DAYS, t,
                         DEATH_GRID_DAYS)
        times = np.append(grid[grid > previous], t)
        live = self.live()
        chunk = max(1, 2_000_000 // max(1, len(live)))
        if self._bounded and not self._may_die(previous, t, live):
            if self.therapy.periods:
                self._eradicate_quiet(previous, t, times, live, chunk)
            return None
        for start in range(0, len(times), chunk):
            block = times[start:start + chunk]
            cells = self.untreated(block, live)
            if self.therapy.periods:
                cells = cells * self.therapy.survival(block[:, None], live)
                cells = self._eradicate(block, cells, live)
            burdens = cells @ self._check_matrix(live)
            best: tuple[float, str, float] | None = None
            for k, (name, _, lethal) in enumerate(self.checks):  # the total first on ties
                hit = np.nonzero(burdens[:, k] >= lethal)[0]
                if hit.size and (best is None or block[hit[0]] < best[0]):
                    best = (float(block[hit[0]]), name, float(burdens[hit[0], k]))
            if best is not None:
                return best
        return None

    def _may_die(self, previous: float, t: float, live: NDArray[np.int64]) -> bool:
        r"""Whether a burden on the grid in (previous, t] may be lethal (False: none is).

        The lesions on the grid are ``live``; each one's untreated size never shrinks,
        and therapy multiplies it by a survival factor :math:`S_i \le 1` that never
        grows while therapy is fixed (between two decisions). Each grid burden is
        therefore at most the sum of :math:`U_i(t) S_i(\text{previous})` over the lesions
        it counts; if that bound is below every lethal threshold (with
        :data:`BOUND_MARGIN`), no grid time is lethal. The primary's removal breaks the
        first premise (it drops to 0 cells), so an interval holding it is never skipped.
        """
        if previous < self.model.primary_removed_day <= t:
            return True
        # The sizes below are 0 for lesions not live when they were computed, a
        # superset of ``live``: the sums still bound the grid's burdens.
        limit = self._lethal * (1.0 - BOUND_MARGIN)
        matrix = self._check_all
        # Before therapy nothing needs the exact sizes of avascular colonies.
        if not self.therapy.periods and not np.any(self._untreated_seen(t) @ matrix >= limit):
            return False
        upper = self._untreated_at(t)
        if not np.any(upper @ matrix >= limit):
            return False
        if not self.therapy.periods or math.isinf(previous):
            return True
        # A lesion founded after ``previous`` has had no exposure: S = 1.
        factor = np.ones(len(self.ids))
        head = self._founded_by(live, previous)
        factor[head] = self.therapy.survival(previous, head)
        return bool(np.any((upper * factor) @ matrix >= limit))

    def _eradicate_quiet(self, previous: float, t: float, times: FloatArray,
                         live: NDArray[np.int64], chunk: int) -> None:
        r"""Eradication on the grid ``times`` in (previous, t], when no death is possible.

        On the grid a lesion founded by ``t`` holds, once founded, at least one untreated
        cell and no fewer than at ``previous``, times a survival factor no smaller than
        at ``t``: at least :math:`S_i(t) \max(1, U_i(\text{previous}))` cells. Lesions
        whose bound is at least one cell (with :data:`BOUND_MARGIN`) cannot be
        eradicated here; the others are evaluated on the grid in the same blocks of
        times as :meth:`advance`, element by element as there, so the same lesions are
        eradicated on the same days. The primary is always evaluated (removed, it holds
        0 cells).
        """
        head = self._founded_by(live, t)
        if head.size == 0:
            return
        lower = self._survival_at(t)[head]
        if self._then is not None and self._then[0] == previous:
            lower = lower * np.maximum(self._then[1][head], 1.0)
        maybe = lower < 1.0 + BOUND_MARGIN
        maybe[0] |= head[0] == 0
        ids = head[maybe]
        for start in range(0, len(times) if ids.size else 0, chunk):
            block = times[start:start + chunk]
            cells = self.untreated(block, ids) * self.therapy.survival(block[:, None], ids)
            self._eradicate(block, cells, ids)

    def _check_matrix(self, live: NDArray[np.int64]) -> FloatArray:
        """(live lesions, checks) 0/1: which lesions count towards each lethal check."""
        if self._checks_for is None or self._checks_for[0] is not live:
            matrix = np.stack([mask[live] for _, mask, _ in self.checks], axis=1)
            self._checks_for = (live, matrix.astype(float))
        return self._checks_for[1]

    def _eradicate(self, times: FloatArray, cells: FloatArray,
                   live: NDArray[np.int64]) -> FloatArray:
        """Mark live lesions that fell below one cell after founding; zero them from then."""
        below = (cells < 1.0) & (times[:, None] >= self.founded[live])
        hit = below.any(axis=0)
        if hit.any():
            first = np.argmax(below[:, hit], axis=0)
            self.eradicated[live[hit]] = times[first]
            self.changed()
            cells = np.where(times[:, None] < self.eradicated[live], cells, 0.0)
        return cells

    def _settle(self, previous: float, t: float) -> None:
        """Decide which colonies founded in (previous, t] the treated patient has."""
        new = np.nonzero((self.founded > previous) & (self.founded <= t))[0]
        history = self.therapy
        if new.size == 0 or not history.periods:
            return
        history.meet(new, np.ones(new.size))  # a founder is one cell
        parents = self.parent[new]
        has_parent = parents >= 0
        q = np.full(new.size, history.shedding_factor() * history.ctc_survival())
        safe = np.where(has_parent, parents, 0)
        ratio = history.survival(self.founded[new], safe)  # parent at founding
        q = np.where(has_parent, q * ratio * (self.eradicated[safe] > self.founded[new]), q)
        draw = q < 1.0
        keep = np.ones(new.size, dtype=bool)
        keep[draw] = self.rng.random(int(draw.sum())) < q[draw]
        self.kept[new] = keep
        self.changed()
        # A dropped or prevented parent takes its descendants with it (ids grow with time).
        while True:
            inherited = self.kept[new] & np.where(has_parent, self.kept[safe], True)
            if np.array_equal(inherited, self.kept[new]):
                break
            self.kept[new] = inherited


def _observation_table(rows: list[Row]) -> pd.DataFrame:
    """The rows as a table in time order.

    At one time rows go by kind (:data:`_KIND_ORDER`), then lesion, else in the order
    they were made (a stable sort).
    """
    time_days, kind, name, organ, lesion, value = (
        zip(*rows, strict=True) if rows else ((),) * len(OBSERVATION_COLUMNS))
    order = np.lexsort((np.array(lesion, dtype=np.int64),
                        np.array([_KIND_ORDER[k] for k in kind], dtype=np.int64),
                        np.array(time_days, dtype=np.float64)))

    def text(values: tuple[str, ...]) -> NDArray[np.object_]:
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column[order]

    return pd.DataFrame({
        "time_days": np.array(time_days, dtype=np.float64)[order], "kind": text(kind),
        "name": text(name), "organ": text(organ),
        "lesion": np.array(lesion, dtype=np.int64)[order],
        "value": np.array(value, dtype=np.float64)[order]}, columns=list(OBSERVATION_COLUMNS))


def _schedule(start: float, every_weeks: float, stop: float | None, end: float) -> list[float]:
    last = end if stop is None else min(stop, end)
    return np.arange(start, last + 1e-9, 7.0 * every_weeks).tolist()


def _scan(patient: _Patient, scan: ScanSchedule, t: float, rng: np.random.Generator,
          rows: list[Row]) -> NDArray[np.int64]:
    """One scan: the lesions it finds (and a row for each, or one row for none)."""
    diameter = patient.diameter_mm(t)
    present = np.nonzero(diameter > 0)[0]
    p = patient.detector(scan).probability(patient.organ[present], diameter[present])
    found = present[rng.random(present.size) < p]
    for i in found.tolist():
        rows.append((t, "scan", scan.modality, str(patient.organs[patient.organ[i]]), i,
                     float(diameter[i])))
    if found.size == 0:
        rows.append((t, "scan", scan.modality, "", -1, 0.0))
    return found


def circulation_for(scenario: Scenario) -> Circulation:
    """The circulation (with the cancer's emboli) of a scenario's resolved body."""
    body, cancer = scenario.resolve()
    return Circulation.for_cancer(cancer, body, cascade=scenario.cascade(),
                                  vertebral_plexus=scenario.vertebral_plexus)


def shedding_by_entry(result: Result, t: float, cells: FloatArray | None = None,
                      ) -> FloatArray:
    """(entries,) cells shed per day at ``t`` by the primary and vascularised colonies.

    ``cells`` (lesions,) are the lesions' sizes at ``t`` (the primary first); by default
    the untreated sizes of the result.
    """
    model, raw = result.model, result.raw
    if cells is None:
        cells = np.concatenate([np.atleast_1d(primary_cells(model, t)),
                                colony_cells(model, t, raw.founded, raw.w, raw.switch)])
    rates = np.zeros(len(model.entries))
    primary = model.shedding_per_cell_per_day * float(cells[0])
    rates[model.primary_entry] += (1.0 - model.lymphatic_share) * primary
    rates[model.lymph_entry] += model.lymphatic_share * primary
    vascular = (raw.switch <= t) & (raw.founded <= t) & (cells[1:] > 0)
    if vascular.any():
        np.add.at(rates, model.organ_entry[raw.organ[vascular]],
                  model.shedding_per_cell_per_day * cells[1:][vascular])
    return rates


def _draw(patient: _Patient, circulation: Circulation, draw: DrawSchedule, t: float,
          rng: np.random.Generator, rows: list[Row]) -> int:
    """One blood draw: the CTC count (Poisson with the closed-form mean)."""
    history = patient.therapy
    rates = shedding_by_entry(patient.result, t, patient.seen(t))
    rates *= history.shedding_factor() * history.ctc_survival()
    mean = expected_ctc_mean(
        rates[None, :], circulation, draw_site=draw.site, volume_ml=draw.volume_ml,
        recovery=RECOVERY.value if draw.recovery is None else draw.recovery,
        false_positive_mean=(FALSE_POSITIVE_MEAN.value if draw.false_positive_mean is None
                             else draw.false_positive_mean))
    count = int(rng.poisson(float(np.asarray(mean).reshape(-1)[0])))
    rows.append((t, "draw", draw.site, "", -1, float(count)))
    return count


class _Recist:
    """Stage after every scan, first distant detection, and RECIST progression per line.

    A new line of therapy takes a new baseline: the scan at its start if there is one,
    else the next scan; targets are chosen again and the nadir starts afresh. A lesion
    is new if no earlier scan of the whole follow-up found it.
    """

    def __init__(self, patient: _Patient, cutoff: int) -> None:
        self.patient = patient
        self.cutoff = cutoff
        self.stage = ""
        self.first: float | None = None
        self.progression_day: float | None = None
        self.progression_reason: str | None = None
        self.detected: set[int] = set()
        self.seen: set[int] = set()
        self.targets: NDArray[np.int64] | None = None
        self.nadir = math.inf
        self.baseline = False
        self.progressed = False
        self.last_scan: tuple[float, NDArray[np.int64]] | None = None

    def scan(self, t: float, found: NDArray[np.int64], rows: list[Row]) -> str | None:
        """Stage and progression after the scans at ``t``; the progression reason."""
        patient = self.patient
        self.detected.update(int(i) for i in found)
        distant = [int(j) for j in found if patient.distant[j]]
        now = "M1" if (distant or self.stage == "M1") else "M0"
        if now != self.stage:
            rows.append((t, "stage", now, "", -1, float(len(distant))))
            self.stage = now
        if distant and self.first is None:
            self.first = t
        diameter = patient.diameter_mm(t)
        if self.targets is None and distant:
            self.targets = _targets(patient, np.array(distant), diameter)
        reason: str | None = None
        if self.baseline and not self.progressed:
            total = float(diameter[self.targets].sum()) if self.targets is not None else 0.0
            if any(j not in self.seen for j in distant):
                reason = "new_lesion"
            elif (self.targets is not None and self.targets.size
                  and total >= (1 + PROGRESSION_GROWTH) * self.nadir
                  and total - self.nadir >= PROGRESSION_MIN_MM):
                reason = "target_growth"
            if reason is not None:
                rows.append((t, "progression", reason, "", -1, total))
                self.progressed = True
                if self.progression_day is None:
                    self.progression_day, self.progression_reason = t, reason
        if self.targets is not None and self.targets.size:
            self.nadir = min(self.nadir, float(diameter[self.targets].sum()))
        self.seen.update(distant)
        self.baseline = True
        self.last_scan = (t, np.array(distant, dtype=np.int64))
        return reason

    def new_line(self, t: float) -> None:
        """A new line of therapy starts at ``t``: take a new baseline."""
        self.progressed = False
        self.targets, self.nadir, self.baseline = None, math.inf, False
        if self.last_scan is not None and self.last_scan[0] == t:
            distant = self.last_scan[1]
            diameter = self.patient.diameter_mm(t)
            if distant.size:
                self.targets = _targets(self.patient, distant, diameter)
                if self.targets.size:
                    self.nadir = float(diameter[self.targets].sum())
            self.baseline = True


class _Rules:
    """Start, switch and stop the lines of a :class:`~metacascade.scenario.Therapy`."""

    def __init__(self, plan: Therapy, patient: _Patient) -> None:
        self.plan = plan
        self.patient = patient
        self.regimens = [resolve_regimen(r, where=f"clinic.therapy.lines.{i}")
                         for i, r in enumerate(plan.lines)]
        self.next_line = 0
        self.over = False

    def _start(self, t: float, recist: _Recist, rows: list[Row]) -> None:
        regimen = self.regimens[self.next_line]
        self.patient.therapy.start(self.next_line + 1, regimen, t, self.patient.cells(t))
        self.patient.changed()
        rows.append((t, "therapy", f"start:{regimen.name}", "", -1,
                     float(self.next_line + 1)))
        self.next_line += 1
        recist.new_line(t)

    def _stop(self, t: float, reason: str, rows: list[Row]) -> None:
        period = self.patient.therapy.active
        assert period is not None
        self.patient.therapy.stop(t, reason)
        self.patient.changed()
        rows.append((t, "therapy", f"stop:{period.regimen.name}:{reason}", "", -1,
                     float(period.line)))

    def apply(self, t: float, progressed: bool, unfavourable: bool, recist: _Recist,
              rows: list[Row]) -> None:
        """React to what was seen at ``t``."""
        plan, active = self.plan, self.patient.therapy.active
        if self.over:
            return
        if active is None:
            if ((plan.start_day is not None and t >= plan.start_day)
                    or (plan.start_at_m1 and recist.stage == "M1")):
                self._start(t, recist, rows)
            return
        if plan.stop_day is not None and t >= plan.stop_day:
            self._stop(t, "stop_day", rows)
            self.over = True
            return
        events = []
        if progressed:
            events.append("progression")
        if unfavourable and t - active.start_day >= 7.0 * plan.ctc_followup_weeks:
            events.append("ctc_unfavourable")
        switch = [e for e in events if e in plan.switch_on]
        stop = [e for e in events if e in plan.stop_on]
        if switch:
            self._stop(t, switch[0], rows)
            if self.next_line < len(self.regimens):
                self._start(t, recist, rows)
            else:
                self.over = True
        elif stop:
            self._stop(t, stop[0], rows)
            self.over = True


def _targets(patient: _Patient, found: NDArray[Any], diameter: FloatArray) -> NDArray[np.int64]:
    """Up to 5 measurable lesions (>= 10 mm), at most 2 per organ, largest first."""
    order = found[np.argsort(-diameter[found], kind="stable")]
    chosen: list[int] = []
    per_organ: dict[int, int] = {}
    for j in order.tolist():
        organ = int(patient.organ[j])
        if diameter[j] < TARGET_MIN_MM or per_organ.get(organ, 0) >= 2:
            continue
        chosen.append(j)
        per_organ[organ] = per_organ.get(organ, 0) + 1
        if len(chosen) == 5:
            break
    return np.array(chosen, dtype=np.int64)
