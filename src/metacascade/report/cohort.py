"""The report of a virtual cohort, read from the directory ``metacascade cohort`` wrote.

The tables come from :func:`metacascade.analysis.read_cohort`. The headline numbers
(baseline CTC groups, median survival, hazard ratios, log-rank tests) are those of
``analysis.json`` when ``metacascade analyze`` wrote one for these patients; otherwise
they are computed in memory with the same functions
(:func:`metacascade.analysis.analysis_data`), and nothing is written but the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metacascade.analysis import (
    AUTOPSY_MIN_DIAMETER_MM,
    CTC_GROUPS,
    CohortTables,
    analysis_data,
    involvement,
    read_cohort,
    scenario_body,
    time_to_first_metastasis,
)
from metacascade.analysis.survival import CONFIDENCE, Endpoint
from metacascade.cohort.directory import incomplete_note
from metacascade.cohort.population import Population
from metacascade.describe import DRAWN_MARK, population_text, scenario_text
from metacascade.errors import MetacascadeError, install_hint
from metacascade.outputs import plain_json
from metacascade.references import DISIBIO_2008
from metacascade.report.citations import citations_section
from metacascade.report.errors import ReportError
from metacascade.report.html import Section, esc, facts, figure, number, paragraph, share, table


@dataclass(frozen=True)
class CohortRun:
    """A cohort directory read: its tables, population and analysis."""

    path: Path
    cohort: CohortTables
    population: Population
    analysis: dict[str, Any]
    #: Where the analysis came from: ``"analysis.json"`` or ``"computed"``.
    analysis_source: str
    #: Organ involvement per cancer (:func:`metacascade.analysis.involvement`).
    autopsy: pd.DataFrame


def read_cohort_run(path: Path) -> CohortRun:
    """Read a cohort directory, with its analysis (read, or computed in memory)."""
    try:
        import lifelines  # noqa: F401
    except ImportError:
        raise ReportError("the report of a cohort needs lifelines: "
                          + install_hint("analysis")) from None
    cohort = read_cohort(path, read="analysis")
    scenario = cohort.manifest.get("scenario")
    if not isinstance(scenario, dict):
        raise ReportError(f"{str(path / 'manifest.json')!r} has no scenario; expected the "
                          "manifest `metacascade cohort` writes")
    try:
        population = Population.from_dict(scenario, check=False)  # (as the cohort was made)
    except MetacascadeError as error:
        raise ReportError(f"the scenario in {str(path / 'manifest.json')!r}: {error}") from None
    stored = _stored_analysis(path, len(cohort.patients))
    min_mm = (float(stored["autopsy"]["min_diameter_mm"]) if stored is not None
              else AUTOPSY_MIN_DIAMETER_MM)
    autopsy = involvement(cohort.patients, cohort.colonies, min_diameter_mm=min_mm,
                          body=scenario_body(cohort.manifest))
    if stored is not None:
        return CohortRun(path, cohort, population, stored, "analysis.json", autopsy)
    timing = time_to_first_metastasis(cohort.colonies, cohort.observations)
    data = plain_json(analysis_data(cohort, autopsy, timing, min_diameter_mm=min_mm))
    return CohortRun(path, cohort, population, data, "computed", autopsy)


def cohort_title(run: CohortRun) -> tuple[str, str]:
    """Title and subtitle of the page."""
    manifest = run.cohort.manifest
    cancers = ", ".join(run.analysis.get("cancers", [])) or "?"
    version = (manifest.get("versions") or {}).get("metacascade", "?")
    return (f"{cancers} primary: a virtual cohort of {len(run.cohort.patients):,} patients",
            f"cohort seed {manifest.get('seed', '?')}; metacascade {version}; "
            f"from {run.path}")


def cohort_sections(run: CohortRun) -> list[Section]:
    """The sections of a cohort's report, in order."""
    return [_scenario(run), _headline(run), _survival(run), _organs(run),
            citations_section(run.population.base, extra=(DISIBIO_2008,), note=(
                "The parameters of the population's scenario; the distributions in the "
                "first section replace some of them patient by patient."))]


# -- sections ------------------------------------------------------------------------------
def _scenario(run: CohortRun) -> Section:
    manifest = run.cohort.manifest
    distributions = run.population.to_dict()["population"]
    draws = population_text(distributions)
    base = "".join(paragraph(text) for text in scenario_text(
        run.population.base, drawn=list(distributions)))
    if draws:  # (first: the base scenario's values of these are no patient's)
        body = paragraph("Each patient draws, from its own random stream of the cohort "
                         "seed:")
        body += "<ul>" + "".join(f"<li>{esc(d)}</li>" for d in draws) + "</ul>"
        body += paragraph("The population's scenario follows. What it says holds for every "
                          f"patient but the values marked “{DRAWN_MARK.strip(' ()')}”: "
                          "those are the scenario's own, and each patient's draw replaces "
                          "them.")
        body += base
    else:
        body = base + paragraph("Every patient has the same parameters; only the random "
                                "draws differ.")
    body += facts([
        ("cohort seed", manifest.get("seed", "?")),
        ("patients", f"{manifest.get('n_patients', '?')} asked, "
                     f"{len(run.cohort.patients):,} simulated"),
        ("shards", f"{len(manifest.get('shards_done', []))} of "
                   f"{manifest.get('shards_total', '?')} done"
                   + ("" if manifest.get("complete") else " (incomplete: --resume)")),
        ("metacascade", (manifest.get("versions") or {}).get("metacascade", "?")),
    ])
    return Section("scenario", "The population in words", body)


def _headline(run: CohortRun) -> Section:
    a, patients = run.analysis, run.cohort.patients
    died = int(patients["death_day"].notna().sum())
    causes = patients.loc[patients["death_day"].notna(), "death_cause"].value_counts()
    of = ", ".join(f"{cause} {n:,}" for cause, n in sorted(causes.items()) if cause)
    source = ("analysis.json (written by metacascade analyze)"
              if run.analysis_source == "analysis.json"
              else "computed for this report (the directory has no analysis.json for "
                   "these patients; metacascade analyze writes one)")
    incomplete = ([("cohort not complete", f"{a['n_patients']:,} of its "
                    f"{a['manifest_n_patients']:,} patients are in the directory; "
                    f"{incomplete_note(run.path)}")]
                  if a.get("cohort_complete") is False else [])
    body = facts([
        *incomplete,
        ("patients", f"{a['n_patients']:,}"),
        ("died within follow-up", f"{died:,} ({share(died / len(patients))})"
         + (f"; by cause: {of}" if of else "")),
        ("enrolled (time origin reached)", f"{a['n_enrolled']:,}"),
        ("with a baseline CTC count", f"{a['n_with_baseline_ctc']:,}"),
        ("baseline unfavourable (>= cut-off)", share(a["share_baseline_unfavourable"])),
        ("numbers from", source),
    ])
    groups, level = a["groups"], _level(run)
    body += "<h3>Survival by baseline CTC group</h3>" + table(
        ("group", "patients", "OS events", f"median OS ({level} CI)", "PFS events",
         f"median PFS ({level} CI)"),
        [(g, groups[g]["n"], groups[g]["os_events"], _median(groups[g], "os"),
          groups[g]["pfs_events"], _median(groups[g], "pfs")) for g in CTC_GROUPS],
        numeric=(1, 2, 4))
    body += table(("endpoint", f"hazard ratio, unfavourable vs favourable ({level} CI)",
                   "log-rank p"),
                  [(name, _ratio(a["cox"][e]), number(a["logrank"][e]["p_value"], 2))
                   for e, name in (("os", "overall survival"),
                                   ("pfs", "progression-free survival"))])
    body += paragraph("Survival runs from each patient's origin: the start of the first "
                      "line of therapy when the scenario has therapy, else day 0. "
                      "What a small or short cohort cannot estimate is shown as –.",
                      css="note")
    if a.get("not_estimated"):  # (analysis.json of older versions lacks it)
        body += paragraph("Not estimated: " + "; ".join(a["not_estimated"]) + ".",
                          css="note")
    if a.get("few_at_risk"):  # (nor this)
        body += paragraph("Few at risk: " + "; ".join(a["few_at_risk"]) + ".", css="note")
    return Section("cohort-summary", "Cohort size and headline numbers", body)


def _survival(run: CohortRun) -> Section:
    from matplotlib.figure import Figure

    from metacascade.plots.cohort import plot_survival

    fig = Figure(figsize=(12.0, 5.5), layout="constrained")
    endpoints: tuple[Endpoint, ...] = ("os", "pfs")
    for ax, endpoint in zip(fig.subplots(1, 2), endpoints, strict=True):
        plot_survival(run.cohort.patients, endpoint, ax=ax,
                      confidence=float(run.analysis.get("confidence", CONFIDENCE)))
    text = paragraph("Kaplan-Meier curves per baseline CTC group with pointwise "
                     f"{_level(run)} bands, "
                     "censoring ticks and the numbers at risk below each axis.")
    return Section("survival", "Kaplan-Meier curves", text + figure(
        fig, alt="Kaplan-Meier curves of overall and progression-free survival"))


def _organs(run: CohortRun) -> Section:
    from matplotlib.figure import Figure

    from metacascade.plots.cohort import organ_label, plot_organs

    table_ = run.autopsy
    cancers = sorted(table_["cancer"].unique())
    min_mm = run.analysis["autopsy"]["min_diameter_mm"]
    body = paragraph(
        f"Share of patients with each organ involved (a lesion of at least {min_mm:g} mm) "
        "at death, or at the end of follow-up for a cancer none of whose patients died, "
        "beside the share in the autopsy series of diSibio & French 2008 (Figure 1). "
        "Each organ counts the patients whose body has it. An organ marked \"(not "
        "fitted)\" is compared, but the calibration did not fit the cancer's soil there "
        "to the paper's share: the stomach, intestines, breast, prostate and uterus (the "
        "paper's metastases there come mostly by direct or transcoelomic spread, which "
        "the model does not have), and every organ of a cancer the calibration does not "
        "fit.")
    if not cancers:
        return Section("organs", "Organ involvement against the autopsy table",
                       body + paragraph("No patients to count.", css="note"))
    fig = Figure(figsize=(6.5 * len(cancers), 7.0), layout="constrained")
    for ax, cancer in zip(np.atleast_1d(fig.subplots(1, len(cancers))), cancers, strict=True):
        plot_organs(table_[table_["cancer"] == cancer], ax=ax)
    body += figure(fig, alt="organ involvement against the autopsy table")
    rows = [(r.cancer, organ_label(r.organ, r.primary_site,
                                   r.calibration_target or pd.isna(r.disibio_share)),
             f"{int(r.n_involved)}/{int(r.n_patients)}", share(r.share),
             "–" if pd.isna(r.disibio_count) else f"{int(r.disibio_count)}/{int(r.disibio_n)}",
             share(None if pd.isna(r.disibio_share) else float(r.disibio_share)))
            for r in table_.itertuples(index=False)]
    body += table(("cancer", "organ", "simulated", "share", "diSibio 2008", "share"), rows,
                  numeric=(2, 3, 4, 5))
    return Section("organs", "Organ involvement against the autopsy table", body)


# -- helpers -------------------------------------------------------------------------------
def _level(run: CohortRun) -> str:
    """The analysis's confidence level as a percentage ("95%")."""
    return f"{100 * float(run.analysis.get('confidence', CONFIDENCE)):g}%"


def _stored_analysis(path: Path, n_patients: int) -> dict[str, Any] | None:
    """``analysis.json`` if it is of these patients, else None (then it is recomputed)."""
    file = path / "analysis.json"
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read {str(file)!r}: {error}") from None
    needed = ("n_patients", "groups", "cox", "logrank", "autopsy")
    if not isinstance(data, dict) or any(k not in data for k in needed):
        raise ReportError(f"{str(file)!r} is not the analysis `metacascade analyze` "
                               "writes; remove it or run metacascade analyze again")
    return data if data["n_patients"] == n_patients else None


def _median(group: dict[str, Any], endpoint: str) -> str:
    median = group.get(f"median_{endpoint}_days")
    low, high = group.get(f"median_{endpoint}_days_ci") or (None, None)
    if median is None:
        return "–"
    return f"{median:,.0f} d ({number(low, 4)}–{number(high, 4)})"


def _ratio(cox: dict[str, Any]) -> str:
    if cox.get("hazard_ratio") is None:
        return "–"
    return f"{cox['hazard_ratio']:.2f} ({cox['ci_low']:.2f}–{cox['ci_high']:.2f})"
