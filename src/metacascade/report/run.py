"""The report of one simulated patient, read from the directory ``metacascade simulate`` wrote.

Everything comes from the files (:data:`metacascade.outputs.OUTPUT_FILES`); nothing is
simulated again. The cascade funnel and the seeding tree are the engine's natural
history (``summary.json``, ``colonies.parquet``); the body map, CTC counts, imaging,
stage and survival are the clinical course, with therapy (``lesions.parquet``,
``observations.parquet`` and the ``clinical`` block of ``summary.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metacascade.clinic.biopsy import PERIPHERAL_SITE, SAMPLE_VOLUME_ML, ctc_cutoff, per_7_5_ml
from metacascade.describe import scenario_text
from metacascade.errors import MetacascadeError
from metacascade.outputs import BODY_MIN_DIAMETER_MM
from metacascade.plots.fates import (
    FATE_STEPS,
    STEP_NOTES,
    funnel_counts,
    funnel_counts_by_organ,
    funnel_shares,
)
from metacascade.report.citations import citations_section
from metacascade.report.errors import ReportError
from metacascade.report.html import (
    Cell,
    Section,
    days,
    details,
    facts,
    figure,
    number,
    paragraph,
    share,
    table,
)
from metacascade.scenario import Scenario, load_scenario
from metacascade.units import years_text

#: Files of a run directory the report needs (``lesions.parquet`` is optional: older
#: directories lack it and get no body map).
REQUIRED_FILES = ("summary.json", "scenario.yaml", "provenance.json", "colonies.parquet",
                  "observations.parquet")
#: Steps of the funnel that branch off the main line (no share of the step above).
_BRANCHES = ("dormant now",)
#: Lesions listed one by one in the imaging section, at most.
MAX_LESIONS_LISTED = 200


@dataclass(frozen=True)
class Run:
    """What a run directory holds, read."""

    path: Path
    summary: dict[str, Any]
    scenario: Scenario
    provenance: dict[str, Any]
    colonies: pd.DataFrame
    observations: pd.DataFrame
    lesions: pd.DataFrame | None

    @property
    def clinical(self) -> dict[str, Any]:
        """The ``clinical`` block of ``summary.json``."""
        block: dict[str, Any] = self.summary.get("clinical") or {}
        return block

    @property
    def end_day(self) -> float:
        """End of follow-up: death, or the horizon."""
        return float(self.clinical.get("overall_survival_days",
                                       self.summary["horizon_days"]))


def read_run(path: Path) -> Run:
    """Read a run directory; :class:`ReportError` names a missing or unreadable file."""
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ReportError(f"{str(path)!r} is not a complete simulation directory: "
                          f"{', '.join(missing)} missing (expected the files "
                          "`metacascade simulate --out DIR` writes)")
    summary, provenance = _json(path / "summary.json"), _json(path / "provenance.json")
    for key in ("ledger", "ledger_by_organ", "macrometastases", "macrometastases_by_organ",
                "horizon_days"):
        if key not in summary:
            raise ReportError(f"{str(path / 'summary.json')!r} has no {key!r}; expected "
                              "the summary `metacascade simulate` writes")
    try:
        scenario = load_scenario(path / "scenario.yaml")
    except MetacascadeError as error:
        raise ReportError(f"{str(path / 'scenario.yaml')!r}: {error}") from None
    lesions = path / "lesions.parquet"
    return Run(path=path, summary=summary, scenario=scenario,
               provenance=provenance, colonies=_parquet(path / "colonies.parquet"),
               observations=_parquet(path / "observations.parquet"),
               lesions=_parquet(lesions) if lesions.is_file() else None)


def run_title(run: Run) -> tuple[str, str]:
    """Title and subtitle of the page."""
    s = run.summary
    version = run.provenance.get("version", "?")
    return (f"{s.get('cancer', run.scenario.cancer)} primary: one simulated patient",
            f"body {s.get('body', '?')}, {years_text(s.get('horizon_years', 0))}, seed "
            f"{s.get('seed', '?')}; metacascade {version}; from {run.path}")


def run_sections(run: Run) -> list[Section]:
    """The sections of a single run's report, in order.

    A run whose clinic schedules no scans and no blood draws (or that has no clinic)
    gets one section saying so (``clinic``) in place of the CTC and imaging sections,
    which would be empty.
    """
    clinical = [_ctc(run), _imaging(run)] if _scheduled(run) else [_no_clinic(run)]
    return [_scenario(run), _funnel(run), _body_map(run), _seeding(run), *clinical,
            _stage(run),
            citations_section(run.scenario, recorded_keys=run.provenance.get("citations", ()),
                              note="The parameters of this run: the catalog's, with the "
                                   "scenario's overrides.")]


# -- sections ------------------------------------------------------------------------------
def _scenario(run: Run) -> Section:
    s, p = run.summary, run.provenance
    body = "".join(paragraph(text) for text in scenario_text(run.scenario))
    body += facts([
        ("cancer", s.get("cancer", "?")), ("body", s.get("body", "?")),
        ("seed", s.get("seed", "?")), ("horizon", f"{s['horizon_days']:g} days"),
        ("engine", p.get("engine", "?")), ("metacascade", p.get("version", "?")),
        ("Python", p.get("python", "?")),
        ("re-run", "metacascade simulate --scenario scenario.yaml --out NEW_DIR"),
    ])
    return Section("scenario", "The scenario in words", body)


def _funnel(run: Run) -> Section:
    from matplotlib.figure import Figure

    from metacascade.plots.fates import plot_fates, plot_fates_by_organ

    s = run.summary
    counts = funnel_counts(s["ledger"], s["macrometastases"])
    by_organ = funnel_counts_by_organ(
        pd.DataFrame.from_dict(s["ledger_by_organ"], orient="index"),
        s["macrometastases_by_organ"])
    shares = funnel_shares(counts)
    rows = []
    for step in FATE_STEPS:
        value, of = counts[step], shares[step]
        shown = (f"{share(of[0])} of {of[1]}" if of is not None
                 else "branch (no share)" if step in _BRANCHES else "–")
        rows.append((step, Cell(f"{value:,}", numeric=True,
                                attributes=f'data-step="{step}" data-value="{value}"'), shown,
                     Cell(STEP_NOTES[step], css="note")))
    period = _counted_period(run)
    fig = Figure(figsize=(12.0, 5.0), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[1.4, 1.0])
    plot_fates(counts, ax=left, title=f"cell fates {period}")
    plot_fates_by_organ(by_organ, ax=right)
    right.tick_params(labelleft=False)
    text = paragraph(
        f"How many cells reached each step of the cascade {period}, from shedding to "
        "macrometastasis (at least the macrometastasis diameter). Cells up to 'divided', "
        "colonies from 'colonies founded' on. These are the engine's natural history, "
        "before any therapy: therapy acts on the clinical course (body map, CTC counts, "
        "survival below).")
    if s.get("history_end_day") is not None:
        text += paragraph(_ended_note(run), css="note")
    return Section("funnel", "Cascade funnel", text + table(
        ("step", "count", "share", "what it counts"), rows) + figure(
        fig, alt="cascade funnel", caption="Left: cells (colonies) reaching each step, log "
        "scale. Right: which organs hold each step's cells."))


def _body_map(run: Run) -> Section:
    from matplotlib.figure import Figure

    from metacascade.plots.clinic import plot_body

    if run.lesions is None:
        return Section("body-map", "Body map", paragraph(
            "This run directory has no lesions.parquet (it was written by an earlier "
            "metacascade), so the lesions' sizes at the end of follow-up are unknown here. "
            "Re-run `metacascade simulate --scenario scenario.yaml --out NEW_DIR` to get "
            "them.", css="note"))
    body, cancer = run.scenario.resolve()
    lesions = run.lesions
    fig = Figure(figsize=(6.0, 8.0), layout="constrained")
    plot_body(lesions, primary_organ=cancer.primary_organ,
              sex="female" if body.sex == "female" else "male", ax=fig.subplots(),
              title=f"lesions >= {BODY_MIN_DIAMETER_MM:g} mm at day {run.end_day:.0f}",
              primary_removed=run.scenario.primary_removed_by(run.end_day))
    grouped = lesions.groupby("organ", sort=False)
    table_rows = sorted(
        ((str(organ), len(rows), int(rows["detected"].sum()),
          int(rows["umbilicated"].sum()), f"{rows['diameter_mm'].max():.1f}")
         for organ, rows in grouped), key=lambda row: (-row[1], row[0]))
    n, found = len(lesions), int(lesions["detected"].sum())
    seen = (f"{found:,} found by a scan (filled), {n - found:,} occult (hollow)"
            if _scheduled(run, "scans") else "all occult (hollow: no scan looked for them)")
    text = paragraph(
        f"{n:,} lesions of at least {BODY_MIN_DIAMETER_MM:g} mm at the end of follow-up "
        f"(day {run.end_day:,.0f}), at their sizes under therapy: {seen}, "
        f"{int(lesions['umbilicated'].sum()):,} umbilicated (a necrotic centre on the "
        "surface: the dark dot).")
    return Section("body-map", "Body map", text + figure(
        fig, alt="body map", caption="Marker area grows with diameter; colour gives the "
        "depth (surface or deep); the star is the primary; the dashed circle beside the "
        "legs holds the lesions of the rest of the body (tissues that are none of the "
        "organs named).") + table(
        ("organ", "lesions", "detected", "umbilicated", "largest (mm)"), table_rows,
        numeric=(1, 2, 3, 4)))


def _seeding(run: Run) -> Section:
    from matplotlib.figure import Figure

    from metacascade.plots.seeding import plot_seeding_tree

    colonies = run.colonies
    ended = run.summary.get("history_end_day") is not None
    if ended:  # (the colonies counted with the ledger: the first ones by id)
        colonies = colonies[colonies["id"] <= run.summary["ledger"]["colonies_founded"]]
    _, cancer = run.scenario.resolve()
    fig = Figure(figsize=(11.0, 5.5), layout="constrained")
    plot_seeding_tree(colonies, ax=fig.subplots(), primary_organ=cancer.primary_organ)
    rows = []
    for generation, group in colonies.groupby("generation", sort=True):
        organs = group["organ"].value_counts().head(3)
        top = ", ".join(f"{o} {c:,}" for o, c in organs.items())
        seeders = int(group.loc[group["parent"] > 0, "parent"].nunique())
        rows.append((int(generation), len(group), seeders, top))
    from_metastases = int((colonies["parent"] > 0).sum())
    text = paragraph(
        f"{len(colonies):,} colonies were founded {_counted_period(run)} (every size; "
        f"natural history, before therapy): {len(colonies) - from_metastases:,} by cells "
        f"from the primary and {from_metastases:,} by cells from metastases, which shed "
        "once vascularised.")
    later = len(run.colonies) - len(colonies)
    if later:  # (none when the last ledger record is the end's day or nothing came between)
        text += paragraph(f"colonies.parquet also holds the {later:,} "
                          f"{'colony' if later == 1 else 'colonies'} founded "
                          f"after that record, up to day {run.summary['history_end_day']:g}, "
                          "where the engine ended the history; they are not counted here.",
                          css="note")
    return Section("seeding-tree", "Seeding tree", text + figure(
        fig, alt="seeding tree", caption="Which lesion seeded which: one row per "
        "generation. Past 40 colonies they are grouped by organ (node size: colonies; "
        "edge width: seeding events).") + table(
        ("generation", "colonies", "seeded by (distinct parents)", "top organs"), rows,
        numeric=(0, 1, 2)))


#: A scenario whose clinic has draws, scans and therapy.
EXAMPLE_CLINIC = "examples/breast_metastatic_ctc.yaml"


def _no_clinic(run: Run) -> Section:
    """The one section of a run without scans or blood draws."""
    if run.scenario.clinic is None:
        text = ("This run has no clinic: no scans or blood draws were scheduled and no "
                "therapy was given, so there are no CTC counts, imaging findings or stage; "
                "the patient is only followed to a lethal tumour burden (below).")
    else:
        text = ("This run's clinic schedules no scans or blood draws, so there are no CTC "
                "counts, imaging findings or stage.")
    text += (f" See {EXAMPLE_CLINIC} (in the metacascade source) for a scenario with "
             "scans, CTC draws and therapy.")
    return Section("clinic", "Clinic", paragraph(text))


def _ctc(run: Run) -> Section:
    from matplotlib.figure import Figure

    from metacascade.plots.clinic import plot_ctc

    cutoff = float(run.clinical.get("ctc_cutoff") or ctc_cutoff(run.scenario.cancer))
    table_draws = _ctc_draws(run)
    if table_draws.empty:
        return Section("ctc", "CTC counts over time", paragraph(
            f"No blood draws were scheduled (the scenario's clinic has no draws), so there "
            f"are no CTC counts. The unfavourable cut-off for this cancer is {cutoff:g} "
            "CTCs per 7.5 mL."))
    fig = Figure(figsize=(10.0, 4.5), layout="constrained")
    plot_ctc(table_draws, cutoff=cutoff, therapy=_therapy_spans(run), ax=fig.subplots(),
             title=f"CTC per 7.5 mL, {run.scenario.cancer}", follow_up_days=run.end_day)
    rows = []
    for site, group in table_draws.groupby("site", sort=False):
        scaled = per_7_5_ml(group["count"], group["volume_ml"])
        high = group[scaled >= cutoff]
        peripheral = site == PERIPHERAL_SITE
        rows.append((site, len(group), number(float(np.median(scaled))),
                     number(float(scaled.max())), len(high) if peripheral else "–",
                     ("–" if not peripheral else days(float(high["time_days"].min()))
                      if len(high) else "never")))
    text = paragraph(f"CTCs counted at each draw, per 7.5 mL of blood (a count in another "
                     f"volume scaled to 7.5 mL); in peripheral (arm-vein) blood {cutoff:g} "
                     "or more is the unfavourable group (dashed line, diamonds): the "
                     "cut-off does not apply to the blood of the tumour's or an organ's "
                     "vein. Shaded spans are the lines of therapy.")
    return Section("ctc", "CTC counts over time", text + figure(
        fig, alt="CTC counts over time") + table(
        ("site", "draws", "median", "max", f">= {cutoff:g}", "first >= cut-off"), rows,
        numeric=(1, 2, 3, 4)))


def _ctc_draws(run: Run) -> pd.DataFrame:
    """The run's draws: ``time_days``, ``count``, ``site``, ``volume_ml``.

    From ``summary.json``'s ``ctc_draws`` (which give the volume); from the
    observations, at 7.5 mL, for a run written before they did.
    """
    given = run.clinical.get("ctc_draws") or []
    if given and all("volume_ml" in d for d in given):
        return pd.DataFrame({"time_days": [float(d["time_days"]) for d in given],
                             "count": [float(d["count"]) for d in given],
                             "site": [str(d["site"]) for d in given],
                             "volume_ml": [float(d["volume_ml"]) for d in given]})
    obs = run.observations
    draws = obs[obs["kind"] == "draw"]
    return pd.DataFrame({"time_days": draws["time_days"].to_numpy(),
                         "count": draws["value"].round().to_numpy(),
                         "site": draws["name"].to_numpy(),
                         "volume_ml": SAMPLE_VOLUME_ML})


def _imaging(run: Run) -> Section:
    obs = run.observations
    scans = obs[obs["kind"] == "scan"]
    if scans.empty:
        return Section("imaging", "Imaging findings", paragraph(
            "No scans were scheduled (the scenario's clinic has no scans), so no lesion "
            "was found."))
    found = scans[scans["lesion"] >= 0]
    by_modality = [(m, group["time_days"].nunique(), found[found["name"] == m]["lesion"]
                    .nunique()) for m, group in scans.groupby("name", sort=True)]
    first = found.sort_values(["time_days", "lesion"], kind="stable").groupby(
        "lesion", sort=False).agg(organ=("organ", "first"), day=("time_days", "first"),
                                  modality=("name", "first"), at_first=("value", "first"),
                                  largest=("value", "max"), times=("time_days", "nunique"))
    organ_rows = []
    where = first["organ"].where(first.index > 0, "primary (" + first["organ"] + ")")
    for organ, group in first.groupby(where, sort=False):
        organ_rows.append((organ, len(group), days(float(group["day"].min())),
                           f"{group['largest'].max():.1f}"))
    organ_rows.sort(key=lambda row: (-int(row[1]), str(row[0])))
    listed = first.sort_values(["day"], kind="stable").head(MAX_LESIONS_LISTED)
    lesion_rows = [(("primary" if lesion == 0 else int(lesion)), r.organ, days(r.day),
                    r.modality, f"{r.at_first:.1f}", f"{r.largest:.1f}", int(r.times))
                   for lesion, r in zip(listed.index, listed.itertuples(), strict=True)]
    more = len(first) - len(listed)
    text = paragraph(
        f"{int(scans['time_days'].nunique()):,} scan days; {len(first):,} lesions found at "
        f"least once ({int((first.index > 0).sum()):,} metastases, the primary counted "
        "apart). Diameters are those measured at the scans, in mm.")
    lesion_table = table(("lesion", "organ", "first found", "by", "mm then", "largest mm",
                          "scans that found it"), lesion_rows, numeric=(4, 5, 6))
    if more > 0:
        lesion_table += paragraph(f"... and {more:,} more.", css="note")
    return Section("imaging", "Imaging findings", text + table(
        ("modality", "scan days", "lesions found"), by_modality, numeric=(1, 2)) + table(
        ("organ", "lesions found", "first found", "largest mm"), organ_rows,
        numeric=(1, 3)) + details(f"every lesion found ({len(first):,})", lesion_table))


def _stage(run: Run) -> Section:
    c = run.clinical
    stages = c.get("stage_over_time", [])
    dead = c.get("death_day") is not None
    items: list[tuple[str, object]] = [] if not _scheduled(run, "scans") else [
        ("stage at the end", stages[-1]["stage"] if stages else "never staged"),
        ("first distant metastasis found", days(c.get("first_detection_day"))
         if c.get("first_detection_day") is not None else "never"),
    ]
    items += [
        ("first progression" + (" on therapy" if c.get("therapy") else ""),
         f"{days(c['progression_day'])}: {c.get('progression_reason')}"
         if c.get("progression_day") is not None else "none"),
        ("death", f"{days(c['death_day'])}, {c.get('death_cause')} burden" if dead
         else "alive at the end of follow-up"),
        ("overall survival", _survival(c, "overall_survival")),
        ("progression-free survival", _survival(c, "progression_free_survival")),
    ]
    if run.scenario.clinic is not None and run.scenario.clinic.therapy is not None:
        items.append(("colonies prevented / eradicated by therapy",
                      f"{c.get('colonies_prevented_by_therapy', 0):,} / "
                      f"{c.get('colonies_eradicated_by_therapy', 0):,}"))
    body = facts(items)
    title = "Stage and survival" if _scheduled(run, "scans") else "Survival"
    if stages:
        body += "<h3>Stage over time</h3>" + table(
            ("from", "stage"), [(days(s["time_days"]), s["stage"]) for s in stages])
    if c.get("therapy"):
        body += "<h3>Lines of therapy</h3>" + table(
            ("line", "regimen", "kind", "start", "end", "why it ended"),
            [(t["line"], t["regimen"], t["kind"], days(t["start_day"]),
              days(t["end_day"]) if t["end_day"] is not None else "end of follow-up",
              t["end_reason"] or "–") for t in c["therapy"]])
    if c.get("progressions"):
        therapy = run.scenario.clinic.therapy if run.scenario.clinic is not None else None
        at_m1 = therapy is not None and therapy.start_at_m1
        body += "<h3>Progressions (RECIST 1.1, simplified" + (
            ", on therapy: the scan that found the first distant lesion and started it "
            "is the first line's baseline" if c.get("therapy") and at_m1
            else ", on therapy" if c.get("therapy") else "") + ")</h3>" + table(
            ("day", "reason"), [(days(p["time_days"]), p["reason"]) for p in c["progressions"]])
    return Section("stage-survival", title, body)


# -- helpers -------------------------------------------------------------------------------
def _scheduled(run: Run, what: str | None = None) -> bool:
    """Whether the run's clinic schedules ``what`` ("scans", "draws"; None: either)."""
    clinic = run.scenario.clinic
    if clinic is None:
        return False
    if what is None:
        return bool(clinic.scans or clinic.draws)
    return bool(getattr(clinic, what))


def _counted_period(run: Run) -> str:
    """Over what period the natural history's counts run: "by the horizon (day ...)".

    Or by the last ledger record before the day the engine ended the history at the
    colony limit (``counted_to_day`` of ``summary.json``; older directories lack it).
    """
    s = run.summary
    if s.get("history_end_day") is None:
        return f"by the horizon (day {s['horizon_days']:g})"
    day = s.get("counted_to_day")
    return ("by the last ledger record before the history was ended" if day is None
            else f"by day {day:g}")


def _ended_note(run: Run) -> str:
    """What a history ended at the colony limit means for the counts."""
    from metacascade.engine.limits import MAX_COLONIES

    s = run.summary
    day = s.get("counted_to_day")
    record = ("its last ledger record on or before that day" if day is None
              else f"day {day:g}, its last ledger record on or before that day")
    return (f"The natural history was ended on day {s['history_end_day']:g} (year "
            f"{s['history_end_day'] / 365.25:.1f}), where its colonies would have passed "
            f"the engine's limit of {MAX_COLONIES:,} per patient: nothing is founded after "
            f"it. Every count here (cells, colonies, macrometastases) is taken on {record}.")


def _survival(clinical: dict[str, Any], name: str) -> str:
    value = clinical.get(f"{name}_days")
    if value is None:
        return "–"
    censored = ((" (censored at the last scan: no progression or death seen)"
                 if name == "progression_free_survival"
                 else " (censored: alive at the end of follow-up)")
                if clinical.get(f"{name}_censored") else "")
    return f"{value:,.0f} days, {value / 365.25:.2f} years{censored}"


def _therapy_spans(run: Run) -> list[tuple[float, float, str]]:
    spans = []
    for line in run.clinical.get("therapy", []):
        end = run.end_day if line["end_day"] is None else float(line["end_day"])
        if end > float(line["start_day"]):
            spans.append((float(line["start_day"]), end, str(line["regimen"])))
    return spans


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read {str(path)!r}: {error}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{str(path)!r} is not a JSON object")
    return data


def _parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise ReportError(f"cannot read {str(path)!r}: {error}") from None
