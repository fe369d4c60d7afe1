"""Virtual cohorts: populations of patients, run in shards to Parquet, resumable.

See :mod:`metacascade.cohort.population` (distributions of patient-level parameters)
:mod:`metacascade.cohort.run` (:func:`simulate_cohort`), :mod:`metacascade.cohort.shards`
(a shard's patients, run on a worker), :mod:`metacascade.cohort.directory` (the
directory's layout, manifest and lock; :class:`Cohort`) and
:mod:`metacascade.cohort.executors` (a local process pool, Dask).
"""

from metacascade.cohort.directory import Cohort
from metacascade.cohort.executors import DaskExecutor, LocalExecutor
from metacascade.cohort.population import Distribution, Population, load_population, patient_seed
from metacascade.cohort.run import CohortInterrupted, simulate_cohort
from metacascade.cohort.shards import patient_tables

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
