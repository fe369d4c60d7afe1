"""The error types metacascade raises for bad input.

Every error a user can provoke with bad input is a :class:`MetacascadeError`; the
CLI turns it into one line on stderr and exit status 2. Each subclass is also a
:class:`ValueError`, so generic handlers keep working.
"""

from __future__ import annotations


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


def install_hint(extra: str) -> str:
    """How to install an optional extra, from PyPI or into a clone's ``.venv``."""
    return (f"pip install 'metacascade[{extra}]' (in a clone: .venv/bin/pip install -e "
            f"'.[{extra}]')")
