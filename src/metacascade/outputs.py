"""Write one simulated patient to a directory, atomically.

:func:`write_simulation` writes six files:

``summary.json``
    :meth:`Result.summary` (whole-body ledger, ledger by organ, colonies and
    macrometastases by organ, seed) with the cancer and body.
``colonies.parquet``, ``events.parquet``
    The result's colony and event tables.
``scenario.yaml``
    The resolved scenario with the seed used, so re-running it reproduces the result.
``provenance.json``
    The result's provenance plus the versions of Python and the numerical libraries.
``fates.png``
    The cascade funnel (:func:`metacascade.plots.plot_fates_figure`).

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

from metacascade._version import __version__
from metacascade.engine.result import Result
from metacascade.errors import OutputError
from metacascade.scenario import Scenario

#: The files :func:`write_simulation` writes, in the order it writes them.
OUTPUT_FILES = ("summary.json", "colonies.parquet", "events.parquet", "scenario.yaml",
                "provenance.json", "fates.png")
#: Significant digits kept for floats in the JSON files.
JSON_DIGITS = 12


def write_simulation(result: Result, scenario: Scenario, out_dir: str | Path, *,
                     scenario_file: str | Path | None = None) -> dict[str, Path]:
    """Write a simulated patient's six output files into ``out_dir``.

    Parameters
    ----------
    result
        The simulated patient.
    scenario
        The scenario it was simulated from (its seed may be unset; the result's is used).
    out_dir
        Directory to write into; created with its parents if missing. Other files in it
        are left alone; earlier outputs of the same names are replaced.
    scenario_file
        The file the scenario was read from, if any (recorded in the provenance).

    Returns
    -------
    dict of str to Path
        Each file's name and path.

    Raises
    ------
    OutputError
        ``out_dir`` (or one of the output names in it) exists and is not what it must
        be, or the operating system refused a write. Nothing is left half-written.

    """
    out = Path(out_dir)
    check_output_dir(out)
    contents = {
        "summary.json": _json_text(summary_data(result, scenario)),
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
        for name, text in contents.items():
            (staging / name).write_text(text, encoding="utf-8")
        _write_figure(result, staging / "fates.png")
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
    data.update(cancer=scenario.cancer, body=body.name, embolus=scenario.embolus,
                horizon_years=scenario.horizon_years)
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
    return json.dumps(_stable(data), sort_keys=True, indent=2, allow_nan=False) + "\n"


def _stable(value: Any) -> Any:
    """Plain JSON data: floats to 12 significant digits (non-finite to null)."""
    if isinstance(value, Mapping):
        return {str(k): _stable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return float(f"{number:.{JSON_DIGITS}g}") if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
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


# -- moving into place -------------------------------------------------------------------
def _move_into_place(staging: Path, out: Path) -> None:
    """Move the staged files into ``out``.

    A new directory is one rename. Into an existing one the files go one by one, each by
    an atomic replace; the replaced files are kept until all are in and put back if any
    move fails.
    """
    if not out.exists():
        staging.rename(out)
        return
    backup = staging / ".replaced"
    backup.mkdir()
    replaced: list[tuple[str, bool]] = []
    try:
        for name in OUTPUT_FILES:
            target = out / name
            existed = os.path.lexists(target)
            if existed:
                _keep(target, backup / name)
            os.replace(staging / name, target)
            replaced.append((name, existed))
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
