"""Virtual cohorts: populations of patients, run in shards to Parquet, resumable.

See :mod:`metacascade.cohort.population` (distributions of patient-level parameters)
and :mod:`metacascade.cohort.run` (:func:`simulate_cohort`, executors, the directory
layout).
"""

from metacascade.cohort.population import Distribution, Population, load_population, patient_seed
from metacascade.cohort.run import (
    Cohort,
    DaskExecutor,
    LocalExecutor,
    patient_tables,
    simulate_cohort,
)

__all__ = [
    "Cohort",
    "DaskExecutor",
    "Distribution",
    "LocalExecutor",
    "Population",
    "load_population",
    "patient_seed",
    "patient_tables",
    "simulate_cohort",
]
