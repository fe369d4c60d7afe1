"""RECIST for a batch of patients: stage, first detection, targets and progression.

The batched form of :class:`~metacascade.clinic._course_rules.Recist`, for
:func:`~metacascade.clinic.batch.follow_batch`: :class:`Recist` holds every patient's
stage, targets and nadir, reads the scans of a decision day and adds the ``stage`` and
``progression`` rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade.clinic._lesions import Lesions
from metacascade.clinic._rows import Rows
from metacascade.clinic.criteria import (
    BASELINE_WINDOW_DAYS,
    MAX_TARGETS,
    MAX_TARGETS_PER_ORGAN,
    TARGET_MIN_MM,
    progressed_by_growth,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Stage codes (0: no scan yet).
M0, M1 = 1, 2
STAGE_NAMES = np.array(["", "M0", "M1"], dtype=object)


class Recist:
    """Every patient's stage, first detection, targets and progression.

    ``diameter`` (per lesion) holds the diameters of the last scan, which the targets
    are chosen and measured from (:meth:`read`); ``detected`` the lesions any scan
    found. At every measuring examination each patient's candidate targets (those a
    baseline then would take) are chosen, with their day and sum.
    """

    def __init__(self, lesions: Lesions, rows: Rows) -> None:
        self.x, self.rows = lesions, rows
        n_p = lesions.n_patients
        self.stage = np.zeros(n_p, dtype=np.int64)
        self.first = np.full(n_p, np.nan)
        self.detected = np.zeros(lesions.n, dtype=bool)
        self.seen = np.zeros(lesions.n, dtype=bool)
        self.chosen = np.zeros(n_p, dtype=bool)
        self.targets = np.full((n_p, MAX_TARGETS), -1, dtype=np.int64)
        self.nadir = np.full(n_p, np.inf)
        self.baseline = np.zeros(n_p, dtype=bool)
        self.progressed = np.zeros(n_p, dtype=bool)
        #: A line without a baseline scan waits for its next scan.
        self.waiting = np.zeros(n_p, dtype=bool)
        #: The day of the last scan of any modality (NaN: none).
        self.scan_day = np.full(n_p, np.nan)
        #: The last measuring scan's day (NaN: none), candidate targets and their sum.
        self.measured_day = np.full(n_p, np.nan)
        self.candidates = np.full((n_p, MAX_TARGETS), -1, dtype=np.int64)
        self.candidate_sum = np.zeros(n_p)
        self.diameter = np.zeros(lesions.n)

    def read(self, ids: IntArray, diameter: FloatArray) -> None:
        """A scan day's diameters of the lesions ``ids``.

        A target not among them (no longer had: eradicated) measures 0, as
        ``Patient.diameter_mm`` gives it.
        """
        targets = self.targets[self.targets >= 0]
        self.diameter[targets] = 0.0
        self.diameter[ids] = diameter

    def scan(self, t: float, found: IntArray, distant: IntArray, gauged: IntArray,
             covered: BoolArray, alive: IntArray) -> BoolArray:
        """Stage, first detection and progression after the scans at ``t`` (``Recist.scan``).

        ``found`` the lesions the scans found, ``distant`` those of them that are
        distant, ``gauged`` the distant ones a measuring examination found, ``covered``
        (organs,) the organs a measuring examination imaged, ``alive`` the living
        patients; returns who progressed.
        """
        x, n_p = self.x, self.x.n_patients
        self.detected[found] = True
        n_distant = np.bincount(x.pat[distant], minlength=n_p)
        now = np.where((n_distant > 0) | (self.stage == M1), M1, M0)
        changed = alive[now[alive] != self.stage[alive]]
        self.rows.add(changed, t, "stage", STAGE_NAMES[now[changed]], "", -1,
                      n_distant[changed].astype(float))
        self.stage[alive] = now[alive]
        first = alive[(n_distant[alive] > 0) & np.isnan(self.first[alive])]
        self.first[first] = t
        measuring = bool(covered.any())
        if measuring:
            self._choose_candidates(alive, gauged)
            self.measured_day[alive] = t
        total, some, every = self._measure(covered)
        check = np.zeros(n_p, dtype=bool)
        check[alive] = self.baseline[alive] & ~self.progressed[alive]
        new = np.bincount(x.pat[distant[~self.seen[distant]]], minlength=n_p) > 0
        growth = some & np.asarray(progressed_by_growth(total, self.nadir), dtype=bool)
        progressed: BoolArray = check & (new | growth)
        reason = np.where(new, "new_lesion", "target_growth").astype(object)
        hit = np.nonzero(progressed)[0]
        self.rows.add(hit, t, "progression", reason[hit], "", -1, total[hit])
        self.progressed |= progressed
        measured = np.zeros(n_p, dtype=bool)
        measured[alive] = every[alive]
        self.nadir[measured] = np.minimum(self.nadir[measured], total[measured])
        if measuring:
            n_gauged = np.bincount(x.pat[gauged], minlength=n_p)
            take = alive[~self.chosen[alive] & (self.waiting[alive] | (n_gauged[alive] > 0))]
            self._take_targets(take)
        self.waiting[alive] = False  # (any scan is a baseline for new lesions)
        self.scan_day[alive] = t
        self.seen[distant] = True
        self.baseline[alive] = True
        return progressed

    def _measure(self, covered: BoolArray) -> tuple[FloatArray, BoolArray, BoolArray]:
        """What a measuring examination imaged of each patient's targets.

        (patients,) the sum of their diameters (NaN: none imaged), whether it imaged
        any, and whether it imaged every one.
        """
        chosen = self.targets >= 0
        safe = np.maximum(self.targets, 0)
        imaged = chosen & covered[self.x.organ[safe]]
        total = np.where(imaged, self.diameter[safe], 0.0).sum(axis=1)
        some = np.asarray(imaged.any(axis=1), dtype=bool)
        every = some & np.asarray((imaged == chosen).all(axis=1), dtype=bool)
        measured: FloatArray = np.where(some, total, np.nan)
        return measured, some, every

    def _take_targets(self, patients: IntArray) -> None:
        """The candidate targets of the last measuring scan, and their sum the nadir."""
        candidates = self.candidates[patients]
        self.chosen[patients] = True
        self.targets[patients] = candidates
        self.nadir[patients] = np.where((candidates >= 0).any(axis=1),
                                        self.candidate_sum[patients], np.inf)

    def new_baseline(self, patients: IntArray, t: float) -> None:
        """A new line's baseline for ``patients``, starting at ``t`` (``Recist.new_line``).

        The scans up to ``t`` if the last is at most ``BASELINE_WINDOW_DAYS`` before it,
        the targets those of the last measuring scan in that window (none in it: chosen
        at the next measuring scan that finds a measurable lesion); otherwise the patient
        waits for the next scan.
        """
        self.progressed[patients] = False
        self.chosen[patients] = False
        self.targets[patients] = -1
        self.nadir[patients] = np.inf
        since = t - BASELINE_WINDOW_DAYS
        self._take_targets(patients[self.measured_day[patients] >= since])  # (NaN: none)
        scanned = self.scan_day[patients] >= since
        self.waiting[patients] = ~scanned
        self.baseline[patients] = scanned

    def _choose_candidates(self, patients: IntArray, gauged: IntArray) -> None:
        """Up to 5 targets of >= 10 mm, at most 2 per organ, largest first (``targets``).

        Each patient's candidates among the distant lesions a measuring examination
        found (``gauged``), and the sum of their diameters.
        """
        x = self.x
        self.candidates[patients] = -1
        self.candidate_sum[patients] = 0.0
        mask = np.zeros(x.n_patients, dtype=bool)
        mask[patients] = True
        ids = gauged[mask[x.pat[gauged]]]
        ids = ids[self.diameter[ids] >= TARGET_MIN_MM]
        if ids.size == 0:
            return
        pat, organ = x.pat[ids], x.organ[ids]
        order = np.lexsort((ids, -self.diameter[ids], pat))  # largest first, then id
        ids, pat, organ = ids[order], pat[order], organ[order]
        by_organ = np.lexsort((np.arange(ids.size), organ, pat))
        rank = np.empty(ids.size, dtype=np.int64)
        rank[by_organ] = _rank_in_runs(pat[by_organ] * (len(x.organs) + 1) + organ[by_organ])
        keep = rank < MAX_TARGETS_PER_ORGAN
        ids, pat = ids[keep], pat[keep]
        rank = _rank_in_runs(pat)
        keep = rank < MAX_TARGETS
        self.candidates[pat[keep], rank[keep]] = ids[keep]
        some = np.unique(pat[keep])
        chosen = self.candidates[some]
        self.candidate_sum[some] = np.where(
            chosen >= 0, self.diameter[np.maximum(chosen, 0)], 0.0).sum(axis=1)


def _rank_in_runs(keys: IntArray) -> IntArray:
    """Position of each element within its run of equal ``keys`` (sorted by key)."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[True, keys[1:] != keys[:-1]]
    index = np.arange(n, dtype=np.int64)
    return index - np.maximum.accumulate(np.where(start, index, 0))
