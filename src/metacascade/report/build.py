"""Write the report of a run or cohort directory: one self-contained HTML file.

:func:`write_report` tells the two kinds of directory apart by what they hold:
``summary.json`` (``metacascade simulate``) or ``manifest.json`` (``metacascade
cohort``). The page is built in memory first, then written under a hidden temporary
name beside its destination and moved into place with :func:`os.replace`, so a failure
never leaves a half-written report or damages an earlier one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from metacascade._checks import as_path
from metacascade._version import __version__
from metacascade.errors import OutputError
from metacascade.report.errors import ReportError
from metacascade.report.html import page

#: The report's file name inside a run directory (the default destination).
REPORT_FILE = "report.html"
#: Suffixes of an existing file ``write_report`` may replace (any other is refused).
REPORT_SUFFIXES = (".html", ".htm")


def write_report(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Write the HTML report of a simulation or cohort directory.

    Parameters
    ----------
    run_dir
        A directory written by ``metacascade simulate`` (one patient) or
        ``metacascade cohort`` (a virtual cohort).
    out
        The report's path; by default :data:`REPORT_FILE` inside ``run_dir``. Missing
        parent directories are created; an earlier report there (a ``.html`` or
        ``.htm`` file) is replaced, any other existing file is refused (it may be one
        of the run's own, such as ``manifest.json``).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ReportError
        ``run_dir`` is missing, is neither kind of directory, or cannot be read.
    OutputError
        ``out`` cannot be written (it is a directory, an existing file that is not
        HTML, or the disk refused); nothing is left half-written.

    """
    path = _path(run_dir, "run_dir")
    target = path / REPORT_FILE if out is None else _path(out, "out")
    if target.is_dir():
        raise OutputError(f"report path {str(target)!r} is a directory; give a file name")
    if target.exists() and target.suffix.lower() not in REPORT_SUFFIXES:
        raise OutputError(f"report path {str(target)!r} exists and is not a report; "
                          f"allowed: a new file, or an existing {' or '.join(REPORT_SUFFIXES)} "
                          "file to replace")
    text = report_html(path)
    _write_atomic(target, text)
    return target


def report_html(run_dir: str | Path) -> str:
    """The report of ``run_dir`` as one HTML page (see :func:`write_report`).

    Figures are drawn on :class:`matplotlib.figure.Figure` objects, without pyplot, so
    the caller's backend is left alone.
    """
    path = _path(run_dir, "run_dir")
    kind = run_kind(path)
    if kind == "simulation":
        from metacascade.report.run import read_run, run_sections, run_title

        run = read_run(path)
        title, subtitle = run_title(run)
        sections = run_sections(run)
    else:
        from metacascade.report.cohort import cohort_sections, cohort_title, read_cohort_run

        cohort = read_cohort_run(path)
        title, subtitle = cohort_title(cohort)
        sections = cohort_sections(cohort)
    footer = (f"Written by metacascade {__version__} (metacascade report). Self-contained: "
              "figures are embedded, nothing is loaded from elsewhere.")
    return page(title, subtitle, sections, footer)


def run_kind(path: str | os.PathLike[str]) -> str:
    """``"simulation"`` or ``"cohort"``; :class:`ReportError` for anything else."""
    path = _path(path, "path")
    expected = ("a simulation directory (summary.json, written by `metacascade simulate "
                "--out DIR`) or a cohort directory (manifest.json, written by "
                "`metacascade cohort --out DIR`)")
    if not path.exists():
        raise ReportError(f"{str(path)!r} does not exist; expected {expected}")
    if not path.is_dir():
        raise ReportError(f"{str(path)!r} is not a directory; expected {expected}")
    simulation, cohort = (path / "summary.json").is_file(), (path / "manifest.json").is_file()
    if simulation and cohort:
        raise ReportError(f"{str(path)!r} holds both summary.json and manifest.json; "
                          f"expected {expected}, not both")
    if not (simulation or cohort):
        raise ReportError(f"{str(path)!r} has neither summary.json nor manifest.json; "
                          f"expected {expected}")
    return "simulation" if simulation else "cohort"


def _path(value: object, name: str) -> Path:
    """``value`` as a Path if it is one (a str or os.PathLike); else a TypeError naming it."""
    return as_path(value, name)


def _write_atomic(target: Path, text: str) -> None:
    """Write ``text`` to a hidden sibling of ``target``, then replace ``target`` with it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {str(target.parent)!r}: "
                          f"{error.strerror or error}") from None
    temporary = target.with_name(f".{target.name}.partial-{os.getpid()}-"
                                 f"{secrets.token_hex(4)}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as error:
        raise OutputError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    finally:
        temporary.unlink(missing_ok=True)
