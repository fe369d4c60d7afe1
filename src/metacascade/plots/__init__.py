"""Figures: functions that draw on an Axes (``ax=``, by default the current one) and return it.

They read a Result, a clinical course or a run directory's tables and never run the
model (:func:`plot_fates_figure` makes a Figure of its own); a cohort's figures are in
:mod:`metacascade.plots.cohort`. An organ has one colour in every figure
(:func:`organ_colour`). They import pyplot only when no ``ax`` is given,
so they work under any backend (the CLI uses Agg); an ``ax`` that is not an Axes (a
Figure, an array of Axes) is refused, naming it, before anything is drawn.
"""

from metacascade.plots.clinic import ORGAN_POSITIONS, plot_body, plot_ctc
from metacascade.plots.colours import ORGAN_COLOURS, organ_colour
from metacascade.plots.fates import (
    FATE_STEPS,
    fate_counts,
    fate_counts_by_organ,
    funnel_counts,
    funnel_counts_by_organ,
    plot_fates,
    plot_fates_by_organ,
    plot_fates_figure,
)
from metacascade.plots.seeding import plot_seeding_tree

__all__ = [
    "FATE_STEPS",
    "ORGAN_COLOURS",
    "ORGAN_POSITIONS",
    "fate_counts",
    "fate_counts_by_organ",
    "funnel_counts",
    "funnel_counts_by_organ",
    "organ_colour",
    "plot_body",
    "plot_ctc",
    "plot_fates",
    "plot_fates_by_organ",
    "plot_fates_figure",
    "plot_seeding_tree",
]
