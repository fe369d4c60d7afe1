"""The cohort's progress lines: a first line at once, one per shard, the note on waiting."""

import io
import time
from pathlib import Path

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
