"""The error a report raises when a directory is not one it can read."""

from __future__ import annotations

from metacascade.errors import MetacascadeError


class ReportError(MetacascadeError):
    """A directory is missing, is not a run or cohort directory, or cannot be read.

    The message names the path and what was expected.
    """
