"""Reports: one self-contained HTML page per simulation or cohort directory.

``metacascade report RUN_DIR`` (and :func:`write_report`) reads what ``metacascade
simulate`` or ``metacascade cohort`` wrote and writes ``report.html``: the scenario in
words, the numbers and figures of the run, redrawn from its data files with
:mod:`metacascade.plots`, and the source of every parameter. Figures are embedded as
PNG images and the style sheet is inline, so the file opens anywhere, offline.

For one patient: the scenario in words, the cascade funnel, the body map, the seeding
tree, CTC counts over time, imaging findings, stage and survival, citations. For a
cohort: the population in words, cohort size and headline numbers, Kaplan-Meier curves,
organ involvement against the autopsy table, citations. Each section has an ``id``
(:data:`RUN_SECTIONS`, :data:`COHORT_SECTIONS`; a run without scans or blood draws has
one section saying so in place of the CTC and imaging ones:
:data:`RUN_SECTIONS_WITHOUT_CLINIC`).
"""

from metacascade.report.build import REPORT_FILE, report_html, run_kind, write_report
from metacascade.report.errors import ReportError

#: Section ids of a single run's report, in order.
RUN_SECTIONS = ("scenario", "funnel", "body-map", "seeding-tree", "ctc", "imaging",
                "stage-survival", "citations")
#: Section ids of the report of a run whose clinic schedules no scans or blood draws
#: (or that has none): one ``clinic`` section says so in place of ``ctc`` and ``imaging``.
RUN_SECTIONS_WITHOUT_CLINIC = ("scenario", "funnel", "body-map", "seeding-tree", "clinic",
                               "stage-survival", "citations")
#: Section ids of a cohort's report, in order.
COHORT_SECTIONS = ("scenario", "cohort-summary", "survival", "organs", "citations")

__all__ = [
    "COHORT_SECTIONS",
    "REPORT_FILE",
    "RUN_SECTIONS",
    "RUN_SECTIONS_WITHOUT_CLINIC",
    "ReportError",
    "report_html",
    "run_kind",
    "write_report",
]
