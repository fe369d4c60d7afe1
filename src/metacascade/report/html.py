"""The pieces of a self-contained HTML page: escaped text, tables, embedded figures.

Everything the page shows is inside the one file: figures are PNG images in ``data:``
URIs (base64), the style sheet is inline, and there are no scripts, fonts or links to
anything but the page's own sections (``href="#id"``).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from metacascade.plots.clinic import DAYS_PER_MONTH

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of the embedded figures, dots per inch.
FIGURE_DPI = 90

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color: #222; max-width: 72rem; margin: 0 auto; padding: 1rem 2rem 4rem;
       line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; margin-top: 2.4rem; border-bottom: 1px solid #ccc;
     padding-bottom: 0.2rem; }
h3 { font-size: 1.02rem; margin-bottom: 0.3rem; }
p.subtitle { color: #555; margin-top: 0; }
nav ol { columns: 2; font-size: 0.92rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.88rem; }
th, td { border-bottom: 1px solid #e2e2e2; padding: 0.18rem 0.7rem 0.18rem 0; text-align: left;
         vertical-align: top; }
th { border-bottom: 1px solid #999; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0.8rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
details { margin: 0.4rem 0; }
summary { cursor: pointer; }
.note { color: #555; font-size: 0.9rem; }
.set { font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.1rem 1.2rem; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
footer { margin-top: 3rem; font-size: 0.8rem; color: #777; }
"""


@dataclass(frozen=True)
class Section:
    """One section of the report: its ``id`` (anchor), its title and its HTML body."""

    id: str
    title: str
    body: str


def esc(text: object) -> str:
    """``text`` as HTML-escaped text."""
    return html.escape(str(text), quote=True)


def paragraph(text: str, *, css: str | None = None) -> str:
    """One paragraph of escaped text."""
    attribute = f' class="{css}"' if css else ""
    return f"<p{attribute}>{esc(text)}</p>"


def facts(items: Iterable[tuple[str, object]]) -> str:
    """A definition list of (label, value) pairs, both escaped."""
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f'<dl class="facts">{rows}</dl>'


@dataclass(frozen=True)
class Cell:
    """A table cell: text, and optionally a number (right-aligned) or HTML attributes."""

    text: str
    numeric: bool = False
    attributes: str = ""
    css: str = ""


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *,
          numeric: Sequence[int] = ()) -> str:
    """A table; cells are :class:`Cell` or plain values (escaped; integers with commas).

    ``numeric`` lists the columns whose plain values are right-aligned.
    """
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            cell = value if isinstance(value, Cell) else Cell(_text(value), i in numeric)
            classes = " ".join(c for c in ("num" if cell.numeric else "", cell.css) if c)
            css = f' class="{classes}"' if classes else ""
            extra = f" {cell.attributes}" if cell.attributes else ""
            cells.append(f"<td{css}{extra}>{esc(cell.text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _text(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def details(summary: str, body: str) -> str:
    """A collapsed block: ``summary`` (text) shown, ``body`` (HTML) on a click."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def figure(fig: Figure, *, alt: str, caption: str = "") -> str:
    """``fig`` as an embedded PNG (base64 ``data:`` URI) with a caption."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f"{text}</figure>")


def page(title: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    """The whole page: title, a table of contents, the sections and a footer."""
    toc = "".join(f'<li><a href="#{s.id}">{esc(s.title)}</a></li>' for s in sections)
    body = "\n".join(f'<section id="{s.id}">\n<h2>{esc(s.title)}</h2>\n{s.body}\n</section>'
                     for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n<p class=\"subtitle\">{esc(subtitle)}</p>\n"
        f"<nav><ol>{toc}</ol></nav>\n{body}\n<footer>{esc(footer)}</footer>\n"
        "</body>\n</html>\n")


def number(value: float | int | None, digits: int = 3) -> str:
    """A count with thousands separators, or a float to ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def days(value: float | None) -> str:
    """A day count with months in brackets (:data:`~metacascade.plots.clinic.DAYS_PER_MONTH`)."""
    if value is None or math.isnan(value):
        return "–"
    return f"day {value:,.0f} ({value / DAYS_PER_MONTH:.1f} months)"


def share(value: float | None) -> str:
    """A share as a percentage."""
    if value is None or math.isnan(value):
        return "–"
    return f"{100 * value:.3g}%"
