"""Therapy rules for a batch of patients: which lines start, switch and stop.

The batched form of :class:`~metacascade.clinic._course_rules.Rules`, for
:func:`~metacascade.clinic.batch.follow_batch`: :class:`Rules` holds each patient's
running and next line and the reasons lines ended, stops lines (with their ``therapy``
rows) and says who starts a line. Starting one also meets the lesions (resistant
shares, the eradication schedule, a RECIST baseline), which ``_Batch._start`` of
:mod:`~metacascade.clinic.batch` does around :meth:`Rules.started`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.clinic._lesions import Lesions
from metacascade.clinic._rows import Rows
from metacascade.scenario import Therapy

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class Rules:
    """Each patient's therapy lines: the running one (-1: none), the next, the end reasons.

    The line days themselves are the lesions' (``line_start``, ``line_end``), which
    their survival factors read.
    """

    def __init__(self, lesions: Lesions, plan: Therapy | None, rows: Rows) -> None:
        self.x, self.plan, self.rows = lesions, plan, rows
        n_p = lesions.n_patients
        #: No line will start again (stopped, or no line left to switch to).
        self.over = np.zeros(n_p, dtype=bool)
        self.active = np.full(n_p, -1, dtype=np.int64)
        self.next_line = np.zeros(n_p, dtype=np.int64)
        self.end_reason = np.full((n_p, max(lesions.n_lines, 1)), "", dtype=object)
        #: Counts the changes of ``active`` and ``next_line`` (for what is computed from them).
        self.version = 0

    def apply(self, t: float, alive: BoolArray, m1: BoolArray, progressed: BoolArray,
              unfavourable: BoolArray) -> IntArray:
        """Stop and switch lines at ``t`` (``Rules.apply``); the patients to start one.

        ``m1`` the patients staged M1, ``progressed`` those who progressed at ``t``,
        ``unfavourable`` those whose arm-vein CTC count, per 7.5 mL, reached the cut-off.
        """
        plan = self.plan
        assert plan is not None
        ready = alive & ~self.over
        idle = ready & (self.active < 0)
        start = idle & (((plan.start_day is not None) and t >= plan.start_day)
                        | (plan.start_at_m1 & m1))
        running = np.nonzero(ready & (self.active >= 0))[0]
        if plan.stop_day is not None and t >= plan.stop_day:
            # No line starts on or after the stop day, and the running ones stop.
            self.over[idle] = True
            start[:] = False
            self.stop(running, t, "stop_day")
            self.over[running] = True
            running = running[:0]
        started = self.x.line_start[running, self.active[running]]
        events = {"progression": progressed[running],
                  "ctc_unfavourable": unfavourable[running]
                  & (t - started >= 7.0 * plan.ctc_followup_weeks)}
        switch = _first_event(events, plan.switch_on)
        stop = _first_event(events, plan.stop_on)
        switching = switch != ""
        self.stop(running[switching], t, switch[switching])
        more = self.next_line[running[switching]] < self.x.n_lines
        self.over[running[switching][~more]] = True
        stopping = ~switching & (stop != "")
        self.stop(running[stopping], t, stop[stopping])
        self.over[running[stopping]] = True
        return np.union1d(np.nonzero(start)[0], running[switching][more])

    def stop(self, patients: IntArray, t: float, reason: Any) -> None:
        """End the running line of ``patients`` at ``t`` for ``reason`` (one or each)."""
        if patients.size == 0:
            return
        x = self.x
        line = self.active[patients]
        x.line_end[patients, line] = t
        self.end_reason[patients, line] = reason
        names = np.asarray(x.line_names, dtype=object)[line]
        label = np.array([f"stop:{n}:{r}" for n, r in
                          zip(names, np.broadcast_to(np.asarray(reason, dtype=object),
                                                     patients.shape), strict=True)],
                         dtype=object)
        self.rows.add(patients, t, "therapy", label, "", -1, (line + 1).astype(float))
        self.active[patients] = -1
        self.version += 1

    def started(self, patients: IntArray, t: float) -> None:
        """Record that ``patients`` started their next line at ``t``: it runs now."""
        line = self.next_line[patients]
        names = np.asarray(self.x.line_names, dtype=object)[line]
        label = np.array([f"start:{n}" for n in names], dtype=object)
        self.rows.add(patients, t, "therapy", label, "", -1, (line + 1).astype(float))
        self.active[patients] = line
        self.next_line[patients] += 1
        self.version += 1

    def died(self, patient: int, day: float) -> None:
        """A patient died on ``day``: its running line, if any, ends then."""
        line = self.active[patient]
        if line >= 0:
            self.x.line_end[patient, line] = day
            self.end_reason[patient, line] = "death"
            self.active[patient] = -1
            self.version += 1


def _first_event(events: dict[str, BoolArray], allowed: Sequence[str],
                 ) -> NDArray[np.object_]:
    """Per patient, the first event (in ``events`` order) that is ``allowed``, else ``""``."""
    n = len(next(iter(events.values())))
    out = np.full(n, "", dtype=object)
    for name in reversed(list(events)):
        if name in allowed:
            out[events[name]] = name
    return out
