"""The compiled loops (numba, the ``fast`` extra) give the NumPy code's bytes.

Whole batches of both example populations, and of the lung-spread trial (whose patients
differ in lung soil, so that what a woken cell founds is read from each patient's own
row), are run with the loops on and off; the engine's raw results, the clinic's columns
and the cohort tables must be identical, not close: a cohort must not depend on whether
numba is installed (``_jit.py``).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacascade import _jit
from metacascade.clinic.batch import follow_batch
from metacascade.cohort import load_population
from metacascade.cohort.tables import batch_columns, cohort_tables
from metacascade.engine.batch import simulate_batch
from metacascade.engine.compile import compile_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: The trial example as it was, with a lung soil that varies between patients.
LUNG_SPREAD_TRIAL = Path(__file__).resolve().parent / "data" / "virtual_trial_lung_spread.yaml"
RAW = ("organ", "parent", "generation", "founded", "w", "switch", "via", "surface")


def _run(path: Path, patients: int) -> list[pd.DataFrame]:
    """The engine's raw columns and snapshots, and the cohort tables, as frames."""
    population = load_population(path)
    drawn = [population.patient(3, i) for i in range(patients)]
    models = [compile_scenario(d[0]) for d in drawn]
    results = simulate_batch(models, np.random.default_rng(5), seeds=[d[1] for d in drawn])
    raw = pd.DataFrame({f: np.concatenate([getattr(r.raw, f) for r in results]) for f in RAW})
    snapshots = pd.DataFrame(np.concatenate([
        np.concatenate([s.counters.ravel(), s.dormant_now.ravel(), [s.shed, s.died, s.colonies]])
        for r in results for s in r.raw.snapshots]))
    course = follow_batch(results, [d[0] for d in drawn], np.random.default_rng(7))
    tables = cohort_tables([d[0] for d in drawn], [d[1] for d in drawn], [d[2] for d in drawn],
                           range(patients), results, batch_columns(course),
                           population.parameter_names())
    return [raw, snapshots, *tables]


@pytest.mark.parametrize("path, patients", [
    (EXAMPLES / "breast_population.yaml", 100), (EXAMPLES / "virtual_trial_breast.yaml", 61),
    (LUNG_SPREAD_TRIAL, 61)], ids=["breast_population", "virtual_trial", "lung_spread"])
def test_compiled_loops_give_the_same_bytes(path, patients):
    assert _jit.numba is not None, "the test extra installs numba"
    with _jit.use(True):
        fast = _run(path, patients)
    with _jit.use(False):
        plain = _run(path, patients)
    assert len(fast[0]) > 1000  # colonies enough to exercise the loops
    for a, b in zip(fast, plain, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_the_environment_turns_the_compiled_loops_off():
    code = "from metacascade import _jit; print(_jit.ENABLED)"
    for value, expected in (("0", "False"), ("1", "True")):
        env = {**os.environ, "METACASCADE_JIT": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == expected


def test_turning_them_on_without_numba_is_refused(monkeypatch):
    monkeypatch.setattr(_jit, "numba", None)
    with pytest.raises(RuntimeError, match="numba"), _jit.use(True):
        pass


def test_arrays_from_compiled_loops_have_numpys_dtype_objects(tmp_path):
    # A loop loaded from numba's cache (a second process) returns arrays whose dtypes
    # were unpickled: NumPy then takes slow paths (np.add.at about 40 times slower).
    (tmp_path / "loops.py").write_text(
        "import numpy as np\nfrom metacascade import _jit\n"
        "@_jit.jit\ndef make(n):\n    return np.zeros(n), (np.arange(n), 1.5)\n")
    code = ("import numpy as np, loops\na, (b, c) = loops.make(3)\n"
            "print(a.dtype is np.dtype(np.float64), b.dtype is np.dtype(np.int64), c)")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2)]  # compiled and cached, then loaded from the cache
    assert runs == ["True True 1.5", "True True 1.5"]
    assert list(tmp_path.glob("__pycache__/*.nbc"))  # the second run read the cache


def test_the_loops_binary_searches_are_numpys_searchsorted():
    rng = np.random.default_rng(0)
    a = np.sort(np.concatenate([rng.integers(0, 20, 40).astype(float), [np.nan, np.nan]]))
    for x in (*np.arange(-1.0, 22.0, 0.5), np.nan, np.inf, -np.inf):
        assert _jit.search_right(a, x) == np.searchsorted(a, x, side="right")
        assert _jit.search_left(a, x) == np.searchsorted(a, x, side="left")
    empty = np.empty(0)
    assert _jit.search_right(empty, 1.0) == _jit.search_left(empty, 1.0) == 0


def _draw_in_a_loop():
    """Binomial, uniform and exponential draws made one by one in a compiled loop."""

    @_jit.numba.njit(cache=False)
    def draws(rng, n, p, k):
        binomial = np.empty(n.size, np.int64)
        for i in range(n.size):
            binomial[i] = rng.binomial(n[i], p[i])
        uniform = np.empty(k)
        exponential = np.empty(k)
        for i in range(k):
            uniform[i] = rng.random()
        for i in range(k):
            exponential[i] = rng.standard_exponential()
        return binomial, uniform, exponential

    return draws


def test_numbas_draws_are_numpys_where_the_docstring_says_so():
    """``_jit``'s docstring lets a future loop draw binomial, uniform and exponential
    numbers inside numba: they must be NumPy's, from the same generator state."""
    if _jit.numba is None:  # pragma: no cover - the test extra installs numba
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(1)
    n = np.concatenate([rng.integers(0, 40, 3000), rng.integers(0, 10**12, 3000)])
    p = rng.random(n.size) ** 3
    ours = _draw_in_a_loop()(np.random.default_rng(5), n, p, 5000)
    theirs = np.random.default_rng(5)
    assert np.array_equal(ours[0], theirs.binomial(n, p))
    assert np.array_equal(ours[1], theirs.random(5000))
    assert np.array_equal(ours[2], theirs.standard_exponential(5000))
