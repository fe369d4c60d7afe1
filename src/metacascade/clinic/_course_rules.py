"""Stage, RECIST progression and the therapy rules of the per-patient clinic (:mod:`.course`).

:class:`Recist` keeps the stage, the first distant detection and progression per line
of therapy; :class:`Rules` starts, switches and stops lines as the scenario's therapy
plan says, on what the scans and draws just showed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.clinic._patient import Patient
from metacascade.clinic.criteria import (
    BASELINE_WINDOW_DAYS,
    MAX_TARGETS,
    MAX_TARGETS_PER_ORGAN,
    TARGET_MIN_MM,
    progressed_by_growth,
)
from metacascade.clinic.therapy import resolve_regimen
from metacascade.scenario import Therapy

FloatArray = NDArray[np.float64]
#: One observation: (time_days, kind, name, organ, lesion, value).
Row = tuple[float, str, str, str, int, float]


class Recist:
    """Stage after every scan, first distant detection, and RECIST progression per line.

    Every examination stages the patient and finds new lesions (a lesion is new if no
    earlier scan of the whole follow-up found it: a bone scan's new lesion is
    progression). Only a measuring examination (CT, MRI:
    :attr:`~metacascade.clinic.imaging.Modality.measures`) measures: the targets are
    chosen among the distant lesions it found, and the sum of their diameters is read
    at the measuring examinations that image their organs. An examination that images
    some targets only measures those: their sum is progression if it is already 20 %
    and 5 mm above the nadir (the others could only add to it), and it is no new nadir.

    Before therapy the first scan is the baseline, and the targets are chosen at the
    first measuring scan that finds a distant lesion. A line of therapy takes a new
    baseline: the scans on or before its start, if the last is at most
    :data:`~metacascade.clinic.criteria.BASELINE_WINDOW_DAYS` (4 weeks) before it, and the
    nadir starts afresh. Its targets are chosen again among what the last measuring scan
    in that window found (a lesion measurable only later is no target of the line), or,
    without a measuring scan in it, at the first measuring scan that finds a measurable
    lesion (a bone scan or PET finds new lesions but measures none: a clinic of bone
    scans alone still sees progression by new lesions). Without a scan in the window,
    the line has no baseline until its next scan, which is the baseline: nothing is
    assessed before it, and the lesions it finds are baseline disease, not new (with no
    scan near the start, a lesion present at the start cannot be told from one that grew
    on treatment); its targets are taken from it if it measures, else as above. A lesion
    found later in an organ no baseline scan imaged is new, as RECIST 1.1 counts it.
    """

    def __init__(self, patient: Patient, cutoff: int) -> None:
        self.patient = patient
        self.cutoff = cutoff
        self.stage = ""
        self.first: float | None = None
        self.detected: set[int] = set()
        self.seen: set[int] = set()
        self.targets: NDArray[np.int64] | None = None
        self.nadir = math.inf
        self.baseline = False
        self.progressed = False
        #: A line without a baseline scan waits for its next scan.
        self.waiting = False
        #: The day of the last scan of any modality (None: none yet).
        self.last_scan: float | None = None
        #: The last measuring scan: its day, the targets it would give a baseline, and
        #: the sum of their diameters.
        self.last_measured: tuple[float, NDArray[np.int64], float] | None = None

    def scan(self, t: float, found: NDArray[np.int64], measured: NDArray[np.int64],
             covered: NDArray[np.bool_], rows: list[Row]) -> str | None:
        """Stage and progression after the scans at ``t``; the progression reason.

        ``found`` the lesions every examination at ``t`` found, ``measured`` those a
        measuring one found, ``covered`` (organs,) the organs a measuring examination
        imaged (none: there was none).
        """
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
        gauged = np.array([j for j in measured.tolist() if patient.distant[j]], dtype=np.int64)
        measuring = bool(covered.any())
        if measuring:
            chosen = targets(patient, gauged, diameter)
            self.last_measured = (t, chosen, float(diameter[chosen].sum()))
        total, complete = self._measure(diameter, covered)
        reason: str | None = None
        if self.baseline and not self.progressed:
            if any(j not in self.seen for j in distant):
                reason = "new_lesion"
            elif not math.isnan(total) and progressed_by_growth(total, self.nadir):
                reason = "target_growth"
            if reason is not None:
                rows.append((t, "progression", reason, "", -1, total))
                self.progressed = True
        if complete:
            self.nadir = min(self.nadir, total)
        if self.targets is None and measuring and (self.waiting or gauged.size):
            self._take_targets()
        self.waiting = False  # (any scan is a baseline for new lesions)
        self.last_scan = t
        self.seen.update(distant)
        self.baseline = True
        return reason

    def _take_targets(self) -> None:
        """The targets of the last measuring scan, and their sum the nadir."""
        assert self.last_measured is not None
        _, self.targets, total = self.last_measured
        self.nadir = total if self.targets.size else math.inf

    def _measure(self, diameter: FloatArray, covered: NDArray[np.bool_]) -> tuple[float, bool]:
        """The sum of the targets' diameters a measuring examination imaged.

        And whether it imaged every target; NaN and False when it imaged none.
        """
        if self.targets is None or not self.targets.size:
            return math.nan, False
        imaged = covered[self.patient.organ[self.targets]]
        if not imaged.any():
            return math.nan, False
        return float(diameter[self.targets[imaged]].sum()), bool(imaged.all())

    def new_line(self, t: float) -> None:
        """A new line of therapy starts at ``t`` (after its scans): take a new baseline."""
        self.progressed = False
        self.targets, self.nadir = None, math.inf
        since = t - BASELINE_WINDOW_DAYS
        self.waiting = self.last_scan is None or self.last_scan < since
        self.baseline = not self.waiting
        last = self.last_measured
        if last is not None and last[0] >= since:
            self._take_targets()


class Rules:
    """Start, switch and stop the lines of a :class:`~metacascade.scenario.Therapy`."""

    def __init__(self, plan: Therapy, patient: Patient) -> None:
        self.plan = plan
        self.patient = patient
        self.regimens = [resolve_regimen(r, where=f"clinic.therapy.lines.{i}")
                         for i, r in enumerate(plan.lines)]
        self.next_line = 0
        self.over = False

    def _start(self, t: float, recist: Recist, rows: list[Row]) -> None:
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

    def apply(self, t: float, progressed: bool, unfavourable: bool, recist: Recist,
              rows: list[Row]) -> None:
        """React to what was seen at ``t``."""
        plan, active = self.plan, self.patient.therapy.active
        if self.over:
            return
        if active is None:
            if plan.stop_day is not None and t >= plan.stop_day:
                self.over = True  # no line starts on or after the stop day
            elif ((plan.start_day is not None and t >= plan.start_day)
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


def targets(patient: Patient, found: NDArray[Any], diameter: FloatArray) -> NDArray[np.int64]:
    """Up to 5 measurable lesions (>= 10 mm), at most 2 per organ, largest first."""
    order = found[np.argsort(-diameter[found], kind="stable")]
    chosen: list[int] = []
    per_organ: dict[int, int] = {}
    for j in order.tolist():
        organ = int(patient.organ[j])
        if diameter[j] < TARGET_MIN_MM or per_organ.get(organ, 0) >= MAX_TARGETS_PER_ORGAN:
            continue
        chosen.append(j)
        per_organ[organ] = per_organ.get(organ, 0) + 1
        if len(chosen) == MAX_TARGETS:
            break
    return np.array(chosen, dtype=np.int64)
