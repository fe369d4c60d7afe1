"""Figures: functions that take an Axes (or make one), draw a Result, and return it.

They read results and never run the model; they import matplotlib's object API only,
so they work under any backend (the CLI uses Agg).
"""

from metacascade.plots.clinic import ORGAN_POSITIONS, plot_body, plot_ctc
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
    "ORGAN_POSITIONS",
    "fate_counts",
    "fate_counts_by_organ",
    "funnel_counts",
    "funnel_counts_by_organ",
    "plot_body",
    "plot_ctc",
    "plot_fates",
    "plot_fates_by_organ",
    "plot_fates_figure",
    "plot_seeding_tree",
]
