"""Optional compiled loops (numba) for the batch engine and clinic: the same bytes.

The ``fast`` extra installs numba. Where it is installed, a few hot passes of the batch
engine and clinic run as compiled loops instead of chains of NumPy calls; without it
(or with ``METACASCADE_JIT=0`` in the environment) the NumPy code runs. **Both give the
same bytes**, which ``tests/test_jit.py`` checks on whole cohorts, so a result never
depends on whether numba is installed. To keep it so, a compiled loop:

- draws no random numbers (every draw stays with NumPy's ``Generator``). numba can draw
  from the same ``Generator`` inside a loop, and its binomial, uniform and exponential
  draws are NumPy's numbers (``tests/test_jit.py`` checks it), but its Poisson is not:
  in a rare branch for means of 10 or more it truncates where NumPy floors, and every
  draw after differs (first at draw 25,510 of ``default_rng(9)`` at a mean of 10).
  NumPy's sampler written out for numba, with ``math.floor``, gives NumPy's counts
  (tried on 10 million draws, means from 3e-4 to 1.6e15), so a compiled step would
  need no new stream; but a compiled loop of draws is no faster than NumPy's on an
  array (tried: the batch engine's categorical rows, 60 ms a batch against 55). No
  loop draws yet;
- calls no transcendental function (``exp``, ``log``, ``**``): NumPy may compute those
  with its own SIMD routines, which can differ from the C library's in the last bit, so
  they are computed with NumPy before or after the loop;
- adds floating-point numbers in the order the NumPy code does (``np.sum`` adds
  pairwise, ``cumsum``, ``bincount`` and ``add.at`` in index order);
- uses only IEEE operations that round the same everywhere (``+ - * /``, ``sqrt``,
  comparisons, ``min``/``max``, conversions); numba's default contracts no
  multiply-add into a fused one (``fastmath`` stays off).

Each call site reads :data:`ENABLED` when it runs, except the batch engine's stores of
pending colonies and dormant cells, which are laid out for one mode when a batch starts
(``use()`` switches it around whole runs, for tests). Compiled code is cached on disk
(numba's ``cache=True``, next to the modules): the first run compiles every loop, about
20 s on this project's 2-core machine (in each worker at once); later processes load
them in well under a second. A change to a module's source compiles its loops again.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import numpy as np

from metacascade.errors import install_hint


def _import_numba() -> Any:
    try:  # the `fast` extra
        return importlib.import_module("numba")
    except ImportError:  # pragma: no cover - the test extra installs numba
        return None


#: The numba module, or None.
numba: Any = _import_numba()

F = TypeVar("F", bound=Callable[..., Any])

#: numba's version, or None when it is not installed.
NUMBA_VERSION: str | None = None if numba is None else str(numba.__version__)

#: Whether the compiled loops run: numba installed and ``METACASCADE_JIT`` not ``0``.
ENABLED: bool = numba is not None and os.environ.get("METACASCADE_JIT", "1") != "0"


def jit(func: F) -> F:
    """Compile ``func`` with numba (nopython, cached, NumPy's error model), for Python.

    The arrays it returns (alone or in a tuple) are handed back as views with NumPy's
    own dtype objects: a loop loaded from numba's cache returns arrays whose dtypes were
    unpickled from it, equal to NumPy's but not the same objects, and NumPy then takes
    slow paths on them and on every array made from them (``np.add.at`` about 40 times
    slower). Without numba the plain function is returned; call sites do not call it
    then, as :data:`ENABLED` is false.
    """
    if numba is None:  # pragma: no cover - the test extra installs numba
        return func
    compiled = _compile(func)

    @functools.wraps(func)
    def run(*args: Any) -> Any:
        return _canonical(compiled(*args))

    return cast(F, run)


def inner(func: F) -> F:
    """Compile ``func`` like :func:`jit`, for calls from other compiled loops only."""
    if numba is None:  # pragma: no cover - the test extra installs numba
        return func
    return cast(F, _compile(func))


def _compile(func: Callable[..., Any]) -> Any:
    return numba.njit(cache=True, nogil=True, error_model="numpy")(func)


def _canonical(value: Any) -> Any:
    """``value`` with each array in it viewed with NumPy's own dtype object."""
    if isinstance(value, np.ndarray):
        return value.view(value.dtype.type)
    if isinstance(value, tuple):
        return tuple(_canonical(v) for v in value)
    return value


# -- scalars as NumPy's ufuncs treat them, for compiled loops ---------------------------
@inner
def maximum(a: float, b: float) -> float:
    """``np.maximum``: NaN if either is."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@inner
def minimum(a: float, b: float) -> float:
    """``np.minimum``: NaN if either is."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@inner
def fmax(a: float, b: float) -> float:
    """``np.fmax``: the other if one is NaN."""
    if b != b:
        return a
    if a != a:
        return b
    return a if a >= b else b


@inner
def fmin(a: float, b: float) -> float:
    """``np.fmin``: the other if one is NaN."""
    if b != b:
        return a
    if a != a:
        return b
    return a if a <= b else b


@inner
def search_right(a: Any, x: float) -> int:
    """``np.searchsorted(a, x, side="right")`` for sorted ``a``: NaN sorts last."""
    low, high = 0, a.size
    while low < high:
        middle = (low + high) >> 1
        s = a[middle]
        if x < s or (s != s and x == x):
            high = middle
        else:
            low = middle + 1
    return low


@inner
def search_left(a: Any, x: float) -> int:
    """``np.searchsorted(a, x, side="left")`` for sorted ``a``: NaN sorts last."""
    low, high = 0, a.size
    while low < high:
        middle = (low + high) >> 1
        s = a[middle]
        if s < x or (x != x and s == s):
            low = middle + 1
        else:
            high = middle
    return low


@contextlib.contextmanager
def use(enabled: bool) -> Iterator[None]:
    """Run the block with the compiled loops on or off (on needs numba installed)."""
    global ENABLED
    if enabled and numba is None:
        raise RuntimeError("the compiled loops need numba: " + install_hint("fast"))
    before, ENABLED = ENABLED, enabled
    try:
        yield
    finally:
        ENABLED = before
