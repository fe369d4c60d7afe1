"""The error types metacascade raises for bad input, and for a run that could not go on.

Every error a user can provoke with bad input is a :class:`MetacascadeError`; the
CLI turns it into one line on stderr and exit status 2. Each subclass is also a
:class:`ValueError`, so generic handlers keep working. :class:`WorkerDied` is not bad
input: the CLI says it in one line with exit status 1. :class:`Terminated` is the CLI's
SIGTERM, raised as an interrupt.
"""

from __future__ import annotations

import signal


class MetacascadeError(ValueError):
    """Base class of every error caused by bad input to metacascade."""


class ParameterError(MetacascadeError):
    """A parameter value is outside its bounds, not finite, or has the wrong unit."""


class CatalogError(MetacascadeError):
    """A catalog name is unknown or duplicated; the message lists what exists."""


class BodyError(MetacascadeError):
    """A body description is inconsistent; the message names the bed or junction."""


class ScenarioError(MetacascadeError):
    """A scenario is malformed; the message names the field and what is allowed."""


class OutputError(MetacascadeError):
    """An output path cannot be written (it is a file, or the disk refused)."""


class CohortError(MetacascadeError):
    """A directory is not a readable cohort; the message names what is missing.

    Raised by every reader of a cohort directory: :class:`metacascade.cohort.Cohort`
    (its ``manifest`` and ``table``), :func:`metacascade.analysis.read_cohort` and
    :func:`metacascade.analyze`. (Also importable from :mod:`metacascade.analysis`,
    where it was defined.)
    """


class Terminated(KeyboardInterrupt):
    """A SIGTERM, as the ``metacascade`` command raises it: it stops a run as Ctrl-C does.

    A cohort's run then raises :class:`~metacascade.cohort.CohortInterrupted`; the
    command exits with status 143 (128 + 15).
    """

    #: The signal's number.
    signal_number = signal.SIGTERM


class WorkerDied(RuntimeError):
    """A worker process of a local pool died (killed, as by the system out of memory).

    The message says how, and for a cohort how many shards are done and that
    ``resume=True`` (``--resume``) finishes it. (Not a :class:`MetacascadeError`: the
    input was not at fault.)
    """


def install_hint(extra: str) -> str:
    """How to install an optional extra, from PyPI or into a clone's ``.venv``."""
    return (f"pip install 'metacascade[{extra}]' (in a clone: .venv/bin/pip install -e "
            f"'.[{extra}]')")
