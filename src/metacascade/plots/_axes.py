"""The ``ax`` argument every plot function takes: a matplotlib Axes, or None.

Checked before anything is drawn, so a Figure, an array of Axes (``fig.subplots(1, 2)``)
or the ``(figure, axes)`` pair ``plt.subplots()`` returns is named, instead of failing
deep inside matplotlib or lifelines with "object has no attribute 'plot'".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def require_axes(ax: object) -> Axes:
    """``ax`` if it is a matplotlib Axes; else a TypeError naming ``ax`` and what it is."""
    from matplotlib.axes import Axes

    if isinstance(ax, Axes):
        return ax
    raise TypeError(f"ax: expected a matplotlib Axes or None, not {_described(ax)}")


def axes_or_current(ax: object) -> Axes:
    """``ax`` if it is a matplotlib Axes, pyplot's current Axes if it is None.

    Anything else is refused (:func:`require_axes`). pyplot is imported only when
    ``ax`` is None, so a caller that gives its Axes works under any backend.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.gca()
    return require_axes(ax)


def _described(ax: object) -> str:
    """What ``ax`` is, with a hint for the usual mistakes."""
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

    if isinstance(ax, FigureBase):
        return "a Figure (draw on one of its Axes: fig.gca() or fig.add_subplot())"
    if isinstance(ax, np.ndarray | list | tuple):
        items = list(np.asarray(ax, dtype=object).ravel()) if isinstance(
            ax, np.ndarray) else list(ax)
        kind = ("an array" if isinstance(ax, np.ndarray)
                else "a list" if isinstance(ax, list) else "a tuple")
        if items and all(isinstance(item, Axes) for item in items):
            first = "axes.flat[0]" if isinstance(ax, np.ndarray) else "axes[0]"
            return f"{kind} of {len(items)} Axes (pass one at a time, e.g. {first})"
        if any(isinstance(item, FigureBase) for item in items):
            return (f"{kind} holding a Figure (plt.subplots() returns (figure, axes): "
                    "pass the axes)")
    return type(ax).__name__
