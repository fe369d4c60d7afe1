"""Write one simulated patient to a directory, atomically.

:func:`write_simulation` writes ten files:

``summary.json``
    :meth:`Result.summary` (whole-body ledger, ledger by organ, colonies and
    macrometastases by organ, seed) with the cancer and body, and a ``clinical`` block
    (:meth:`metacascade.clinic.course.ClinicalCourse.summary`: stage over time, first
    detection, CTC counts per draw, progression, death, survival). Each ledger field is
    said in a sentence in :mod:`metacascade.engine.result`; note that
    ``colonies_extinct`` (cells that divided but whose lineage died out) are not among
    ``colonies_founded``, and ``dormant_now`` is the pool still dormant on the day
    counted to, not a total. The natural history's
    counts are all taken on ``counted_to_day``: the horizon, or, when the engine ended
    the history at the colony limit (``history_end_day``, else null), the last ledger
    record before that day. In the ``clinical`` block, ``lesions_detected`` counts every
    lesion any scan found, distant or not (the primary, colonies in its organ and the
    lymph nodes); ``first_detection_day`` is the first distant one (M1).
``colonies.parquet``, ``events.parquet``, ``observations.parquet``
    The result's colony and event tables; the clinic's observations (scans, draws,
    stage, progression, death).
``lesions.parquet``
    The lesions of ``body.png`` (:func:`body_lesions`): every colony of at least
    :data:`BODY_MIN_DIAMETER_MM` at the end of follow-up, at its size under therapy,
    found or occult, and umbilicated or not. (``colonies.parquet`` holds the untreated
    natural history at the horizon.)
``scenario.yaml``
    The resolved scenario with the seed used, so re-running it reproduces the result.
``provenance.json``
    The result's provenance plus the versions of Python and the numerical libraries.
``fates.png``
    The cascade funnel (:func:`metacascade.plots.plot_fates_figure`).
``ctc.png``, ``body.png``
    CTC counts per 7.5 mL over time with the cut-off (for a run without blood draws, a
    sentence saying so: :data:`NO_DRAWS_TEXT`); every lesion of at least
    :data:`BODY_MIN_DIAMETER_MM` on a schematic body, found or occult, umbilicated marked.

Everything is written into a hidden sibling directory first and moved into place only
once it is all there, so a failure leaves no half-written output and never damages
files already in the directory. The same seed gives byte-identical JSON and Parquet
files: keys are sorted, floats rounded to 12 significant digits, and the Parquet files
carry no timestamps.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metacascade._checks import as_path
from metacascade._version import __version__
from metacascade.clinic.course import ClinicalCourse
from metacascade.engine.result import Result
from metacascade.errors import OutputError
from metacascade.scenario import Scenario, as_scenario

#: The files :func:`write_simulation` writes, in the order it writes them.
OUTPUT_FILES = ("summary.json", "colonies.parquet", "events.parquet", "observations.parquet",
                "lesions.parquet", "scenario.yaml", "provenance.json", "fates.png", "ctc.png",
                "body.png")
#: Smallest colony drawn in ``body.png``, mm (micrometastases below it are left out).
BODY_MIN_DIAMETER_MM = 0.2
#: Significant digits kept for floats in the JSON files.
JSON_DIGITS = 12


def write_simulation(result: Result, scenario: Scenario | Mapping[str, Any],
                     out_dir: str | os.PathLike[str], *,
                     scenario_file: str | Path | None = None,
                     course: ClinicalCourse | None = None) -> dict[str, Path]:
    """Write a simulated patient's output files (:data:`OUTPUT_FILES`) into ``out_dir``.

    Parameters
    ----------
    result
        The simulated patient.
    scenario
        The scenario it was simulated from, or its plain data (its seed may be unset;
        the result's is used). Its clinic may differ but for the surgery day; another
        cancer, body, horizon, step, primary size or override raises
        :class:`~metacascade.errors.ScenarioError` before anything is written.
    out_dir
        Directory to write into; created with its parents if missing. Other files in it
        are left alone; earlier outputs of the same names are replaced, and the report
        (``report.html``) of a run replaced (its ``summary.json`` was there) is removed.
    scenario_file
        The file the scenario was read from, if any (recorded in the provenance).
    course
        The patient's clinical course (default: :func:`metacascade.clinic.follow` of
        the result through the scenario's clinic).

    Returns
    -------
    dict of str to Path
        Each file's name and path.

    Raises
    ------
    ScenarioError
        ``scenario`` is not the one ``result`` was simulated from (but for its clinic).
    OutputError
        ``out_dir`` (or one of the output names in it) exists and is not what it must
        be, or the operating system refused a write. Nothing is left half-written.

    """
    from metacascade.clinic.course import check_same_patient, follow

    if not isinstance(result, Result):
        raise TypeError(f"result: expected a Result (from metacascade.simulate), not "
                        f"{type(result).__name__}")
    scenario = as_scenario(scenario)
    check_same_patient(result, scenario)
    if course is not None and not isinstance(course, ClinicalCourse):
        raise TypeError(f"course: expected a ClinicalCourse (from "
                        f"metacascade.clinic.follow) or None, not {type(course).__name__}")
    out = as_path(out_dir, "out_dir")
    if scenario_file is not None:
        as_path(scenario_file, "scenario_file")
    check_output_dir(out)
    if course is None:
        course = follow(result, scenario)
    summary = summary_data(result, scenario)
    summary["clinical"] = course.summary()
    contents = {
        "summary.json": _json_text(summary),
        "scenario.yaml": resolved_scenario_yaml(result, scenario),
        "provenance.json": _json_text(provenance_data(result, scenario_file)),
    }
    created = _make_parents(out.parent)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    finished = False
    try:
        staging.mkdir()
        _write_parquet(result.colonies, staging / "colonies.parquet", result, "colonies")
        _write_parquet(result.events, staging / "events.parquet", result, "events")
        _write_parquet(course.observations, staging / "observations.parquet", result,
                       "observations")
        _write_parquet(body_lesions(result, course), staging / "lesions.parquet", result,
                       "lesions")
        for name, text in contents.items():
            (staging / name).write_text(text, encoding="utf-8")
        _write_figure(result, staging / "fates.png")
        _write_clinic_figures(result, scenario, course, staging)
        _move_into_place(staging, out)
        finished = True
    except OSError as error:
        raise OutputError(f"cannot write {str(out)!r}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not finished:
            _remove_empty(created)
    return {name: out / name for name in OUTPUT_FILES}


def check_output_dir(out: Path) -> None:
    """Refuse an output path that cannot take the outputs.

    That is a path that exists as a file (or under a file), or a directory holding a
    directory of an output file's name.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"output directory {str(out)!r} exists and is not a directory")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"output directory {str(out)!r}: {str(parent)!r} is a file")
    if out.is_dir():
        for name in OUTPUT_FILES:
            if (out / name).is_dir():
                raise OutputError(f"output directory {str(out)!r}: {name!r} in it is a "
                                  "directory")


def summary_data(result: Result, scenario: Scenario) -> dict[str, Any]:
    """The content of ``summary.json``: the result's summary, the cancer and the body."""
    body, _ = scenario.resolve()
    data = result.summary()
    data.update(cancer=scenario.cancer, body=body.name, horizon_years=scenario.horizon_years)
    return data


def resolved_scenario_yaml(result: Result, scenario: Scenario) -> str:
    """YAML of the scenario with the body and the seed actually used filled in."""
    body, _ = scenario.resolve()
    data = scenario.to_dict()
    data.update(body=body.name, seed=result.seed)
    resolved = Scenario.from_dict(data)
    header = (f"# Resolved scenario of a metacascade {__version__} run, with the seed used.\n"
              "# Re-run: metacascade simulate --scenario scenario.yaml --out DIR\n")
    return header + resolved.to_yaml()


def provenance_data(result: Result, scenario_file: str | Path | None = None) -> dict[str, Any]:
    """The content of ``provenance.json``: the result's provenance and the software."""
    import matplotlib
    import pyarrow

    data = dict(result.provenance)
    data.update(
        python=platform.python_version(),
        numpy=np.__version__,
        pandas=pd.__version__,
        pyarrow=pyarrow.__version__,
        matplotlib=matplotlib.__version__,
        platform=platform.platform(),
        scenario_file=None if scenario_file is None else str(scenario_file),
        outputs=list(OUTPUT_FILES),
    )
    return data


# -- writers ---------------------------------------------------------------------------
def _json_text(data: Mapping[str, Any]) -> str:
    return json.dumps(plain_json(data), sort_keys=True, indent=2, allow_nan=False) + "\n"


def plain_json(value: Any) -> Any:
    """Plain JSON data for ``summary.json`` and ``analysis.json``.

    Floats keep :data:`JSON_DIGITS` significant digits; non-finite and missing values
    (NaN, inf, ``pd.NA``, ``pd.NaT``) become null; NumPy scalars become Python ones.
    """
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return float(f"{number:.{JSON_DIGITS}g}") if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _write_parquet(frame: pd.DataFrame, path: Path, result: Result, table: str) -> None:
    """Write a table with an explicit schema and no timestamp (same seed, same bytes).

    The schema comes from the frame's dtypes, so an empty table has the same columns and
    types as a full one; pandas' own metadata is left out.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: pa.array(frame[name].to_numpy(), type=_arrow_type(frame[name]),
                              from_pandas=True) for name in frame.columns}
    note = json.dumps({"table": table, "seed": result.seed, "version": __version__},
                      sort_keys=True)
    arrow = pa.table(columns).replace_schema_metadata({"metacascade": note})
    pq.write_table(arrow, path, compression="zstd")


def _arrow_type(column: pd.Series) -> Any:
    import pyarrow as pa

    if pd.api.types.is_bool_dtype(column.dtype):
        return pa.bool_()
    if pd.api.types.is_numeric_dtype(column.dtype):
        return pa.from_numpy_dtype(column.dtype)
    return pa.string()


def _write_figure(result: Result, path: Path) -> None:
    from metacascade.plots.fates import plot_fates_figure

    figure = plot_fates_figure(result)
    figure.savefig(path, dpi=110, metadata={"Software": None})


def _write_clinic_figures(result: Result, scenario: Scenario, course: ClinicalCourse,
                          staging: Path) -> None:
    import matplotlib.pyplot as plt

    from metacascade.plots.clinic import plot_body, plot_ctc

    body, cancer = scenario.resolve()
    figure, ax = plt.subplots(figsize=(8, 4.5))
    if scenario.clinic is None or not scenario.clinic.draws:
        say_no_draws(ax, scenario)
    else:
        plot_ctc(course.draws()[["time_days", "count", "volume_ml", "site"]],
                 cutoff=course.cutoff, therapy=course.therapy_spans(), ax=ax,
                 title=f"CTC per 7.5 mL, {scenario.cancer}", follow_up_days=course.end_day)
    figure.tight_layout()
    figure.savefig(staging / "ctc.png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    figure, ax = plt.subplots(figsize=(6, 8))
    plot_body(body_lesions(result, course), primary_organ=cancer.primary_organ,
              sex="female" if body.sex == "female" else "male", ax=ax,
              title=f"lesions >= {BODY_MIN_DIAMETER_MM:g} mm at day {course.end_day:.0f}",
              primary_removed=scenario.primary_removed_by(course.end_day))
    figure.savefig(staging / "body.png", dpi=110, metadata={"Software": None})
    plt.close(figure)


#: What ``ctc.png`` says for a run without blood draws (instead of an empty axis).
NO_DRAWS_TEXT = ("No blood draws were scheduled{why}, so there are no CTC counts.\n"
                 "See examples/breast_metastatic_ctc.yaml (in the metacascade source)\n"
                 "for a scenario with CTC draws.")


def say_no_draws(ax: Any, scenario: Scenario) -> None:
    """``ctc.png`` of a run without draws: one plain sentence, no empty axis."""
    why = ": this run has no clinic" if scenario.clinic is None else " in this run's clinic"
    ax.set_axis_off()
    ax.text(0.5, 0.5, NO_DRAWS_TEXT.format(why=why), ha="center", va="center",
            fontsize=11, color="0.25", transform=ax.transAxes, linespacing=1.6)
    ax.set_title(f"CTC per 7.5 mL, {scenario.cancer}")


def body_lesions(result: Result, course: ClinicalCourse) -> pd.DataFrame:
    """Colonies of at least :data:`BODY_MIN_DIAMETER_MM` at the end of follow-up.

    Sizes are the course's (with therapy: shrunk, eradicated or never founded). Columns:
    ``id`` (the colony's), then :data:`metacascade.plots.clinic.LESION_COLUMNS`.
    """
    model = result.model
    diameter = model.diameter_mm(course.final_cells[1:])
    colonies = result.colonies
    keep = diameter >= BODY_MIN_DIAMETER_MM
    surface = (colonies["depth"] == "surface").to_numpy()
    return pd.DataFrame({
        "id": colonies["id"].to_numpy()[keep],
        "organ": colonies["organ"].to_numpy()[keep],
        "diameter_mm": diameter[keep],
        "detected": colonies["id"].isin(course.detected).to_numpy()[keep],
        "umbilicated": (surface & (diameter > model.necrosis_diameter_mm))[keep],
        "depth": colonies["depth"].to_numpy()[keep],
    })


# -- moving into place -------------------------------------------------------------------
#: What ``metacascade report`` writes into a run's directory by default: the report of
#: the run a new simulation replaces (one whose ``summary.json`` it replaces), removed
#: with it.
STALE_FILES = ("report.html",)


def stale_files(out: Path) -> list[str]:
    """The :data:`STALE_FILES` in ``out`` that a simulation written there removes.

    Those of an earlier run only: ``out`` holds its ``summary.json``.
    """
    if not (out / "summary.json").is_file():
        return []
    return [name for name in STALE_FILES if (out / name).is_file()]


def _move_into_place(staging: Path, out: Path) -> None:
    """Move the staged files into ``out``.

    A new directory is one rename. Into an existing one the files go one by one, each by
    an atomic replace; the replaced files are kept until all are in and put back if any
    move fails. A report of the replaced run (:data:`STALE_FILES`) is removed last, and
    also put back if a move fails.
    """
    if not out.exists():
        staging.rename(out)
        return
    backup = staging / ".replaced"
    backup.mkdir()
    stale = stale_files(out)
    replaced: list[tuple[str, bool]] = []
    try:
        for name in OUTPUT_FILES:
            target = out / name
            existed = os.path.lexists(target)
            if existed:
                _keep(target, backup / name)
            os.replace(staging / name, target)
            replaced.append((name, existed))
        for name in stale:
            os.replace(out / name, backup / name)
            replaced.append((name, True))
    except BaseException:
        for name, existed in reversed(replaced):
            if existed:
                os.replace(backup / name, out / name)
            else:
                (out / name).unlink(missing_ok=True)
        raise


def _keep(target: Path, copy: Path) -> None:
    """Keep the file about to be replaced (a hard link; a copy where links fail)."""
    try:
        os.link(target, copy, follow_symlinks=False)
    except OSError:
        shutil.copy2(target, copy, follow_symlinks=False)


def _make_parents(path: Path) -> list[Path]:
    """Create ``path`` and missing parents; the ones created, deepest first."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {str(path)!r}: {error.strerror or error}") from None
    return missing


def _remove_empty(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.rmdir()
        except OSError:
            return
