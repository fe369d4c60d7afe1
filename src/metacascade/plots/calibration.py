"""Figures of a calibration: observed vs simulated organ involvement per primary."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from metacascade.plots._axes import require_axes


def plot_fit(organs: pd.DataFrame, cancer: str, ax: Axes | None = None) -> Axes:
    """Observed share per organ (bars) against the fits (points, 90 % predictive band).

    Parameters
    ----------
    organs
        ``calibration.json``'s ``organs`` table: ``cancer``, ``organ``, ``observed``,
        ``flow``, ``soil``, ``soil_q05``, ``soil_q95`` and optionally ``engine``.
    cancer
        The primary to draw.
    ax
        Axes to draw on (a new figure's if None).

    """
    ax = Figure(figsize=(5, 3)).add_subplot() if ax is None else require_axes(ax)
    rows = organs[organs["cancer"] == cancer]
    x = np.arange(len(rows))
    ax.bar(x, rows["observed"], color="0.8", label="autopsies (diSibio 2008)")
    low = rows["soil"] - rows["soil_q05"]
    high = rows["soil_q95"] - rows["soil"]
    ax.errorbar(x, rows["soil"], yerr=[low.clip(lower=0), high.clip(lower=0)], fmt="o",
                color="tab:red", ms=4, capsize=2, label="flow + soil (90 % predictive)")
    ax.plot(x, rows["flow"], "x", color="tab:blue", label="flow alone")
    if "engine" in rows and rows["engine"].notna().any():
        ax.plot(x, rows["engine"], "_", color="black", ms=9, label="engine at the fit")
    ax.set_xticks(x, [str(o) for o in rows["organ"]], rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of patients")
    ax.set_title(cancer, fontsize=9)
    return ax


def fit_figure(report: dict[str, Any]) -> Figure:
    """One panel per primary (:func:`plot_fit`), with Spearman's rho in each title."""
    organs = pd.DataFrame(report["organs"])
    per = {p["cancer"]: p for p in report["per_primary"]}
    cancers = list(dict.fromkeys(organs["cancer"]))
    cols = 3
    rows = math.ceil(len(cancers) / cols)
    figure = Figure(figsize=(4.2 * cols, 3.2 * rows))
    axes = figure.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(cancers):
            ax.set_visible(False)
            continue
        cancer = cancers[k]
        plot_fit(organs, cancer, ax)
        rho = per[cancer]["spearman_soil"]
        ax.set_title(f"{cancer}: Spearman {rho:.2f} (flow alone "
                     f"{per[cancer]['spearman_flow']:.2f})", fontsize=9)
        if k:
            ax.set_ylabel("")
    axes.flat[0].legend(fontsize=6, loc="upper right")
    figure.tight_layout()
    return figure
