"""Pickling for the frozen catalog classes that hold read-only mappings.

``Body``, ``Bed``, ``Junction`` and ``Cancer`` keep their mappings as
:class:`types.MappingProxyType`, which :mod:`pickle` cannot store, so a scenario (which
holds its resolved body and cancer) could not be sent to another process. A class that
sets ``__reduce__ = reduce_by_fields`` is pickled as its constructor's arguments, with
each read-only mapping as a plain dict; unpickling calls the constructor, which freezes
and checks them again.
"""

from __future__ import annotations

from dataclasses import fields
from types import MappingProxyType
from typing import Any


def reduce_by_fields(self: Any) -> tuple[Any, tuple[Any, dict[str, Any]]]:
    """``__reduce__`` of a dataclass: rebuild it from its ``init`` fields."""
    values = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
    return _rebuild, (type(self), {
        k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in values.items()})


def _rebuild(cls: Any, values: dict[str, Any]) -> Any:
    return cls(**values)
