"""A cohort's progress on the terminal: shards done, patients per second, time left.

One line, rewritten in place on a terminal (one line per shard elsewhere, as in CI
logs); on a terminal, a run stopped (an error, Ctrl-C) before its first shard is done
clears it, so that the one line saying why is all that is left. A line is printed when
the run starts, so that a run is never silent until its first shard is done; if that
takes longer than :data:`WAIT_NOTE_S` and numba's compiled loops are on, one more line
says why the first run after an install or a change of the code can wait: every worker
compiles the loops first (:mod:`metacascade._jit`). Between shards, the patients done
in the shards under way (each batch, or each part of a batch split for its colonies,
or each patient of the per-patient engine) are added to the count every
:data:`REFRESH_S` seconds on a terminal (every :data:`REFRESH_LOG_S` elsewhere), so
that a long shard is not silent. The notes given to :class:`Progress` (the cohort
runner's, when fewer shards than workers leave some waiting, a batch is mostly
patients beyond the cohort, or a resume removed the analysis and report of the shards
done before) follow the first line. A stream that cannot be written (a
pipe closed by its reader, as ``2>&1 | head -1``, a closed file, no stderr at all) ends
the progress output, silently, not the run.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from metacascade import _jit

#: Seconds without a finished shard before the note on compiling is printed.
WAIT_NOTE_S = 10.0
#: Seconds between lines counting the patients of the shards under way, on a terminal
#: (the line is rewritten in place) and elsewhere (a new line each time, as in CI logs).
REFRESH_S, REFRESH_LOG_S = 2.0, 30.0


class Progress:
    """Progress of ``patients`` patients in ``n_shards`` shards (``done`` done before).

    A context manager: it prints the first line on entry and stops the note's timer on
    exit. :meth:`shard_done` prints the line of a finished shard. ``under_way``, if
    given, returns the patients done so far in the shards not yet finished; they are
    counted in every line, and a line is printed when their number changes. Each of
    ``notes`` is printed once after the first line.
    """

    def __init__(self, n_shards: int, done: int, patients: int, *,
                 stream: TextIO | None = None,
                 under_way: Callable[[], int] | None = None,
                 notes: Sequence[str] = ()) -> None:
        self.n_shards, self.done, self.patients = n_shards, done, patients
        self.notes = list(notes)
        #: Where the lines go (None: no stderr, as after ``2>&-``; nothing is printed).
        self.stream: TextIO | None = sys.stderr if stream is None else stream
        self._tty = is_terminal(self.stream)
        self._silent = self.stream is None  # set for good once a write fails
        self.patients_done = 0
        self._under_way = under_way
        self._shown = 0  # patients of the shards under way in the last line
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._ended = threading.Event()
        self._refresher: threading.Thread | None = None
        self._started = time.perf_counter()

    def __enter__(self) -> Progress:
        self._started = time.perf_counter()
        self._line(f"shards {self.done}/{self.n_shards}  {self.patients} patients to run")
        for i, note in enumerate(self.notes):
            start = "\n" if self._tty and not i else ""  # keep the progress line
            self._print(f"{start}note: {note}", "\n")
        if _jit.ENABLED and self.done < self.n_shards:
            self._timer = threading.Timer(WAIT_NOTE_S, self._note)
            self._timer.daemon = True
            self._timer.start()
        if self._under_way is not None and self.done < self.n_shards:
            self._refresher = threading.Thread(target=self._refresh, daemon=True)
            self._refresher.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self._stop_timer()
        self._stop_refresher()
        if kind is not None and self.done < self.n_shards and self._tty:
            with self._lock:
                if self.patients_done or self._shown:  # end the line a stop leaves
                    self._write("", "\n")
                else:  # only the first line (or none after the note): the error replaces it
                    self._write("\r" + " " * 79 + "\r", "")

    def shard_done(self, patients: int) -> None:
        """Print the line of a shard of ``patients`` patients that has just finished."""
        self._stop_timer()
        self.done += 1
        self.patients_done += patients
        last = self.done == self.n_shards
        if last:
            self._stop_refresher()
        self._count(0 if last else self._read_under_way(), last=last)

    def _count(self, under_way: int, last: bool = False) -> None:
        """Print the line of the patients done: in whole shards and ``under_way``."""
        done = self.patients_done + under_way
        elapsed = time.perf_counter() - self._started
        rate = done / elapsed if elapsed > 0 else float("inf")
        left = self.patients - done
        self._shown = under_way
        self._line(f"shards {self.done}/{self.n_shards}  patients {done} "
                   f"this run  {rate:.1f}/s  about {left / rate if rate else 0:.0f} s left",
                   last=last)

    def _read_under_way(self) -> int:
        if self._under_way is None:
            return 0
        try:
            return max(0, int(self._under_way()))
        except Exception:  # the progress line never stops a run
            return self._shown

    def _refresh(self) -> None:
        every = REFRESH_S if self._tty else REFRESH_LOG_S
        while not self._ended.wait(every):
            under_way = self._read_under_way()
            with self._lock:
                if self._ended.is_set() or not under_way or under_way == self._shown:
                    continue
            self._count(under_way)

    def _stop_refresher(self) -> None:
        self._ended.set()
        if self._refresher is not None and self._refresher is not threading.current_thread():
            self._refresher.join()
            self._refresher = None

    def _note(self) -> None:
        with self._lock:
            if self._timer is None:  # a shard finished meanwhile
                return
            self._timer = None
            start = "\n" if self._tty else ""  # keep the progress line
            self._print(f"{start}no shard done after {WAIT_NOTE_S:.0f} s: the first run "
                        "after installing or changing metacascade compiles numba's loops "
                        "in every worker first (about 20 s), and a shard whose patients "
                        "found hundreds of thousands of colonies each takes minutes", "\n")

    def _stop_timer(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _line(self, text: str, last: bool = False) -> None:
        with self._lock:
            self._print(text, "\n" if last or not self._tty else "\r")

    def _print(self, text: str, end: str) -> None:
        if self._tty:  # clear what a longer line left
            text = text.ljust(79)
        self._write(text, end)

    def _write(self, text: str, end: str) -> None:
        """Write ``text`` and ``end``; after a write fails, nothing more (the run goes on).

        In one write: ``print`` writes the text and its end apart, and a SIGTERM between
        the two (its handler raises in this thread) left the line unended, so the run's
        last message went on the same line (a test of it failed so, 1 run in about 40).
        """
        if self._silent or self.stream is None:
            return
        try:
            self.stream.write(text + end)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe (BrokenPipeError), a closed file
            self._silent = True


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal (not: None, as ``sys.stderr`` after ``2>&-``)."""
    if stream is None:
        return False
    try:
        return bool(stream.isatty())
    except (OSError, ValueError):  # closed
        return False
