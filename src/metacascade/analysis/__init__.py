"""Analysis of virtual cohorts: survival by baseline CTC group and organs at autopsy.

:func:`analyze` reads a cohort directory and writes ``analysis.json``,
``survival.png`` and ``organs.png``; the pieces it uses are public too
(:mod:`metacascade.analysis.survival`, :mod:`metacascade.analysis.autopsy`). The
survival functions need lifelines (``pip install 'metacascade[analysis]'``), imported
only when they run.
"""

from metacascade.analysis.analyze import (
    ANALYSIS_FILES,
    CohortError,
    CohortTables,
    analysis_data,
    analyze,
    read_cohort,
)
from metacascade.analysis.autopsy import (
    AUTOPSY_MIN_DIAMETER_MM,
    AUTOPSY_ORGANS,
    CANCER_TO_DISIBIO,
    ORGAN_TO_DISIBIO,
    disibio_counts,
    involvement,
    scenario_body,
    time_to_first_metastasis,
)
from metacascade.analysis.survival import (
    CTC_GROUPS,
    ENDPOINTS,
    FEW_AT_RISK,
    FEW_AT_RISK_SHARE,
    GroupSurvival,
    HazardRatio,
    LogRank,
    cox_hazard_ratio,
    ctc_groups,
    kaplan_meier,
    logrank,
    median_survival,
)

__all__ = [
    "ANALYSIS_FILES",
    "AUTOPSY_MIN_DIAMETER_MM",
    "AUTOPSY_ORGANS",
    "CANCER_TO_DISIBIO",
    "CTC_GROUPS",
    "ENDPOINTS",
    "FEW_AT_RISK",
    "FEW_AT_RISK_SHARE",
    "ORGAN_TO_DISIBIO",
    "CohortError",
    "CohortTables",
    "GroupSurvival",
    "HazardRatio",
    "LogRank",
    "analysis_data",
    "analyze",
    "cox_hazard_ratio",
    "ctc_groups",
    "disibio_counts",
    "involvement",
    "kaplan_meier",
    "logrank",
    "median_survival",
    "read_cohort",
    "scenario_body",
    "time_to_first_metastasis",
]
