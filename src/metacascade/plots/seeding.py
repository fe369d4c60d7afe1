"""Which lesion seeded which: the colonies of one patient as a layered graph.

Every colony has a ``parent``: 0 for a colony founded by a cell the primary shed, else the
``id`` of the vascularised colony that shed it ("metastasis from metastases"), and a
``generation`` (1 for the primary's colonies, one more than the parent's otherwise).
:func:`plot_seeding_tree` draws the primary on top and one row per generation below it,
each colony joined to the lesion that seeded it.

A patient can have tens of thousands of colonies, so past ``max_colonies`` the graph
groups them: one node per generation and organ (its size grows with the number of
colonies), one edge per pair of parent and child group (its width grows with the number
of seeding events). The figure reads a colonies table; it never runs the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from metacascade._checks import whole_number
from metacascade.errors import MetacascadeError
from metacascade.plots._axes import axes_or_current
from metacascade.plots.clinic import require_frame
from metacascade.plots.colours import OTHER_COLOUR, organ_colours

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Columns :func:`plot_seeding_tree` needs.
SEEDING_COLUMNS = ("id", "organ", "parent", "generation")
#: Name of the pooled group of the organs beyond ``top_organs`` in one generation.
OTHER_ORGANS = "other organs"

_PRIMARY = "primary"
_EDGE, _PRIMARY_COLOUR = "0.6", "#f2c14e"


@dataclass
class _Graph:
    """Nodes (key -> layer, count, organ, label) and weighted edges between them."""

    layer: dict[object, int] = field(default_factory=dict)
    count: dict[object, int] = field(default_factory=dict)
    organ: dict[object, str] = field(default_factory=dict)
    label: dict[object, str] = field(default_factory=dict)
    edges: dict[tuple[object, object], int] = field(default_factory=dict)

    def add(self, key: object, layer: int, count: int, organ: str, label: str) -> None:
        self.layer[key], self.count[key] = layer, count
        self.organ[key], self.label[key] = organ, label


def plot_seeding_tree(colonies: pd.DataFrame, ax: Axes | None = None, *,
                      primary_organ: str | None = None, max_colonies: int = 40,
                      top_organs: int = 8, title: str | None = None) -> Axes:
    """Draw which lesion seeded which: the primary on top, one row per generation.

    Parameters
    ----------
    colonies
        One row per colony with the columns of :data:`SEEDING_COLUMNS` (the colonies
        table of a :class:`~metacascade.engine.result.Result` or of a run directory's
        ``colonies.parquet``). A colony whose parent is not in the table is drawn
        without its edge. A table without rows gives the primary alone.
    ax
        Axes to draw on; by default the current Axes of :mod:`matplotlib.pyplot`.
    primary_organ
        Organ of the primary, written under it.
    max_colonies
        Up to this many colonies each gets its own node, coloured by organ (legend);
        above it the colonies are grouped by generation and organ, and each group is
        labelled with its organ and count.
    top_organs
        In the grouped graph, the organs with most colonies in a generation get their
        own node; the rest of that generation is pooled as :data:`OTHER_ORGANS`.
    title
        Title of the Axes; by default the numbers of colonies, generations and seeding
        metastases.

    Returns
    -------
    Axes
        The Axes drawn on.

    """
    max_colonies = whole_number(max_colonies, "max_colonies", low=0)
    top_organs = whole_number(top_organs, "top_organs", low=1)
    if primary_organ is not None and not isinstance(primary_organ, str):
        raise MetacascadeError(f"primary_organ: {primary_organ!r} is not an organ's name "
                               "(a str) or None")
    require_frame(colonies, "colonies")
    table = _seeding_table(colonies)
    ax = axes_or_current(ax)
    by_colony = len(table) <= max_colonies
    graph = _colony_graph(table) if by_colony else _organ_graph(table, top_organs)
    _draw(ax, graph, _positions(graph), by_colony=by_colony, primary_organ=primary_organ)
    if table.empty:
        ax.text(0.5, -0.5, "no colonies", ha="center", va="center", color="0.4")
    layers = max(graph.layer.values())
    ax.set_yticks(-np.arange(layers + 1.0),
                  ["primary", *(f"generation {g}" for g in range(1, layers + 1))])
    ax.set_ylim(-layers - 0.6, 0.45)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xticks([])
    ax.spines[["top", "right", "bottom"]].set_visible(False)
    ax.set_title(_default_title(table) if title is None else title)
    return ax


def _seeding_table(colonies: pd.DataFrame) -> pd.DataFrame:
    """Checked colonies: ``id``, ``organ`` (str), ``parent``, ``generation`` (int)."""
    missing = [c for c in SEEDING_COLUMNS if c not in colonies.columns]
    if missing:
        raise MetacascadeError(
            f"colonies is missing column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, colonies.columns)) or 'none'}")
    table = pd.DataFrame({
        "id": pd.to_numeric(colonies["id"], errors="coerce"),
        "organ": colonies["organ"].astype(str),
        "parent": pd.to_numeric(colonies["parent"], errors="coerce"),
        "generation": pd.to_numeric(colonies["generation"], errors="coerce"),
    })
    for column in ("id", "parent", "generation"):
        values = table[column].to_numpy(dtype=float)
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise MetacascadeError(f"colonies column {column!r} must hold whole numbers")
    if (table["generation"] < 1).any():
        raise MetacascadeError("colonies column 'generation' must be >= 1 (1: seeded by "
                               "the primary)")
    table = table.astype({"id": "int64", "parent": "int64", "generation": "int64"})
    return table.sort_values(["generation", "id"], kind="stable").reset_index(drop=True)


def _colony_graph(table: pd.DataFrame) -> _Graph:
    graph = _Graph()
    graph.add(_PRIMARY, 0, 1, _PRIMARY, _PRIMARY)
    known = set(table["id"].tolist())
    for row in table.itertuples(index=False):
        graph.add(int(row.id), int(row.generation), 1, str(row.organ), str(row.organ))
        parent = _PRIMARY if row.parent == 0 else int(row.parent)
        if parent == _PRIMARY or parent in known:
            graph.edges[(parent, int(row.id))] = 1
    return graph


def _organ_graph(table: pd.DataFrame, top_organs: int) -> _Graph:
    """Groups of (generation, organ), the organs past ``top_organs`` pooled per generation."""
    kept: dict[int, set[str]] = {}
    for generation, rows in table.groupby("generation", sort=True):
        ranked = rows["organ"].value_counts(sort=False).sort_values(ascending=False,
                                                                     kind="stable")
        kept[int(generation)] = set(ranked.index[:top_organs])
    group = np.array([o if o in kept[g] else OTHER_ORGANS
                      for o, g in zip(table["organ"], table["generation"], strict=True)],
                     dtype=object)
    group_of = pd.Series(group, index=table["id"].to_numpy())
    parent_group = table["parent"].map(group_of)
    parent_group[table["parent"] == 0] = _PRIMARY
    graph = _Graph()
    graph.add(_PRIMARY, 0, 1, _PRIMARY, _PRIMARY)
    frame = pd.DataFrame({"generation": table["generation"], "group": group,
                          "parent_group": parent_group})
    for (generation, name), n in frame.groupby(["generation", "group"], sort=True).size().items():
        label = f"{str(name).replace('_', ' ')}\n×{int(n):,}"
        graph.add((int(generation), str(name)), int(generation), int(n), str(name), label)
    linked = frame.dropna(subset=["parent_group"])
    for (generation, name, parent), n in linked.groupby(
            ["generation", "group", "parent_group"], sort=True).size().items():
        source = _PRIMARY if parent == _PRIMARY else (int(generation) - 1, str(parent))
        graph.edges[(source, (int(generation), str(name)))] = int(n)
    return graph


def _positions(graph: _Graph) -> dict[object, tuple[float, float]]:
    """Node positions: x in [0, 1] per layer, by the mean x of the parents (a tree)."""
    position: dict[object, tuple[float, float]] = {_PRIMARY: (0.5, 0.0)}
    parents: dict[object, list[tuple[object, int]]] = {}
    for (source, target), n in graph.edges.items():
        parents.setdefault(target, []).append((source, n))
    for layer in range(1, max(graph.layer.values()) + 1):
        keys = [k for k, v in graph.layer.items() if v == layer]

        def order(key: object) -> tuple[float, int, str]:
            links = [(position[s][0], n) for s, n in parents.get(key, []) if s in position]
            weight = sum(n for _, n in links)
            centre = sum(x * n for x, n in links) / weight if weight else 2.0
            return centre, -graph.count[key], str(key)

        keys.sort(key=order)
        for i, key in enumerate(keys):
            position[key] = ((i + 0.5) / len(keys), -float(layer))
    return position


def _draw(ax: Axes, graph: _Graph, position: dict[object, tuple[float, float]], *,
          by_colony: bool, primary_organ: str | None) -> None:
    top = max(graph.edges.values(), default=1)
    for (source, target), n in graph.edges.items():
        (x0, y0), (x1, y1) = position[source], position[target]
        width = 0.8 if by_colony else 0.5 + 3.5 * math.log1p(n) / math.log1p(top)
        ax.plot([x0, x1], [y0, y1], color=_EDGE, linewidth=width, alpha=0.7, zorder=1,
                solid_capstyle="round")
    colours = _organ_colours(sorted({o for o in graph.organ.values() if o != _PRIMARY}))
    largest = max((c for k, c in graph.count.items() if k != _PRIMARY), default=1)
    for key, (x, y) in position.items():
        if key == _PRIMARY:
            continue
        size = 45.0 if by_colony else 30.0 + 420.0 * math.sqrt(graph.count[key] / largest)
        ax.scatter([x], [y], s=size, color=colours[graph.organ[key]], edgecolors="white",
                   linewidths=0.6, zorder=3)
    ax.scatter([0.5], [0.0], marker="*", s=260, c=_PRIMARY_COLOUR, edgecolors="black",
               linewidths=0.8, zorder=4)
    name = "primary" if primary_organ is None else f"primary ({primary_organ.replace('_', ' ')})"
    ax.text(0.53, 0.0, name, va="center", fontsize=8, zorder=5)
    if by_colony:
        _organ_legend(ax, colours)
    else:
        _group_labels(ax, graph, position)


def _group_labels(ax: Axes, graph: _Graph, position: dict[object, tuple[float, float]]
                  ) -> None:
    """Each group's organ and count under it, staggered in crowded rows."""
    rows: dict[int, int] = {}
    for layer in graph.layer.values():
        rows[layer] = rows.get(layer, 0) + 1
    seen: dict[int, int] = {}
    for key, (x, y) in position.items():
        if key == _PRIMARY:
            continue
        layer = graph.layer[key]
        i = seen[layer] = seen.get(layer, -1) + 1
        drop = 0.13 + (0.17 if rows[layer] > 5 and i % 2 else 0.0)
        ax.text(x, y - drop, graph.label[key], ha="center", va="top", fontsize=6.5,
                color="0.2", zorder=5, linespacing=0.95)


def _organ_legend(ax: Axes, colours: dict[str, str]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="", marker="o", markersize=6, color=c,
                      label=o.replace("_", " ")) for o, c in colours.items()]
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=False,
                  ncols=1 if len(handles) <= 6 else 2)


def _organ_colours(organs: list[str]) -> dict[str, str]:
    """Each organ's colour in every figure (:mod:`metacascade.plots.colours`)."""
    colours = organ_colours(o for o in organs if o != OTHER_ORGANS)
    if OTHER_ORGANS in organs:
        colours[OTHER_ORGANS] = OTHER_COLOUR
    return colours


def _default_title(table: pd.DataFrame) -> str:
    if table.empty:
        return "seeding: no colonies"
    generations = int(table["generation"].max())
    seeders = int(table.loc[table["parent"] > 0, "parent"].nunique())
    return (f"{len(table):,} colonies in {generations} generation"
            f"{'s' if generations > 1 else ''}; {seeders:,} metastases seeded others")
