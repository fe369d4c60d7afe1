"""Virtual cohorts: populations of patients, run in shards to Parquet, resumable.

See :mod:`metacascade.cohort.population` (distributions of patient-level parameters)
:mod:`metacascade.cohort.run` (:func:`simulate_cohort`, the directory layout) and
:mod:`metacascade.cohort.executors` (a local process pool, Dask).
"""

from metacascade.cohort.executors import DaskExecutor, LocalExecutor
from metacascade.cohort.population import Distribution, Population, load_population, patient_seed
from metacascade.cohort.run import Cohort, CohortInterrupted, patient_tables, simulate_cohort

__all__ = [
    "Cohort",
    "CohortInterrupted",
    "DaskExecutor",
    "Distribution",
    "LocalExecutor",
    "Population",
    "load_population",
    "patient_seed",
    "patient_tables",
    "simulate_cohort",
]
