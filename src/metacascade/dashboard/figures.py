"""The dashboard's figures as PNG bytes, drawn by :mod:`metacascade.plots`.

Each figure is a :class:`matplotlib.figure.Figure` (no pyplot, so no global state and
no display), drawn by the library's plot functions and saved to PNG. The app renders in
a worker thread and in the server's thread; :data:`_LOCK` keeps two renders from
running at once, since matplotlib's font and text caches are shared.
"""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING

from metacascade.dashboard.runs import (
    BODY_MIN_DIAMETER_MM,
    CohortRun,
    PatientRun,
    day_label,
    lesions_at,
)
from metacascade.errors import MetacascadeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of the PNGs, dots per inch.
DPI = 80
_LOCK = threading.Lock()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def funnel_png(run: PatientRun) -> bytes:
    """The cascade funnel and the organs of each step (:func:`plot_fates_figure`)."""
    from metacascade.plots.fates import plot_fates_figure

    with _LOCK:
        return _png(plot_fates_figure(run.result))


def ctc_png(run: PatientRun) -> bytes:
    """CTC counts per 7.5 mL over time, with the cut-off and the therapy lines."""
    from matplotlib.figure import Figure

    from metacascade.plots.clinic import plot_ctc

    course = run.course
    with _LOCK:
        figure = Figure(figsize=(8.0, 4.2), layout="constrained")
        plot_ctc(course.draws()[["time_days", "count", "volume_ml", "site"]],
                 cutoff=course.cutoff,
                 therapy=course.therapy_spans(), ax=figure.subplots(),
                 title=f"CTC per 7.5 mL, {run.scenario.cancer}", follow_up_days=run.end_day)
        return _png(figure)


def body_png(run: PatientRun, day: float) -> bytes:
    """The body map at ``day``: every lesion of at least 0.2 mm then, found or occult."""
    from matplotlib.figure import Figure

    from metacascade.plots.clinic import plot_body

    body, cancer = run.scenario.resolve()
    lesions = lesions_at(run, day)
    title = (f"{day_label(day)}: {len(lesions):,} lesions >= {BODY_MIN_DIAMETER_MM:g} mm, "
             f"{int(lesions['detected'].sum()):,} found")
    with _LOCK:
        figure = Figure(figsize=(6.0, 7.4), layout="constrained")
        plot_body(lesions, primary_organ=cancer.primary_organ,
                  sex="female" if body.sex == "female" else "male", ax=figure.subplots(),
                  title=title, primary_removed=run.scenario.primary_removed_by(day))
        return _png(figure)


def survival_png(run: CohortRun) -> bytes:
    """Kaplan-Meier overall and progression-free survival per baseline CTC group."""
    from matplotlib.figure import Figure

    from metacascade.plots.cohort import plot_survival

    try:
        import lifelines  # noqa: F401
    except ImportError:
        raise MetacascadeError("cohort survival curves need lifelines: install "
                               "metacascade[dashboard]") from None

    with _LOCK:
        figure = Figure(figsize=(11.0, 4.8))
        left, right = figure.subplots(1, 2)
        plot_survival(run.patients, "os", ax=left)
        plot_survival(run.patients, "pfs", ax=right)
        figure.tight_layout()  # makes room for the at-risk tables under the axes
        return _png(figure)
