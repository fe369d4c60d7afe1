"""A cohort's progress on the terminal: shards done, patients per second, time left.

One line, rewritten in place on a terminal (one line per shard elsewhere, as in CI
logs); on a terminal, a run stopped (an error, Ctrl-C) before its first shard is done
clears it, so that the one line saying why is all that is left. A line is printed when
the run starts, so that a run is never silent until its first shard is done; if that
takes longer than :data:`WAIT_NOTE_S` and numba's compiled loops are on, one more line
says why the first run after an install or a change of the code can wait: every worker
compiles the loops first (:mod:`metacascade._jit`).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from metacascade import _jit

#: Seconds without a finished shard before the note on compiling is printed.
WAIT_NOTE_S = 10.0


class Progress:
    """Progress of ``patients`` patients in ``n_shards`` shards (``done`` done before).

    A context manager: it prints the first line on entry and stops the note's timer on
    exit. :meth:`shard_done` prints the line of a finished shard.
    """

    def __init__(self, n_shards: int, done: int, patients: int, *,
                 stream: TextIO | None = None) -> None:
        self.n_shards, self.done, self.patients = n_shards, done, patients
        self.stream = sys.stderr if stream is None else stream
        self.patients_done = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._started = time.perf_counter()

    def __enter__(self) -> Progress:
        self._started = time.perf_counter()
        self._line(f"shards {self.done}/{self.n_shards}  {self.patients} patients to run")
        if _jit.ENABLED and self.done < self.n_shards:
            self._timer = threading.Timer(WAIT_NOTE_S, self._note)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self._stop_timer()
        if kind is not None and self.done < self.n_shards and self.stream.isatty():
            with self._lock:
                if self.patients_done:  # end the line a stop leaves, for what follows
                    print(file=self.stream, flush=True)
                else:  # only the first line (or none after the note): the error replaces it
                    print("\r" + " " * 79 + "\r", file=self.stream, end="", flush=True)

    def shard_done(self, patients: int) -> None:
        """Print the line of a shard of ``patients`` patients that has just finished."""
        self._stop_timer()
        self.done += 1
        self.patients_done += patients
        elapsed = time.perf_counter() - self._started
        rate = self.patients_done / elapsed if elapsed > 0 else float("inf")
        left = self.patients - self.patients_done
        self._line(f"shards {self.done}/{self.n_shards}  patients {self.patients_done} "
                   f"this run  {rate:.1f}/s  about {left / rate if rate else 0:.0f} s left",
                   last=self.done == self.n_shards)

    def _note(self) -> None:
        with self._lock:
            if self._timer is None:  # a shard finished meanwhile
                return
            self._timer = None
            start = "\n" if self.stream.isatty() else ""  # keep the progress line
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
            self._print(text, "\n" if last or not self.stream.isatty() else "\r")

    def _print(self, text: str, end: str) -> None:
        if self.stream.isatty():  # clear what a longer line left
            text = text.ljust(79)
        print(text, file=self.stream, end=end, flush=True)
