"""Sources and parameters: every catalog number carries its unit and its source.

A :class:`Parameter` is a value with a unit, a source and bounds. The source says
why the value is what it is:

* :class:`Citation`: a published figure (paper, year, where in it);
* :class:`Assumption`: a stated assumption, with the reason and the plausible range;
* :class:`Calibrated`: a value fitted by a named calibration on named data.

Values outside their bounds are refused with :class:`~metacascade.errors.ParameterError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from metacascade.errors import ParameterError
from metacascade.units import quantity_text, unit_text


@dataclass(frozen=True)
class Citation:
    """A published source.

    Parameters
    ----------
    key
        Short identifier, e.g. ``"icrp89"``.
    authors, year, title, venue
        Bibliographic details; ``authors`` is empty when they could not be confirmed,
        and the work is then named by its title.
    where
        Where in the source the figure is (table, figure, page), or "abstract".
    note
        How the figure was turned into the parameter (conversions, choices).

    """

    key: str
    authors: str
    year: int
    title: str
    venue: str
    where: str = ""
    note: str = ""

    kind = "citation"

    def at(self, where: str, note: str = "") -> Citation:
        """Return the same work, pointing at a given place in it."""
        return replace(self, where=where, note=note)

    @property
    def lead(self) -> str:
        """The authors, or the title in quotation marks when they are not known."""
        return self.authors or f'"{self.title}"'

    def describe(self) -> str:
        """One-line human description."""
        text = f"{self.lead} {self.year}, {self.venue}"
        if self.where:
            text += f", {self.where}"
        if self.note:
            text += f" ({self.note})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return {
            "kind": self.kind,
            "key": self.key,
            "authors": self.authors,
            "year": self.year,
            "title": self.title,
            "venue": self.venue,
            "where": self.where,
            "note": self.note,
        }


@dataclass(frozen=True)
class Assumption:
    """A stated assumption: why this value, and what range is plausible.

    The plausible range is the parameter's bounds; ``reason`` says what the value
    rests on (an analogy, a figure from another setting, a modelling choice).
    """

    reason: str
    key: str = "assumption"

    kind = "assumption"

    def describe(self) -> str:
        """One-line human description."""
        return f"assumed: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return {"kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class Calibrated:
    """A value fitted by a calibration run on named data."""

    calibration: str
    data: str
    note: str = ""
    key: str = "calibrated"

    kind = "calibrated"

    def describe(self) -> str:
        """One-line human description."""
        text = f"calibrated by {self.calibration} on {self.data}"
        return f"{text} ({self.note})" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return {
            "kind": self.kind,
            "calibration": self.calibration,
            "data": self.data,
            "note": self.note,
        }


Source = Citation | Assumption | Calibrated


@dataclass(frozen=True)
class Parameter:
    """A catalog number: value, unit, source and inclusive bounds.

    Parameters
    ----------
    value
        The number, in ``unit``.
    unit
        Unit string readable by pint (``"1"`` for dimensionless, ``"s"``, ``"L/min"``,
        ``"cell/g/d"``, ...).
    source
        Why the value is what it is.
    bounds
        Inclusive ``(low, high)`` range of plausible or allowed values.

    """

    value: float
    unit: str
    source: Source
    bounds: tuple[float, float] = field(default=(-math.inf, math.inf))

    def __post_init__(self) -> None:
        low, high = self.bounds
        if not low <= high:
            raise ParameterError(f"bounds {self.bounds} are not ordered (low <= high)")
        check_in_bounds(self.value, self.bounds, what="value", unit=self.unit)

    def with_value(self, value: float, *, source: Source | None = None,
                   what: str = "value") -> Parameter:
        """Return a copy with another value (checked against the same bounds).

        ``what`` names the field in the error message when the value is refused.
        """
        check_in_bounds(value, self.bounds, what=what, unit=self.unit)
        return replace(self, value=float(value), source=source or self.source)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return {
            "value": self.value,
            "unit": self.unit,
            "bounds": list(self.bounds),
            "source": self.source.to_dict(),
        }


def check_in_bounds(value: float, bounds: tuple[float, float], *, what: str,
                    unit: str = "") -> None:
    """Raise :class:`ParameterError` unless ``value`` is finite and within ``bounds``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ParameterError(f"{what}: {value!r} is not a finite number")
    low, high = bounds
    if not low <= number <= high:
        raise ParameterError(
            f"{what}: {quantity_text(number, unit)} is outside the allowed range "
            f"[{low:g}, {high:g}]{unit_text(high, unit)}"
        )


def cited(value: float, unit: str, source: Citation,
          bounds: tuple[float, float]) -> Parameter:
    """Build a parameter whose value comes from a publication."""
    return Parameter(value, unit, source, bounds)


def assumed(value: float, unit: str, reason: str,
            bounds: tuple[float, float]) -> Parameter:
    """Build a parameter that rests on a stated assumption with plausible bounds."""
    return Parameter(value, unit, Assumption(reason), bounds)


def share(value: float, source: Source) -> Parameter:
    """A dimensionless share in [0, 1]."""
    return Parameter(value, "1", source, (0.0, 1.0))
