"""Checks of plain arguments shared by the public functions: numbers, whole numbers, paths.

A truth value (Python's ``bool`` or NumPy's ``np.bool_``) is never a number here, though
Python counts ``True`` as 1: ``seed=True`` or ``workers=True`` is a mistake to name, not
a value to run. NumPy's numbers are numbers.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path

import numpy as np

from metacascade.errors import MetacascadeError

#: Python's and NumPy's truth values.
TRUTH_VALUES = (bool, np.bool_)


def is_truth_value(value: object) -> bool:
    """Whether ``value`` is ``True`` or ``False`` (Python's or NumPy's)."""
    return isinstance(value, TRUTH_VALUES)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (Python's or NumPy's), and not a truth value."""
    return isinstance(value, int | float | np.integer | np.floating) and not is_truth_value(
        value)


def whole_number(value: object, what: str, *, low: int, high: int | None = None,
                 allowed: str | None = None,
                 error: type[MetacascadeError] = MetacascadeError) -> int:
    """``value`` as an int if it is a whole number in ``[low, high]`` (NumPy's too).

    Otherwise raise ``error``: "``what``: ``value`` must be a whole number ``allowed``"
    (by default ">= low" or "in [low, high]").
    """
    if not is_truth_value(value):
        try:
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            if number >= low and (high is None or number <= high):
                return number
    if allowed is None:
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise error(f"{what}: {value!r} must be a whole number {allowed}")


def as_path(value: object, what: str, *, noun: str = "a path",
            error: type[Exception] = TypeError) -> Path:
    """``value`` as a Path if it is a str or an ``os.PathLike``; else ``error`` naming it.

    "``what``: expected ``noun`` (str or os.PathLike), not ``type``". An empty path
    (``""``, which would mean the current directory) is refused too, as a bad value
    (``error``, or :class:`MetacascadeError` where ``error`` is ``TypeError``).
    """
    if not isinstance(value, str | os.PathLike):
        raise error(f"{what}: expected {noun} (str or os.PathLike), not "
                    f"{type(value).__name__}")
    if not os.fspath(value):
        raise (MetacascadeError if error is TypeError else error)(
            f"{what}: an empty path; give {noun}")
    return Path(value)
