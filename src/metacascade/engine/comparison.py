"""Statistical comparison of two engines over replicate runs of one compiled model.

The fast engine (:mod:`metacascade.engine.kernel`) and the per-cell reference
(:mod:`metacascade.engine.reference`) share their input but not their random stream, so
only the distributions of their results can agree. :func:`compare` turns replicate runs
of each into two-sample p-values, one per statistic of :data:`STATISTICS`:

* ``fates_by_organ`` and ``colonies_by_organ``: Pearson chi-square homogeneity
  statistic of the pooled table (engine x category) where the categories are died in
  blood and each organ's final fates (failed, died, dormant, colony, extinct), or each
  organ, route (arrest or woke) and generation (1, 2, 3+) of the colonies. Cells of a
  cluster arrest together and colonies shed in bursts, so pooled counts are
  overdispersed and the asymptotic chi-square p-value would be too small; the p-value
  is instead the share of permutations of whole replicates between the engines whose
  statistic is at least the observed one (exact under the null that both engines draw
  replicates from one distribution).
* one per whole-body total of :data:`TOTALS` at the horizon: Mann-Whitney U.
* ``colony_counts``: chi-square test of the histogram of colonies per run (bins merged
  until each holds at least :data:`MIN_POOLED` runs).
* ``first_colony_day``: two-sample Kolmogorov-Smirnov on the day of the first colony,
  runs without a colony counted at the horizon in both engines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from metacascade.engine.compile import CompiledModel
from metacascade.engine.result import Result

FloatArray = NDArray[np.float64]

#: Final fates of a shed cell, per organ, that partition ``arrested``.
FATES = ("failed_extravasation", "died_after_extravasation", "dormant_now",
         "colonies_founded", "colonies_extinct")
#: Whole-body totals compared one by one.
TOTALS = ("shed", "died_in_blood", "failed_extravasation", "died_after_extravasation",
          "dormant_now", "woke", "colonies_extinct", "colonies_founded",
          "colonies_vascularised")
#: Every statistic :func:`compare` returns a p-value for.
STATISTICS = ("fates_by_organ", "colonies_by_organ", *TOTALS, "colony_counts",
              "first_colony_day")
#: Categories (or histogram bins) with fewer pooled counts are merged.
MIN_POOLED = 10
#: Colony generations kept apart in ``colonies_by_organ`` (higher ones pooled).
GENERATIONS = 3


@dataclass(frozen=True)
class Replicates:
    """What :func:`compare` needs from replicate runs of one engine (one row per run).

    Attributes
    ----------
    fates
        Died in blood, then each organ's :data:`FATES` at the horizon.
    colonies
        Colonies per organ, route (arrest, woke) and generation (1..GENERATIONS, the last
        pooling higher ones).
    totals
        Whole-body :data:`TOTALS` at the horizon.
    first_colony_day
        Day of each run's first colony; the horizon for a run without one.

    """

    fates: FloatArray
    colonies: FloatArray
    totals: FloatArray
    first_colony_day: FloatArray

    @classmethod
    def of(cls, results: Sequence[Result]) -> Replicates:
        """Summarise results of one engine on one compiled model."""
        return cls(
            fates=np.array([_fates(r) for r in results], dtype=float),
            colonies=np.array([_colonies(r) for r in results], dtype=float),
            totals=np.array([[r.final[name] for name in TOTALS] for r in results], dtype=float),
            first_colony_day=np.array([
                r.colonies["founded_day"].min() if len(r.colonies) else r.model.horizon_days
                for r in results]),
        )


def _fates(result: Result) -> FloatArray:
    by_organ = result.ledger_by_organ
    final = by_organ[by_organ["time_days"] == by_organ["time_days"].max()]
    final = final.set_index("organ").loc[list(result.model.organs), list(FATES)]
    return np.concatenate([[result.final["died_in_blood"]], final.to_numpy(dtype=float).ravel()])


def _colonies(result: Result) -> FloatArray:
    model, c = result.model, result.colonies
    organ = np.array([model.organs.index(o) for o in c["organ"]], dtype=np.int64)
    via = (c["via"].to_numpy() == "woke").astype(np.int64)
    generation = np.minimum(c["generation"].to_numpy(dtype=np.int64), GENERATIONS) - 1
    index = (organ * 2 + via) * GENERATIONS + generation
    return np.bincount(index, minlength=model.n_organs * 2 * GENERATIONS).astype(float)


def compare(a: Replicates, b: Replicates, *, rng: np.random.Generator,
            permutations: int = 19_999) -> dict[str, float]:
    """Two-sample p-values, one per statistic of :data:`STATISTICS`.

    Parameters
    ----------
    a, b
        Replicate runs of the two engines on the same compiled model.
    rng
        Stream for the permutations.
    permutations
        Permutations per pooled-table test; the smallest p-value they can give is
        ``1 / (permutations + 1)``.

    """
    out = {
        "fates_by_organ": permutation_chi2(a.fates, b.fates, rng=rng,
                                           permutations=permutations),
        "colonies_by_organ": permutation_chi2(a.colonies, b.colonies, rng=rng,
                                              permutations=permutations),
    }
    for i, name in enumerate(TOTALS):
        out[name] = mann_whitney(a.totals[:, i], b.totals[:, i])
    founded = TOTALS.index("colonies_founded")
    out["colony_counts"] = histogram_chi2(a.totals[:, founded], b.totals[:, founded])
    out["first_colony_day"] = float(stats.ks_2samp(a.first_colony_day,
                                                   b.first_colony_day).pvalue)
    return out


def _pool(counts: FloatArray) -> FloatArray:
    """Drop empty categories and merge those with fewer than MIN_POOLED pooled counts."""
    totals = counts.sum(axis=0)
    sparse = totals < MIN_POOLED
    pooled = np.column_stack([counts[:, ~sparse], counts[:, sparse].sum(axis=1)])
    return pooled[:, pooled.sum(axis=0) > 0]


def _chi2_rows(first: FloatArray, column_totals: FloatArray) -> FloatArray:
    """Pearson chi-square of 2 x K tables given their first rows (one table per row)."""
    total = column_totals.sum()
    n1 = first.sum(axis=1)
    n2 = total - n1
    expected = n1[:, None] * column_totals[None, :] / total
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = total**2 / (n1 * n2) * ((first - expected) ** 2 / column_totals).sum(axis=1)
    return np.asarray(np.nan_to_num(chi2, nan=0.0), dtype=float)


def permutation_chi2(a: FloatArray, b: FloatArray, *, rng: np.random.Generator,
                     permutations: int = 19_999, chunk: int = 1000) -> float:
    """Permutation p-value of the chi-square homogeneity of pooled category counts.

    Rows of ``a`` and ``b`` are replicate runs, columns categories. The statistic is
    Pearson's chi-square of the 2 x K table of column sums; its null distribution comes
    from reassigning whole runs to the two samples at random.
    """
    counts = _pool(np.vstack([a, b]))
    if counts.shape[1] < 2:
        return 1.0
    column_totals = counts.sum(axis=0)
    labels = np.zeros(len(counts), dtype=bool)
    labels[: len(a)] = True
    observed = _chi2_rows(counts[labels].sum(axis=0)[None, :], column_totals)[0]
    exceed = 0
    for start in range(0, permutations, chunk):
        size = min(chunk, permutations - start)
        masks = rng.permuted(np.tile(labels, (size, 1)), axis=1)
        exceed += int((_chi2_rows(masks @ counts, column_totals) >= observed * (1 - 1e-12))
                      .sum())
    return (1 + exceed) / (1 + permutations)


def mann_whitney(a: FloatArray, b: FloatArray) -> float:
    """Two-sided Mann-Whitney U p-value (1 when every value is the same)."""
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def histogram_chi2(a: FloatArray, b: FloatArray) -> float:
    """Chi-square test of two samples of counts, adjacent bins merged to MIN_POOLED runs."""
    values = np.unique(np.concatenate([a, b]))
    columns: list[tuple[float, float]] = []
    bin_a = bin_b = 0.0
    for v in values:
        bin_a += float((a == v).sum())
        bin_b += float((b == v).sum())
        if bin_a + bin_b >= MIN_POOLED:
            columns.append((bin_a, bin_b))
            bin_a = bin_b = 0.0
    if bin_a + bin_b > 0:
        if columns:
            last = columns.pop()
            columns.append((last[0] + bin_a, last[1] + bin_b))
        else:
            columns.append((bin_a, bin_b))
    if len(columns) < 2:
        return 1.0
    table = np.array(columns).T
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def double_establishment(model: CompiledModel) -> CompiledModel:
    """A deliberately broken model: lineages survive twice as often."""
    return dataclasses.replace(model, establishment=2 * model.establishment)


def swap_liver_brain(model: CompiledModel) -> CompiledModel:
    """A deliberately broken model: cells bound for liver arrest in brain and back."""
    absorption = model.absorption.copy()
    liver, brain = model.organs.index("liver"), model.organs.index("brain")
    absorption[..., [liver, brain]] = absorption[..., [brain, liver]]
    return dataclasses.replace(model, absorption=absorption)


#: Deliberately broken variants of a model, for checking that a comparison can fail.
BROKEN_MODELS = {"establishment_doubled": double_establishment,
                 "liver_brain_swapped": swap_liver_brain}


def run_kernel_direct(model: CompiledModel, seed: int) -> Result:
    """The fast engine with every cluster kind drawn per step and organ.

    ``kernel.RARE_CLUSTERS`` chooses between drawing rare clusters one by one and
    drawing clusters per step and organ; both are exact. Forcing the second lets the
    comparisons check it on small cases.
    """
    from metacascade.engine import kernel

    saved = kernel.RARE_CLUSTERS
    kernel.RARE_CLUSTERS = -1.0
    try:
        return kernel.run(model, seed)
    finally:
        kernel.RARE_CLUSTERS = saved
