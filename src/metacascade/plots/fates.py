"""The metastatic cascade as a funnel: how many cells reach each step, and where.

The steps, read from a :class:`~metacascade.engine.result.Result`'s ledger at the
horizon (or the day it is counted to: ``Result.counted_to_day``); :data:`STEP_NOTES`
says each in a sentence, for readers of a report:

========================  ===========================================================
shed                      cells that left the primary and the vascularised colonies
arrested                  cells that stopped in a capillary bed
extravasated              arrested cells that crossed the vessel wall
                          (``arrested - failed_extravasation``)
dormant now               extravasated cells still dormant at the horizon (a branch)
divided                   cells that started dividing, at once or after waking
                          (``colonies_founded + colonies_extinct``)
colonies founded          lineages that escaped extinction
vascularised              colonies past their angiogenic switch
macrometastases           colonies at least the macrometastasis diameter
========================  ===========================================================

Every step after ``shed`` is also known per organ; :func:`plot_fates_by_organ` shows
which organs hold each step's cells. :func:`funnel_counts` and
:func:`funnel_counts_by_organ` compute the same counts from the ledgers a run directory's
``summary.json`` holds, so a figure can be redrawn without the :class:`Result`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metacascade._checks import is_number, whole_number
from metacascade.errors import MetacascadeError
from metacascade.plots._axes import axes_or_current
from metacascade.plots.clinic import require_frame
from metacascade.plots.colours import OTHER_COLOUR, organ_colour
from metacascade.units import years_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metacascade.engine.result import Result

#: The funnel's steps, from shedding to macrometastasis.
FATE_STEPS = (
    "shed", "arrested", "extravasated", "dormant now", "divided", "colonies founded",
    "vascularised", "macrometastases",
)
#: Steps that branch off the main line (drawn lighter, not a share of the step above).
_BRANCHES = ("dormant now",)
#: Each step in one sentence, for a reader who does not know the model (the report's
#: funnel table shows them).
STEP_NOTES: dict[str, str] = {
    "shed": "Cells that left the primary (and the vascularised metastases) for the blood.",
    "arrested": "Shed cells that stopped in a capillary bed; the others died in the blood.",
    "extravasated": "Arrested cells that crossed the vessel wall into the organ.",
    "dormant now": "Extravasated cells still dormant, neither dividing nor dead, on the "
                   "last day counted: a side branch, not a step toward a colony, so it "
                   "has no share (they may still wake and divide).",
    "divided": "Extravasated cells that started dividing, at once or after waking: the "
               "colonies founded plus the lineages that died out (colonies_extinct in "
               "summary.json).",
    "colonies founded": "Dividing cells whose lineage escaped extinction; the lineages "
                        "that died out (colonies_extinct) are not counted here.",
    "vascularised": "Colonies past their angiogenic switch, which grow beyond the "
                    "avascular limit and shed cells of their own.",
    "macrometastases": "Colonies at least the macrometastasis diameter across (2 mm by "
                       "default).",
}
#: Each main step's share is of the first of these steps that holds at least as many
#: (and some): every step's cells are among those of the steps named. Macrometastases
#: are vascularised colonies unless the macrometastasis diameter is below the avascular
#: limit's, so their share falls back to the colonies founded.
SHARE_OF: dict[str, tuple[str, ...]] = {
    "arrested": ("shed",), "extravasated": ("arrested",), "divided": ("extravasated",),
    "colonies founded": ("divided",), "vascularised": ("colonies founded",),
    "macrometastases": ("vascularised", "colonies founded"),
}
_MAIN_COLOUR, _BRANCH_COLOUR = "#4c72b0", "#a6bddb"


def funnel_counts(ledger: Mapping[str, int], macrometastases: int) -> dict[str, int]:
    """Cells (or colonies) reaching each step of :data:`FATE_STEPS`, from a ledger.

    Parameters
    ----------
    ledger
        The whole-body ledger at the horizon (:attr:`Result.final
        <metacascade.engine.result.Result.final>`, or ``ledger`` in ``summary.json``).
    macrometastases
        Colonies at least the macrometastasis diameter at the horizon.

    Returns
    -------
    dict of str to int
        Count per step, in the order of :data:`FATE_STEPS`.

    Raises
    ------
    MetacascadeError
        ``ledger`` lacks an entry, or an entry of it or ``macrometastases`` is not a
        count (a whole number >= 0).
    TypeError
        ``ledger`` is not a mapping.

    """
    if not isinstance(ledger, Mapping | pd.Series):
        raise TypeError(f"ledger: expected a mapping of ledger entries to counts "
                        f"(Result.final, or ledger in summary.json), not "
                        f"{type(ledger).__name__}")
    _require_keys(ledger, _LEDGER_KEYS, "ledger")
    n = {key: _whole_count(ledger[key], f"ledger[{key!r}]") for key in _LEDGER_KEYS}
    return {"shed": n["shed"], **_after_shedding(n),
            "macrometastases": _whole_count(macrometastases, "macrometastases")}


def _after_shedding(ledger: Any) -> dict[str, Any]:
    """The steps from arrest to vascularised, from ledger entries (counts or columns)."""
    return {
        "arrested": ledger["arrested"],
        "extravasated": ledger["arrested"] - ledger["failed_extravasation"],
        "dormant now": ledger["dormant_now"],
        "divided": ledger["colonies_founded"] + ledger["colonies_extinct"],
        "colonies founded": ledger["colonies_founded"],
        "vascularised": ledger["colonies_vascularised"],
    }


def funnel_shares(counts: Mapping[str, float]) -> dict[str, tuple[float, str] | None]:
    """Each step's share of the step that holds its cells (:data:`SHARE_OF`).

    ``(share, step)`` per step of ``counts``; None for ``shed``, the branch ``dormant
    now`` and a step whose candidates hold no cells. A share is never above 1.
    """
    shares: dict[str, tuple[float, str] | None] = {}
    for step, value in counts.items():
        shares[step] = None
        for of in SHARE_OF.get(step, ()):
            if of in counts and counts[of] > 0 and value <= counts[of]:
                shares[step] = (value / counts[of], of)
                break
    return shares


def fate_counts(result: Result) -> dict[str, int]:
    """Cells (or colonies) reaching each step of :data:`FATE_STEPS`.

    By the horizon, or by :attr:`Result.counted_to_day
    <metacascade.engine.result.Result.counted_to_day>` for a history ended at the
    colony limit.
    """
    result = _result(result)
    return funnel_counts(result.final, len(result.macrometastases()))


def funnel_counts_by_organ(ledger_by_organ: pd.DataFrame,
                           macrometastases_by_organ: Mapping[str, int]) -> pd.DataFrame:
    """Per organ (rows), the counts of every step after ``shed`` (columns).

    Parameters
    ----------
    ledger_by_organ
        The per-organ ledger at the horizon: one row per organ (the index), the columns
        of :data:`~metacascade.engine.result.ORGAN_FIELDS` (``ledger_by_organ`` of
        ``summary.json`` as a table).
    macrometastases_by_organ
        Organ -> macrometastases at the horizon (organs left out have none).

    Returns
    -------
    pandas.DataFrame
        One row per organ of ``ledger_by_organ``, one integer column per step.

    """
    require_frame(ledger_by_organ, "ledger_by_organ")
    _require_keys(ledger_by_organ.columns, _LEDGER_KEYS[1:], "ledger_by_organ")
    macro = pd.Series(dict(macrometastases_by_organ), dtype="int64")
    table = pd.DataFrame(_after_shedding(ledger_by_organ))
    table["macrometastases"] = macro.reindex(table.index, fill_value=0)
    return table.astype("int64")


def fate_counts_by_organ(result: Result) -> pd.DataFrame:
    """Per organ (rows), the counts of every step after ``shed`` (columns)."""
    ledger = _result(result).ledger_by_organ
    last = ledger[ledger["time_days"] == ledger["time_days"].max()].set_index("organ")
    macro = result.macrometastases().groupby("organ").size()
    return funnel_counts_by_organ(last, {str(k): int(v) for k, v in macro.items()})


def plot_fates(result: Result | Mapping[str, int], ax: Axes | None = None, *,
               title: str | None = None) -> Axes:
    """Draw the cascade funnel: one horizontal bar per step, on a log scale.

    Each bar is labelled with its count and, for a step on the main line, its share of
    the step above that holds its cells (:func:`funnel_shares`). The ``dormant now`` bar
    is a branch (lighter).

    Parameters
    ----------
    result
        A simulated patient, or its counts per step (:func:`funnel_counts`, e.g. from a
        run directory's ``summary.json``).
    ax
        Axes to draw on; by default the current Axes of :mod:`matplotlib.pyplot`.
    title
        Title of the Axes; by default "cell fates by the horizon" (by the day counted
        to, for a :class:`Result` whose history was ended at the colony limit).

    Returns
    -------
    Axes
        The Axes drawn on.

    """
    if isinstance(result, Mapping):
        counts = dict(result)
    else:
        result = _result(result, " or its counts per step")
        counts = fate_counts(result)
        if title is None and not math.isinf(result.history_end_day):
            title = f"cell fates by day {result.counted_to_day:g}"
    _require_keys(counts, FATE_STEPS, "counts per step")
    _require_counts(((repr(s), counts[s]) for s in FATE_STEPS), "counts per step")
    ax = axes_or_current(ax)
    y = np.arange(len(FATE_STEPS))
    values = np.array([counts[s] for s in FATE_STEPS], dtype=float)
    colours = [_BRANCH_COLOUR if s in _BRANCHES else _MAIN_COLOUR for s in FATE_STEPS]
    shown = values > 0
    ax.barh(y[shown], values[shown], color=np.array(colours)[shown], log=True, height=0.7)
    top = max(values.max(initial=1.0), 10.0)
    ax.set_xlim(0.5, top * 10 ** max(1.5, 0.25 * math.log10(top)))
    shares = funnel_shares({s: counts[s] for s in FATE_STEPS})
    for i, step in enumerate(FATE_STEPS):
        value = values[i]
        label = _count(value)
        share = shares[step]
        if share is not None:
            label += f"  ({_percent(share[0])} of {share[1]})"
        ax.text(max(value, 0.5) * 1.4, y[i], label, va="center", fontsize=8)
    ax.set_yticks(y, FATE_STEPS)
    ax.set_ylim(len(FATE_STEPS) - 0.5, -0.5)
    ax.set_xlabel("cells (colonies from 'colonies founded' on), log scale")
    ax.set_title("cell fates by the horizon" if title is None else title)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_fates_by_organ(result: Result | pd.DataFrame, ax: Axes | None = None, *,
                        top: int = 5) -> Axes:
    """Draw which organs hold each step's cells: one 100% stacked bar per step.

    The ``top`` organs with the largest share in any step are drawn on their own, each
    in its colour in every figure (:func:`~metacascade.plots.colours.organ_colour`); the
    rest are pooled as "other". The ``shed`` row is left empty (shed cells are in the
    blood, not in an organ), so the rows line up with :func:`plot_fates`.

    Parameters
    ----------
    result
        A simulated patient, or its counts per organ and step
        (:func:`funnel_counts_by_organ`).
    ax
        Axes to draw on; by default the current Axes of :mod:`matplotlib.pyplot`.
    top
        Number of organs drawn on their own.

    Returns
    -------
    Axes
        The Axes drawn on.

    """
    top = whole_number(top, "top", low=0)
    table = (result if isinstance(result, pd.DataFrame)
             else fate_counts_by_organ(_result(result, " or its counts per organ")))
    unknown = [str(c) for c in table.columns if c not in FATE_STEPS]
    if unknown:
        raise MetacascadeError(f"counts per organ: unknown step column(s) "
                               f"{', '.join(unknown)}; allowed: {', '.join(FATE_STEPS[1:])}")
    _require_counts(((f"{step!r} in {organ!r}", value) for step in table.columns
                     for organ, value in table[step].items()), "counts per organ")
    ax = axes_or_current(ax)
    totals = table.sum(axis=0)
    shares = table.div(totals.where(totals > 0, 1), axis=1)
    best = shares.max(axis=1).sort_values(ascending=False, kind="stable")
    organs = [o for o in best.index[:top] if best[o] > 0]
    steps = list(table.columns)
    y = np.array([FATE_STEPS.index(s) for s in steps])
    left = np.zeros(len(steps))
    for organ in organs:
        width = shares.loc[organ, steps].to_numpy(dtype=float)
        ax.barh(y, width, left=left, height=0.7, color=organ_colour(str(organ)), label=organ)
        left += width
    other = np.where(totals[steps].to_numpy() > 0, 1.0 - left, 0.0)
    pooled = bool((other > 1e-12).any())
    if pooled:
        ax.barh(y, other, left=left, height=0.7, color=OTHER_COLOUR, label="other")
    for yi, step in zip(y, steps, strict=True):
        if totals[step] == 0:
            ax.text(0.02, yi, "none", va="center", fontsize=8, color="0.4")
    ax.text(0.02, FATE_STEPS.index("shed"), "in blood: no organ", va="center", fontsize=8,
            color="0.4")
    ax.set_xlim(0, 1)
    ax.set_ylim(len(FATE_STEPS) - 0.5, -0.5)
    ax.set_yticks(np.arange(len(FATE_STEPS)), FATE_STEPS)
    ax.set_xlabel("share by organ")
    ax.set_title("where: top organs")
    if organs or pooled:  # (a patient who shed nothing has no organ to name)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, frameon=False,
                  fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_fates_figure(result: Result) -> Figure:
    """A two-panel figure: the funnel and, beside it, the organs of each step.

    Built with :class:`matplotlib.figure.Figure` (no pyplot), so it needs no display
    and leaves pyplot's state alone.

    Parameters
    ----------
    result
        A simulated patient.

    Returns
    -------
    Figure
        :func:`plot_fates` and :func:`plot_fates_by_organ` side by side, titled with the
        cancer, the horizon and the seed (a run directory's ``fates.png``).

    """
    from matplotlib.figure import Figure

    result = _result(result)
    fig = Figure(figsize=(12.0, 5.0), layout="constrained")
    funnel, organs = fig.subplots(1, 2, sharey=True, width_ratios=[1.4, 1.0])
    plot_fates(result, ax=funnel)
    plot_fates_by_organ(result, ax=organs)
    organs.tick_params(labelleft=False)
    fig.suptitle(_title(result))
    return fig


#: The ledger entries :func:`funnel_counts` reads (all but ``shed`` per organ too).
_LEDGER_KEYS = ("shed", "arrested", "failed_extravasation", "dormant_now",
                "colonies_founded", "colonies_extinct", "colonies_vascularised")


def _require_keys(given: Any, keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in given]
    if missing:
        raise MetacascadeError(f"{what} lacks {', '.join(map(repr, missing))}")


def _require_counts(entries: Iterable[tuple[str, Any]], what: str) -> None:
    """Refuse a count to draw that is not a finite number >= 0, naming where it is.

    (A negative count was drawn as if nothing were wrong; NaN ended in matplotlib's
    "Axis limits cannot be NaN or Inf".)
    """
    for where, value in entries:
        if not (is_number(value) and math.isfinite(value) and value >= 0):
            raise MetacascadeError(f"result: {what} must be numbers >= 0; {where} is "
                                   f"{value!r}")


def _whole_count(value: Any, what: str) -> int:
    """``value`` as an int if it is a whole number >= 0 (NumPy's, or a float such as 3.0).

    Else an error naming ``what``: int() truncated 2.5, took -1 and raised a bare
    ValueError for "x".
    """
    if not (is_number(value) and math.isfinite(value) and value >= 0
            and value == int(value)):
        raise MetacascadeError(f"{what}: {value!r} is not a count (a whole number >= 0)")
    return int(value)


def _result(result: Any, alternative: str = "") -> Result:
    """``result`` if it is a :class:`Result`; else a TypeError naming it."""
    from metacascade.engine.result import Result

    if not isinstance(result, Result):
        raise TypeError(f"result: expected a Result (from metacascade.simulate)"
                        f"{alternative}, not {type(result).__name__}")
    return result


def _title(result: Result) -> str:
    scenario = result.provenance.get("scenario", {})
    cancer = scenario.get("cancer", "?")
    years = float(result.ledger["time_days"].iloc[-1]) / 365.25
    return f"{cancer} primary: {years_text(years, '.3g')}, seed {result.seed}"


def _count(value: float) -> str:
    if value < 1e6:
        return f"{int(value):,}"
    return f"{value:.3g}"


def _percent(share: float) -> str:
    if share == 0:
        return "0%"
    if share >= 0.01:
        return f"{100 * share:.3g}%"
    return f"{100 * share:.2g}%"
