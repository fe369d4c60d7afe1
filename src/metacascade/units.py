"""Unit conversion for user input, through pint.

Catalog parameters carry unit strings (``"d"``, ``"L/min"``, ``"cell/g/d"``). A user
may give a value as a bare number (taken in the parameter's catalog unit), as a string
with a unit (``"120 d"``, ``"2e6 cell/g/d"``) or as ``{value: ..., unit: ...}``; the
value is converted to the catalog unit, and a unit of the wrong kind is refused.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from metacascade.errors import ParameterError


@cache
def _registry() -> Any:
    import pint  # imported lazily: loading its definitions costs a few tenths of a second

    registry: Any = pint.UnitRegistry()
    registry.define("cell = [cell_count] = cells")
    return registry


def to_unit(value: Any, unit: str, *, what: str) -> float:
    """Convert a user-given quantity to ``unit`` and return the number.

    Parameters
    ----------
    value
        A number (already in ``unit``), a string ``"<number> <unit>"``, or a mapping
        with keys ``value`` and ``unit``.
    unit
        The catalog unit to convert to.
    what
        The field name, for error messages.

    """
    if isinstance(value, bool):
        raise ParameterError(f"{what}: expected a number or a quantity such as "
                             f"{_example(unit)}, not {value!r}")
    if isinstance(value, int | float):
        return _finite(float(value), what)
    if isinstance(value, dict):
        if set(value) != {"value", "unit"}:
            raise ParameterError(f"{what}: a quantity mapping has exactly the keys 'value' "
                                 f"and 'unit', not {sorted(map(str, value))}")
        number, given = value["value"], value["unit"]
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ParameterError(f"{what}.value: expected a number, not {number!r}")
        if not isinstance(given, str):
            raise ParameterError(f"{what}.unit: expected a unit string, not {given!r}")
        return _convert(float(number), given, unit, what)
    if isinstance(value, str):
        text = value.strip()
        number_text, _, given = text.partition(" ")
        try:
            number = float(number_text)
        except ValueError:
            raise ParameterError(f"{what}: {value!r} is not a quantity such as "
                                 f"{_example(unit)}") from None
        given = given.strip()
        return _convert(number, given, unit, what) if given else _finite(number, what)
    raise ParameterError(f"{what}: expected a number or a quantity such as "
                         f"{_example(unit)}, not {type(value).__name__}")


def _example(unit: str) -> str:
    return "'1.5'" if unit == "1" else f"'1.5 {unit}'"


def _finite(number: float, what: str) -> float:
    if not math.isfinite(number):
        raise ParameterError(f"{what}: {number!r} is not a finite number")
    return number


def _convert(number: float, given: str, unit: str, what: str) -> float:
    _finite(number, what)
    if given == unit:
        return number
    registry = _registry()
    try:
        target = registry.parse_units(unit)
    except Exception:
        raise ParameterError(f"{what}: give a plain number in {unit!r}; this field takes no "
                             "other unit") from None
    try:
        source = registry.parse_units(given)
    except Exception:
        raise ParameterError(f"{what}: unknown unit {given!r}; expected a unit of the same "
                             f"kind as {unit!r}") from None
    try:
        converted = float(registry.Quantity(number, source).to(target).magnitude)
    except Exception:
        raise ParameterError(f"{what}: unit {given!r} cannot be converted to {unit!r} (not "
                             "the same kind of quantity)") from None
    return _finite(converted, what)


def years_text(value: float, spec: str = "g") -> str:
    """``value`` years as words, formatted by ``spec``: "1 year", "2.5 years"."""
    number = format(value, spec)
    return f"{number} year" if float(number) == 1 else f"{number} years"


#: Count units and their plurals, as printed after a number other than 1.
_PLURALS = {"cell": "cells", "lesion": "lesions"}


def unit_text(value: float, unit: str) -> str:
    """``unit`` as printed after ``value``: plural for a count other than 1, with a space.

    "" for the dimensionless unit "1"; a count unit (``cell``, ``lesion``) is plural
    unless ``value`` is 1, also at the head of a compound unit: 1e+12 "cells",
    3.2e+06 "cells/g/d", 1 "cell". Other units (mm, d, L/min) are printed as they are.
    """
    if not unit or unit == "1":
        return ""
    head, slash, tail = unit.partition("/")
    if value != 1 and head in _PLURALS:
        head = _PLURALS[head]
    return f" {head}{slash}{tail}"


def quantity_text(value: float, unit: str, spec: str = "g") -> str:
    """``value`` formatted by ``spec`` and its :func:`unit_text`: "1e+12 cells", "157 d"."""
    number = format(value, spec)
    return number + unit_text(float(number), unit)
