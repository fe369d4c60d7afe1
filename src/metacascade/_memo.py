"""A small cache of what pure functions computed from immutable objects, by identity.

Scenario checks and compilation derive the same things again and again from objects
that many patients of a cohort share (a catalog body, a population's unsampled
overrides). :class:`IdentityMemo` keeps the last results by the identity of those
objects; each entry holds its objects, so an id is not reused while it is cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class IdentityMemo(Generic[T]):
    """The last ``size`` results of a function of some objects (by identity) and a key.

    Parameters
    ----------
    size
        Most results kept (the least recently used goes first).

    Notes
    -----
    Only use it for a function whose result depends on nothing but the objects, which
    must never change (frozen dataclasses, frozen pydantic models), and the hashable
    ``key``. An exception raised by the function is not cached. Safe to share between
    threads; a process has its own.

    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, tuple[tuple[object, ...], T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, objects: tuple[object, ...], key: Hashable,
            compute: Callable[[], T]) -> T:
        """The cached result for ``objects`` and ``key``, else ``compute()`` (then kept)."""
        # An entry holds its objects, so no other object has their ids while it is kept.
        full = (*map(id, objects), key)
        with self._lock:
            hit = self._items.get(full)
            if hit is not None:
                self._items.move_to_end(full)
                return hit[1]
        value = compute()
        with self._lock:
            self._items[full] = (objects, value)
            self._items.move_to_end(full)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
