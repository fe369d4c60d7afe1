"""The ``metacascade`` command: thin over the library.

Bad input (unknown names, malformed scenarios, an option's value of the wrong type)
prints one line on stderr and exits with status 2; nothing is written. An interrupt
(Ctrl-C) or a SIGTERM, whenever it comes, prints one line (a cohort's says what is done
and how to finish it) and exits with status 130 or 143 (128 + the signal's number).
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metacascade._version import __version__
from metacascade.errors import MetacascadeError, Terminated, WorkerDied, install_hint
from metacascade.units import years_text

if TYPE_CHECKING:
    from metacascade.clinic.course import ClinicalCourse
    from metacascade.cohort import DaskExecutor, LocalExecutor
    from metacascade.engine.result import Result
    from metacascade.scenario import Scenario

def _path(value: str) -> Path:
    """A path option's value; an empty one (an unset shell variable) is refused."""
    if not value:
        raise typer.BadParameter("an empty path; give a file or directory name")
    return Path(value)


#: The metavar of a flag: none (typer shows "<bool>", as if it took a value).
_FLAG = ""

#: Exit status after an interrupt (Ctrl-C), as shells report one: 128 + SIGINT.
INTERRUPTED = 130
#: Exit status after a SIGTERM (:class:`~metacascade.errors.Terminated`): 128 + SIGTERM.
TERMINATED = 143

#: Executor options shared by `cohort` and `calibrate`.
_Workers = Annotated[int | None, typer.Option(
    help="Local worker processes (default: one per core this process may use).")]
_DaskLocal = Annotated[int | None, typer.Option(
    "--dask-local", help="Run on a Dask LocalCluster of this many workers (needs the 'dask' "
                         "extra).")]
_Scheduler = Annotated[str | None, typer.Option(
    help="Run on an existing Dask cluster, at this scheduler address (needs the 'dask' "
         "extra).")]

class _HelpFlag:
    """Typer's own ``--help`` shown as the flag it is (typer shows it as "<bool>")."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = _FLAG
        return option


class _Group(_HelpFlag, typer.core.TyperGroup):
    """The commands; an interrupt while one is read or runs is said (:func:`_stops_said`).

    (Typer would turn it into status 130 with nothing said.)
    """

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _stops_said():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _stops_said():
            return super().invoke(ctx)


@contextmanager
def _stops_said() -> Iterator[None]:
    """An interrupt (Ctrl-C, SIGTERM) as one line on stderr and status 128 + its signal.

    Also an error an interrupt caused: one raised in a C extension's import is an
    ImportError whose cause is the interrupt.
    """
    try:
        yield
    except KeyboardInterrupt as stop:
        raise typer.Exit(_say_stop(stop)) from None
    except Exception as error:
        behind = _interrupt_behind(error)
        if behind is None:
            raise
        raise typer.Exit(_say_stop(behind)) from None


def _interrupt_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The interrupt that caused ``error`` (its cause, or their cause...), if any."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        if isinstance(cause, (_CLICK_ERROR, typer.Exit, typer.Abort)):
            return None  # (said already)
        seen.add(id(cause))
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return None


def _say_stop(stop: KeyboardInterrupt) -> int:
    """Say why the command stopped: what a cohort has done, or only that it was stopped.

    Its exit status.
    """
    terminated = getattr(stop, "signal_number", signal.SIGINT) == signal.SIGTERM
    said = str(stop) or ("terminated" if terminated else "interrupted")
    typer.echo(f"metacascade: {said}", err=True)
    return TERMINATED if terminated else INTERRUPTED


class _Command(_HelpFlag, typer.core.TyperCommand):
    """A command whose usage line shows a required argument plain: ``COHORT_DIR``.

    Its help's paragraphs are each one line, for the terminal to wrap.

    (Typer 0.29 writes it in braces, ``{COHORT_DIR}``, which reads as a set or a
    placeholder to fill with braces.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:  # (typer's rich help keeps the docstring's line breaks but the first)
            self.help = "\n\n".join(" ".join(paragraph.split()) for paragraph
                                    in inspect.cleandoc(self.help).split("\n\n"))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [_unbraced(piece) for piece in pieces]


def _unbraced(piece: str) -> str:
    """``{NAME}`` (or ``{NAME}...``) of a usage line as ``NAME`` (``NAME...``)."""
    name, dots, _ = piece.partition("...")
    if name.startswith("{") and name.endswith("}"):
        return name[1:-1] + dots
    return piece


app = typer.Typer(
    name="metacascade",
    cls=_Group,
    help="Simulate hematogenous metastasis: shedding, circulation, arrest, colonisation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@contextmanager
def _as_options(**options: str) -> Iterator[None]:
    """Name an error's field as the option that gave it (``horizon_years`` -> ``--years``).

    ``options``: field -> option, for the fields the options given set.
    """
    try:
        yield
    except MetacascadeError as error:
        field, colon, rest = str(error).partition(":")
        if colon and field in options:
            raise type(error)(f"{options[field]}:{rest}") from None
        raise


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn bad-input errors into one line on stderr and exit status 2.

    A worker process that died (:class:`WorkerDied`) is one line too, with status 1.
    """
    try:
        yield
    except MetacascadeError as error:
        typer.echo(f"metacascade: error: {error}", err=True)
        raise typer.Exit(code=2) from None
    except WorkerDied as error:  # (killed, perhaps out of memory: not bad input)
        typer.echo(f"metacascade: error: {error}", err=True)
        raise typer.Exit(code=1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"metacascade {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          metavar=_FLAG,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Simulate hematogenous metastasis."""


@app.command(cls=_Command)
def catalog(
    as_json: Annotated[bool, typer.Option(
        "--json", metavar=_FLAG,
        help="Print one JSON object (every value with its unit, bounds and source).")
    ] = False,
    cite: Annotated[bool, typer.Option(
        "--cite", metavar=_FLAG,
        help="Print every value's source (the JSON always has them).")] = False,
) -> None:
    """List bodies, organs, cancers and the cascade with every value's unit (and source)."""
    from metacascade.describe import catalog_dict, catalog_text

    with _user_errors():
        if as_json:
            typer.echo(json.dumps(catalog_dict(), indent=2))
        else:
            typer.echo(catalog_text(cite=cite))


@app.command(cls=_Command)
def route(
    cancer: Annotated[str | None, typer.Option(help="Cancer type, e.g. breast.")] = None,
    body: Annotated[str | None, typer.Option(
        help="Body, e.g. adult_male (default: the cancer's default body).")] = None,
    embolus: Annotated[str | None, typer.Option(
        help="single, cluster or platelet (default: the scenario's, else single).")] = None,
    scenario: Annotated[Path | None, typer.Option(parser=_path,
        help="Scenario file (.yaml/.toml) naming body, cancer and overrides.")] = None,
    vertebral_plexus: Annotated[bool | None, typer.Option(
        "--vertebral-plexus/--no-vertebral-plexus", metavar=_FLAG,
        help="Open or close the vertebral venous plexus (default: the scenario's, else "
             "open).")] = None,
    as_json: Annotated[bool, typer.Option("--json", metavar=_FLAG,
                                                       help="Print one JSON object.")] = False,
) -> None:
    """Where the cells shed by a primary end up: arrest share per organ over all passes."""
    from metacascade.engine.route import route as route_cells
    from metacascade.scenario import Scenario, load_scenario

    with _user_errors():
        if scenario is not None:
            if cancer is not None or body is not None:
                raise MetacascadeError("--scenario names the cancer and body; do not also "
                                       "give --cancer or --body")
            loaded = load_scenario(scenario)
            given = {name: value for name, value in (("embolus", embolus),
                                                     ("vertebral_plexus", vertebral_plexus))
                     if value is not None}
            if given:  # (the options override the file's fields)
                with _as_options(embolus="--embolus"):
                    loaded = Scenario.from_dict({**loaded.to_dict(), **given})
            body_obj, cancer_obj = loaded.resolve()
            result = route_cells(cancer_obj, body=body_obj, embolus=loaded.embolus,
                                 vertebral_plexus=loaded.vertebral_plexus)
        elif cancer is None:
            raise MetacascadeError("give --cancer NAME or --scenario FILE")
        else:
            result = route_cells(cancer, body=body,
                                 embolus="single" if embolus is None else embolus,
                                 vertebral_plexus=vertebral_plexus is not False)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    plexus = "open" if result.vertebral_plexus else "closed"
    typer.echo(f"{result.cancer} primary, body {result.body}, {result.embolus} emboli "
               f"(vertebral plexus {plexus})")
    typer.echo(f"{'organ':<20}{'arrested':>12}")
    for organ, value in result.ranked():
        typer.echo(f"{organ:<20}{100 * value:>11.3f}%")
    typer.echo(f"{'died in blood':<20}{100 * result.died_in_blood:>11.3f}%")
    typer.echo(f"{'mean time in blood':<20}{result.mean_time_in_blood_s:>10.1f} s")


@app.command(cls=_Command)
def simulate(
    out: Annotated[Path, typer.Option(
        parser=_path, help="Directory for the outputs (created if missing).",
        show_default=False)],
    cancer: Annotated[str | None, typer.Option(help="Cancer type, e.g. breast.")] = None,
    scenario: Annotated[Path | None, typer.Option(parser=_path,
        help="Scenario file (.yaml/.toml) naming body, cancer and overrides.")] = None,
    body: Annotated[str | None, typer.Option(
        help="Body, e.g. adult_female (default: the cancer's default body).")] = None,
    years: Annotated[float | None, typer.Option(
        help="Horizon in years, in (0, 100] (default: the scenario's, else 10).")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed of the random stream (default: the scenario's, else a fresh one).")] = None,
) -> None:
    """Simulate and follow one patient; write its summary, tables, scenario and figures."""
    import matplotlib

    matplotlib.use("Agg")
    from metacascade.clinic.course import follow
    from metacascade.engine.kernel import simulate as simulate_patient
    from metacascade.outputs import (
        OUTPUT_FILES,
        check_output_dir,
        stale_files,
        write_simulation,
    )

    with _user_errors():
        resolved = _simulation_scenario(cancer, scenario, body, years, seed)
        check_output_dir(out)
        article = "an" if resolved.cancer[:1] in "aeiou" else "a"
        typer.echo(f"simulating {years_text(resolved.horizon_years)} of {article} "
                   f"{resolved.cancer} primary...", err=True)
        if resolved.embolus != "single":
            typer.echo(f"note: embolus {resolved.embolus!r} is the kind `metacascade route` "
                       "follows; a simulation sheds the cancer's mix (cluster_share, "
                       "platelet_share)", err=True)
        result = simulate_patient(resolved)
        course = follow(result, resolved)
        stale = stale_files(out)
        write_simulation(result, resolved, out, scenario_file=scenario, course=course)
    for name in stale:
        typer.echo(f"note: removed {name}, the report of the run replaced "
                   f"(metacascade report {out} writes this run's)", err=True)
    _print_simulation(resolved, result, course, out, OUTPUT_FILES)


def _simulation_scenario(cancer: str | None, scenario: Path | None, body: str | None,
                         years: float | None, seed: int | None) -> Scenario:
    """The scenario to simulate: a file or a cancer name, with the options applied."""
    from metacascade.scenario import Scenario, load_scenario

    if scenario is not None:
        if cancer is not None or body is not None:
            raise MetacascadeError("--scenario names the cancer and body; do not also "
                                   "give --cancer or --body")
        data = load_scenario(scenario).to_dict()
    elif cancer is None:
        raise MetacascadeError("give --cancer NAME or --scenario FILE")
    else:
        data = {"cancer": cancer} if body is None else {"cancer": cancer, "body": body}
    if years is not None:
        data["horizon_years"] = years
    if seed is not None:
        data["seed"] = seed
    given = {"horizon_years": "--years", "seed": "--seed"}
    with _as_options(**{field: option for field, option in given.items()
                        if (years if field == "horizon_years" else seed) is not None}):
        return Scenario.from_dict(data)


def _print_simulation(scenario: Scenario, result: Result, course: ClinicalCourse,
                      out: Path, files: tuple[str, ...]) -> None:
    body, _ = scenario.resolve()
    typer.echo(f"{scenario.cancer} primary, body {body.name}, "
               f"{years_text(scenario.horizon_years)}, seed {result.seed}")
    _print_death(course)
    _print_counts(result)
    typer.echo(f"wrote {', '.join(files)} to {out}/")


def _print_death(course: ClinicalCourse) -> None:
    """One line for a patient the clinic saw die: the day and the cause."""
    day, cause = course.death_day, course.death_cause
    if day is None:
        return
    what = ("total tumour burden" if cause == "total"
            else f"tumour burden in the {str(cause).replace('_', ' ')}")
    typer.echo(f"died on day {day:,g} (year {day / 365.25:.1f}) of a lethal {what} (the "
               "counts below are the untreated natural history, which goes on past death)")


def _print_counts(result: Result) -> None:
    """The funnel's main counts, all taken on one day (``Result.counted_to_day``)."""
    final, day = result.final, result.counted_to_day
    end = result.history_end_day
    if math.isinf(end):
        typer.echo(f"the natural history (untreated), counted to the horizon (day {day:,g}):")
    else:
        from metacascade.engine.limits import MAX_COLONIES

        typer.echo(f"the natural history (untreated) was ended on day {end:,g} (year "
                   f"{end / 365.25:.1f}), where its colonies would have passed the engine's "
                   f"limit of {MAX_COLONIES:,}; counted to its last ledger record, day "
                   f"{day:,g}:")
    colonies = result.counted_colonies()["organ"].value_counts(sort=False)
    ranked = sorted(colonies.items(), key=lambda item: (-item[1], item[0]))
    typer.echo(f"{'shed cells':<24}{final['shed']:>16,}")
    typer.echo(f"{'arrested cells':<24}{final['arrested']:>16,}")
    typer.echo(f"{'colonies founded':<24}{final['colonies_founded']:>16,}")
    for organ, count in ranked[:5]:
        typer.echo(f"  {organ:<22}{count:>16,}")
    if len(ranked) > 5:
        rest = sum(count for _, count in ranked[5:])
        typer.echo(f"  {'other organs':<22}{rest:>16,}")
    typer.echo(f"{'macrometastases':<24}{len(result.macrometastases()):>16,}")


@app.command(cls=_Command)
def cohort(
    scenario: Annotated[Path, typer.Option(parser=_path,
        help="Population file: a scenario with a 'population' section (a scenario without "
             "one gives every patient its values).", show_default=False)],
    patients: Annotated[int, typer.Option(help="Number of patients (1 to 100000000).",
                                          show_default=False)],
    out: Annotated[Path, typer.Option(parser=_path, help="Cohort directory.", show_default=False)],
    seed: Annotated[int | None, typer.Option(
        help="Cohort seed (default: the file's 'seed', else 0).", show_default=False)] = None,
    workers: _Workers = None,
    dask_local: _DaskLocal = None,
    scheduler: _Scheduler = None,
    shard_size: Annotated[int | None, typer.Option(
        help="Patients per shard (batch engine: a multiple of the batch size; default "
             "the batch size, else 64).", show_default=False)] = None,
    engine: Annotated[str, typer.Option(
        help="'batch': patients as arrays, in batches on their own random streams; "
             "'patient': one at a time, each equal to a single simulate (slower).")
    ] = "batch",
    batch_size: Annotated[int | None, typer.Option(
        help="Patients per batch (batch engine; 1 to 16384; default 512).",
        show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", metavar=_FLAG,
        help="Finish the shards a previous run of this cohort left undone (in a new or "
             "empty directory: run it all).")
    ] = False,
) -> None:
    """Simulate a virtual cohort into Parquet shards (on Dask: needs the 'dask' extra).

    Writes the patients, colonies and observations of every shard, and manifest.json.
    --dask-local and --scheduler need the 'dask' extra (Dask's distributed); the local
    pool (--workers) needs nothing more.
    """
    from metacascade.cohort import DaskExecutor, load_population, simulate_cohort
    from metacascade.cohort.shards import DEFAULT_BATCH_SIZE

    with _user_errors():
        _check_executor_options(workers, dask_local, scheduler)
        if batch_size is not None and engine == "patient":
            raise MetacascadeError("--batch-size: the batch engine's; --engine patient runs "
                                   "patients one at a time (give one or the other)")
        population = load_population(scenario)
        if seed is None:
            seed = 0 if population.base.seed is None else population.base.seed
        executor = _executor(workers, dask_local, scheduler)
        # progress=True: the lines go to a log too, one per shard and every 30 s
        # (cohort/progress.py); None, the library's default, only to a terminal or in CI.
        try:  # (an interrupt, CohortInterrupted, says what is done: _stops_said)
            with _as_options(n_patients="--patients", seed="--seed", engine="--engine",
                             shard_size="--shard-size", batch_size="--batch-size"):
                result = simulate_cohort(population, patients, seed=seed, out=out,
                                         executor=executor, shard_size=shard_size,
                                         resume=resume, progress=True, engine=engine,
                                         batch_size=DEFAULT_BATCH_SIZE if batch_size is None
                                         else batch_size)
        finally:
            if isinstance(executor, DaskExecutor):
                executor.close()  # first: its workers' last log lines come before ours
    manifest = result.manifest
    shards = manifest["shards_total"]
    typer.echo(f"{patients} patient{'s' * (patients != 1)} in {shards} "
               f"shard{'s' * (shards != 1)} written to {out}/")


@app.command(cls=_Command)
def analyze(
    cohort_dir: Annotated[Path, typer.Argument(parser=_path, metavar="COHORT_DIR",
                                               help="A cohort directory.",
                                               show_default=False)],
    min_diameter_mm: Annotated[float | None, typer.Option(
        help="Smallest colony counted as an organ involved at death, mm (default 5: "
             "a gross autopsy). A cohort keeps colonies of at least 1 mm (and those "
             "detected), so 0 counts those, not every colony founded.",
        show_default=False)] = None,
    confidence: Annotated[float | None, typer.Option(
        help="Two-sided level of the intervals of medians and hazard ratios and of the "
             "curves' bands, strictly between 0 and 1 (default 0.95).",
        show_default=False)] = None,
) -> None:
    """Survival by CTC group, autopsy view, first metastases (needs the 'analysis' extra).

    Writes analysis.json, survival.png and organs.png into COHORT_DIR and prints the
    headline of analysis.json on stdout. The 'analysis' extra is lifelines.
    """
    import matplotlib

    matplotlib.use("Agg")
    from metacascade.analysis import analyze as analyze_cohort
    from metacascade.analysis.autopsy import AUTOPSY_MIN_DIAMETER_MM
    from metacascade.analysis.survival import CONFIDENCE
    from metacascade.cohort.progress import is_terminal

    # On a terminal, what is under way (a million patients take half a minute).
    say = (lambda line: typer.echo(line, err=True)) if is_terminal(sys.stderr) else None
    with _user_errors(), _as_options(min_diameter_mm="--min-diameter-mm",
                                     confidence="--confidence"):
        report = analyze_cohort(
            cohort_dir, progress=say,
            min_diameter_mm=AUTOPSY_MIN_DIAMETER_MM if min_diameter_mm is None
            else min_diameter_mm,
            confidence=CONFIDENCE if confidence is None else confidence)
    typer.echo(json.dumps(_headline(report), indent=1))
    # (on stderr: stdout is the JSON alone, for `analyze DIR | jq`)
    typer.echo(f"wrote analysis.json, survival.png, organs.png to {cohort_dir}/", err=True)
    if report.get("cohort_complete") is False:  # (a run under way, or one interrupted)
        from metacascade.cohort.directory import incomplete_note

        typer.echo(f"metacascade: note: the cohort is not complete: {report['n_patients']} "
                   f"of its {report['manifest_n_patients']} patients were analysed; "
                   f"{incomplete_note(cohort_dir)}", err=True)


#: The keys of analysis.json that `analyze` prints on stdout (the README lists them).
HEADLINE_KEYS = ("n_patients", "n_enrolled", "share_baseline_unfavourable", "deaths", "groups",
                 "cox", "not_estimated", "few_at_risk")


def _headline(report: dict[str, object]) -> dict[str, object]:
    return {k: report[k] for k in HEADLINE_KEYS if k in report}


@app.command(cls=_Command)
def report(
    run_dir: Annotated[Path, typer.Argument(parser=_path, metavar="RUN_DIR",
        help="A directory written by `simulate` or by `cohort`.", show_default=False)],
    out: Annotated[Path | None, typer.Option(parser=_path,
        help="The HTML file to write (default: RUN_DIR/report.html).")] = None,
) -> None:
    """Write one self-contained HTML report of a run or a cohort (a cohort's: 'analysis' extra).

    RUN_DIR is a directory written by `simulate` or by `cohort`. A cohort's report needs
    the 'analysis' extra (lifelines); a simulation's needs nothing more.
    """
    import matplotlib

    matplotlib.use("Agg")
    from metacascade.report import write_report

    with _user_errors():
        written = write_report(run_dir, out=out)
    typer.echo(f"wrote {written}")


@app.command(cls=_Command)
def calibrate(
    out: Annotated[Path, typer.Option(parser=_path, help="Output directory.", show_default=False)],
    targets: Annotated[str, typer.Option(help="Targets to fit.")] = "disibio2008",
    seed: Annotated[int, typer.Option(help="Calibration seed.")] = 1,
    workers: _Workers = None,
    dask_local: _DaskLocal = None,
    scheduler: _Scheduler = None,
    quick: Annotated[bool, typer.Option(
        "--quick", metavar=_FLAG,
        help="A small smoke run (a few minutes, where the full fit takes about 11 on 2 "
             "cores; its values are named '...-quick'); not a fit to use.")] = False,
) -> None:
    """Fit soil and physiology to autopsy targets by ABC-SMC (needs the 'calibration' extra).

    Writes calibration.json, catalog_values.json, fit.png and fits/ into --out: about
    11 minutes on 2 cores (--quick: a few). The 'calibration' extra is pyABC.
    """
    import matplotlib

    matplotlib.use("Agg")
    from metacascade.cohort import DaskExecutor

    with _user_errors():
        from metacascade.calibration import load_targets
        from metacascade.calibration.fit import (
            QUICK,
            Settings,
            check_out,
            write_calibration,
        )
        from metacascade.calibration.fit import (
            calibrate as run,
        )

        _check_executor_options(workers, dask_local, scheduler)
        load_targets(targets)
        check_out(out)
        try:
            import pyabc  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:
            raise MetacascadeError("calibrate needs the 'calibration' extra: "
                                   + install_hint("calibration")) from None
        executor = _executor(workers, dask_local, scheduler)
        try:
            report = run(targets, out=out, seed=seed, settings=QUICK if quick else Settings(),
                         executor=executor, progress=lambda m: typer.echo(m, err=True))
        finally:
            if isinstance(executor, DaskExecutor):
                executor.close()
        write_calibration(report, out, command=(
            f"metacascade calibrate --targets {targets} --seed {seed}"
            + (" --quick" if quick else "")))
    per = {p["cancer"]: round(p["spearman_soil"], 2) for p in report["per_primary"]}
    held = {p["cancer"]: round(p["spearman"], 2) for p in report["held_out"]}
    typer.echo(json.dumps({"spearman": per, "held_out_spearman": held,
                           "pooled": report["pooled"],
                           "reached_posterior": report["reached_posterior"],
                           "runtime_s": round(report["runtime_s"], 1)}, indent=1))
    typer.echo(f"wrote calibration.json, catalog_values.json, fit.png, fits/ to {out}/",
               err=True)  # (stdout is the JSON alone)


def _check_executor_options(workers: int | None, dask_local: int | None,
                            scheduler: str | None) -> None:
    from metacascade.errors import OutputError

    chosen = [name for name, value in (("--workers", workers), ("--dask-local", dask_local),
                                       ("--scheduler", scheduler)) if value is not None]
    if len(chosen) > 1:
        raise OutputError(f"{chosen[1]}: give one of --workers, --dask-local, --scheduler")
    for name, value in (("--workers", workers), ("--dask-local", dask_local)):
        if value is not None and value < 1:
            raise OutputError(f"{name}: {value} must be >= 1")


def _executor(workers: int | None, dask_local: int | None,
              scheduler: str | None) -> LocalExecutor | DaskExecutor:
    from metacascade.cohort import DaskExecutor, LocalExecutor

    if dask_local is not None or scheduler is not None:
        with _as_options(scheduler="--scheduler"):
            return DaskExecutor(address=scheduler, n_workers=dask_local)
    return LocalExecutor(workers)


@app.command(cls=_Command)
def dashboard(
    host: Annotated[str, typer.Option(
        help="Address to listen on (the default takes this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 5006,
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", metavar=_FLAG,
        help="Do not open the page in a web browser.")] = False,
) -> None:
    """Serve the interactive dashboard until Ctrl+C (needs the 'dashboard' extra).

    The 'dashboard' extra is Panel and lifelines.
    """
    import matplotlib

    matplotlib.use("Agg")
    from metacascade.dashboard import serve

    with _user_errors():
        serve(host=host, port=port, show=not no_browser)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``metacascade`` script (``args``: default ``sys.argv[1:]``).

    Click's own errors (an option's value of the wrong type, an unknown option or
    command, a missing argument) also come as one line on stderr with status 2, as the
    library's do; without arguments the help is printed. A SIGTERM stops the command as
    Ctrl-C does (:class:`~metacascade.errors.Terminated`); a second one ends it at once.
    """
    try:
        with _interrupts_all():
            code = app(args=args, prog_name="metacascade", standalone_mode=False)
    except KeyboardInterrupt as stop:  # outside a command (those in one: _Group)
        sys.exit(_say_stop(stop))
    except _CLICK_ERROR as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            # The help: typer's rich formatter has printed it already (to stdout, when
            # the error was made), and left the message empty; plain click's is the text.
            if message := error.format_message():
                typer.echo(message)
        else:
            ctx = getattr(error, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(error.format_message().split())
            typer.echo(f"metacascade: error: {message}{where}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    except Exception as error:  # (an interrupt behind it, outside a command)
        behind = _interrupt_behind(error)
        if behind is None:
            raise
        sys.exit(_say_stop(behind))
    sys.exit(code if isinstance(code, int) else 0)


@contextmanager
def _interrupts_all() -> Iterator[None]:
    """Meanwhile, a SIGTERM is an interrupt, and no interrupt is lost.

    A SIGTERM raises :class:`Terminated`; an interrupt that Python could only print is
    sent again (:func:`_send_again`). (Outside the main thread, where no signal's
    handler can be set, only the latter.)
    """
    handled = threading.current_thread() is threading.main_thread()
    previous = (signal.signal(signal.SIGTERM, functools.partial(_terminate, os.getpid()))
                if handled else None)
    hook = sys.unraisablehook
    active = object()  # (a resent interrupt must not outlive the command)
    _ACTIVE.add(active)
    sys.unraisablehook = functools.partial(_send_again, hook, active)
    try:
        yield
    finally:
        _ACTIVE.discard(active)
        sys.unraisablehook = hook
        if handled:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


#: The commands under way (:func:`_interrupts_all`), each by a token of its own.
_ACTIVE: set[object] = set()


def _send_again(hook: Any, active: object, unraisable: Any) -> None:
    """Send again an interrupt that Python could only print; pass the rest to ``hook``.

    A signal's handler runs between any two bytecodes, also in a finalizer or a callback
    of the import system, where an exception is printed and dropped: about one SIGTERM
    in 40 in the first seconds of a cohort was lost so, and the run went on.
    """
    stop = unraisable.exc_value
    if not isinstance(stop, KeyboardInterrupt):
        hook(unraisable)
        return
    number = getattr(stop, "signal_number", signal.SIGINT)
    if number == signal.SIGTERM:  # (its handler is the default again)
        signal.signal(signal.SIGTERM, functools.partial(_terminate, os.getpid()))
    # From another thread, a moment later (not into the finalizer again), unless the
    # command has ended meanwhile.
    threading.Timer(0.01, _send_if, (number, active)).start()


def _send_if(number: int, active: object) -> None:
    """Send signal ``number`` to this process if the command ``active`` is under way."""
    if active in _ACTIVE:
        os.kill(os.getpid(), number)


def _terminate(command: int, signal_number: int, frame: object) -> None:
    """SIGTERM's handler in process ``command``: stop as Ctrl-C does.

    A second SIGTERM ends the process at once, and so does one in a process forked from
    ``command`` before it could set its own (a worker of the local pool).
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if os.getpid() != command:
        os.kill(os.getpid(), signal.SIGTERM)
    raise Terminated


#: Click's base error, as typer has it (typer 0.29 vendors click).
_CLICK_ERROR: Any = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

if __name__ == "__main__":  # pragma: no cover
    main()
