"""Figures for the clinic: CTC counts over time and where the lesions are in the body.

:func:`plot_ctc` draws circulating tumour cells per 7.5 mL of blood (the CellSearch
convention: a count in another volume is scaled to 7.5 mL) against time, with the
prognostic cut-off (5 CTCs per 7.5 mL in metastatic breast and prostate cancer, 3 in
colorectal cancer; Cristofanilli et al., N Engl J Med 2004, 351:781-791), which applies
to peripheral (arm-vein) blood only, and the therapy lines as shaded spans.

:func:`plot_body` draws a schematic body and every lesion at its organ's anchor in
:data:`ORGAN_POSITIONS`. Both read tables the caller made; neither runs the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from metacascade._checks import is_number, is_truth_value
from metacascade.clinic.biopsy import PERIPHERAL_SITE, per_7_5_ml
from metacascade.errors import MetacascadeError
from metacascade.plots._axes import axes_or_current

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

#: Days per month used for the time axis of :func:`plot_ctc` (365.25 / 12).
DAYS_PER_MONTH = 30.44
#: Columns :func:`plot_ctc` needs; ``site`` and ``volume_ml`` are optional.
CTC_COLUMNS = ("time_days", "count")
#: Columns :func:`plot_body` needs.
LESION_COLUMNS = ("organ", "diameter_mm", "detected", "umbilicated", "depth")

#: Where each capillary bed of the body catalog is drawn, in the body's coordinates
#: (front view, the patient's right on the viewer's left; the body is about 10 units
#: tall, feet at 0). Paired organs get one anchor; diffuse beds a representative spot:
#: skin on the left forearm, adipose on the right upper arm, bone marrow in the right
#: femur, skeletal muscle in the left thigh, and ``rest`` beside the body.
ORGAN_POSITIONS: dict[str, tuple[float, float]] = {
    "brain": (0.0, 9.2),
    "thyroid": (0.0, 8.35),
    "lung": (-0.75, 7.3),
    "lymph_node": (1.25, 7.55),
    "heart": (0.3, 6.85),
    "breast": (0.8, 6.4),
    "liver": (-0.75, 5.9),
    "stomach": (0.55, 5.85),
    "spleen": (1.15, 5.4),
    "pancreas": (0.05, 5.3),
    "adrenal": (-0.5, 5.15),
    "kidney": (-0.85, 4.5),
    "vertebral_marrow": (0.0, 4.6),
    "large_intestine": (0.85, 4.35),
    "small_intestine": (0.2, 3.95),
    "rectum": (-0.35, 3.35),
    "uterus": (0.4, 3.35),
    "prostate": (0.4, 3.35),
    "skin": (2.17, 5.3),
    "adipose": (-2.17, 5.3),
    "bone_marrow": (-0.72, 1.9),
    "skeletal_muscle": (0.72, 1.9),
    "rest": (2.6, 1.0),
}

#: Label of the dashed circle beside the body that holds the lesions of ``rest``: the
#: tissues that are none of the named organs (ICRP 89's "all other tissues", bladder).
REST_LABEL = "rest of body\n(other tissues)"
#: Marker area per millimetre of diameter (points squared), and the smallest area drawn.
AREA_PT2_PER_MM = 6.0
MIN_AREA_PT2 = 3.0
#: Diameters shown in the size legend of :func:`plot_body`.
REFERENCE_DIAMETERS_MM = (2.0, 10.0, 30.0)

_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
#: Lesions of one organ fill a disc of this radius (body units); an organ with fewer
#: than ``_SPREAD_FILL`` lesions uses the inner part only, so two lesions sit close.
_SPREAD, _SPREAD_FILL = 0.25, 12
_ALARM = "#c0392b"
_DEPTH_COLOURS = {"surface": "#dd8452", "deep": "#4c72b0"}
_SKIN, _OUTLINE = "#f4ebe3", "0.55"
_THERAPY_COLOURS = ("#b3cde3", "#ccebc5", "#decbe4", "#fed9a6", "#ffffcc", "#fbb4ae",
                    "#e5d8bd", "#fddaec")


def plot_ctc(draws: pd.DataFrame, *, cutoff: float,
             therapy: Sequence[tuple[float, float, str]] = (), ax: Axes | None = None,
             title: str | None = None, follow_up_days: float | None = None) -> Axes:
    """Draw CTC counts per 7.5 mL of blood over time, against a prognostic cut-off.

    Counts go on a symmetric-log axis (linear below 1, so a count of 0 is shown);
    peripheral draws at or above the cut-off get a filled diamond with a red edge (the
    cut-offs were validated in peripheral blood: a draw from the tumour's or an organ's
    vein gets none, whatever its count).

    Parameters
    ----------
    draws
        One row per blood draw: ``time_days`` (float), ``count`` (CTCs counted) and,
        optionally, ``volume_ml`` (the sample's volume, mL; 7.5 without the column: the
        count is drawn as ``count x 7.5 / volume_ml``) and ``site`` (e.g.
        ``"arm_vein"``): one line per site, in order of first appearance; only
        ``arm_vein`` draws are peripheral (every draw, without the column). A table
        without rows gives an empty plot.
    cutoff
        Counts per 7.5 mL at or above it are unfavourable; drawn as a dashed line.
    therapy
        ``(start_day, end_day, label)`` per line of therapy, shaded; ``end_day`` may be
        ``inf`` (still on treatment). One legend entry per distinct label.
    ax
        Axes to draw on; by default the current Axes of :mod:`matplotlib.pyplot`.
    title
        Title of the Axes; by default "circulating tumour cells".
    follow_up_days
        The end of follow-up: the time axis then spans day 0 to it (and any draw or
        therapy beyond); by default it spans the draws and therapy (a year without).

    Returns
    -------
    Axes
        The Axes drawn on.

    """
    if not (is_number(cutoff) and math.isfinite(cutoff) and cutoff > 0):
        raise MetacascadeError(f"cutoff must be a positive number of CTCs, not {cutoff!r}")
    if follow_up_days is not None and not (
            is_number(follow_up_days) and math.isfinite(follow_up_days)
            and follow_up_days >= 0):
        raise MetacascadeError(f"follow_up_days must be a number of days >= 0, not "
                               f"{follow_up_days!r}")
    require_frame(draws, "draws")
    table = _ctc_table(draws)
    spans = _therapy_spans(therapy)
    ax = axes_or_current(ax)
    left, right = _month_range(table, spans, follow_up_days)
    handles: list[Artist] = []
    for i, (site, rows) in enumerate(table.groupby("site", sort=False)):
        colour = f"C{i % 10}"
        (line,) = ax.plot(rows["months"], rows["count"], color=colour, marker="o",
                          markersize=4, markerfacecolor="white", linewidth=1.2,
                          label=str(site), zorder=3)
        handles.append(line)
        high = rows[rows["peripheral"] & (rows["count"] >= cutoff)]
        if len(high):
            ax.plot(high["months"], high["count"], linestyle="", marker="D", markersize=6,
                    color=colour, markeredgecolor=_ALARM, markeredgewidth=1.2, zorder=4)
    handles.append(ax.axhline(cutoff, color=_ALARM, linestyle="--", linewidth=1.0,
                              label=f"unfavourable >= {cutoff:g}", zorder=2))
    if (table["peripheral"] & (table["count"] >= cutoff)).any():
        handles.append(_marker_proxy("D", "0.5", _ALARM, 6, "at or above cut-off"))
    handles += _draw_spans(ax, spans, right)
    if table.empty:
        ax.text(0.5, 0.5, "no blood draws", transform=ax.transAxes, ha="center",
                va="center", color="0.4")
    ax.set_xlim(left, right)
    _ctc_y_axis(ax, max(float(table["count"].to_numpy().max(initial=0.0)), cutoff))
    ax.set_xlabel(f"time (months of {DAYS_PER_MONTH} days)")
    ax.set_ylabel("CTCs per 7.5 mL blood")
    ax.set_title("circulating tumour cells" if title is None else title)
    ax.legend(handles=handles, loc="best", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_body(lesions: pd.DataFrame, *, primary_organ: str | None = None,
              sex: Literal["female", "male"] = "female", ax: Axes | None = None,
              title: str | None = None, primary_removed: bool = False) -> Axes:
    """Draw a schematic body with every lesion at its organ's position.

    Lesions of one organ lie on a golden-angle (Vogel) spiral around the organ's anchor
    in :data:`ORGAN_POSITIONS`, largest at the centre, so none hides another exactly.
    Marker area is proportional to diameter (:data:`AREA_PT2_PER_MM` points squared per
    millimetre, at least :data:`MIN_AREA_PT2`); detected lesions are filled, occult ones
    hollow; the colour gives the depth; umbilicated lesions get a dark centre dot. An
    organ with more than one lesion is labelled with its count ("x12"). The dashed
    circle beside the legs, labelled :data:`REST_LABEL`, holds the lesions of ``rest``.

    Parameters
    ----------
    lesions
        One row per lesion, with the columns of :data:`LESION_COLUMNS`: ``organ``
        (a key of :data:`ORGAN_POSITIONS`), ``diameter_mm``, ``detected`` and
        ``umbilicated`` (booleans), ``depth`` (``"surface"`` or ``"deep"``). A table
        without rows gives the body alone.
    primary_organ
        Organ of the primary tumour, marked with a star.
    sex
        Which outline to draw.
    ax
        Axes to draw on; by default the current Axes of :mod:`matplotlib.pyplot`.
    title
        Title of the Axes; by default the number of lesions and how many are detected.
    primary_removed
        The primary has been removed (surgery): its star is hollow, and the legend
        says so.

    Returns
    -------
    Axes
        The Axes drawn on.

    """
    if sex not in ("female", "male"):
        raise MetacascadeError(f"sex must be 'female' or 'male', not {sex!r}")
    require_frame(lesions, "lesions")
    if primary_organ is not None:
        _check_organs([primary_organ], "primary_organ")
    if not is_truth_value(primary_removed):
        raise MetacascadeError(f"primary_removed: {primary_removed!r} is not true or false")
    table = _lesion_table(lesions)
    ax = axes_or_current(ax)
    _draw_outline(ax, sex)
    _draw_lesions(ax, table)
    counts = table["organ"].value_counts(sort=False)
    named = dict(counts.items())
    if primary_organ is not None:
        x, y = ORGAN_POSITIONS[primary_organ]
        ax.scatter([x], [y], marker="*", s=260, c="none" if primary_removed else "#f2c14e",
                   edgecolors="black", linewidths=0.8, zorder=6)
        named.setdefault(primary_organ, 0)
    for organ, n in named.items():
        _label_organ(ax, str(organ), int(n))
    if table.empty:
        ax.text(4.5, 5.0, "no metastases", ha="center", va="center", color="0.4")
    _body_legends(ax, primary_organ, bool(primary_removed))
    ax.set_xlim(-3.3, 6.3)
    ax.set_ylim(-0.2, 10.2)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is None:
        n_detected = int(table["detected"].sum())
        title = f"{len(table):,} lesions, {n_detected:,} detected"
    ax.set_title(title)
    return ax


def marker_area_pt2(diameter_mm: ArrayLike) -> NDArray[np.float64]:
    """Scatter marker area (points squared) of lesions of ``diameter_mm``."""
    return np.maximum(AREA_PT2_PER_MM * np.asarray(diameter_mm, dtype=float), MIN_AREA_PT2)


# --- CTC helpers -------------------------------------------------------------------


def _ctc_table(draws: pd.DataFrame) -> pd.DataFrame:
    """Validated draws: ``months``, ``count`` (per 7.5 mL), ``site``, ``peripheral``."""
    if len(draws) == 0:
        return pd.DataFrame({"months": np.zeros(0), "count": np.zeros(0),
                             "site": np.zeros(0, dtype=object),
                             "peripheral": np.zeros(0, dtype=bool)})
    _require_columns(draws, CTC_COLUMNS, "draws")
    days = _finite(draws, "time_days", "draws")
    count = _finite(draws, "count", "draws")
    if (count < 0).any():
        raise MetacascadeError("draws column 'count' has negative values")
    if "volume_ml" in draws.columns:
        volume = _finite(draws, "volume_ml", "draws")
        if (volume <= 0).any():
            raise MetacascadeError("draws column 'volume_ml' must hold volumes > 0 mL")
        count = per_7_5_ml(count, volume)
    if "site" in draws.columns:
        site = draws["site"].astype(object).where(draws["site"].notna(), "unspecified")
        sites = site.astype(str).to_numpy()
        peripheral = sites == PERIPHERAL_SITE
    else:
        sites = np.full(len(draws), "CTC count", dtype=object)
        peripheral = np.ones(len(draws), dtype=bool)
    table = pd.DataFrame({"months": days / DAYS_PER_MONTH, "count": count, "site": sites,
                          "peripheral": peripheral})
    return table.sort_values("months", kind="stable").reset_index(drop=True)


def _therapy_spans(therapy: Sequence[tuple[float, float, str]]
                   ) -> list[tuple[float, float, str]]:
    """Therapy spans in months, checked: finite start, end after start, a label."""
    spans = []
    given: object = therapy
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise MetacascadeError(f"therapy: a list of (start_day, end_day, label), not "
                               f"{therapy!r}")
    for item in therapy:
        if isinstance(item, str) or not isinstance(item, Sequence) or len(item) != 3:
            raise MetacascadeError(
                f"therapy entries are (start_day, end_day, label), not {item!r}")
        try:
            if any(is_truth_value(x) or isinstance(x, str) for x in item[:2]):
                raise TypeError
            start, end, label = float(item[0]), float(item[1]), item[2]
        except (TypeError, ValueError):
            raise MetacascadeError(f"therapy {item[2]!r}: start_day and end_day must be "
                                   f"numbers of days, not ({item[0]!r}, {item[1]!r})") from None
        if not math.isfinite(start) or math.isnan(end) or end < start:
            raise MetacascadeError(
                f"therapy {label!r} needs a finite start and an end after it, "
                f"not ({item[0]!r}, {item[1]!r})")
        spans.append((start / DAYS_PER_MONTH, end / DAYS_PER_MONTH, str(label)))
    return spans


def _month_range(table: pd.DataFrame, spans: list[tuple[float, float, str]],
                 follow_up_days: float | None = None) -> tuple[float, float]:
    """Limits of the time axis: the draws, the finite therapy bounds and the follow-up."""
    values = [*table["months"], *(s for s, _, _ in spans),
              *(e for _, e, _ in spans if math.isfinite(e)),
              *(() if follow_up_days is None else (0.0, follow_up_days / DAYS_PER_MONTH))]
    low, high = (min(values), max(values)) if values else (0.0, 12.0)
    if high <= low:
        high = low + 1.0
    if any(math.isinf(e) for _, e, _ in spans):
        high += 0.05 * (high - low)
    pad = 0.03 * (high - low)
    return low - pad, high + pad


def _draw_spans(ax: Axes, spans: list[tuple[float, float, str]], right: float
                ) -> list[Artist]:
    """Shade each therapy span; return one legend handle per distinct label."""
    colours: dict[str, str] = {}
    handles: list[Artist] = []
    for start, end, label in spans:
        first = label not in colours
        if first:
            colours[label] = _THERAPY_COLOURS[len(colours) % len(_THERAPY_COLOURS)]
        span = ax.axvspan(start, min(end, right), color=colours[label], alpha=0.6,
                          linewidth=0, zorder=0, label=label)
        if first:
            handles.append(span)
    return handles


def _ctc_y_axis(ax: Axes, top: float) -> None:
    """Symmetric-log counts: linear from 0 to 1, logarithmic above, integer labels."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("symlog", linthresh=1.0, linscale=0.5)
    ax.set_ylim(-0.2, max(10.0, 3.0 * top))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 0 else ""))


# --- body helpers ------------------------------------------------------------------


def _lesion_table(lesions: pd.DataFrame) -> pd.DataFrame:
    """Validated lesions, largest first, with their drawing position and marker area."""
    if len(lesions) == 0:
        return pd.DataFrame({
            "organ": np.zeros(0, dtype=object), "detected": np.zeros(0, dtype=bool),
            "umbilicated": np.zeros(0, dtype=bool), "surface": np.zeros(0, dtype=bool),
            "x": np.zeros(0), "y": np.zeros(0), "area": np.zeros(0)})
    _require_columns(lesions, LESION_COLUMNS, "lesions")
    organ = lesions["organ"].astype(str).to_numpy(dtype=object)
    _check_organs(organ, "lesions column 'organ'")
    diameter = _finite(lesions, "diameter_mm", "lesions")
    if (diameter < 0).any():
        raise MetacascadeError("lesions column 'diameter_mm' has negative values")
    depth = lesions["depth"].astype(str)
    bad = sorted(set(depth) - set(_DEPTH_COLOURS))
    if bad:
        raise MetacascadeError(
            f"lesions column 'depth' has {bad}; allowed: 'surface', 'deep'")
    table = pd.DataFrame({
        "organ": organ, "diameter": diameter,
        "detected": _flags(lesions, "detected"), "umbilicated": _flags(lesions, "umbilicated"),
        "surface": (depth == "surface").to_numpy(),
    }).sort_values("diameter", ascending=False, kind="stable").reset_index(drop=True)
    by_organ = table.groupby("organ", sort=False)["organ"]
    rank = by_organ.cumcount().to_numpy(dtype=float)
    size = by_organ.transform("size").to_numpy(dtype=float)
    radius = _SPREAD * np.sqrt(rank / np.maximum(size, _SPREAD_FILL))
    anchor = table["organ"].map(ORGAN_POSITIONS)
    table["x"] = np.array([a[0] for a in anchor]) + radius * np.cos(rank * _GOLDEN_ANGLE)
    table["y"] = np.array([a[1] for a in anchor]) + radius * np.sin(rank * _GOLDEN_ANGLE)
    table["area"] = marker_area_pt2(table["diameter"].to_numpy())
    return table


def _draw_lesions(ax: Axes, table: pd.DataFrame) -> None:
    """One scatter per style (hollow under filled: detected on top), then the navel dots."""
    for detected in (True, False):
        for depth, colour in _DEPTH_COLOURS.items():
            rows = table[(table["detected"] == detected)
                         & (table["surface"] == (depth == "surface"))]
            if rows.empty:
                continue
            ax.scatter(rows["x"], rows["y"], s=rows["area"], linewidths=1.0,
                       facecolors=colour if detected else "none", edgecolors=colour,
                       alpha=0.8 if detected else 1.0, zorder=4 if detected else 3)
    navel = table[table["umbilicated"]]
    if not navel.empty:
        ax.scatter(navel["x"], navel["y"], s=np.maximum(0.08 * navel["area"], 1.5),
                   c="0.1", linewidths=0, zorder=5)


def _label_organ(ax: Axes, organ: str, n: int) -> None:
    """The organ's name beside its lesions and, under it, the count if above one."""
    x, y = ORGAN_POSITIONS[organ]
    left = x < 0
    x_text = x - (_SPREAD + 0.1) if left else x + (_SPREAD + 0.1)
    ha = "right" if left else "left"
    if organ != "rest":  # (the outline labels the rest's dashed circle)
        ax.text(x_text, y + 0.05, organ.replace("_", " "), ha=ha, va="bottom", fontsize=6,
                color="0.3", zorder=7)
    if n > 1:
        ax.text(x_text, y + 0.05, f"x{n:,}", ha=ha, va="top", fontsize=7,
                fontweight="bold", color="0.15", zorder=7)


def _draw_outline(ax: Axes, sex: str) -> None:
    """Head, neck, torso, arms, hands, legs and feet as patches; a faint spine."""
    from matplotlib.patches import Arc, Circle, Ellipse, Polygon

    female = sex == "female"
    shoulder, waist, hip = (1.5, 1.15, 1.6) if female else (1.75, 1.35, 1.4)
    style = {"facecolor": _SKIN, "edgecolor": _OUTLINE, "linewidth": 1.0, "zorder": 0}
    parts = []
    for s in (-1.0, 1.0):
        parts += [
            Polygon([(s * (shoulder - 0.15), 8.1), (s * (shoulder + 0.25), 7.95),
                     (s * 2.75, 3.6), (s * 2.3, 3.5), (s * (shoulder - 0.05), 6.9)]),
            Circle((s * 2.55, 3.25), 0.28),
            Polygon([(s * 0.08, 3.2), (s * (hip - 0.05), 3.2), (s * 1.1, 0.4),
                     (s * 0.35, 0.4)]),
            Ellipse((s * 0.8, 0.28), 0.9, 0.36),
        ]
    parts += [
        Polygon([(-0.28, 8.05), (0.28, 8.05), (0.28, 8.6), (-0.28, 8.6)]),
        Polygon([(-shoulder, 8.15), (shoulder, 8.15), (shoulder - 0.2, 6.4), (waist, 5.0),
                 (hip, 3.7), (hip - 0.2, 3.0), (-(hip - 0.2), 3.0), (-hip, 3.7),
                 (-waist, 5.0), (-(shoulder - 0.2), 6.4)]),
        Circle((0.0, 9.2), 0.75),
    ]
    for patch in parts:
        patch.set(**style)
        ax.add_patch(patch)
    if female:
        for s in (-1.0, 1.0):
            ax.add_patch(Arc((s * 0.8, 6.55), 0.9, 0.7, theta1=200, theta2=340,
                             color=_OUTLINE, linewidth=0.8, zorder=1))
    ax.plot([0.0, 0.0], [3.3, 8.0], color="0.82", linestyle=":", linewidth=2.0, zorder=1)
    x, y = ORGAN_POSITIONS["rest"]
    ax.add_patch(Circle((x, y), _SPREAD + 0.1, facecolor="none",
                        edgecolor=_OUTLINE, linestyle="--", linewidth=0.8, zorder=0))
    ax.text(x, y - _SPREAD - 0.2, REST_LABEL, ha="center", va="top", fontsize=6,
            color="0.3", zorder=7)


def _body_legends(ax: Axes, primary_organ: str | None, removed: bool = False) -> None:
    """A legend of the styles (upper right) and one of the marker sizes (lower right)."""
    from matplotlib.legend import Legend
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.patches import Patch

    handles: list[Artist | tuple[Artist, ...]] = [
        _marker_proxy("o", "0.4", "0.4", 7, "detected (filled)"),
        _marker_proxy("o", "none", "0.4", 7, "occult (hollow)"),
        *(Patch(color=c, label=d) for d, c in _DEPTH_COLOURS.items()),
        (_marker_proxy("o", "none", "0.4", 9, ""), _marker_proxy("o", "0.1", "0.1", 2.5, "")),
    ]
    labels = ["detected (filled)", "occult (hollow)", *_DEPTH_COLOURS,
              "umbilicated (cancer navel)"]
    if primary_organ is not None:
        handles.append(_marker_proxy("*", "none" if removed else "#f2c14e", "black", 12, ""))
        labels.append(f"primary ({primary_organ.replace('_', ' ')})"
                      + (", removed" if removed else ""))
    styles = Legend(ax, handles, labels, loc="upper right", fontsize=7, frameon=False,
                    handler_map={tuple: HandlerTuple(ndivide=1)})
    ax.add_artist(styles)
    sizes = [_marker_proxy("o", "none", "0.4", float(np.sqrt(marker_area_pt2(d))),
                           f"{d:g} mm") for d in REFERENCE_DIAMETERS_MM]
    ax.legend(handles=sizes, loc="lower right", fontsize=7, frameon=False,
              title="diameter (area ∝ diameter)", title_fontsize=7, labelspacing=1.2)


# --- shared helpers ----------------------------------------------------------------


def _marker_proxy(marker: str, face: str, edge: str, size: float, label: str) -> Artist:
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="", marker=marker, markersize=size,
                  markerfacecolor=face, markeredgecolor=edge, label=label)


def require_frame(frame: object, what: str) -> None:
    """Refuse ``frame`` unless it is a pandas DataFrame (naming the argument ``what``)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what}: expected a pandas DataFrame, not {type(frame).__name__}")


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MetacascadeError(
            f"{what} is missing column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, frame.columns)) or 'none'}")


def _check_organs(organs: Iterable[object], what: str) -> None:
    unknown = sorted({repr(o) for o in organs if not isinstance(o, str)  # (e.g. a list)
                      or o not in ORGAN_POSITIONS})
    if unknown:
        raise MetacascadeError(
            f"{what}: unknown organ(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(ORGAN_POSITIONS))}")


def _finite(frame: pd.DataFrame, column: str, what: str) -> NDArray[np.float64]:
    values = np.asarray(pd.to_numeric(frame[column], errors="coerce"), dtype=np.float64)
    if not np.isfinite(values).all():
        raise MetacascadeError(f"{what} column {column!r} has missing or non-numeric values")
    return values


def _flags(frame: pd.DataFrame, column: str) -> NDArray[np.bool_]:
    values = frame[column]
    if values.isna().any() or not values.isin([True, False]).all():
        raise MetacascadeError(f"lesions column {column!r} must hold only True or False")
    return np.asarray(values, dtype=np.bool_)
