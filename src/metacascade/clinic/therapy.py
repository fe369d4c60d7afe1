r"""Systemic therapy: regimens, lines of treatment, and what a regimen does to each lesion.

A regimen acts at once everywhere (docs/design.md, section 1, item 7). While line :math:`l` is
given, over the period :math:`[a_l, b_l)`:

* **Kill on dividing cells** (the log-kill law, Skipper et al. 1964): the drug-sensitive
  cells of every growing lesion (the primary and every colony; dormant single cells do
  not divide and are spared) die at the extra rate :math:`\kappa_l e_{l,o}` per day,
  where :math:`\kappa_l` is the regimen's kill rate times its relative dose and
  :math:`e_{l,o}` the exposure of organ :math:`o` (1, except behind the blood-brain
  barrier: ``brain_exposure``, Lockman et al. 2010).
* **Resistant cells** (Goldie & Coldman 1979) are not killed. A lesion of :math:`n` cells
  when the line meets it holds at least one resistant cell with probability
  :math:`1 - e^{-\rho_l n}` (Poisson); if it does, a share
  :math:`\rho_{il} = \max(\rho_l, 1/n)` of it is resistant, else none is.
* The lesion's size is its untreated size (the closed forms of
  :mod:`metacascade.engine.growth`) times the survival factor

  .. math::

      S_i(t) = \prod_l \Bigl[(1 - \rho_{il})\, e^{-\kappa_l e_{l,o_i} \tau_{il}(t)}
               + \rho_{il}\Bigr],
      \qquad \tau_{il}(t) = |[a_l, b_l) \cap [f_i, t)|,

  exact for exponential growth with resistance to each line independent, and a stated
  approximation on the Gompertz branch (the treated lesion regrows at the untreated
  lesion's rate, not faster for being further below its capacity). A lesion whose
  treated size falls below one cell is eradicated and stays so.
* **Less shedding and more CTC killing**: shedding per tumour cell is multiplied by
  ``shedding_factor`` and the live share of circulating cells by ``ctc_survival``.
  The engine simulates the untreated natural history; the clinic
  (:mod:`metacascade.clinic.course`) keeps each colony founded while a line is given
  with probability ``shedding_factor * ctc_survival * S_parent``: a thinning of the
  Poisson process of foundings, so the kept foundings are exactly those of the treated
  process. A dropped colony takes its descendants with it.

Regimens have defaults per kind (:data:`REGIMEN_DEFAULTS`); a scenario may override any
of them. Lines are given one after another; a line starts on a day or when the stage
becomes M1, and rules react to what the clinic observes (:data:`TRIGGERS`): a switch to
the next line or a stop on progression, or on an unfavourable CTC count (per 7.5 mL of
peripheral blood) at a follow-up draw (the SWOG S0500 design, Smerage et al. 2014).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from metacascade.citations import Parameter, assumed, cited
from metacascade.errors import ParameterError
from metacascade.references import GOLDIE_COLDMAN_1979, LOCKMAN_2010, SKIPPER_1964

if TYPE_CHECKING:
    from metacascade.scenario import Regimen

FloatArray = NDArray[np.float64]

#: Kinds of regimen.
KINDS = ("cytotoxic", "targeted", "immunotherapy")
#: What a rule can react to.
TRIGGERS = ("progression", "ctc_unfavourable")
#: The organ behind the blood-brain barrier.
BRAIN = "brain"
#: Fields of a regimen that have defaults per kind (a scenario may set each).
REGIMEN_FIELDS = ("kill_rate", "brain_exposure", "shedding_factor", "ctc_survival",
                  "resistant_fraction")


def _defaults(kill: float, brain: Parameter, shedding: float, ctc: float,
              resistant: float, kind: str) -> Mapping[str, Parameter]:
    return MappingProxyType({
        "kill_rate": assumed(
            kill, "1/d", f"{kind}: log-kill at standard dose (Skipper 1964's law); set so "
            "that a lesion doubling in about 100 days shrinks by a partial response "
            "(30% in diameter) within 2-4 cycles", bounds=(0.0, 1.0)),
        "brain_exposure": brain,
        "shedding_factor": assumed(
            shedding, "1", f"{kind}: shedding per tumour cell under treatment, relative "
            "to untreated (damaged vessels and cells shed less)", bounds=(0.0, 1.0)),
        "ctc_survival": assumed(
            ctc, "1", f"{kind}: share of circulating tumour cells that survive the drug "
            "in blood, relative to untreated", bounds=(0.0, 1.0)),
        "resistant_fraction": assumed(
            resistant, "1", f"{kind}: share of a large lesion's cells resistant to the "
            "regimen at its start (Goldie & Coldman 1979 make it grow with size; here a "
            "fixed share)", bounds=(0.0, 1.0)),
    })


#: Default effects per kind of regimen (a regimen in a scenario may override each).
REGIMEN_DEFAULTS: Mapping[str, Mapping[str, Parameter]] = MappingProxyType({
    "cytotoxic": _defaults(
        0.03, cited(0.15, "1", LOCKMAN_2010.at(
            "abstract", "paclitaxel and doxorubicin in experimental brain metastases of "
            "breast cancer (mice) reached less than 15 % of their uptake in other tissues "
            "and peripheral metastases; that upper figure, a concentration ratio, is taken "
            "as the share of the kill rate (an assumption)"), bounds=(0.0, 1.0)),
        0.5, 0.5, 1e-2,
        "cytotoxic"),
    "targeted": _defaults(
        0.02, assumed(0.3, "1", "small-molecule targeted drugs cross the blood-brain "
                      "barrier better than cytotoxics (Lockman 2010 for the latter)",
                      bounds=(0.0, 1.0)), 0.5, 0.7, 1e-2, "targeted"),
    "immunotherapy": _defaults(
        0.01, assumed(0.5, "1", "activated T cells enter brain metastases; antibodies "
                      "mostly do not", bounds=(0.0, 1.0)), 1.0, 0.8, 0.3, "immunotherapy"),
})

#: The citations behind the therapy model (for provenance).
THERAPY_CITATIONS = (SKIPPER_1964, GOLDIE_COLDMAN_1979, LOCKMAN_2010)


@dataclass(frozen=True)
class ResolvedRegimen:
    """A regimen with every effect set: kind defaults, then the scenario's overrides.

    ``kill_rate_per_day`` already includes the relative dose.
    """

    name: str
    kind: str
    dose: float
    kill_rate_per_day: float
    brain_exposure: float
    shedding_factor: float
    ctc_survival: float
    resistant_fraction: float

    def kill_by_organ(self, organs: Sequence[str]) -> FloatArray:
        """(organs,) extra death rate of sensitive cells per day in each organ."""
        exposure = np.array([self.brain_exposure if o == BRAIN else 1.0 for o in organs])
        return self.kill_rate_per_day * exposure


def resolve_regimen(regimen: Regimen, *, where: str = "regimen") -> ResolvedRegimen:
    """The regimen's effects (raise ParameterError naming ``where.field`` if out of range)."""
    if regimen.kind not in REGIMEN_DEFAULTS:
        raise ParameterError(f"{where}.kind: unknown kind {regimen.kind!r}; allowed: "
                             f"{', '.join(KINDS)}")
    if not (math.isfinite(regimen.dose) and regimen.dose >= 0.0):
        raise ParameterError(f"{where}.dose: {regimen.dose!r} must be a relative dose >= 0")
    values: dict[str, float] = {}
    for name, default in REGIMEN_DEFAULTS[regimen.kind].items():
        given = getattr(regimen, name)
        values[name] = (default.value if given is None
                        else default.with_value(given, what=f"{where}.{name}").value)
    return ResolvedRegimen(
        name=regimen.name or regimen.kind, kind=regimen.kind, dose=regimen.dose,
        kill_rate_per_day=values["kill_rate"] * regimen.dose,
        brain_exposure=values["brain_exposure"],
        shedding_factor=values["shedding_factor"], ctc_survival=values["ctc_survival"],
        resistant_fraction=values["resistant_fraction"])


@dataclass
class Period:
    """One line of therapy as given: regimen, start, end (inf while it runs), why it ended."""

    line: int
    regimen: ResolvedRegimen
    start_day: float
    end_day: float = math.inf
    end_reason: str | None = None
    #: (lesions,) kill rate per day of sensitive cells in each lesion's organ.
    kill: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    #: (lesions,) resistant share per lesion (NaN: not met yet).
    resistant: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)


class TherapyHistory:
    """The lines given so far to one patient, and their effect on every lesion.

    Parameters
    ----------
    lesion_organ
        (lesions,) organ name of every lesion (the primary first).
    founded
        (lesions,) day each lesion was founded (0 for the primary).
    rng
        The clinic's random stream (resistance draws).

    """

    def __init__(self, lesion_organ: Sequence[str], founded: FloatArray,
                 rng: np.random.Generator) -> None:
        self.lesion_organ = list(lesion_organ)
        self.founded = np.asarray(founded, dtype=float)
        self.rng = rng
        self.periods: list[Period] = []
        self._kill_cache: dict[int, FloatArray] = {}

    @property
    def active(self) -> Period | None:
        """The line being given, or None."""
        if self.periods and math.isinf(self.periods[-1].end_day):
            return self.periods[-1]
        return None

    def start(self, line: int, regimen: ResolvedRegimen, t: float,
              cells_now: FloatArray) -> Period:
        """Start ``regimen`` as line ``line`` at ``t``; meet the lesions alive now."""
        if self.active is not None:
            raise ParameterError("therapy: a line is already running")
        key = id(regimen)
        kill = self._kill_cache.get(key)
        if kill is None:
            organs = sorted(set(self.lesion_organ))
            by_organ = dict(zip(organs, regimen.kill_by_organ(organs).tolist(), strict=True))
            kill = np.array([by_organ[o] for o in self.lesion_organ])
            self._kill_cache[key] = kill
        period = Period(line=line, regimen=regimen, start_day=t, kill=kill,
                        resistant=np.full(len(self.founded), np.nan))
        self.periods.append(period)
        alive = np.nonzero(cells_now >= 1.0)[0]
        self.meet(alive, cells_now[alive])
        return period

    def stop(self, t: float, reason: str) -> None:
        """End the running line at ``t``."""
        period = self.active
        if period is not None:
            period.end_day, period.end_reason = t, reason

    def meet(self, lesions: NDArray[np.int64], cells: FloatArray) -> None:
        """Draw the running line's resistant share of ``lesions``, holding ``cells`` cells."""
        period = self.active
        if period is None or lesions.size == 0:
            return
        n = np.maximum(cells, 1.0)
        rho = period.regimen.resistant_fraction
        exists = self.rng.random(lesions.size) < -np.expm1(-rho * n)
        period.resistant[lesions] = np.where(exists, np.maximum(rho, 1.0 / n), 0.0)

    def survival(self, t: float | FloatArray, lesions: NDArray[np.int64] | None = None,
                 ) -> FloatArray:
        """Survival factor :math:`S_i(t)` of each lesion (or of ``lesions``).

        ``t`` broadcasts against the lesions: a scalar, ``times[..., None]`` for
        (times, lesions), or one time per lesion of ``lesions``.
        """
        t = np.asarray(t, dtype=float)
        idx = slice(None) if lesions is None else lesions
        founded = self.founded[idx]
        out = np.ones(np.broadcast_shapes(t.shape, founded.shape))
        for period in self.periods:
            start = np.maximum(period.start_day, founded)
            exposed = np.maximum(np.minimum(t, period.end_day) - start, 0.0)
            rho = np.nan_to_num(period.resistant[idx], nan=0.0)
            out = out * ((1.0 - rho) * np.exp(-period.kill[idx] * exposed) + rho)
        return out

    def shedding_factor(self) -> float:
        """Shedding per tumour cell relative to untreated, now."""
        period = self.active
        return 1.0 if period is None else period.regimen.shedding_factor

    def ctc_survival(self) -> float:
        """Live share of circulating cells relative to untreated, now."""
        period = self.active
        return 1.0 if period is None else period.regimen.ctc_survival
