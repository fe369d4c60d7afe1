"""Survival of a virtual cohort by baseline CTC group: Kaplan-Meier, log-rank, Cox.

Patients are split at their cancer's CTC cut-off: a baseline count (arm vein, per
7.5 mL, at the time origin) at or above ``ctc_cutoff`` is *unfavourable*, below it
*favourable* (the CellSearch convention of Cristofanilli et al., N Engl J Med 2004,
351:781-791). Patients without a time origin (``enrolled`` false) are left out of
every grouping, the CTC groups and any other column (``by``), as a trial leaves out
patients never enrolled: their ``os_days`` and ``pfs_days`` run from day 0 of the
simulation, not from an origin. The CTC groups also leave out patients without a
baseline count.

Every function reads the ``patients`` table of a cohort (one row per patient) and
works for overall survival (``os_days``, ``os_event``: censored at the end of
follow-up) and progression-free survival (``pfs_days``, ``pfs_event``: censored at the
last scan, the last tumour assessment, as :mod:`metacascade.cohort` writes them).
Degenerate cohorts (a group empty, no events) give None for what cannot be estimated
instead of raising: a virtual cohort is often small or short while a scenario is being
built.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from metacascade._checks import is_number
from metacascade.errors import MetacascadeError, ParameterError

Endpoint = Literal["os", "pfs"]

#: The endpoints: each one's duration and event columns in the patients table.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "os": ("os_days", "os_event"),
    "pfs": ("pfs_days", "pfs_event"),
}
#: Name of the derived grouping column, and its groups in plotting order.
CTC_GROUP = "baseline_ctc_group"
CTC_GROUPS = ("favourable", "unfavourable")
#: Two-sided confidence level of the intervals reported here unless another is asked
#: (``confidence`` of each function; ``metacascade analyze --confidence``).
CONFIDENCE = 0.95
#: A median with fewer patients at risk than this is flagged as resting on the last few
#: patients followed (a stated convention: the tail of a Kaplan-Meier curve with few at
#: risk is unreliable, and trials' plots are curtailed there; Pocock, Clayton and
#: Altman, Lancet 2002, 359:1686-1689).
FEW_AT_RISK = 10
#: ... and fewer than this share of the group (without censoring about half the group is
#: at risk at its median; Pocock et al. suggest curtailing plots where 10-20 % remain).
FEW_AT_RISK_SHARE = 0.2


@dataclass(frozen=True)
class GroupSurvival:
    """Size, events and Kaplan-Meier median survival of one group.

    ``median_days`` is None where the curve never falls to one half (median not
    reached); a bound of the interval likewise where it is not reached.
    ``at_risk_at_median`` is the number of patients still followed at the median (None
    where it is not reached): a median where it is small (below :data:`FEW_AT_RISK` and
    :data:`FEW_AT_RISK_SHARE` of the group) rests on the last few patients followed,
    and may move by months with one of them.
    """

    group: str
    n: int
    events: int
    median_days: float | None
    ci_low: float | None
    ci_high: float | None
    at_risk_at_median: int | None = None


@dataclass(frozen=True)
class LogRank:
    """Two-group log-rank test; None where it cannot be computed (a group empty, no events)."""

    statistic: float | None
    p_value: float | None


@dataclass(frozen=True)
class HazardRatio:
    """Cox proportional-hazards ratio of unfavourable to favourable, with its interval.

    All four numbers are None where the model cannot be estimated: a group empty, or a
    group without events (the partial likelihood then peaks at a ratio of 0 or infinity).
    """

    hazard_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def check_endpoint(endpoint: object) -> str:
    """``endpoint`` if it is a key of :data:`ENDPOINTS`; else an error naming the argument."""
    if not (isinstance(endpoint, str) and endpoint in ENDPOINTS):
        raise MetacascadeError(f"endpoint: {endpoint!r} is not one of "
                               f"{', '.join(map(repr, ENDPOINTS))}")
    return endpoint


def check_confidence(confidence: object) -> float:
    """``confidence`` if it is a two-sided level strictly between 0 and 1; else an error.

    (A truth value is no level; 95, a percentage, is refused rather than read as 0.95.)
    """
    if not (is_number(confidence) and 0.0 < cast(float, confidence) < 1.0):  # (NaN fails)
        raise ParameterError(f"confidence: {confidence!r} must be a number strictly between "
                             "0 and 1 (e.g. 0.95 for 95 % intervals)")
    return float(cast(float, confidence))


def ctc_groups(patients: pd.DataFrame) -> pd.DataFrame:
    """The enrolled patients with a baseline CTC count, with their CTC group.

    Parameters
    ----------
    patients
        A cohort's patients table (``enrolled``, ``baseline_ctc``, ``ctc_cutoff`` and the
        endpoint columns).

    Returns
    -------
    DataFrame
        The rows kept, with :data:`CTC_GROUP` (``"favourable"`` or ``"unfavourable"``,
        unfavourable when ``baseline_ctc >= ctc_cutoff``) and ``unfavourable`` (0 or 1).

    """
    _require(patients, ("enrolled", "baseline_ctc", "ctc_cutoff"))
    keep = patients["enrolled"].astype(bool) & patients["baseline_ctc"].notna()
    table = patients.loc[keep].copy()
    unfavourable = table["baseline_ctc"] >= table["ctc_cutoff"]
    table["unfavourable"] = unfavourable.astype("int64")
    table[CTC_GROUP] = np.where(unfavourable, CTC_GROUPS[1], CTC_GROUPS[0])
    return table


def kaplan_meier(patients: pd.DataFrame, endpoint: Endpoint = "os", *,
                 by: str = CTC_GROUP, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Kaplan-Meier fits of an endpoint, one per group.

    Parameters
    ----------
    patients
        A cohort's patients table.
    endpoint
        ``"os"`` (overall survival) or ``"pfs"`` (progression-free survival).
    by
        Column to group by. The default, :data:`CTC_GROUP`, is derived by
        :func:`ctc_groups` (which drops patients not enrolled or without a baseline
        count); any other column of ``patients`` is used as it is, of the enrolled
        patients only when the table has an ``enrolled`` column (the others have no
        time origin: their durations run from day 0).
    confidence
        Two-sided level of the pointwise bands (``confidence_interval_``), strictly
        between 0 and 1; default :data:`CONFIDENCE` (0.95).

    Returns
    -------
    dict of str to lifelines.KaplanMeierFitter
        One fitted estimator per group present, labelled with the group; CTC groups
        come favourable first, other groups in sorted order. Empty groups are absent.

    """
    from lifelines import KaplanMeierFitter

    level = check_confidence(confidence)
    table = _endpoint_table(patients, endpoint, by)
    duration, event = ENDPOINTS[endpoint]
    fits: dict[str, Any] = {}
    for group in _group_order(table[by], by):
        rows = table[table[by] == group]
        fitter = KaplanMeierFitter(alpha=1.0 - level, label=str(group))
        fits[str(group)] = fitter.fit(rows[duration], rows[event], label=str(group))
    return fits


def median_survival(patients: pd.DataFrame, endpoint: Endpoint = "os", *,
                    by: str = CTC_GROUP, confidence: float = CONFIDENCE,
                    ) -> dict[str, GroupSurvival]:
    """Median survival per group (Kaplan-Meier), with its confidence interval.

    The interval is lifelines' (:func:`lifelines.utils.median_survival_times` of the
    pointwise log(-log) band of the curve, Brookmeyer-Crowley style).

    Parameters
    ----------
    patients, endpoint, by, confidence
        As for :func:`kaplan_meier` (the interval's level: default 0.95).

    Returns
    -------
    dict of str to GroupSurvival
        One entry per group present, in the order of :func:`kaplan_meier`.

    """
    from lifelines.utils import median_survival_times

    out: dict[str, GroupSurvival] = {}
    for group, fitter in kaplan_meier(patients, endpoint, by=by,
                                                 confidence=confidence).items():
        bounds = median_survival_times(fitter.confidence_interval_)
        low, high = (_finite(v) for v in np.asarray(bounds, dtype=float).ravel()[:2])
        median = _finite(fitter.median_survival_time_)
        table = fitter.event_table
        out[group] = GroupSurvival(
            group=group, n=int(table["at_risk"].iloc[0]),
            events=int(fitter.event_observed.sum()),
            median_days=median, ci_low=low, ci_high=high,
            at_risk_at_median=None if median is None else int(table.at[median, "at_risk"]))
    return out


def logrank(patients: pd.DataFrame, endpoint: Endpoint = "os") -> LogRank:
    """Log-rank test of unfavourable against favourable baseline CTC group.

    Parameters
    ----------
    patients
        A cohort's patients table.
    endpoint
        ``"os"`` or ``"pfs"``.

    Returns
    -------
    LogRank
        Chi-squared statistic (one degree of freedom) and its p-value
        (:func:`lifelines.statistics.logrank_test`); None for both when a group is empty
        or there is no event at all.

    """
    from lifelines.statistics import logrank_test

    table = _endpoint_table(patients, endpoint, CTC_GROUP)
    duration, event = ENDPOINTS[endpoint]
    good, bad = (table[table[CTC_GROUP] == g] for g in CTC_GROUPS)
    if good.empty or bad.empty or not table[event].any():
        return LogRank(None, None)
    result = logrank_test(good[duration], bad[duration], good[event], bad[event])
    return LogRank(_finite(result.test_statistic), _finite(result.p_value))


def cox_hazard_ratio(patients: pd.DataFrame, endpoint: Endpoint = "os", *,
                     confidence: float = CONFIDENCE) -> HazardRatio:
    """Cox proportional-hazards ratio of the unfavourable CTC group, with its interval.

    The model has one covariate, the 0/1 indicator ``unfavourable``; the hazard ratio
    is exp(beta), the interval exp(beta +- z se) (z = 1.96 at 95 %) and the p-value the
    Wald test's (:class:`lifelines.CoxPHFitter`, Efron's method for ties).

    Parameters
    ----------
    patients
        A cohort's patients table.
    endpoint
        ``"os"`` or ``"pfs"``.
    confidence
        Two-sided level of the interval, strictly between 0 and 1 (default 0.95).

    Returns
    -------
    HazardRatio
        None throughout when a group is empty, a group has no event, or the fit fails to
        converge.

    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    level = check_confidence(confidence)
    table = _endpoint_table(patients, endpoint, CTC_GROUP)
    duration, event = ENDPOINTS[endpoint]
    events = table.groupby(CTC_GROUP)[event].sum()
    if any(events.get(group, 0) == 0 for group in CTC_GROUPS):
        return HazardRatio(None, None, None, None)
    data = table[[duration, event, "unfavourable"]].astype(
        {event: "int64", duration: "float64"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = CoxPHFitter(alpha=1.0 - level).fit(
                data, duration_col=duration, event_col=event)
    except (ConvergenceError, np.linalg.LinAlgError):
        return HazardRatio(None, None, None, None)
    row = fitter.summary.loc["unfavourable"]
    # (lifelines labels them "exp(coef) lower 95%", the level as "%g": found by prefix)
    low, high = (next(c for c in row.index if c.startswith(f"exp(coef) {side} "))
                 for side in ("lower", "upper"))
    return HazardRatio(
        hazard_ratio=_finite(row["exp(coef)"]),
        ci_low=_finite(row[low]),
        ci_high=_finite(row[high]),
        p_value=_finite(row["p"]),
    )


# -- helpers -----------------------------------------------------------------------------
def _endpoint_table(patients: pd.DataFrame, endpoint: str, by: str) -> pd.DataFrame:
    """Rows of enrolled patients with a usable duration (the CTC group added when asked)."""
    duration, event = ENDPOINTS[check_endpoint(endpoint)]
    _require(patients, (duration, event))
    named = isinstance(by, Hashable)  # (a list was "unhashable type: 'list'")
    table = ctc_groups(patients) if named and by == CTC_GROUP else patients
    if not (named and by in table.columns):
        raise MetacascadeError(f"by: {by!r} is neither {CTC_GROUP!r} nor a column of the "
                               "patients table")
    if by != CTC_GROUP and "enrolled" in table.columns:  # (ctc_groups has done so)
        table = table.loc[table["enrolled"].astype(bool)]
    table = table[np.isfinite(table[duration].to_numpy(dtype=float))]
    days = table[duration].to_numpy(dtype=float)
    if (days < 0).any():
        row = int(np.argmax(days < 0))
        raise MetacascadeError(f"patients table: {duration} must not be negative (row "
                               f"{table.index[row]} has {days[row]:g})")
    events = table[event]
    truth = events.isin([True, False]).to_numpy()
    if not truth.all():
        row = int(np.argmax(~truth))
        raise MetacascadeError(f"patients table: {event} must be true or false (row "
                               f"{table.index[row]} has {events.iloc[row]!r})")
    return table.astype({event: bool})


def _group_order(values: pd.Series, by: str) -> list[Any]:
    present = set(values.dropna().unique().tolist())
    if by == CTC_GROUP:
        return [g for g in CTC_GROUPS if g in present]
    return sorted(present, key=str)


def _require(table: pd.DataFrame, columns: tuple[str, ...]) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"patients: expected a pandas DataFrame (a cohort's patients "
                        f"table), not {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MetacascadeError(f"patients table lacks column(s) {', '.join(missing)}")


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
