"""Where a cohort's shards run: a local process pool, or a Dask cluster.

An executor takes a function and the shards (:class:`Task`) and yields each shard's
index as it finishes, in any order; :func:`~metacascade.cohort.run.simulate_cohort`
writes the manifest as they come. Results never depend on the executor: every shard
draws from streams derived from the cohort seed and its patients' indices.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from metacascade._checks import whole_number
from metacascade.errors import MetacascadeError, ParameterError, WorkerDied, install_hint


class Task(Protocol):
    """A unit of work an executor runs: a shard, or another job keyed the same way."""

    @property
    def population(self) -> dict[str, Any]:
        """What the task computes from."""
        ...

    @property
    def seed(self) -> int:
        """Its seed."""
        ...

    @property
    def index(self) -> int:
        """Its index (what the executor yields when it is done)."""
        ...


TaskT = TypeVar("TaskT", bound=Task)


class Executor(Protocol):
    """Runs shards; yields each shard's index as it finishes (in any order)."""

    def run(self, fn: Callable[[TaskT], int], shards: Sequence[TaskT]) -> Iterator[int]:
        """Run ``fn`` on every shard; yield each result as it finishes."""
        ...


class LocalExecutor:
    """A local process pool of ``workers`` processes (1: in this process).

    No more workers start than there are shards to run. Each worker keeps the memory it
    frees for its next batch (:func:`keep_freed_memory`), and ends when the process
    that started it has gone (killed: it could not end them itself), within
    :data:`PARENT_CHECK_S`.
    """

    def __init__(self, workers: int | None = None) -> None:
        # (by default one per core this process may run on, not per core of the machine)
        self.workers = usable_cores() if workers is None else whole_number(
            workers, "workers", low=1, error=ParameterError)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"

    def run(self, fn: Callable[[TaskT], int], shards: Sequence[TaskT]) -> Iterator[int]:
        """Run every shard; yield indices as they finish.

        A shard that fails stops the run at once: the shards not started are cancelled
        (those running finish and are written), then its error is raised. An interrupt
        (Ctrl-C) stops the workers at once: they ignore it themselves, and are ended
        here, so that no shard goes on after the command has returned. A worker that
        dies (killed, as by the system when it runs out of memory) ends the others and
        raises :class:`~metacascade.errors.WorkerDied`.
        """
        if self.workers == 1 or len(shards) <= 1:
            for shard in shards:
                yield fn(shard)
            return
        # (the platform's default: "fork" on Linux before Python 3.14, "forkserver" after)
        context = multiprocessing.get_context()
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(shards)),
                                   mp_context=context, initializer=_start_worker,
                                   initargs=(os.getpid(), context.get_start_method()))
        processes: list[Any] = []
        try:
            futures = [pool.submit(fn, shard) for shard in shards]
            processes = list((getattr(pool, "_processes", None) or {}).values())
            for future in as_completed(futures):
                yield future.result()
        except (KeyboardInterrupt, GeneratorExit):  # here, or where the caller was
            _end_workers(pool)
            raise
        except BrokenProcessPool:  # (the pool has ended the other workers)
            pool.shutdown(wait=True)
            code = _exit_code(processes)
            if code == -signal.SIGTERM:  # (as all of a process group: this one's too?)
                time.sleep(TERMINATED_WAIT_S)  # (an interrupt, if it comes, wins)
            raise WorkerDied(f"a worker process died ({_death(code)})") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where known, else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # (not Linux)
        return os.cpu_count() or 1


def _start_worker(caller: int, method: str) -> None:
    """A local pool's worker: it keeps its freed memory and leaves Ctrl-C to the caller.

    A SIGTERM ends it at once, whatever handler the caller has (the command's raises an
    interrupt, which a worker would print). It ends when the process that started it
    has gone: the caller (``caller``, its pid), or with the ``"forkserver"`` start
    ``method`` the server, which ends with it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    keep_freed_memory()
    parent = os.getppid() if method == "forkserver" else caller
    threading.Thread(target=_end_with, args=(parent,), name="metacascade-end-with-parent",
                     daemon=True).start()


#: Seconds between a worker's looks at whether the process that started it is there.
PARENT_CHECK_S = 0.2
#: Seconds given to a SIGTERM of this process after a worker died of one: a SIGTERM to
#: the whole process group (``kill -- -PGID``, a service stopped) reaches both, and this
#: process's (an interrupt where the command line has it raise one) says what happened.
TERMINATED_WAIT_S = 0.5


def _end_with(parent: int) -> None:
    """End this process once ``parent`` is no longer its parent (it has ended).

    A worker whose caller was killed (SIGKILL) would otherwise run the shards queued,
    write files no manifest lists, and then wait forever. (POSIX: a process whose parent
    ends is given another.)
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _exit_code(processes: Sequence[Any]) -> int | None:
    """The exit code of the pool's worker that died first, of its ``processes``.

    The pool ends the others with SIGTERM once one has died: another signal or exit
    status, if any, is the one that died. None: none is known.
    """
    codes = [code for code in (p.exitcode for p in processes) if code]
    return next((c for c in codes if c != -signal.SIGTERM), codes[0] if codes else None)


def _death(code: int | None) -> str:
    """How a worker ended with exit code ``code`` (negative: killed by that signal)."""
    if code is None:
        return "ended abruptly"
    if code > 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    if -code == signal.SIGKILL:
        return f"killed by {name}, perhaps by the system when it ran out of memory"
    return f"killed by {name}"


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """End a pool's worker processes now.

    A shard they were writing stays a hidden temporary file, which the caller removes.
    """
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = getattr(pool, "_processes", None) or {}  # pid -> Process, before 3.14
    for process in list(processes.values()):
        process.terminate()


#: glibc's mallopt parameters: freed memory below the top of the heap is kept up to
#: M_TRIM_THRESHOLD bytes, and allocations from M_MMAP_THRESHOLD bytes get pages of their
#: own (returned to the system when freed, and faulted in afresh when allocated).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: A worker keeps up to this much freed memory for the next batch, bytes.
KEPT_FREED_BYTES = 1 << 30
#: Arrays below this size come from the worker's heap, bytes (glibc allows up to 32 MiB).
HEAP_ARRAY_BYTES = 32 << 20
#: Seconds to wait for an existing Dask scheduler (``--scheduler``) to accept a
#: connection, and as long again for it to answer Dask's handshake.
CONNECT_TIMEOUT_S = 10.0
#: Seconds to wait for the worker processes of a local cluster to end once killed.
END_WORKERS_S = 5.0


def keep_freed_memory() -> bool:
    """Make this process reuse freed memory rather than return it to the system.

    A batch allocates and frees about 100 MB of arrays of a few MB each; by default glibc
    gives each its own pages, which the next batch faults in again (about 5 % of a
    worker's time, the system time of a cohort run). Called in each worker of the local
    pool, never in the caller's process. Results do not depend on it; only the memory a
    worker holds between batches (its peak) does. Whether it applied: False where the C
    library has no ``mallopt`` (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_ARRAY_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, KEPT_FREED_BYTES))


class DaskExecutor:
    """Dask distributed: a ``LocalCluster`` of ``n_workers`` or an existing scheduler.

    Tasks are submitted with ``pure=False`` and a key naming the run and the shard
    (:func:`_task_key`), so Dask never merges two shards' random draws into one cached
    result, nor two runs' shards. The workers of a ``LocalCluster`` it starts keep the
    memory they free (:func:`keep_freed_memory`; :attr:`kept_freed_memory`, by worker,
    says where it applied) and log errors only; those of an existing cluster are left
    as they are, and must see the cohort directory at the same path as this process (a
    file system they share).
    """

    def __init__(self, *, address: str | None = None, n_workers: int | None = None) -> None:
        if n_workers is not None:
            n_workers = whole_number(n_workers, "n_workers", low=1, error=ParameterError)
        if address is not None and not isinstance(address, str):
            raise TypeError(f"scheduler: the address is a string such as "
                            f"'tcp://host:8786', not {type(address).__name__}")
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MetacascadeError("the Dask executor needs the 'dask' extra: "
                                   + install_hint("dask")) from None
        _quiet_sync_cancel_race()
        self._cluster = None
        #: The scheduler's address (None: a local cluster this executor made).
        self.address = address
        #: The workers of the local cluster (None on an existing one).
        self.workers: int | None = None
        if address is None:
            self.workers = n_workers or 2
            with _interrupts_ignored():  # its processes inherit it: Ctrl-C is the caller's
                # No dashboard; the scheduler's HTTP server (health, metrics) still
                # starts, by default on port 8787, with a warning when that is taken.
                self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=n_workers or 2, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            self.client = Client(self._cluster)  # type: ignore[no-untyped-call]
            self.kept_freed_memory: dict[str, bool] = self.client.run(keep_freed_memory)
        else:
            self.kept_freed_memory = {}
            _check_scheduler(address)
            self.client = Client(  # type: ignore[no-untyped-call]
                address, timeout=CONNECT_TIMEOUT_S)

    def run(self, fn: Callable[[TaskT], int], shards: Sequence[TaskT]) -> Iterator[int]:
        """Run every shard on the cluster; yield indices as they finish.

        A shard that fails stops the run and its error is raised: the shards not
        started are cancelled, and those running stop at the end of their batch
        (:func:`task_cancelled`). An interrupt (Ctrl-C), or the caller stopping early,
        also ends the worker processes of a local cluster this executor made, at once
        (their nannies start new ones); those of an existing cluster are not the run's
        to end, and its shards stop at the end of their batch.
        """
        from distributed import as_completed as dask_completed

        run = uuid.uuid4().hex[:16]
        futures = [self.client.submit(fn, shard, pure=False, key=_task_key(shard, run))
                   for shard in shards]
        try:
            for future in dask_completed(futures):  # type: ignore[no-untyped-call]
                yield int(future.result())
        except (KeyboardInterrupt, GeneratorExit):  # here, or where the caller was
            self.client.cancel(futures)  # type: ignore[no-untyped-call]
            self._end_workers()
            raise
        finally:  # a failed shard stops the run: cancel what is left
            self.client.cancel(futures)  # type: ignore[no-untyped-call]

    def _end_workers(self) -> None:
        """End the worker processes of the local cluster this executor made, now.

        A shard they were writing stays a hidden temporary file, which the caller
        removes once this returns (the processes have ended by then).
        """
        if self._cluster is None:
            return
        import psutil  # type: ignore[import-untyped]  # (a dependency of distributed)

        processes = []
        for worker in list(self._cluster.workers.values()):
            with contextlib.suppress(psutil.Error, TypeError, ValueError):
                processes.append(psutil.Process(worker.pid))  # (a Nanny's worker)
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
        deadline = time.monotonic() + END_WORKERS_S
        for process in processes:  # (ended: a zombie until its nanny reaps it)
            with contextlib.suppress(psutil.Error):
                while (process.status() != psutil.STATUS_ZOMBIE
                       and time.monotonic() < deadline):
                    time.sleep(0.01)

    def __repr__(self) -> str:
        if self.address is not None:
            return f"DaskExecutor(address={self.address!r})"
        return f"DaskExecutor(n_workers={self.workers})"

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client (and the local cluster, if this executor made it)."""
        self.client.close()  # type: ignore[no-untyped-call]
        if self._cluster is not None:
            self._cluster.close()


def task_cancelled() -> bool:
    """Whether the Dask task this thread runs has been cancelled (False outside one).

    Dask cannot stop a task under way: its future is cancelled, and it runs on. A shard
    asks between batches and stops, so that an interrupted run's shards do not go on on
    an existing cluster (whose worker processes the run cannot end).
    """
    if "distributed" not in sys.modules:  # (not imported: not a Dask worker)
        return False
    from distributed import get_worker

    try:
        worker = get_worker()
        task = worker.state.tasks.get(worker.get_current_task())
    except (ValueError, KeyError, AttributeError):  # not in a Dask task (or another Dask)
        return False
    return task is not None and task.state == "cancelled"


def _check_scheduler(address: str) -> None:
    """Refuse an ``address`` where no Dask scheduler answers, within a bounded time.

    A Dask connection is a TCP connection (tried for :data:`CONNECT_TIMEOUT_S`), then a
    handshake, which Dask itself waits for without a limit: a server that accepts the
    connection and says nothing (an HTTP server) would hang the run, and one that
    answers something else gave a traceback (an HTTP 400 read as the length of a frame,
    an exabyte). The check runs in a thread of its own, in case the caller's thread
    runs an event loop (a notebook's).
    """
    from distributed.comm.core import connect
    from distributed.security import Security

    async def handshake() -> None:
        comm = await asyncio.wait_for(
            connect(address, timeout=CONNECT_TIMEOUT_S,
                    **Security().get_connection_args("client")),  # type: ignore[no-untyped-call]
            2 * CONNECT_TIMEOUT_S)  # (the connection, then the handshake)
        await comm.close()

    failure: list[BaseException] = []

    def check() -> None:
        try:
            asyncio.run(handshake())
        except BaseException as error:  # (said below, in one line)
            failure.append(error)

    thread = threading.Thread(target=check, name="metacascade-check-scheduler",
                              daemon=True)
    thread.start()
    thread.join()
    if not failure:
        return
    error = failure[0]
    if isinstance(error, TimeoutError):  # (connected: connect's own time-out is an OSError)
        raise MetacascadeError(f"scheduler: {address!r} took the connection but gave no "
                               f"Dask handshake in {2 * CONNECT_TIMEOUT_S:g} s; is it a "
                               "Dask scheduler's address?")
    if isinstance(error, (OSError, ValueError)):  # unreachable, or not an address
        raise MetacascadeError(f"scheduler: cannot connect to {address!r}: {error}")
    raise MetacascadeError(f"scheduler: {address!r} answered, but not as a Dask scheduler "
                           f"does ({type(error).__name__}); is it a Dask scheduler's "
                           "address?")


class _SyncCancelRace(logging.Filter):
    """Drops tornado's log of distributed's ``sync`` failing to cancel on Ctrl-C.

    ``distributed.utils.sync`` (2026.8) answers a Ctrl-C by scheduling a ``cancel`` of
    the coroutine it waits for; when the interrupt comes before the coroutine has
    started, ``cancel`` reads an unassigned variable and tornado logs the NameError with
    its traceback (``cannot access free variable 'future'``; about 1 in 8 interrupts
    here). Nothing is left running (there was nothing to cancel): only the record of
    that error, with that name, from a function ``cancel``, is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not (isinstance(error, NameError) and error.name == "future"):
            return True
        frames = traceback.extract_tb(error.__traceback__)
        return not (frames and frames[-1].name == "cancel")


def _quiet_sync_cancel_race() -> None:
    """Add :class:`_SyncCancelRace` to tornado's callback logger (once)."""
    logger = logging.getLogger("tornado.application")
    if not any(isinstance(f, _SyncCancelRace) for f in logger.filters):
        logger.addFilter(_SyncCancelRace())


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ignore SIGINT meanwhile, so that processes started now ignore it too.

    A terminal's Ctrl-C goes to every process of the foreground group; the processes of
    a ``LocalCluster`` would each print a traceback. This process stops them instead
    (the executor's ``close``). Outside the main thread, where signals cannot be set,
    nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _task_key(shard: Task, run: str) -> str:
    """The Dask key of ``shard`` in the run of token ``run`` (one of its own).

    Dask gives a task whose key it holds the future it has, whatever the task: two
    cohorts of the same scenario and seed run at once on one cluster (with other
    numbers of patients, batch sizes or directories) shared their shards' results.
    """
    return f"metacascade-shard-{run}-{shard.index}"
