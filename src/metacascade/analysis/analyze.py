"""Analyse a virtual cohort directory: survival by CTC group, organs at death, timing.

:func:`analyze` reads a cohort directory (``manifest.json`` and the Parquet datasets
``patients/``, ``colonies/`` and ``observations/``, each a directory of shard files)
and writes three files (:data:`ANALYSIS_FILES`):

``analysis.json``
    Cohort size, baseline CTC groups, median overall and progression-free survival per
    group with 95% intervals (``confidence``: another level on request), deaths by
    cause (``deaths``: every patient who died, enrolled or not, where the survival
    groups count the enrolled with a baseline count; the cause is the total burden or a
    vital organ's) and the patients at risk at
    each median (``few_at_risk`` names a median reached with fewer than 10 at risk),
    log-rank tests and Cox hazard ratios
    (:mod:`metacascade.analysis.survival`), organ involvement at death against the
    diSibio & French 2008 autopsy series and time to first metastasis per organ
    (:mod:`metacascade.analysis.autopsy`). Plain JSON: keys sorted, floats to 12
    significant digits, what cannot be estimated (or is infinite) as ``null``.
``survival.png``
    Kaplan-Meier curves of OS and PFS per baseline CTC group, numbers at risk below.
``organs.png``
    Simulated against autopsy share of patients with each organ involved, per cancer
    (an organ the calibration did not fit to that share marked "(not fitted)").

Each file is written under a hidden temporary name first and moved into place with
:func:`os.replace` only once all three are written, so a failure leaves none half-written.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metacascade._checks import as_path, is_truth_value
from metacascade._version import __version__
from metacascade.analysis.autopsy import (
    AUTOPSY_MIN_DIAMETER_MM,
    INVOLVEMENT_COLUMNS,
    KEPT_MIN_DIAMETER_MM,
    TIMING_COLUMNS,
    _require,
    check_min_diameter,
    counted_colonies,
    involvement,
    scenario_body,
    time_to_first_metastasis,
)
from metacascade.analysis.survival import (
    CONFIDENCE,
    CTC_GROUPS,
    FEW_AT_RISK,
    FEW_AT_RISK_SHARE,
    Endpoint,
    check_confidence,
    cox_hazard_ratio,
    ctc_groups,
    logrank,
    median_survival,
)
from metacascade.errors import CohortError as CohortError  # (re-exported: it was here)
from metacascade.errors import MetacascadeError, OutputError, ParameterError, install_hint
from metacascade.outputs import plain_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The files :func:`analyze` writes.
ANALYSIS_FILES = ("analysis.json", "survival.png", "organs.png")
#: Columns each dataset must have for the analysis.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("patient", "cancer", "primary_organ", "enrolled", "baseline_ctc",
                 "ctc_cutoff", "os_days", "os_event", "pfs_days", "pfs_event", "death_day"),
    "colonies": ("patient", "organ", "founded_day", "diameter_mm_end"),
    "observations": ("patient", "time_days", "kind", "organ", "lesion"),
}
#: What ``read_cohort(..., read="analysis")`` keeps of the colonies and of the scans that
#: found a lesion: per patient and organ, each column's aggregate (pyarrow's). Enough for
#: :func:`involvement` (is a colony there at least so large?) and
#: :func:`time_to_first_metastasis` (when was the first founded, and first found?).
PER_ORGAN: dict[str, tuple[tuple[str, str], ...]] = {
    "colonies": (("founded_day", "min"), ("diameter_mm_end", "max")),
    "observations": (("time_days", "min"), ("kind", "min"), ("lesion", "min")),
}
#: The scans that found a lesion: the observations ``read="analysis"`` reduces.
_FOUND = [("kind", "==", "scan"), ("lesion", ">", 0)]
_ENDPOINTS: tuple[Endpoint, ...] = ("os", "pfs")
_DISIBIO = "diSibio & French 2008, Arch Pathol Lab Med 132:931, Figure 1"


@dataclass(frozen=True)
class CohortTables:
    """The tables of a cohort directory, as read by :func:`read_cohort`.

    Held in memory; :class:`metacascade.cohort.Cohort`, which
    :func:`~metacascade.cohort.simulate_cohort` returns, is the directory itself (it
    reads a table when asked).
    """

    manifest: dict[str, Any]
    patients: pd.DataFrame
    colonies: pd.DataFrame
    observations: pd.DataFrame


#: What :func:`read_cohort` reads: every row and column, or what the analysis reads.
READS = ("all", "analysis")


def read_cohort(cohort_dir: str | os.PathLike[str], *, read: str = "all") -> CohortTables:
    """Read a cohort directory's manifest and datasets.

    Parameters
    ----------
    cohort_dir
        Directory holding ``manifest.json`` and the ``patients``, ``colonies`` and
        ``observations`` Parquet datasets (or the path-like
        :class:`metacascade.cohort.Cohort` that :func:`~metacascade.cohort.simulate_cohort`
        returns). Only the shards the manifest lists as done are read (every shard, if
        it has no such list: a directory not written by ``metacascade cohort``), as
        :meth:`metacascade.cohort.Cohort.table` reads them; a shard a killed run renamed
        into place before its manifest said so is left out until ``--resume``. A
        dataset directory without shards is an empty table (a cohort without colonies
        has none to write).
    read
        ``"all"`` (default): every row and column. ``"analysis"``: what :func:`analyze`
        and the cohort's report use, which fits in memory for millions of patients:
        every column of the patients and, of the colonies and the observations, one row
        per patient and organ (:data:`PER_ORGAN`) with their :data:`REQUIRED_COLUMNS`:
        the largest ``diameter_mm_end`` and the earliest ``founded_day`` of the
        patient's colonies there, and of the scans that found a lesion there (``kind``
        ``"scan"``, ``lesion`` > 0) the earliest ``time_days`` and the smallest
        ``lesion`` (a colony id). Rows are sorted by patient and organ. The shards are
        read and reduced a part at a time, so the rows are never all in memory (the
        default population has about 27 colonies and 200 observations a patient, mostly
        blood draws, and about 5 pairs of patient and organ).

    Returns
    -------
    CohortTables
        The manifest and the three tables.

    Raises
    ------
    CohortError
        The directory, its manifest, a dataset or a shard the manifest lists is missing
        or unreadable, a table lacks a column the analysis needs, or there are no
        patients.

    """
    cohort = as_path(cohort_dir, "cohort_dir", noun="a directory's path")
    if read not in READS:
        raise ParameterError(f"read: {read!r} is not one of {', '.join(map(repr, READS))}")
    if not cohort.is_dir():
        raise CohortError(f"cohort directory {str(cohort)!r} does not exist or is not a "
                          "directory")
    manifest_path = cohort / "manifest.json"
    if not manifest_path.is_file():
        raise CohortError(f"{str(cohort)!r} is not a cohort directory: no manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CohortError(f"cannot read {str(manifest_path)!r}: {error}") from None
    if not isinstance(manifest, dict):
        raise CohortError(f"{str(manifest_path)!r} is not a JSON object")
    from metacascade.cohort.directory import FORMAT

    written = manifest.get("format")
    if written is not None and written != FORMAT:  # (hand-made manifests may give none)
        raise CohortError(f"{str(cohort)!r} holds a cohort of format {written!r}, written by "
                          f"another version of metacascade (this one reads {FORMAT!r}): its "
                          "tables mean other things (in format 7 baseline_ctc is per 7.5 mL "
                          "and PFS is censored at the last scan); simulate it again")
    done = manifest.get("shards_done")
    if done is not None and not (isinstance(done, list) and all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in done)):
        raise CohortError(f"{str(manifest_path)!r}: shards_done is not a list of shard "
                          "numbers")
    tables = {name: _read_dataset(cohort, name, done, lean=read == "analysis")
              for name in REQUIRED_COLUMNS}
    if tables["patients"].empty:
        raise CohortError(f"cohort {str(cohort)!r} has no patients")
    return CohortTables(manifest, tables["patients"], tables["colonies"],
                        tables["observations"])


def analyze(cohort_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *,
            min_diameter_mm: float = AUTOPSY_MIN_DIAMETER_MM,
            confidence: float = CONFIDENCE,
            progress: bool | Callable[[str], None] | None = None) -> dict[str, Any]:
    """Analyse a cohort and write :data:`ANALYSIS_FILES`.

    Parameters
    ----------
    cohort_dir
        The cohort directory (see :func:`read_cohort`), or the path-like
        :class:`metacascade.cohort.Cohort` that :func:`~metacascade.cohort.simulate_cohort`
        returns.
    out_dir
        Where to write; by default ``cohort_dir``. Created with its parents if missing;
        earlier outputs of the same names are replaced, other files left alone.
    min_diameter_mm
        Smallest colony counted as organ involvement at death, mm (a finite number
        >= 0). The default, 5, reads the autopsy as gross. A cohort keeps only the
        colonies of at least 1 mm at the end of follow-up (and those ever detected), so
        a smaller value counts those, not every established colony as the calibration's
        autopsy does (:class:`metacascade.calibration.model.Autopsy`);
        ``autopsy.counts`` in ``analysis.json`` says what was counted.
    confidence
        Two-sided level of the intervals of the medians and hazard ratios and of the
        curves' bands, strictly between 0 and 1 (default 0.95); ``analysis.json``
        records it as ``confidence``.
    progress
        A line saying what is under way as each step starts (a million patients take
        about half a minute: reading the shards, the survival models, the figures):
        ``True`` prints it to stderr (as ``metacascade analyze`` does on a terminal), a
        function is called with it (e.g. ``print`` or ``lines.append``), ``False`` or
        None (default) says nothing.

    Returns
    -------
    dict
        The content of ``analysis.json``.

    Raises
    ------
    ParameterError
        ``min_diameter_mm`` is not a finite number >= 0, or ``confidence`` not strictly
        between 0 and 1 (nothing is written).
    TypeError
        ``cohort_dir`` or ``out_dir`` is not a path, or ``progress`` is neither true,
        false, None nor a function (nothing is written).
    CohortError
        ``cohort_dir`` is not a readable cohort.
    OutputError
        ``out_dir`` cannot be written; nothing is left half-written.
    MetacascadeError
        lifelines, an optional dependency, is not installed.

    """
    check_min_diameter(min_diameter_mm)
    level = check_confidence(confidence)
    say = _progress(progress)
    directory = as_path(cohort_dir, "cohort_dir", noun="a directory's path")
    if out_dir is not None:
        as_path(out_dir, "out_dir", noun="a directory's path")
    try:
        import lifelines  # noqa: F401
    except ImportError:
        raise MetacascadeError("analysing a cohort needs lifelines: "
                               + install_hint("analysis")) from None
    say(f"reading {str(directory)!r}")
    cohort = read_cohort(cohort_dir, read="analysis")
    say(f"organs at death, time to first metastasis and survival of "
        f"{len(cohort.patients):,} patients")
    autopsy = involvement(cohort.patients, cohort.colonies, min_diameter_mm=min_diameter_mm,
                          body=scenario_body(cohort.manifest))
    timing = time_to_first_metastasis(cohort.colonies, cohort.observations)
    data = analysis_data(cohort, autopsy, timing, min_diameter_mm=min_diameter_mm,
                         confidence=level)
    plain: dict[str, Any] = plain_json(data)
    out = directory if out_dir is None else Path(out_dir)
    say("drawing survival.png and organs.png")
    _write_outputs(out, plain, _survival_figure(cohort.patients, plain, level),
                   _organs_figure(autopsy, min_diameter_mm))
    return plain


def _progress(progress: object) -> Callable[[str], None]:
    """Where :func:`analyze` says each step: stderr (True), ``progress`` or nowhere."""
    if is_truth_value(progress) and progress:
        return lambda line: print(line, file=sys.stderr, flush=True)
    if progress is None or is_truth_value(progress):
        return lambda _line: None
    if not callable(progress):
        raise TypeError(f"progress: expected True, False, None or a function taking a "
                        f"line, not {type(progress).__name__}")
    return progress


def analysis_data(cohort: CohortTables, autopsy: pd.DataFrame, timing: pd.DataFrame, *,
                  min_diameter_mm: float, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The content of ``analysis.json`` (before rounding) from a cohort's tables.

    Its intervals at the two-sided level ``confidence`` (default 0.95).

    ``autopsy`` and ``timing`` are :func:`~metacascade.analysis.autopsy.involvement` and
    :func:`~metacascade.analysis.autopsy.time_to_first_metastasis` of the cohort; a table
    that lacks their columns is named (``MetacascadeError``; ``TypeError`` for one that
    is no DataFrame).
    """
    _require(autopsy, INVOLVEMENT_COLUMNS, "autopsy")
    _require(timing, TIMING_COLUMNS, "timing")
    level = check_confidence(confidence)
    patients = cohort.patients
    grouped = ctc_groups(patients)
    n_baseline = len(grouped)
    return {
        "metacascade_version": __version__,
        "seed": cohort.manifest.get("seed"),
        "manifest_n_patients": cohort.manifest.get("n_patients"),
        "cohort_complete": cohort.manifest.get("complete"),
        "cancers": sorted(str(c) for c in patients["cancer"].unique()),
        "n_patients": len(patients),
        "n_enrolled": int(patients["enrolled"].astype(bool).sum()),
        "n_with_baseline_ctc": n_baseline,
        "share_baseline_unfavourable": (float(grouped["unfavourable"].mean())
                                        if n_baseline else None),
        "confidence": level,
        "deaths": _deaths(patients),
        "groups": (groups := _groups(patients, level)),
        "logrank": {e: asdict(logrank(patients, e)) for e in _ENDPOINTS},
        "cox": (cox := {e: asdict(cox_hazard_ratio(patients, e, confidence=level))
                        for e in _ENDPOINTS}),
        "not_estimated": _not_estimated(groups, cox),
        "few_at_risk": _few_at_risk(groups),
        "autopsy": _autopsy_data(autopsy, min_diameter_mm),
        "time_to_first_metastasis": {
            "clock": "simulation day (day 0: start of the simulated natural history)",
            "counts": (f"founding: the colonies a cohort keeps (at least "
                       f"{KEPT_MIN_DIAMETER_MM:g} mm at the end of follow-up, or detected), "
                       "not every colony founded; detection: scans that found a colony"),
            "organs": {str(organ): row for organ, row in timing.to_dict("index").items()},
        },
    }


# -- parts of analysis.json ---------------------------------------------------------------
def _deaths(patients: pd.DataFrame) -> dict[str, Any]:
    """Deaths in follow-up by cause: the total burden or a vital organ's (``death_cause``).

    Every patient who died counts, enrolled or not (the survival groups count only the
    enrolled patients with a baseline count).
    """
    if "death_cause" not in patients:  # (a table of another kind)
        return {"n": None, "by_cause": {}}
    causes = patients["death_cause"].fillna("").astype(str)
    causes = causes[causes != ""]
    return {"n": len(causes),
            "by_cause": {str(k): int(v) for k, v in causes.value_counts().sort_index().items()}}


def _groups(patients: pd.DataFrame, confidence: float) -> dict[str, dict[str, Any]]:
    grouped = ctc_groups(patients)
    out: dict[str, dict[str, Any]] = {
        g: {"n": int((grouped["baseline_ctc_group"] == g).sum())} for g in CTC_GROUPS}
    for endpoint in _ENDPOINTS:
        medians = median_survival(patients, endpoint, confidence=confidence)
        for group in CTC_GROUPS:
            entry = medians.get(group)
            out[group].update({
                f"{endpoint}_events": 0 if entry is None else entry.events,
                f"median_{endpoint}_days": None if entry is None else entry.median_days,
                f"median_{endpoint}_days_ci": [None, None] if entry is None
                else [entry.ci_low, entry.ci_high],
                f"median_{endpoint}_at_risk": None if entry is None
                else entry.at_risk_at_median,
            })
    return out


def _not_estimated(groups: Mapping[str, Mapping[str, Any]],
                   cox: Mapping[Endpoint, Mapping[str, Any]]) -> list[str]:
    """Why each null median and hazard ratio is null, one line each (empty if none is)."""
    notes: list[str] = []
    for endpoint in _ENDPOINTS:
        name = endpoint.upper()
        for group in CTC_GROUPS:
            entry = groups[group]
            n, events = entry["n"], entry[f"{endpoint}_events"]
            if entry[f"median_{endpoint}_days"] is not None:
                continue
            if n == 0:
                notes.append(f"median {name}, {group} group: the group is empty")
            elif events == 0:
                notes.append(f"median {name}, {group} group: no event among its {n} "
                             f"patient{'s' * (n != 1)} during follow-up")
            else:
                notes.append(f"median {name}, {group} group: not reached ({events} "
                             f"event{'s' * (events != 1)} "
                             f"among {n} patient{'s' * (n != 1)})")
        if cox[endpoint]["hazard_ratio"] is None:
            empty = [g for g in CTC_GROUPS if groups[g]["n"] == 0]
            silent = [g for g in CTC_GROUPS if groups[g][f"{endpoint}_events"] == 0]
            why = (f"the {' and '.join(empty)} group{'s are' if len(empty) > 1 else ' is'} "
                   "empty" if empty else
                   f"no event in the {' and '.join(silent)} group{'s' * (len(silent) > 1)}"
                   if silent else "the Cox fit did not converge")
            notes.append(f"{name} hazard ratio: {why}")
    return notes


def _few(at_risk: int, n: int) -> bool:
    """Whether a median's patients at risk are few: under both thresholds.

    FEW_AT_RISK patients and FEW_AT_RISK_SHARE of the group (without censoring about half
    the group is at risk at its median, which is no sign of a fragile one).
    """
    return at_risk < FEW_AT_RISK and at_risk < FEW_AT_RISK_SHARE * n


def _few_at_risk(groups: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Each median reached with fewer than FEW_AT_RISK patients at risk, one line each."""
    notes: list[str] = []
    for endpoint in _ENDPOINTS:
        for group in CTC_GROUPS:
            entry = groups[group]
            at_risk = entry[f"median_{endpoint}_at_risk"]
            if at_risk is None or not _few(at_risk, entry["n"]):
                continue
            events = entry[f"{endpoint}_events"]
            notes.append(
                f"median {endpoint.upper()}, {group} group: {entry[f'median_{endpoint}_days']:g}"
                f" days, with {at_risk} patient{'s' * (at_risk != 1)} at risk then "
                f"({events} event{'s' * (events != 1)} among {entry['n']} "
                f"patient{'s' * (entry['n'] != 1)}): "
                f"fewer than {FEW_AT_RISK} and than {FEW_AT_RISK_SHARE:.0%} of the group, "
                "it rests on the last patients followed")
    return notes


def _autopsy_data(table: pd.DataFrame, min_diameter_mm: float) -> dict[str, Any]:
    by_cancer: dict[str, Any] = {}
    for cancer, rows in table.groupby("cancer", sort=True):
        first = rows.iloc[0]
        by_cancer[str(cancer)] = {
            "basis": first["basis"],
            "n_patients": int(rows["n_patients"].max()),
            "disibio_row": first["disibio_row"],
            "disibio_n": None if pd.isna(first["disibio_n"]) else int(first["disibio_n"]),
            "organs": {
                row.organ: {
                    "n_involved": int(row.n_involved),
                    "share": row.share,
                    "disibio_count": None if pd.isna(row.disibio_count)
                    else int(row.disibio_count),
                    "disibio_share": row.disibio_share,
                    "primary_site": bool(row.primary_site),
                    "calibration_target": bool(row.calibration_target),
                    "n_patients": int(row.n_patients),
                } for row in rows.itertuples(index=False)
            },
        }
    return {"min_diameter_mm": min_diameter_mm, "counts": counted_colonies(min_diameter_mm),
            "source": _DISIBIO, "by_cancer": by_cancer}


# -- figures --------------------------------------------------------------------------------
def _survival_figure(patients: pd.DataFrame, data: Mapping[str, Any],
                     confidence: float) -> Figure:
    from matplotlib.figure import Figure

    from metacascade.plots.cohort import plot_survival

    figure = Figure(figsize=(12.0, 5.5))
    axes = figure.subplots(1, 2)
    names = {"os": "overall survival", "pfs": "progression-free survival"}
    for ax, endpoint in zip(axes, _ENDPOINTS, strict=True):
        plot_survival(patients, endpoint, ax=ax, confidence=confidence,
                      title=_survival_title(names[endpoint], data["cox"][endpoint],
                                            data["logrank"][endpoint]))
    figure.tight_layout()
    return figure


def _survival_title(name: str, cox: Mapping[str, Any], test: Mapping[str, Any]) -> str:
    parts = [name]
    if cox["hazard_ratio"] is not None:
        ci = ("" if cox["ci_low"] is None or cox["ci_high"] is None
              else f" ({cox['ci_low']:.2f}-{cox['ci_high']:.2f})")
        parts.append(f"HR {cox['hazard_ratio']:.2f}{ci}")
    if test["p_value"] is not None:
        parts.append(f"log-rank p = {test['p_value']:.2g}")
    return "\n".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else name


def _organs_figure(table: pd.DataFrame, min_diameter_mm: float) -> Figure:
    from matplotlib.figure import Figure

    from metacascade.plots.cohort import plot_organs

    cancers = sorted(table["cancer"].unique()) or [""]
    figure = Figure(figsize=(6.5 * len(cancers), 7.0))
    axes = np.atleast_1d(figure.subplots(1, len(cancers)))
    for ax, cancer in zip(axes, cancers, strict=True):
        rows = table[table["cancer"] == cancer]
        basis = "end of follow-up" if (rows["basis"] == "end_of_follow_up").any() else "death"
        n = int(rows["n_patients"].max()) if len(rows) else 0
        shown = max(min_diameter_mm, KEPT_MIN_DIAMETER_MM)  # (what the cohort kept)
        plot_organs(rows, ax=ax, title=f"{cancer}: lesions >= {shown:g} mm at "
                                       f"{basis} (n={n})")
    figure.tight_layout()
    return figure


# -- reading and writing ----------------------------------------------------------------
def _read_dataset(cohort: Path, name: str, done: list[int] | None, *, lean: bool = False,
                  ) -> pd.DataFrame:
    """One dataset: the shards ``done`` lists (all of them if None).

    ``lean``: of the colonies and observations one row per patient and organ
    (:data:`PER_ORGAN`, ``read="analysis"``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from metacascade.cohort.shards import shard_file

    path = cohort / name
    columns = REQUIRED_COLUMNS[name]
    if not path.is_dir():
        raise CohortError(f"{str(cohort)!r} is not a cohort directory: no {name}/ dataset")
    if done is None:
        shards = sorted(path.glob("*.parquet"))
    else:
        shards = [path / shard_file(i) for i in sorted(done)]
        missing = [p.name for p in shards if not p.is_file()]
        if missing:
            raise CohortError(f"the {name}/ dataset of {str(cohort)!r} lacks "
                              f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}, "
                              "which the manifest lists as done")
    if not shards:
        if name == "patients":
            raise CohortError(f"cohort {str(cohort)!r} has no patients: {name}/ holds no "
                              "Parquet shards" + ("" if done is None else " listed as done"))
        return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES.get(c, "float64"))
                             for c in columns})
    try:
        if lean and name != "patients":
            present = pq.read_schema(str(shards[0])).names
            missing = [c for c in columns if c not in present]
            if missing:
                raise CohortError(f"the {name}/ dataset of {str(cohort)!r} lacks column(s) "
                                  f"{', '.join(missing)}")
            table = _per_organ(shards, name)
        else:
            table = pq.read_table([str(p) for p in shards]).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as error:
        raise CohortError(f"cannot read the {name}/ dataset of {str(cohort)!r}: "
                          f"{error}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise CohortError(f"the {name}/ dataset of {str(cohort)!r} lacks column(s) "
                          f"{', '.join(missing)}")
    return table


def _per_organ(shards: list[Path], name: str) -> pd.DataFrame:
    """The :data:`PER_ORGAN` rows of dataset ``name`` in ``shards``.

    Reduced a batch at a time. A patient's rows are in one shard, but may be in two of
    its batches (or, in a dataset not written by a cohort, in two shards): the rows of a
    patient and organ found in more than one batch are reduced again, as the minimum and
    maximum allow. (Reducing every row again would take about a gigabyte more for a
    million patients: pyarrow's hash table of 5 million string keys.)
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    keys = ["patient", "organ"]
    order = [(key, "ascending") for key in keys]
    aggregates = list(PER_ORGAN[name])
    columns = [*keys, *(column for column, _ in aggregates)]
    found = pq.filters_to_expression(_FOUND) if name == "observations" else None
    # The observations' text columns are read as their dictionaries: the scans are
    # picked out without decoding the text of every blood draw (1M patients: 5.9 s ->
    # 4.6 s; the colonies, all kept, are read as text: quicker).
    text = ["organ", "kind"] if found is not None else []
    parquet = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=text))
    scanner = ds.dataset([str(p) for p in shards], format=parquet).scanner(
        columns=columns, filter=found)

    def as_text(table: pa.Table) -> pa.Table:
        for column in text:  # (each batch has a dictionary of its own)
            table = table.set_column(table.column_names.index(column), column,
                                     table[column].cast(pa.string()))
        return table

    def reduce(table: pa.Table) -> pa.Table:
        out = table.group_by(keys, use_threads=False).aggregate(aggregates)
        return out.rename_columns(columns)

    parts = [reduce(as_text(pa.Table.from_batches([batch])))
             for batch in scanner.to_batches() if batch.num_rows]
    if not parts:  # (no rows, with the columns' types)
        return as_text(scanner.to_table()).select(list(REQUIRED_COLUMNS[name])).to_pandas()
    table = pa.concat_tables(parts).sort_by(order)
    del parts
    patient, organ = table["patient"], table["organ"]
    again = pc.and_(pc.equal(patient[1:], patient[:-1]),
                    pc.equal(organ[1:], organ[:-1])).to_numpy(zero_copy_only=False)
    if again.any():  # each such row, and the one before it
        twice = np.zeros(len(table), dtype=bool)
        twice[1:] |= again
        twice[:-1] |= again
        table = pa.concat_tables([table.filter(pa.array(~twice)),
                                  reduce(table.filter(pa.array(twice)))]).sort_by(order)
    return table.select(list(REQUIRED_COLUMNS[name])).to_pandas()


_EMPTY_DTYPES = {"patient": "int64", "lesion": "int64", "organ": "object",
                 "kind": "object"}


def _write_outputs(out: Path, data: Any, survival: Figure, organs: Figure) -> None:
    """Write the three files under temporary names, then move each into place."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output directory {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {str(out)!r}: {error.strerror or error}") from None
    tag = f"partial-{os.getpid()}-{secrets.token_hex(4)}"
    staged = {name: out / f".{name}.{tag}" for name in ANALYSIS_FILES}
    try:
        text = json.dumps(data, sort_keys=True, indent=2, allow_nan=False) + "\n"
        staged["analysis.json"].write_text(text, encoding="utf-8")
        for name, figure in (("survival.png", survival), ("organs.png", organs)):
            figure.savefig(staged[name], format="png", dpi=110, metadata={"Software": None})
        for name in ANALYSIS_FILES:
            os.replace(staged[name], out / name)
    except OSError as error:
        raise OutputError(f"cannot write {str(out)!r}: {error.strerror or error}") from None
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)
