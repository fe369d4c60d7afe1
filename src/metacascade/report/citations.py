"""The report's last section: every parameter a run used, with its source, and the works cited.

The parameters come from :func:`metacascade.describe.scenario_parameters` (the same
values and sources ``metacascade catalog --cite`` prints, with the scenario's overrides
applied). A citation key recorded in the run's provenance that no parameter of this
version carries any more is looked up in :data:`metacascade.references.ALL_REFERENCES`,
so the list of works never loses one the run relied on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from metacascade.citations import Assumption, Calibrated, Citation, Parameter
from metacascade.describe import PARAMETER_GROUPS, scenario_parameters, value_text
from metacascade.references import ALL_REFERENCES
from metacascade.report.html import Cell, Section, details, esc, paragraph, table
from metacascade.scenario import SCENARIO_SOURCE, Scenario

_GROUP_TITLES = {
    "body": "body: circulation, capillary beds and junctions",
    "cancer": "cancer: growth, shedding, emboli, CTC cut-off, soil",
    "cascade": "cascade after arrest: extravasation, dormancy, colonies",
    "clinic": "clinic: death thresholds, blood draws, imaging, therapy",
}


def citations_section(scenario: Scenario, *, recorded_keys: Iterable[str] = (),
                      extra: Sequence[Citation] = (), note: str = "") -> Section:
    """The ``citations`` section for a run (or cohort) of ``scenario``.

    Parameters
    ----------
    scenario
        The resolved scenario (a cohort's: its base scenario).
    recorded_keys
        Citation keys from the run's ``provenance.json``.
    extra
        Works the report cites besides the parameters' (e.g. the autopsy series).
    note
        A sentence put first (what the parameters are of).

    """
    named = scenario_parameters(scenario)
    works = _works([p for _, _, p in named], recorded_keys, extra)
    kinds = [_kind(p) for _, _, p in named]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in ("cited", "assumed", "calibrated",
                                                           "set in the scenario")
                       if kinds.count(k))
    parts = [paragraph(note)] if note else []
    parts.append(paragraph(
        f"{len(named)} parameters ({counts}). Every value is listed with its unit, its "
        "plausible or allowed bounds and its source, as `metacascade catalog --cite` "
        "prints them; values the scenario set are in bold."))
    for group in PARAMETER_GROUPS:
        rows = [(name, p) for g, name, p in named if g == group]
        if rows:
            parts.append(details(f"{_GROUP_TITLES[group]} ({len(rows)} parameters)",
                                 _parameter_table(rows)))
    parts.append("<h3>Works cited</h3>")
    parts.append("<ol>" + "".join(f"<li>{esc(_reference(c))}</li>" for c in works) + "</ol>")
    unknown = sorted(set(recorded_keys) - {c.key for c in works} - {"assumption", "calibrated"})
    if unknown:
        parts.append(paragraph("Citation keys in the run's provenance that this version of "
                               f"metacascade does not know: {', '.join(unknown)}.",
                               css="note"))
    return Section("citations", "Citations", "\n".join(parts))


def _parameter_table(rows: list[tuple[str, Parameter]]) -> str:
    body = []
    for name, p in rows:
        css = "set" if p.source == SCENARIO_SOURCE else ""
        low, high = p.bounds
        body.append((Cell(name, css=css), Cell(value_text(p), numeric=True, css=css),
                     f"[{low:g}, {high:g}]", p.source.describe()))
    return table(("parameter", "value", "bounds", "source"), body)


def _works(parameters: list[Parameter], recorded_keys: Iterable[str],
           extra: Sequence[Citation]) -> list[Citation]:
    """The works behind the parameters, the recorded keys and ``extra``, by author."""
    found: dict[str, Citation] = {}
    for source in [p.source for p in parameters] + list(extra):
        if isinstance(source, Citation):
            found.setdefault(source.key, source)
    known = {c.key: c for c in ALL_REFERENCES}
    for key in recorded_keys:
        if key in known:
            found.setdefault(key, known[key])
    return sorted(found.values(), key=lambda c: ((c.authors or c.title).lower(), c.year, c.key))


def _reference(work: Citation) -> str:
    if not work.authors:  # (named by its title)
        return f"{work.title} ({work.year}). {work.venue}. [{work.key}]"
    return f"{work.authors} ({work.year}). {work.title}. {work.venue}. [{work.key}]"


def _kind(p: Parameter) -> str:
    if p.source == SCENARIO_SOURCE:
        return "set in the scenario"
    if isinstance(p.source, Assumption):
        return "assumed"
    if isinstance(p.source, Calibrated):
        return "calibrated"
    return "cited"
