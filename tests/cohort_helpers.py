"""Helpers shared by the cohort tests: read and compare cohort tables, kill a run."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from metacascade.cohort.directory import DATASETS


def read_tables(path: Path) -> dict[str, pd.DataFrame]:
    """Every dataset of a cohort directory, in a fixed row order."""
    out = {}
    for name in DATASETS:
        frame = pd.read_parquet(path / name)
        keys = ["patient"] + (["id"] if name == "colonies" else [])
        if name == "observations":
            keys += ["time_days", "kind", "name", "lesion"]
        out[name] = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return out


def assert_same(a: Path, b: Path) -> None:
    """The two cohort directories hold identical tables."""
    ta, tb = read_tables(a), read_tables(b)
    for name in DATASETS:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_dtype=True)


def kill_after_shards(args: list[str], out: Path, shards: int) -> list[int]:
    """Run the CLI with ``args --out out``; SIGKILL it once ``shards`` shards are done.

    Returns the shards the manifest listed as done when it was killed.
    """
    return signal_after_shards(args, out, shards, signal.SIGKILL)[0]


def signal_after_shards(args: list[str], out: Path, shards: int, signal_number: int, *,
                        to: str = "group") -> tuple[list[int], int, str]:
    """Run the CLI with ``args --out out``; once ``shards`` shards are done, send
    ``signal_number`` to ``to``: its process group (``"group"``, as a terminal's Ctrl-C
    does), its main process alone (``"main"``, as ``kill PID`` does) or one of the
    worker processes it started (``"worker"``, as the system does when out of memory).

    Returns the shards the manifest listed as done then, the exit status and stderr.
    Raises AssertionError if a process of the group outlives the command by 10 s (and
    ends them).
    """
    command = [sys.executable, "-c", "from metacascade.cli import main; main()", *args,
               "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    stderr: list[str] = []  # (read meanwhile: a full pipe would stop the run)
    reader = threading.Thread(target=lambda: stderr.append(process.stderr.read()))
    reader.start()
    try:
        done = _wait_for_shards(process, out, shards)
        if to == "group":
            os.killpg(process.pid, signal_number)
        else:
            os.kill(process.pid if to == "main" else children(process.pid)[0], signal_number)
        process.wait(timeout=60)
        deadline = time.monotonic() + 10
        while True:  # the group is empty once every process of it has ended
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            if time.monotonic() > deadline:
                left = _group(process.pid)
                raise AssertionError(f"a process of the run outlived it by 10 s: {left}")
            time.sleep(0.05)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    finally:
        reader.join()
        process.stderr.close()
    return done, process.returncode, stderr[0]


def _wait_for_shards(process: subprocess.Popen[str], out: Path, shards: int) -> list[int]:
    """The shards done, once there are ``shards`` (or after 120 s, or the run's end)."""
    deadline = time.monotonic() + 120
    done: list[int] = []
    while time.monotonic() < deadline and process.poll() is None:
        try:
            done = json.loads((out / "manifest.json").read_text())["shards_done"]
        except (OSError, ValueError):
            done = []
        if len(done) >= shards:
            break
        time.sleep(0.01)
    return done


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc), in the order they began."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # (state, parent, ...)
                found.append((int(fields[19]), int(stat.parent.name)))  # (start time)
        except (OSError, IndexError, ValueError):  # (a process that ended meanwhile)
            continue
    return [child for _, child in sorted(found)]


def _group(pgid: int) -> list[str]:
    """The command lines of the processes of process group ``pgid`` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # (state, parent, group, ...)
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found.append(f"{stat.parent.name}: {command.decode(errors='replace')[:200]}")
        except (OSError, IndexError, ValueError):  # (a process that ended meanwhile)
            continue
    return found
