"""The local process pool of a cohort: its workers end with the run (killed or not),
never hold its lock, start no more than there are shards; a worker that dies is one
line; SIGTERM stops a run as Ctrl-C does."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cohort_helpers import assert_same, signal_after_shards
from metacascade.cli import app
from metacascade.cohort import LocalExecutor, Population, simulate_cohort
from metacascade.cohort import run as run_module
from metacascade.cohort.directory import being_written
from metacascade.cohort.shards import Shard
from metacascade.errors import WorkerDied

POPULATION = {
    "cancer": "breast", "horizon_years": 4, "primary_diameter_mm": 20,
    "cancer_overrides": {"doubling_time": "90 d"},
    "clinic": {"draws": [{"every_weeks": 6, "start_day": 365}]},
    "population": {"primary_diameter_mm": {"uniform": {"low": 15, "high": 30}}},
}
#: Shards of one patient each, on two workers: enough that a run stopped after its
#: second shard has most still to run on a busy machine (a shard takes some 20 ms).
N = 40
ARGS = ["--patients", str(N), "--seed", "5", "--batch-size", "1", "--shard-size", "1",
        "--workers", "2"]


@pytest.fixture(scope="module")
def population() -> Population:
    return Population.from_dict(POPULATION)


@pytest.fixture(scope="module")
def whole(tmp_path_factory, population) -> Path:
    """The cohort of :data:`ARGS`, run without a stop."""
    out = tmp_path_factory.mktemp("pool") / "whole"
    simulate_cohort(population, N, seed=5, out=out, batch_size=1, shard_size=1,
                    executor=LocalExecutor(1), progress=False)
    return out


@pytest.fixture
def args(tmp_path) -> list[str]:
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(POPULATION))
    return ["cohort", "--scenario", str(path), *ARGS]


def _resumed_is_whole(args: list[str], out: Path, whole: Path) -> None:
    run = CliRunner().invoke(app, [*args, "--out", str(out), "--resume"])
    assert run.exit_code == 0, run.output
    assert_same(whole, out)


def test_workers_of_a_killed_run_end_and_it_resumes(tmp_path, args, whole):
    """SIGKILL of the command alone (not its workers): the workers end (the helper
    fails if one outlives it by 10 s; they ran the shards queued and then waited
    forever), the directory is free, and --resume finishes it."""
    out = tmp_path / "killed"
    done, status, _ = signal_after_shards(args, out, 2, signal.SIGKILL, to="main")
    assert status == -signal.SIGKILL and 2 <= len(done) < N, (status, done)
    assert not being_written(out)
    _resumed_is_whole(args, out, whole)


_HOLD = """
import multiprocessing, sys, time
from pathlib import Path
from metacascade.cohort.directory import _claimed

with _claimed(Path(sys.argv[1])):
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    child.start()
    print(child.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork: a child inherits no descriptor")
def test_a_process_forked_by_a_run_does_not_hold_its_lock(tmp_path):
    """A lock (flock) belongs to the open file, which a fork shares: a worker alive
    after its run was killed held the directory, and --resume was refused."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    try:
        assert being_written(tmp_path)
        holder.kill()
        holder.wait(timeout=60)
        assert Path(f"/proc/{child}").exists() or sys.platform != "linux"  # (still there)
        assert not being_written(tmp_path)
    finally:
        holder.kill()
        holder.wait()
        os.kill(child, signal.SIGKILL)


def test_a_worker_killed_is_one_line_and_the_run_resumes(tmp_path, args, whole):
    """kill -9 of a worker (as the system does out of memory): one line saying so, how
    many shards are done and that --resume finishes it; status 1 (not bad input); the
    other worker ended; no temporary file left."""
    out = tmp_path / "broken"
    _, status, stderr = signal_after_shards(args, out, 2, signal.SIGKILL, to="worker")
    assert status == 1, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    recorded = json.loads((out / "manifest.json").read_text())["shards_done"]
    assert last == (
        "metacascade: error: a worker process died (killed by SIGKILL, perhaps by the "
        f"system when it ran out of memory); {len(recorded)} of {N} shards done in "
        f"{str(out)!r}; the same command with --resume (in Python: resume=True) finishes "
        "it"), stderr
    assert not list(out.glob("*/.*.tmp")) and not list(out.glob(".shard-*"))
    _resumed_is_whole(args, out, whole)


_RUN_SHARD = run_module.run_shard


def _shard_1_dies(shard: Shard) -> int:
    """:func:`run_shard`, but the worker that runs shard 1 is killed (SIGKILL) first."""
    if shard.index == 1:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    return _RUN_SHARD(shard)


def test_a_worker_killed_raises_worker_died_in_python(tmp_path, population, monkeypatch):
    monkeypatch.setattr(run_module, "run_shard", _shard_1_dies)
    out = tmp_path / "c"
    with pytest.raises(WorkerDied, match=r"^a worker process died \(killed by SIGKILL, "
                       r"perhaps by the system when it ran out of memory\); \d of 4 shards "
                       r"done in '.*'; the same command with --resume \(in Python: "
                       r"resume=True\) finishes it$"):
        simulate_cohort(population, 4, seed=5, out=out, batch_size=1,
                        executor=LocalExecutor(2), progress=False)
    assert (out / "manifest.json").exists()  # kept, to resume


@dataclass(frozen=True)
class _Task:
    index: int


def _index(task: _Task) -> int:
    return task.index


def test_no_more_workers_start_than_there_are_shards():
    before = set(multiprocessing.active_children())
    runs = LocalExecutor(40).run(_index, [_Task(0), _Task(1)])
    first = next(runs)
    started = set(multiprocessing.active_children()) - before
    assert sorted([first, *runs]) == [0, 1]
    assert len(started) == 2, started


@pytest.mark.parametrize("to, executor", [("group", "pool"), ("main", "pool"),
                                          ("group", "dask")])
def test_sigterm_stops_as_ctrl_c_does_and_the_run_resumes(tmp_path, args, whole, to,
                                                          executor):
    """SIGTERM (to the process group, as a service manager sends it, or to the command
    alone, as `kill PID`): the line of an interrupt, status 143, no temporary file."""
    if executor == "dask":
        pytest.importorskip("distributed")
        args = [*args[:-2], "--dask-local", "2"]
    out = tmp_path / "terminated"
    done, status, stderr = signal_after_shards(args, out, 2, signal.SIGTERM, to=to)
    assert 2 <= len(done) < N, f"{len(done)} shards done when terminated: {stderr!r}"
    assert status == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    recorded = json.loads((out / "manifest.json").read_text())["shards_done"]
    assert last == (f"metacascade: terminated: {len(recorded)} of {N} shards done in "
                    f"{str(out)!r}; the same command with --resume (in Python: "
                    "resume=True) finishes it"), stderr
    assert not list(out.glob("*/.*.tmp")) and not list(out.glob(".shard-*"))
    _resumed_is_whole(args, out, whole)


#: Runs the command (the arguments after the first three) with a signal (the third)
#: raised when a module (the first "import") is first imported, or a function (the
#: first "call") is called: the second names it.
_STOP_AT = """
import importlib, signal, sys

kind, target, number = sys.argv[1], sys.argv[2], getattr(signal, sys.argv[3])
del sys.argv[1:4]


class Finder:
    def find_spec(self, name, path=None, target_=None):
        if name == target:
            signal.raise_signal(number)


if kind == "import":
    sys.meta_path.insert(0, Finder())
else:
    module, name = target.rsplit(".", 1)
    module = importlib.import_module(module)
    original = getattr(module, name)

    def stopped(*args, **kwargs):
        signal.raise_signal(number)
        return original(*args, **kwargs)

    setattr(module, name, stopped)
from metacascade.cli import main

main()
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("kind, target, said", [
    ("import", "metacascade.cohort", ""),  # the command's own imports
    ("import", "scipy.optimize", ""),  # deep in them (a C extension's among them)
    ("call", "metacascade.cohort.run._claimed", ""),  # after them, before the run
    ("call", "metacascade.cohort.run._prepare", f": 0 of {N} shards done in "),
], ids=["imports", "scipy", "claim", "prepare"])
def test_an_interrupt_before_the_first_shard_is_one_line(tmp_path, args, name, kind,
                                                         target, said):
    """Before: a traceback from the imports, or status 130 and nothing said."""
    number = getattr(signal, name)
    run = subprocess.run([sys.executable, "-c", _STOP_AT, kind, target, name, *args,
                          "--out", str(tmp_path / "c")], capture_output=True, text=True,
                         timeout=300)
    word = "terminated" if number == signal.SIGTERM else "interrupted"
    assert run.returncode == 128 + number, run.stderr
    assert run.stderr.startswith(f"metacascade: {word}{said}"), run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_an_interrupt_of_another_command_is_one_line(tmp_path, name):
    number = getattr(signal, name)
    run = subprocess.run([sys.executable, "-c", _STOP_AT, "call",
                          "metacascade.engine.kernel.simulate", name, "simulate", "--cancer",
                          "breast", "--years", "1", "--out", str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=300)
    word = "terminated" if number == signal.SIGTERM else "interrupted"
    assert run.returncode == 128 + number, run.stderr
    assert run.stderr.splitlines()[-1] == f"metacascade: {word}", run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "s").exists()


def test_the_command_line_reaches_its_own_code_before_numpy_and_pandas():
    """A Ctrl-C while they were imported (the first half second of every command, from
    `import metacascade`) was a traceback: no handler of the command's could run yet."""
    code = ("import sys, metacascade.cli; "
            "assert not {'numpy', 'pandas'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
