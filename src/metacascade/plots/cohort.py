"""Figures for a virtual cohort: survival by baseline CTC group, organs at autopsy.

:func:`plot_survival` draws Kaplan-Meier curves of overall or progression-free survival
for the favourable and unfavourable baseline CTC groups
(:func:`metacascade.analysis.survival.kaplan_meier`), with the numbers at risk under the
axis (lifelines' ``add_at_risk_counts``), as trial reports do.

:func:`plot_organs` draws, per organ, the share of simulated patients with the organ
involved at death beside the share in the diSibio & French 2008 autopsy series, from a
table :func:`metacascade.analysis.autopsy.involvement` made. Neither runs the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metacascade.analysis.survival import (
    CONFIDENCE,
    CTC_GROUPS,
    ENDPOINTS,
    Endpoint,
    check_confidence,
    check_endpoint,
    kaplan_meier,
)
from metacascade.errors import MetacascadeError
from metacascade.plots._axes import axes_or_current
from metacascade.plots.clinic import DAYS_PER_MONTH, require_frame

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_ENDPOINT_NAMES = {"os": "overall survival", "pfs": "progression-free survival"}
_GROUP_COLOURS = {CTC_GROUPS[0]: "#4c72b0", CTC_GROUPS[1]: "#c0392b"}
_SIMULATED, _AUTOPSY = "#4c72b0", "0.65"


def plot_survival(patients: pd.DataFrame, endpoint: Endpoint = "os", *,
                  ax: Axes | None = None, title: str | None = None,
                  confidence: float = CONFIDENCE) -> Axes:
    """Draw Kaplan-Meier curves of an endpoint per baseline CTC group, with numbers at risk.

    Curves carry their pointwise band (95 % unless ``confidence`` says otherwise) and a
    tick at each censoring; time is in months (of
    :data:`~metacascade.plots.clinic.DAYS_PER_MONTH` days) from the origin.

    Parameters
    ----------
    patients
        A cohort's patients table; patients not enrolled or without a baseline CTC
        count are left out (:func:`metacascade.analysis.survival.ctc_groups`). A table
        with none left gives an empty plot with a note.
    endpoint
        ``"os"`` (overall survival) or ``"pfs"`` (progression-free survival).
    ax
        Axes to draw on; by default the current Axes of :mod:`matplotlib.pyplot`. The
        at-risk table goes in a twin Axes below it, so leave room (``tight_layout``).
    title
        Title of the Axes; by default the endpoint's name.
    confidence
        Two-sided level of the bands, strictly between 0 and 1 (default 0.95).

    Returns
    -------
    Axes
        The Axes drawn on.

    """
    check_endpoint(endpoint)
    check_confidence(confidence)
    from lifelines.plotting import add_at_risk_counts

    require_frame(patients, "patients")
    duration, event = ENDPOINTS[endpoint]
    missing = [c for c in ("enrolled", "baseline_ctc", "ctc_cutoff", duration, event)
               if c not in patients.columns]
    if missing:
        raise MetacascadeError(f"patients table lacks column(s) {', '.join(missing)}")
    ax = axes_or_current(ax)
    in_months = patients.assign(**{duration: patients[duration] / DAYS_PER_MONTH})
    fits = kaplan_meier(in_months, endpoint, confidence=confidence)
    for group, fitter in fits.items():
        fitter.plot_survival_function(ax=ax, ci_show=True, show_censors=True,
                                      censor_styles={"ms": 4, "marker": "|"},
                                      color=_GROUP_COLOURS.get(group), linewidth=1.4,
                                      label=f"{group} (n={len(fitter.durations)})")
    if fits:
        add_at_risk_counts(*fits.values(), ax=ax, fig=ax.figure, rows_to_show=["At risk"],
                           labels=list(fits))
        ax.legend(loc="best", fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no enrolled patient with a baseline CTC count",
                transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlim(left=0.0)
    ax.set_xlabel(f"time from origin (months of {DAYS_PER_MONTH} days)")
    ax.set_ylabel("probability " + ("alive" if endpoint == "os" else "alive, no progression"))
    ax.set_title(_ENDPOINT_NAMES[endpoint] if title is None else title)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_organs(table: pd.DataFrame, *, ax: Axes | None = None,
                title: str | None = None) -> Axes:
    """Draw simulated and autopsy shares of patients with each organ involved.

    Grouped horizontal bars, one pair per organ in the table's order: the simulated
    share (blue) and the diSibio & French 2008 share (grey), each labelled with its
    count and denominator. The organ holding the primary is marked "(primary)", any
    other organ the calibration did not fit to the paper's share (``calibration_target``
    false) "(not fitted)" when the paper's share is drawn.

    Parameters
    ----------
    table
        Rows of one cancer from :func:`metacascade.analysis.autopsy.involvement`
        (``cancer``, ``organ``, ``basis``, ``share``, ``n_involved``, ``n_patients``,
        ``disibio_share``, ``disibio_count``, ``disibio_n``, ``primary_site``; and
        ``calibration_target``, if present). Without a diSibio row (missing shares)
        only the simulated bars are drawn.
    ax
        Axes to draw on; by default the current Axes of :mod:`matplotlib.pyplot`.
    title
        Title of the Axes; by default the cancer, the basis and the counted patients.

    Returns
    -------
    Axes
        The Axes drawn on.

    """
    needed = ("cancer", "organ", "basis", "share", "n_involved", "n_patients",
              "disibio_share", "disibio_count", "disibio_n", "primary_site")
    require_frame(table, "table")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise MetacascadeError(f"involvement table lacks column(s) {', '.join(missing)}")
    if table["cancer"].nunique() > 1:
        raise MetacascadeError("plot_organs draws one cancer; select its rows first "
                               f"(table has {sorted(table['cancer'].unique())})")
    ax = axes_or_current(ax)
    y = np.arange(len(table))[::-1].astype(float)
    height = 0.38
    simulated = table["share"].to_numpy(dtype=float)
    autopsy = table["disibio_share"].to_numpy(dtype=float)
    ax.barh(y + height / 2, np.nan_to_num(simulated), height, color=_SIMULATED,
            label="simulated")
    has_reference = bool(np.isfinite(autopsy).any())
    if has_reference:
        ax.barh(y - height / 2, np.nan_to_num(autopsy), height, color=_AUTOPSY,
                label="diSibio & French 2008")
    for row, yi in zip(table.itertuples(index=False), y, strict=True):
        _bar_label(ax, yi + height / 2, row.share, row.n_involved, row.n_patients)
        if has_reference:
            _bar_label(ax, yi - height / 2, row.disibio_share, row.disibio_count,
                       row.disibio_n)
    fitted = (table["calibration_target"].to_numpy(dtype=bool)
              if "calibration_target" in table.columns and has_reference
              else np.ones(len(table), dtype=bool))  # (nothing compared: nothing marked)
    names = [organ_label(o, p, f) for o, p, f in zip(table["organ"], table["primary_site"],
                                                      fitted, strict=True)]
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0.0, 1.15)
    ax.set_xlabel("share of patients with the organ involved")
    if table.empty:
        ax.text(0.5, 0.5, "no patients", transform=ax.transAxes, ha="center",
                va="center", color="0.4")
    ax.set_title(_organs_title(table) if title is None else title)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def organ_label(organ: Any, primary_site: Any, calibration_target: Any) -> str:
    """An organ's name as the organ figures and tables show it.

    Marked "(primary)" if it holds the primary, else "(not fitted)" if the calibration
    did not fit the cancer's soil there to the autopsy share (``calibration_target``
    false).
    """
    if bool(primary_site):
        return f"{organ} (primary)"
    return str(organ) if bool(calibration_target) else f"{organ} (not fitted)"


def _bar_label(ax: Axes, y: float, share: Any, count: Any, n: Any) -> None:
    if pd.isna(share):
        return
    ax.text(float(share) + 0.01, y, f"{int(count)}/{int(n)}", va="center", fontsize=6,
            color="0.3")


def _organs_title(table: pd.DataFrame) -> str:
    if table.empty:
        return "organs involved"
    first = table.iloc[0]
    basis = "at death" if first["basis"] == "death" else "at end of follow-up"
    n = int(table["n_patients"].max())  # (an organ of one sex counts fewer)
    return f"{first['cancer']}: organs involved {basis} (n={n})"
