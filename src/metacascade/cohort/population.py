"""Virtual populations: a scenario whose patient-level parameters are distributions.

A population file is a scenario (YAML or TOML) with one more section, ``population``,
mapping dotted paths into the scenario to distributions::

    cancer: breast
    horizon_years: 10
    clinic:
      therapy:
        start_at_m1: true
        lines: [{name: paclitaxel, kind: cytotoxic}]
    population:
      cancer_overrides.doubling_time: {lognormal: {median: 80, sigma: 0.4}, unit: d}
      primary_diameter_mm: {uniform: {low: 15, high: 40}}
      cancer_overrides.soil.lung: {discrete: {values: [0.5, 1, 2], weights: [1, 2, 1]}}
      clinic.therapy.lines.0.resistant_fraction: {lognormal: {median: 0.05, sigma: 0.5}}

Each patient draws every distribution from the patient's own random stream (the cohort
seed, spawn key ``(3, patient)``), so patient 17 is the same whatever the shard size,
the number of workers or their order. With ``engine="patient"`` the engine and clinic
of that patient use the seed :func:`patient_seed`; the default batch engine draws them
from its batch's streams instead (:func:`~metacascade.cohort.run.simulate_cohort`). A
value outside the scenario's bounds is refused for that patient with the field named.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator

from metacascade._checks import whole_number
from metacascade.cohort.seeds import rng_from_state, seed_states
from metacascade.errors import ScenarioError
from metacascade.random import MAX_SEED, check_rng
from metacascade.scenario import (
    InputModel,
    Scenario,
    error_message,
    name_field,
    read_scenario_file,
)

#: Spawn keys of a patient's streams: parameters, engine seed.
PARAMETER_STREAM, SEED_STREAM = 3, 2
#: Fewest patients whose streams :meth:`Population.patients` derives together (for
#: fewer, numpy's own seed sequences are quicker).
MIN_PATIENTS_TOGETHER = 16


class _Strict(InputModel):
    pass


class LogNormal(_Strict):
    """Lognormal with the given median and sigma of the log."""

    median: float = Field(gt=0.0, allow_inf_nan=False)
    sigma: float = Field(ge=0.0, le=5.0)


class Uniform(_Strict):
    """Uniform on [low, high]."""

    low: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> Uniform:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ValueError("high: must be finite and >= low")
        if not math.isfinite(self.high - self.low):  # numpy cannot draw from it
            raise ValueError(f"high: the width high - low ({self.high!r} - {self.low!r}) "
                             "must be finite")
        return self


class Discrete(_Strict):
    """One of ``values`` with probabilities proportional to ``weights`` (equal if none).

    Values of one kind: numbers, strings or truth values. A value written ``1e9`` or
    ``1.0e5``, which YAML 1.1 (PyYAML) reads as a string, is a number when its parameter
    is one (:class:`Population` reads it so; :data:`NUMBER_TEXT`).
    """

    values: list[float | str | bool] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> Discrete:
        kinds = {"truth value" if isinstance(v, bool) else "string" if isinstance(v, str)
                 else "number" for v in self.values}
        if len(kinds) > 1:  # (a column of the patients table holds one type)
            mixed = " and ".join(f"{kind}s" for kind in sorted(kinds))
            raise ValueError(f"values: {list(self.values)!r} mix {mixed}; give values of "
                             "one kind (numbers with a unit: the distribution's unit, e.g. "
                             "values: [80, 120], unit: d)")
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights: need one weight per value")
            if any(not (math.isfinite(w) and w >= 0) for w in self.weights) or not sum(
                    self.weights) > 0:
                raise ValueError("weights: must be >= 0 with a positive sum")
        return self


#: Draws a truncated distribution may take before it gives up.
MAX_TRUNCATION_DRAWS = 1000


class Distribution(_Strict):
    """Exactly one of ``lognormal``, ``uniform``, ``discrete``.

    ``unit`` is appended to the numbers drawn (e.g. ``d`` for a doubling time).
    ``truncate: [low, high]`` (in the numbers' own unit) redraws, from the patient's
    stream, until a value falls inside: the distribution conditioned on the interval.
    Without it, a value outside the parameter's bounds is refused for that patient, and
    an unbounded tail (a lognormal) will reach it in a large enough cohort.
    """

    lognormal: LogNormal | None = None
    uniform: Uniform | None = None
    discrete: Discrete | None = None
    unit: str | None = None
    truncate: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> Distribution:
        given = [k for k in ("lognormal", "uniform", "discrete") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of lognormal, uniform, discrete")
        if self.truncate is not None:
            low, high = self.truncate
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError("truncate: [low, high] with finite low < high")
        return self

    def draw(self, rng: np.random.Generator) -> Any:
        """One value (with its unit, if any), inside ``truncate`` if given."""
        return self.with_unit(self.draw_number(rng))

    def with_unit(self, value: Any) -> Any:
        """A value drawn as the scenario takes it: a number with :attr:`unit` appended."""
        if self.unit and _is_number(value):
            return f"{value!r} {self.unit}"
        return value

    def draw_number(self, rng: np.random.Generator) -> Any:
        """One value without its unit (the number drawn), inside ``truncate`` if given."""
        check_rng(rng)
        for _ in range(MAX_TRUNCATION_DRAWS):
            value = self._draw_once(rng)
            if self.truncate is None or (
                    _is_number(value) and self.truncate[0] <= value <= self.truncate[1]):
                break
        else:
            raise ScenarioError(f"truncate: no value in {list(self.truncate or ())} after "
                                f"{MAX_TRUNCATION_DRAWS} draws; the interval holds almost "
                                "none of the distribution")
        return value

    def _draw_once(self, rng: np.random.Generator) -> Any:
        value: Any
        if self.lognormal is not None:
            value = float(self.lognormal.median * math.exp(
                self.lognormal.sigma * rng.standard_normal()))
        elif self.uniform is not None:
            value = float(rng.uniform(self.uniform.low, self.uniform.high))
        else:
            assert self.discrete is not None
            weights = np.asarray(self.discrete.weights or [1.0] * len(self.discrete.values))
            value = self.discrete.values[int(rng.choice(len(weights), p=weights / weights.sum()))]
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


#: A number with an exponent that YAML 1.1 (PyYAML) reads as a string: one without a dot
#: in the mantissa or without a sign in the exponent (``1e9``, ``1.0e5``, ``2E-3``), which
#: YAML 1.2 and TOML read as numbers.
NUMBER_TEXT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def _number_text(value: Any) -> bool:
    """Whether ``value`` is a string that reads as a number (:data:`NUMBER_TEXT`)."""
    return isinstance(value, str) and NUMBER_TEXT.fullmatch(value.strip()) is not None


#: The kinds of distribution (a mapping holding none is no distribution).
_KINDS = frozenset({"lognormal", "uniform", "discrete"})

#: Largest chance that a patient's :data:`MAX_TRUNCATION_DRAWS` draws all miss the
#: ``truncate`` interval that a population may have (1e-6: a million patients would see
#: one such refusal, on average).
TRUNCATION_MISS = 1e-6


def _holds_distribution(value: Any) -> bool:
    """Whether ``value`` is a mapping with a distribution's kind in it, at any depth."""
    return isinstance(value, Mapping) and (bool(set(value) & _KINDS) or any(
        _holds_distribution(v) for v in value.values()))


def _dotted(path: str, spec: Mapping[str, Any]) -> str:
    """The dotted path of the first distribution nested in ``spec`` (under ``path``)."""
    for key, value in spec.items():
        if _holds_distribution(value):
            inner = f"{path}.{key}"
            return inner if set(value) & _KINDS else _dotted(inner, value)
    return path


def _inside(dist: Distribution, value: Any) -> bool:
    """Whether a value can come out of ``dist``'s truncation (any value without one)."""
    return dist.truncate is None or (
        _is_number(value) and dist.truncate[0] <= value <= dist.truncate[1])


#: How far inside its finite ends a continuous distribution's support is tried (a share of
#: its width): an end itself is drawn with probability 0, values this near it are drawn.
END_NUDGE = 1e-6


def _near_ends(dist: Distribution) -> list[float]:
    """Values just inside the ends of a uniform distribution's range (and its ``truncate``).

    Within :data:`END_NUDGE` of its width: a large cohort draws values that near each
    end. None for a lognormal (a truncated tail may hold next to nothing: a truncation
    at 100,000 mm is never reached) or a discrete distribution (its values are tried
    one by one).
    """
    if dist.uniform is None:
        return []
    low, high = dist.uniform.low, dist.uniform.high
    if dist.truncate is not None:
        low, high = max(low, dist.truncate[0]), min(high, dist.truncate[1])
    if high <= low:
        return []
    nudge = END_NUDGE * (high - low)
    return [low + nudge, high - nudge]


def _typical(path: str, dist: Distribution) -> tuple[Any, str]:
    """A value inside the distribution's support (and its ``truncate``), and its name.

    A lognormal's median, a uniform's middle, a discrete's most likely value; a median
    or middle outside a ``truncate`` interval gives way to the median of what the
    interval keeps. A ``truncate`` interval that the draws would miss too often is
    refused (:data:`TRUNCATION_MISS`).
    """
    where = f"population.{path}.truncate"
    cut = dist.truncate
    if dist.discrete is not None:
        weights = dist.discrete.weights or [1.0] * len(dist.discrete.values)
        kept_weights = [w if _inside(dist, v) else 0.0
                        for v, w in zip(dist.discrete.values, weights, strict=True)]
        if cut is not None:
            _check_kept(where, cut, sum(kept_weights) / sum(weights), "the discrete values")
        return dist.discrete.values[int(np.argmax(kept_weights))], "value"
    if dist.lognormal is not None:
        value, name = dist.lognormal.median, "median"
        low, high = 0.0, math.inf
        if cut is not None:
            median, sigma = dist.lognormal.median, dist.lognormal.sigma
            _check_kept(where, cut, _lognormal_kept(cut, median, sigma), "the lognormal")
            if sigma > 0 and not cut[0] <= median <= cut[1]:  # the truncated median
                normal = NormalDist(math.log(median), sigma)
                below = [normal.cdf(math.log(x)) if x > 0 else 0.0 for x in cut]
                value = math.exp(normal.inv_cdf((below[0] + below[1]) / 2))
                value, name = min(max(value, cut[0]), cut[1]), "median inside its truncation"
    else:
        assert dist.uniform is not None
        low, high = dist.uniform.low, dist.uniform.high
        value, name = (low + high) / 2, "middle"
        if cut is not None:
            width, overlap = high - low, min(high, cut[1]) - max(low, cut[0])
            kept = ((1.0 if overlap >= 0 else 0.0) if width == 0
                    else max(0.0, overlap) / width)
            _check_kept(where, cut, kept, "the uniform")
    if cut is not None:  # (a uniform's middle inside the interval: its truncated median)
        low, high = max(low, cut[0]), min(high, cut[1])
        if not low <= value <= high:
            value, name = (low + high) / 2, "middle inside its truncation"
    return value, name


def _lognormal_kept(interval: tuple[float, float], median: float, sigma: float) -> float:
    """P(low <= X <= high) for X lognormal with this median and sigma (the median if 0)."""
    low, high = interval
    if sigma == 0:
        return 1.0 if low <= median <= high else 0.0

    def below(x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * math.erfc(-math.log(x / median) / (sigma * math.sqrt(2)))

    return below(high) - below(low)


def _check_kept(where: str, interval: tuple[float, float], kept: float, what: str) -> None:
    miss = (1.0 - kept) ** MAX_TRUNCATION_DRAWS
    if miss > TRUNCATION_MISS:
        raise ScenarioError(f"{where}: {list(interval)} keeps {kept:.2g} of {what}; a "
                            f"patient's {MAX_TRUNCATION_DRAWS} draws would all miss it with "
                            f"probability {miss:.2g}; widen it")


def _unit_hint(data: Mapping[str, Any], path: str, dist: Distribution, value: Any,
               error: ScenarioError) -> str:
    """``error``, or that the parameter takes no unit when the number alone would pass.

    ``data``: the scenario data refused, with ``path`` set to ``value`` and its unit.
    """
    if not dist.unit or not _is_number(value) or "parse string as a number" not in str(error):
        return str(error)
    plain = copy.deepcopy(dict(data))
    _set_path(plain, path, value)
    try:
        Scenario.from_dict(plain)
    except ScenarioError:
        return str(error)
    return f"unit: {dist.unit!r}, but this parameter is a plain number: give no unit"


class Population:
    """A scenario and the distributions of its patient-level parameters.

    Parameters
    ----------
    scenario
        Plain scenario data (as in a scenario file, without ``population``), or a
        :class:`~metacascade.scenario.Scenario`.
    distributions
        Dotted path into the scenario -> :class:`Distribution` (or plain data for one).
    check
        Refuse, when the population is made, what every large cohort would draw and
        refuse: the typical patient (each distribution at its median, the middle of its
        range or its most likely value, inside its ``truncate``) if the scenario refuses
        it, each value of a discrete distribution with the others at their typical
        values, values just inside the ends of a uniform one's range (and its
        ``truncate``: :data:`END_NUDGE`; a check across fields, such as a drawn surgery day
        after a tumour-vein draw, may refuse them where the middle passes),
        a ``unit`` its parameter does not take, and a ``truncate`` interval that
        a patient's :data:`MAX_TRUNCATION_DRAWS` draws would all miss with a chance above
        :data:`TRUNCATION_MISS`. ``False`` reads a population a cohort was already made
        with, as it was made.

    Notes
    -----
    Patients are drawn from what the population validated when it was made: change
    neither ``scenario`` nor ``distributions`` afterwards, make another population.

    Examples
    --------
    Patient 17 of a cohort of seed 1, alone (:meth:`patient`; with ``engine="patient"``
    exactly the cohort's patient 17)::

        import metacascade

        population = metacascade.load_population("examples/virtual_trial_breast.yaml")
        scenario, seed, values = population.patient(1, 17)  # values: its param_ columns
        result = metacascade.simulate(scenario, seed=seed)  # seed: its seed column
        course = metacascade.follow(result, scenario)

    """

    def __init__(self, scenario: Scenario | Mapping[str, Any],
                 distributions: Mapping[str, Distribution | Mapping[str, Any]] | None = None,
                 *, check: bool = True) -> None:
        if isinstance(scenario, Scenario):
            scenario = scenario.to_dict()
        if not isinstance(scenario, Mapping):
            raise ScenarioError(f"scenario: a population's scenario is a Scenario or a "
                                f"mapping of its fields, not {type(scenario).__name__}")
        if distributions is not None and not isinstance(distributions, Mapping):
            raise ScenarioError("population: a mapping of dotted paths to distributions, "
                                f"not {type(distributions).__name__}")
        bad = [p for p in (distributions or {}) if not isinstance(p, str)]
        if bad:
            raise ScenarioError(f"population: {bad[0]!r} is not a dotted path into the "
                                "scenario (such as 'cancer_overrides.doubling_time')")
        self.base = Scenario.from_dict(scenario)  # the scenario alone must be valid
        self.scenario = self.base.to_dict()
        self.scenario.pop("seed", None)
        self.distributions: dict[str, Distribution] = {}
        for path, spec in sorted((distributions or {}).items()):  # a canonical order
            if path == "seed":  # (drawn, it would be replaced by the patient's seed)
                raise ScenarioError("population.seed: each patient's seed derives from the "
                                    "cohort seed (--seed); allowed: any other field")
            if isinstance(spec, Mapping) and spec and not set(spec) & _KINDS and all(
                    _holds_distribution(v) for v in spec.values()):  # a nested path
                raise ScenarioError(f"population.{path}: no distribution (lognormal, "
                                    "uniform or discrete); a path is written dotted, as "
                                    f"'{_dotted(path, spec)}: {{lognormal: ...}}'")
            spec = self._numbers_read_as_text(path, spec)
            try:
                self.distributions[path] = (spec if isinstance(spec, Distribution)
                                            else Distribution.model_validate(spec))
            except ValidationError as error:
                first = error.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                loc, message = name_field(loc, error_message(first))
                raise ScenarioError(f"population.{path}{'.' + loc if loc else ''}: "
                                    f"{message}") from None
            _set_path(copy.deepcopy(self.scenario), path, 1.0, check_only=True)
        if check:
            self._check_support()
        self._names = self.parameter_names()
        # Each patient's data: this, with the sampled values set. What no sampled path
        # reaches is already validated (from the same plain data), so pydantic takes it
        # as it is, and the scenario checks keep what they derive from it (one body
        # object, one cascade) for the next patient.
        self._shared = _share_unsampled(self.scenario, Scenario.from_dict(self.scenario),
                                        [path.split(".") for path in self.distributions])

    def _numbers_read_as_text(self, path: str, spec: Any) -> Any:
        """``spec`` with its discrete values that read as numbers made numbers, if needed.

        Those written ``1e9`` (:data:`NUMBER_TEXT`), which YAML 1.1 reads as strings,
        when the parameter at ``path`` is a number: unless the scenario takes the string
        there but refuses the number (a name). The scenario reads such a string as the
        number, so the patients drawn are the same; but the patients table held it as
        text, a ``unit`` was not appended to it, and ``[1e9, 100000]`` was refused as
        mixing strings and numbers.
        """
        plain = spec.model_dump(exclude_none=True) if isinstance(spec, Distribution) else spec
        discrete = plain.get("discrete") if isinstance(plain, Mapping) else None
        if not isinstance(discrete, Mapping) or not isinstance(discrete.get("values"), list):
            return spec
        values = discrete["values"]
        texts = [v for v in values if _number_text(v)]
        if not texts:
            return spec

        def taken(value: Any) -> bool:
            data = copy.deepcopy(self.scenario)
            try:
                _set_path(data, path, value)
                Scenario.from_dict(data)
            except ScenarioError:
                return False
            return True

        if taken(texts[0]) and not taken(float(texts[0])):  # a string parameter
            return spec
        numbers = [float(v) if _number_text(v) else v for v in values]
        return {**plain, "discrete": {**discrete, "values": numbers}}

    def _check_support(self) -> None:
        """Refuse, before any patient, values every large cohort would draw and refuse.

        First the typical patient: each distribution at its typical value (a continuous
        one's median, or the middle of its range, inside ``truncate``; a discrete one's
        most likely value). Then each value of a discrete distribution (weight > 0) with
        the others at theirs, and each uniform one just inside the ends of its range
        (:func:`_near_ends`). The draws are independent, so some patient of a large
        cohort draws each such combination (or values near it). A ``truncate`` interval
        the patient's :data:`MAX_TRUNCATION_DRAWS` draws would all miss with probability
        above :data:`TRUNCATION_MISS` is refused too. What this finds would otherwise
        stop the cohort at the first patient to draw it.
        """
        typical = {path: _typical(path, dist) for path, dist in self.distributions.items()}

        def refused(path: str | None, value: Any = None) -> str | None:
            data = copy.deepcopy(self.scenario)
            for other, (number, _) in typical.items():
                _set_path(data, other, self.distributions[other].with_unit(
                    value if other == path else number))
            try:
                Scenario.from_dict(data)
            except ScenarioError as error:
                return str(error) if path is None else _unit_hint(
                    data, path, self.distributions[path], value, error)
            return None

        if (why := refused(None)) is not None:
            field = why.partition(":")[0]  # (the refused field: a drawn path, or in one)
            named = [p for p in typical if len(typical) == 1 or p == field
                     or field.startswith(p + ".")]
            if named:
                path, (number, what) = named[0], typical[named[0]]
                raise ScenarioError(f"population.{path}: its {what} "
                                    f"{self.distributions[path].with_unit(number)!r} is "
                                    f"refused ({refused(path, number)})")
            values = ", ".join(f"{path} {self.distributions[path].with_unit(number)!r}"
                               for path, (number, _) in typical.items())
            raise ScenarioError(f"population: the typical patient ({values}) is refused "
                                f"({why})")
        others = (" with the other distributions at their typical values"
                  if len(typical) > 1 else "")
        for path, dist in self.distributions.items():
            for end in _near_ends(dist):  # (a check across fields: a drawn surgery day
                if (why := refused(path, end)) is not None:  # after a vein's draws)
                    raise ScenarioError(f"population.{path}: its values near "
                                        f"{dist.with_unit(end)!r}, the end of its range, "
                                        f"are refused{others} ({why})")
            if dist.discrete is None:
                continue
            weights = dist.discrete.weights or [1.0] * len(dist.discrete.values)
            for value, weight in zip(dist.discrete.values, weights, strict=True):
                if weight > 0 and _inside(dist, value) and (
                        why := refused(path, value)) is not None:
                    raise ScenarioError(f"population.{path}: its value "
                                        f"{dist.with_unit(value)!r} is refused{others} "
                                        f"({why})")

    def __repr__(self) -> str:
        body = f", body={self.base.body!r}" if self.base.body is not None else ""
        return (f"Population(cancer={self.base.cancer!r}{body}, "
                f"parameters={list(self.distributions)!r})")

    @classmethod
    def from_dict(cls, data: Any, *, check: bool = True) -> Population:
        """A population from plain data (any mapping): a scenario with a ``population`` section.

        ``check``: as in :class:`Population`.
        """
        if not isinstance(data, Mapping):
            raise ScenarioError(f"a population is a mapping of fields, not {type(data).__name__}")
        data = dict(data)
        distributions = data.pop("population", None)
        if distributions is None:
            distributions = {}
        if not isinstance(distributions, Mapping):
            raise ScenarioError("population: a mapping of dotted paths to distributions, "
                                f"not {type(distributions).__name__}")
        return cls(data, distributions, check=check)

    def to_dict(self) -> dict[str, Any]:
        """Plain data :meth:`from_dict` reads back."""
        return {**self.scenario, "population": {
            k: v.model_dump(mode="json", exclude_none=True)
            for k, v in self.distributions.items()}}

    def parameter_names(self) -> list[str]:
        """Column names of the sampled parameters (``param_`` + path with ``.`` -> ``__``)."""
        return ["param_" + path.replace(".", "__") for path in self.distributions]

    def patient(self, cohort_seed: int, patient: int) -> tuple[Scenario, int, dict[str, Any]]:
        """The scenario, engine seed and sampled values of one patient.

        The values are keyed by :meth:`parameter_names`, each the number drawn in its
        distribution's ``unit`` (the scenario has it with the unit appended).

        Patient ``patient`` (its index, from 0) of the cohorts of seed ``cohort_seed``
        of this population, whatever their engine: the scenario, the ``seed`` column and
        the ``param_...`` columns of its row in the patients table. To rerun it alone,
        ``result = metacascade.simulate(scenario, seed=seed)`` and
        ``metacascade.follow(result, scenario)``: with ``engine="patient"`` exactly the
        cohort's patient (:func:`~metacascade.cohort.shards.patient_tables` gives its
        rows); the batch engine draws from its batch's streams instead, so the rerun is
        another patient of the same law.

        The sections of the scenario that no distribution reaches (a scan schedule, a
        line of therapy, ...) are the same frozen objects in every patient's scenario.
        """
        cohort_seed, patient = _checked(cohort_seed, patient)
        rng = np.random.default_rng(np.random.SeedSequence(
            cohort_seed, spawn_key=(PARAMETER_STREAM, patient)))
        return self._draw(patient, rng, patient_seed(cohort_seed, patient))

    def patients(self, cohort_seed: int, patients: Sequence[int],
                 ) -> list[tuple[Scenario, int, dict[str, Any]]]:
        """:meth:`patient` of each of ``patients``, in order.

        The same scenarios, seeds and values (and the same error, for the first patient
        that has one); the streams of many patients are derived together, which is
        quicker (:mod:`metacascade.cohort.seeds`).
        """
        cohort_seed = _checked(cohort_seed)[0]
        if len(patients) < MIN_PATIENTS_TOGETHER or not all(
                type(x) is int and x >= 0 for x in patients):  # (else each is checked)
            return [self.patient(cohort_seed, p) for p in patients]
        states = seed_states(cohort_seed, PARAMETER_STREAM, patients, 4)
        seeds = [int(s) >> 1 for s in seed_states(cohort_seed, SEED_STREAM, patients, 1)[:, 0]]
        return [self._draw(p, rng_from_state(state), seed)
                for p, state, seed in zip(patients, states, seeds, strict=True)]

    def _draw(self, patient: int, rng: np.random.Generator, seed: int,
              ) -> tuple[Scenario, int, dict[str, Any]]:
        """Draw the patient's values from ``rng``; its scenario has engine seed ``seed``."""
        data = dict(self._shared)  # _set_path copies what it changes, shares the rest
        values: dict[str, Any] = {}
        for (path, dist), name in zip(self.distributions.items(), self._names, strict=True):
            try:
                value = dist.draw_number(rng)
            except ScenarioError as error:
                raise ScenarioError(f"patient {patient}: population.{path}.{error}") from None
            _set_path(data, path, dist.with_unit(value), copy_path=True)
            values[name] = value
        data["seed"] = seed
        try:
            scenario = Scenario.from_dict(data)
        except ScenarioError as error:
            raise ScenarioError(f"patient {patient}: {error}") from None
        return scenario, int(data["seed"]), values


def patient_seed(cohort_seed: int, patient: int) -> int:
    """The engine seed of a patient (independent of sharding and workers)."""
    cohort_seed, patient = _checked(cohort_seed, patient)
    state = np.random.SeedSequence(cohort_seed, spawn_key=(SEED_STREAM, patient))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _checked(cohort_seed: Any, *patients: Any) -> tuple[int, ...]:
    """The cohort seed and patient indices as ints; MetacascadeError naming a bad one.

    The seed is in [0, 2^63), as :func:`~metacascade.cohort.run.simulate_cohort`'s; an
    index >= 0.
    """
    return (whole_number(cohort_seed, "cohort_seed", low=0, high=MAX_SEED,
                         allowed="in [0, 2^63)"),
            *(whole_number(p, "patient", low=0, allowed=">= 0 (a patient's index)")
              for p in patients))


def _share_unsampled(plain: Any, validated: Any, paths: list[list[str]]) -> Any:
    """``plain`` with each section that no path reaches replaced by its validated model.

    ``validated`` is ``plain`` validated; ``paths`` are the split dotted paths that
    reach here, relative to here (``[]`` for one that ends here). Containers stay
    plain data (a patient's :func:`_set_path` copies and changes those a path reaches),
    and so does anything that is not a model.
    """
    if not paths and isinstance(validated, BaseModel):
        return validated
    if isinstance(plain, dict):
        return {key: _share_unsampled(value, _child(validated, key), _below(paths, key))
                for key, value in plain.items()}
    if isinstance(plain, list):
        return [_share_unsampled(value, _child(validated, str(i)), _below(paths, i))
                for i, value in enumerate(plain)]
    return plain


def _below(paths: list[list[str]], key: str | int) -> list[list[str]]:
    """The paths through ``key`` (an item's index as :func:`_set_path` reads it), from it."""
    return [path[1:] for path in paths if path and (
        path[0] == key if isinstance(key, str) else path[0].isdigit() and int(path[0]) == key)]


def _child(validated: Any, key: str) -> Any:
    """The validated value under ``key`` of a model, dict or list (None if none)."""
    if isinstance(validated, BaseModel):
        return getattr(validated, key, None)
    if isinstance(validated, dict):
        return validated.get(key)
    if isinstance(validated, list) and key.isdigit() and int(key) < len(validated):
        return validated[int(key)]
    return None


def _set_path(data: dict[str, Any], path: str, value: Any, *, check_only: bool = False,
              copy_path: bool = False) -> None:
    """Set ``data[a][b][0][c] = value`` for ``path`` ``a.b.0.c`` (dicts made as needed).

    ``copy_path``: replace each container along the path by a shallow copy first, so
    that data shared with other scenarios is never changed.
    """
    parts = path.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"population.{path}: no item {part} in "
                                    f"{'.'.join(parts[:i]) or 'the scenario'}")
            key: Any = int(part)
        else:
            if part not in node or node[part] is None:
                if parts[i + 1].isdigit():  # an item of a list the scenario lacks
                    where = ".".join(parts[:i + 1])
                    raise ScenarioError(f"population.{path}: the scenario has no {where} to "
                                        f"take item {parts[i + 1]} from; give {where} in "
                                        "the scenario")
                node[part] = {}
            key = part
        if copy_path and isinstance(node[key], (dict, list)):
            node[key] = copy.copy(node[key])
        node = node[key]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ScenarioError(f"population.{path}: no item {last}")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(f"population.{path}: {'.'.join(parts[:-1])} is not a section")
    if check_only:
        try:
            Scenario.from_dict(data)
        except ScenarioError as error:
            if "unknown field" in str(error):
                raise ScenarioError(f"population.{path}: {error}") from None


def load_population(path: str | Path) -> Population:
    """Read a population (a scenario file with a ``population`` section)."""
    return Population.from_dict(read_scenario_file(path))
