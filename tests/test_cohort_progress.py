"""The cohort's progress lines: a first line at once, one per shard, the note on waiting."""

import io
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from metacascade import _jit
from metacascade.cohort import LocalExecutor, load_population, simulate_cohort
from metacascade.cohort import progress as progress_module
from metacascade.cohort.progress import Progress

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_lines_of_a_run() -> None:
    stream = io.StringIO()
    with Progress(3, 1, 20, stream=stream) as bar:
        bar.shard_done(10)
        bar.shard_done(10)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "shards 1/3  20 patients to run"
    assert lines[1].startswith("shards 2/3  patients 10 this run  ")
    assert lines[2].startswith("shards 3/3  patients 20 this run  ")
    assert lines[2].endswith("about 0 s left")
    assert len(lines) == 3


@pytest.mark.parametrize("enabled", [True, False])
def test_note_when_the_first_shard_is_slow(monkeypatch: pytest.MonkeyPatch,
                                           enabled: bool) -> None:
    monkeypatch.setattr(progress_module, "WAIT_NOTE_S", 0.05)
    monkeypatch.setattr(_jit, "ENABLED", enabled)
    stream = io.StringIO()
    with Progress(1, 0, 5, stream=stream) as bar:
        time.sleep(0.5)
        bar.shard_done(5)
    notes = [line for line in stream.getvalue().splitlines() if "compiles numba" in line]
    assert len(notes) == (1 if enabled else 0)


def test_no_note_when_a_shard_is_done_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "WAIT_NOTE_S", 0.3)
    monkeypatch.setattr(_jit, "ENABLED", True)
    stream = io.StringIO()
    with Progress(2, 0, 10, stream=stream) as bar:
        bar.shard_done(5)
        time.sleep(0.6)  # later shards may take as long as they take
        bar.shard_done(5)
    assert "compiles numba" not in stream.getvalue()


def test_simulate_cohort_prints_progress(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    population = load_population(EXAMPLES / "breast_population.yaml")
    simulate_cohort(population, 6, seed=2, out=tmp_path / "c", shard_size=3,
                    executor=LocalExecutor(1), progress=True, engine="patient")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "shards 0/2  6 patients to run"
    assert lines[-1].startswith("shards 2/2  patients 6 this run")
    simulate_cohort(population, 6, seed=2, out=tmp_path / "quiet", shard_size=3,
                    executor=LocalExecutor(1), progress=False, engine="patient")
    assert capsys.readouterr().err == ""


def test_a_note_when_workers_would_wait_or_a_batch_is_mostly_beyond_the_cohort(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer shards than workers: which option makes more shards, and whether the
    results stay the same (a shard size) or not (a batch size). A batch more than twice
    the cohort: how many are simulated, and how to simulate only the cohort."""
    from metacascade.cohort import run as run_module

    monkeypatch.setattr(run_module, "usable_cores", lambda: 64)
    population = load_population(EXAMPLES / "breast_population.yaml")
    runs = itertools.count()

    def notes(n: int, workers: int, **options: Any) -> list[str]:
        simulate_cohort(population, n, seed=2, out=tmp_path / f"cohort{next(runs)}",
                        executor=LocalExecutor(workers), progress=True, **options)
        return [line for line in capsys.readouterr().err.splitlines() if "note" in line]

    assert notes(6, 3, shard_size=6, engine="patient") == [
        "note: 1 shard for 3 workers: only 1 runs at once; a smaller --shard-size "
        "(shard_size) makes more shards, with the same results"]
    assert notes(6, 2, batch_size=8) == [
        "note: 1 shard for 2 workers: only 1 runs at once; a smaller batch size "
        "(--batch-size, batch_size) makes more shards, with other results (a patient's "
        "draws depend on the batch size)"]
    assert notes(6, 2, shard_size=3, engine="patient") == []
    assert notes(3, 2, batch_size=7) == [
        "note: 7 patients are simulated for these 3 (every patient of a batch of 7, so "
        "that a patient's results do not depend on --patients, n_patients); --batch-size 3 "
        "(batch_size=3) simulates only these, with other draws",
        "note: 1 shard for 2 workers: only 1 runs at once; a smaller batch size "
        "(--batch-size, batch_size) makes more shards, with other results (a patient's "
        "draws depend on the batch size)"]
    assert notes(4, 1, batch_size=7) == []  # (7 is not more than twice 4)
    # A shard of two batches, but the cohort within one: a smaller shard cannot help.
    assert notes(5, 2, batch_size=8, shard_size=16) == [
        "note: 1 shard for 2 workers: only 1 runs at once; a smaller batch size "
        "(--batch-size, batch_size) makes more shards, with other results (a patient's "
        "draws depend on the batch size)"]
    assert notes(1, 2, batch_size=1) == []  # (one patient: one shard whatever is done)
    assert notes(1, 2, engine="patient") == []


def test_a_note_when_more_workers_than_cores_would_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not refused (a big server may want them), but said: they only share the cores,
    and each holds a batch. Only those with a shard to run count."""
    from metacascade.cohort import run as run_module

    monkeypatch.setattr(run_module, "usable_cores", lambda: 1)
    population = load_population(EXAMPLES / "breast_population.yaml")
    simulate_cohort(population, 6, seed=2, out=tmp_path / "c", batch_size=2,
                    executor=LocalExecutor(40), progress=True)
    notes = [line for line in capsys.readouterr().err.splitlines() if "note" in line]
    assert notes == ["note: 3 shards for 40 workers: only 3 run at once; a smaller batch size "
                     "(--batch-size, batch_size) makes more shards, with other results (a "
                     "patient's draws depend on the batch size)",
                     "note: 3 workers share 1 core: a run is no faster than with 1, and "
                     "each worker holds a batch in memory"]
    monkeypatch.setattr(run_module, "usable_cores", lambda: 3)
    simulate_cohort(population, 6, seed=2, out=tmp_path / "d", batch_size=2,
                    executor=LocalExecutor(3), progress=True)
    assert "note" not in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _screen(text: str) -> list[str]:
    """The lines a terminal shows for ``text`` (carriage returns rewrite a line)."""
    shown = []
    for line in text.split("\n"):
        screen = ""
        for part in line.split("\r"):
            screen = part + screen[len(part):]
        shown.append(screen.rstrip())
    return [line for line in shown if line]


@pytest.mark.parametrize("done", [0, 1])
def test_a_stop_on_a_terminal_keeps_only_what_says_something(done: int) -> None:
    """Stopped before any shard is done, the first line is cleared (the error line that
    follows is the one line shown); after one, the last progress line stays."""
    stream = _Terminal()
    with pytest.raises(RuntimeError), Progress(3, 0, 30, stream=stream) as bar:
        for _ in range(done):
            bar.shard_done(10)
        raise RuntimeError("a patient the engine refuses")
    print("metacascade: error: patient 0: ...", file=stream)
    shown = _screen(stream.getvalue())
    assert shown[-1] == "metacascade: error: patient 0: ..."
    if done:
        assert len(shown) == 2 and shown[0].startswith("shards 1/3  patients 10 this run")
    else:
        assert len(shown) == 1


def test_patients_of_the_shards_under_way_are_counted_between_shards(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A line each time the patients done in the shards under way change, counted with
    the whole shards in every line (none once all are done). Seen to fail without the
    refresh."""
    monkeypatch.setattr(progress_module, "REFRESH_LOG_S", 0.02)
    under_way = [0]
    stream = io.StringIO()
    with Progress(2, 0, 20, stream=stream, under_way=lambda: under_way[0]) as bar:
        for count in (3, 3, 7):
            under_way[0] = count
            time.sleep(0.2)
        under_way[0] = 2  # the first shard's 10 are done; the other has 2
        bar.shard_done(10)
        time.sleep(0.2)
        under_way[0] = 10
        bar.shard_done(10)
    lines = stream.getvalue().splitlines()
    counts = [line.split("  ")[1] for line in lines[1:]]
    assert counts == ["patients 3 this run", "patients 7 this run", "patients 12 this run",
                      "patients 20 this run"], lines
    assert lines[-1].startswith("shards 2/2  patients 20 this run")


def test_a_failing_count_of_the_shards_under_way_stops_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REFRESH_LOG_S", 0.02)

    def broken() -> int:
        raise OSError("gone")

    stream = io.StringIO()
    with Progress(1, 0, 5, stream=stream, under_way=broken) as bar:
        time.sleep(0.1)
        bar.shard_done(5)
    assert stream.getvalue().splitlines()[-1].startswith("shards 1/1  patients 5 this run")


@pytest.mark.parametrize("engine, batch_size, expected", [
    ("batch", 2, [2, 4, 5]), ("patient", 1, [1, 2, 3, 4, 5])])
def test_a_shard_counts_its_patients_done_in_its_progress_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, batch_size: int,
        expected: list[int]) -> None:
    """Each batch (or patient) done adds its patients below the cohort's size to the
    shard's hidden progress file, which the run reads and removes when the shard is
    done."""
    from metacascade.cohort import shards

    population = load_population(EXAMPLES / "breast_population.yaml")
    counts: list[int] = []
    add = shards._ShardProgress.add

    def spy(self: shards._ShardProgress, patients: int) -> None:
        add(self, patients)
        assert self.path is not None
        counts.append(int(self.path.read_text()))

    monkeypatch.setattr(shards._ShardProgress, "add", spy)
    shard = shards.Shard(population.to_dict(), 3, 0, 0, 5, str(tmp_path), engine,
                             batch_size, 5, progress=True)
    assert shards.run_shard(shard) == 0
    assert counts == expected
    assert shards.patients_under_way(tmp_path) == 5
    quiet = shards.Shard(population.to_dict(), 3, 1, 0, 5, str(tmp_path / "q"), engine,
                             batch_size, 5)
    (tmp_path / "q").mkdir()
    with pytest.raises(AssertionError):  # no file without progress
        shards.run_shard(quiet)


def test_a_run_leaves_no_progress_file(tmp_path: Path) -> None:
    population = load_population(EXAMPLES / "breast_population.yaml")
    simulate_cohort(population, 6, seed=2, out=tmp_path / "c", shard_size=2, batch_size=2,
                    executor=LocalExecutor(2), progress=True)
    assert not list((tmp_path / "c").glob(".shard-*"))


class _ClosedPipe(io.StringIO):
    """A stderr whose reader has gone after the first line (``2>&1 | head -1``): every
    write after it fails as a closed pipe's does."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error, self.failed = error, 0

    def write(self, text: str) -> int:
        if "\n" in self.getvalue():
            self.failed += 1
            raise self.error
        return super().write(text)


@pytest.mark.parametrize("error", [BrokenPipeError(32, "Broken pipe"),
                                   ValueError("I/O operation on closed file")])
def test_progress_that_cannot_be_written_stops_silently(monkeypatch: pytest.MonkeyPatch,
                                                       error: Exception) -> None:
    """The progress output stops at the first write that fails (also the note's and the
    refresher's, in their threads); the run goes on."""
    monkeypatch.setattr(progress_module, "WAIT_NOTE_S", 0.05)
    monkeypatch.setattr(progress_module, "REFRESH_LOG_S", 0.02)
    monkeypatch.setattr(_jit, "ENABLED", True)
    stream = _ClosedPipe(error)
    with Progress(2, 0, 10, stream=stream, under_way=lambda: 3, notes=["a note"]) as bar:
        time.sleep(0.2)
        bar.shard_done(5)
        bar.shard_done(5)
    assert stream.getvalue() == "shards 0/2  10 patients to run\n"
    assert stream.failed == 1  # the first write that failed, and no more


def test_progress_without_stderr_prints_nothing(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """With stderr closed (``2>&-``: ``sys.stderr`` is None) a run prints nothing and
    finishes, whether progress is asked for or left to the default."""
    monkeypatch.setattr(sys, "stderr", None)
    with Progress(1, 0, 5) as bar:
        bar.shard_done(5)
    population = load_population(EXAMPLES / "breast_population.yaml")
    for progress in (True, None):
        cohort = simulate_cohort(population, 2, seed=2, out=tmp_path / f"c{progress}",
                                 batch_size=2, executor=LocalExecutor(1), progress=progress)
        assert cohort.manifest["complete"]


def test_simulate_cohort_finishes_when_its_progress_cannot_be_written(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stream = _ClosedPipe(BrokenPipeError(32, "Broken pipe"))
    monkeypatch.setattr(sys, "stderr", stream)
    population = load_population(EXAMPLES / "breast_population.yaml")
    cohort = simulate_cohort(population, 4, seed=2, out=tmp_path / "c", batch_size=2,
                             executor=LocalExecutor(2), progress=True)
    assert cohort.manifest["complete"]
    assert stream.getvalue() == "shards 0/2  4 patients to run\n"


@pytest.mark.parametrize("stderr", ["closed", "read once"])
def test_the_command_finishes_when_its_stderr_cannot_be_written(tmp_path: Path,
                                                               stderr: str) -> None:
    """``2>&-`` and ``2>&1 | head -1``: the cohort is written whole, with status 0 (the
    summary line, on stdout, goes to /dev/null here)."""
    command = [sys.executable, "-c", "from metacascade.cli import main; main()", "cohort",
               "--scenario", str(EXAMPLES / "breast_population.yaml"), "--patients", "6",
               "--batch-size", "2", "--workers", "2", "--out", str(tmp_path / "c")]
    if stderr == "closed":
        process = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 close_fds=True, preexec_fn=lambda: os.close(2), timeout=300)
        status = process.returncode
    else:
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "CI": "1"}) as running:
            assert running.stderr is not None
            assert running.stderr.readline().startswith("shards 0/3")
            running.stderr.close()
            status = running.wait(timeout=300)
    assert status == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["complete"]


def test_the_command_prints_its_progress_into_a_log_too(tmp_path: Path) -> None:
    """The command always prints it (the README said: on a terminal or with CI set, which
    is only simulate_cohort's default): one line per shard when stderr is a file."""
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    log = tmp_path / "log"
    with log.open("w") as stderr:
        subprocess.run([sys.executable, "-c", "from metacascade.cli import main; main()",
                        "cohort", "--scenario", str(EXAMPLES / "breast_population.yaml"),
                        "--patients", "4", "--batch-size", "2", "--workers", "1", "--out",
                        str(tmp_path / "c")], stdout=subprocess.DEVNULL, stderr=stderr,
                       env=env, check=True, timeout=300)
    lines = log.read_text().splitlines()
    assert lines[0] == "shards 0/2  4 patients to run"
    assert lines[-1].startswith("shards 2/2  patients 4 this run")


def test_a_line_is_written_with_its_end_at_once() -> None:
    """A SIGTERM between a line and its newline (print writes them apart) left the line
    unended and the run's last message on it: each line is one write, its end included."""

    class Writes(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def write(self, text: str) -> int:
            self.calls.append(text)
            return super().write(text)

    stream = Writes()
    with Progress(2, 0, 4, stream=stream, notes=["a note"]) as bar:
        bar.shard_done(2)
        bar.shard_done(2)
    assert len(stream.calls) == 4, stream.calls
    assert all(call.endswith("\n") for call in stream.calls), stream.calls
