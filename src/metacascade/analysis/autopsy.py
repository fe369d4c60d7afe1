"""Where a virtual cohort's metastases are at death, against an autopsy series.

:func:`involvement` gives, for each cancer of a cohort and each organ, the share of
patients with at least one colony of :data:`AUTOPSY_MIN_DIAMETER_MM` or more in that
organ when they died, beside the share of autopsies with metastases there in diSibio &
French 2008 (Arch Pathol Lab Med 132:931, Figure 1: 3,827 autopsies of 1914-1943,
before chemotherapy and radiotherapy, counts per primary and organ;
``data/disibio2008_fig1_counts.csv``). A count divided by the row's autopsies is read
as the share of patients with the organ involved, which assumes at most one count per
organ per patient. The brain was rarely examined in that era, so its share is low.

The organs compared are the columns of the table with a bed in the body catalog, each
for the patients whose body has it (a male body has no uterus, a female one no
prostate; an organ none of a cancer's patients has is left out). Lymph nodes, pleura,
peritoneum, omentum, pericardium and diaphragm are reached by lymphatic or
transcoelomic spread, which the engine does not model as such, and several organs of
the table (bladder, gallbladder, ovaries, testes, vagina) have no bed of their own in
the body catalog; those columns are left out. The organ and cancer correspondences are
:data:`ORGAN_TO_DISIBIO` and :data:`CANCER_TO_DISIBIO`.

Not every organ compared is one the calibration fitted. Its targets
(:mod:`metacascade.calibration.targets.disibio2008`) are the twelve blood-borne organs
of its ``ORGANS`` for the primaries of its ``CANCERS``, each primary's own organ left
out. The stomach, small and large intestine, breast, prostate and uterus are compared
here too, though the table's metastases there come mostly by direct or transcoelomic
spread from neighbouring primaries: the model reaches them by blood only, with a soil
not fitted to these shares. The ``calibration_target`` column says which rows were
fitted; the figures mark the others "(not fitted)".

:func:`time_to_first_metastasis` gives, per organ, when each patient's first colony
there was founded and first found on a scan.
"""

from __future__ import annotations

import functools
import math
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd

from metacascade._checks import is_number
from metacascade.cancers.catalog import get_cancer
from metacascade.cohort.tables import COLONY_MIN_DIAMETER_MM
from metacascade.errors import CatalogError, MetacascadeError, ParameterError
from metacascade.physiology.catalog import get_body

#: Smallest colony counted as organ involvement at autopsy, mm. An assumption: a
#: pathologist at a routine autopsy finds metastases grossly, by inspection and
#: palpation of cut organs, with histology of what looks suspicious; a nodule of about
#: 5 mm is reliably seen in a cut surface, while micrometastases (< 2 mm) are found only
#: where sections happen to fall. Plausible range 2-10 mm; lower it to compare with a
#: series that sampled organs systematically.
AUTOPSY_MIN_DIAMETER_MM = 5.0
#: The smallest colony a cohort's colonies table keeps (besides those ever detected),
#: mm (:data:`metacascade.cohort.tables.COLONY_MIN_DIAMETER_MM`): a threshold below it
#: counts the colonies of at least this size, not every colony founded. (The
#: calibration's autopsy counts every established colony, of any size.)
KEPT_MIN_DIAMETER_MM = COLONY_MIN_DIAMETER_MM


def counted_colonies(min_diameter_mm: float) -> str:
    """What an autopsy view at ``min_diameter_mm`` counts, in words."""
    if min_diameter_mm >= KEPT_MIN_DIAMETER_MM:
        return f"colonies of at least {min_diameter_mm:g} mm"
    return (f"colonies of at least {KEPT_MIN_DIAMETER_MM:g} mm, the smallest a cohort "
            f"keeps (asked: {min_diameter_mm:g} mm), and smaller ones detected before")

#: Body-catalog organ -> diSibio & French column, for the organs both have (the
#: calibration fits only some of them: :func:`calibration_targets`). Both marrow beds
#: are "bone". The rectum is counted with the large intestine (the table
#: has no rectum column). The catalog's uterus bed also holds the ovaries, but only the
#: "uterus" column is compared (the table counts ovaries apart and a patient may have
#: both). ``lymph_node``, ``adipose`` and ``rest`` have no counterpart.
ORGAN_TO_DISIBIO: dict[str, str] = {
    "lung": "lung",
    "liver": "liver",
    "vertebral_marrow": "bone",
    "bone_marrow": "bone",
    "brain": "brain",
    "adrenal": "adrenal",
    "kidney": "kidney",
    "spleen": "spleen",
    "heart": "heart",
    "pancreas": "pancreas",
    "thyroid": "thyroid",
    "skin": "skin",
    "skeletal_muscle": "skeletal muscle",
    "stomach": "stomach",
    "small_intestine": "small intestine",
    "large_intestine": "large intestine",
    "rectum": "large intestine",
    "breast": "breast",
    "prostate": "prostate",
    "uterus": "uterus",
}
#: The compared organs (diSibio column names), in the order tables and figures use.
AUTOPSY_ORGANS: tuple[str, ...] = tuple(dict.fromkeys(ORGAN_TO_DISIBIO.values()))

#: Cancer-catalog name -> diSibio & French row. Melanoma takes "skin body" (skin
#: primaries of the trunk and limbs, melanoma not separated; its spread to brain, heart
#: and adrenal is melanoma's), osteosarcoma "bone" (35 primary bone tumours of all
#: kinds). Choriocarcinoma has no row: "uterus" is mostly endometrial carcinoma.
CANCER_TO_DISIBIO: dict[str, str] = {
    "breast": "breast",
    "colon": "colon",
    "rectum": "rectum",
    "lung": "lung",
    "prostate": "prostate",
    "kidney": "kidney",
    "liver": "liver",
    "pancreas": "pancreas",
    "stomach": "stomach",
    "melanoma": "skin body",
    "osteosarcoma": "bone",
}

#: Columns of the table :func:`involvement` returns.
INVOLVEMENT_COLUMNS = ("cancer", "organ", "basis", "n_patients", "n_involved", "share",
                       "disibio_row", "disibio_n", "disibio_count", "disibio_share",
                       "primary_site", "calibration_target")
_DISIBIO_FILE = "disibio2008_fig1_counts.csv"
#: The column of a cohort's patients table that holds each patient's body when the
#: population draws it (``param_`` and the drawn path).
BODY_COLUMN = "param_body"


@functools.cache
def _disibio() -> pd.DataFrame:
    resource = files("metacascade") / "data" / _DISIBIO_FILE
    with resource.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle).set_index("cancer")


def disibio_counts() -> pd.DataFrame:
    """DiSibio & French 2008, Figure 1: autopsies with metastases, per primary and organ.

    Returns
    -------
    DataFrame
        Indexed by primary (``cancer``, the paper's names); ``N_autopsies`` and one
        count column per organ (the paper's names, e.g. ``"LN(reg)"``).

    """
    return _disibio().copy()


def involvement(patients: pd.DataFrame, colonies: pd.DataFrame, *,
                min_diameter_mm: float = AUTOPSY_MIN_DIAMETER_MM,
                body: str | None = None) -> pd.DataFrame:
    """Share of patients with each organ involved at death, beside the autopsy series.

    A patient's organ is involved when a colony there measured at least
    ``min_diameter_mm`` at the end of follow-up (``diameter_mm_end``; for the dead, at
    death). A cohort's colonies table keeps the colonies of at least
    :data:`KEPT_MIN_DIAMETER_MM` and those ever detected, so a smaller threshold counts
    those (:func:`counted_colonies`), not every colony founded. Patients who died are
    counted, as at autopsy; for a cancer none of whose patients died, all its patients
    at the end of follow-up are (``basis`` says which). Each organ counts the patients
    whose body has it (see ``body``): a male body has no uterus, a female one no
    prostate.

    Parameters
    ----------
    patients
        A cohort's patients table (``patient``, ``cancer``, ``primary_organ``,
        ``death_day``; ``param_body`` if the population draws the body).
    colonies
        A cohort's colonies table (``patient``, ``organ``, ``diameter_mm_end``).
    min_diameter_mm
        Smallest colony that counts, mm (a finite number >= 0).
    body
        The body of the cohort's patients, a body-catalog name: the ``body`` of the
        cohort's scenario (:func:`scenario_body` of its manifest), if it names one. None
        (default): each patient's cancer's default body, the body of a scenario without
        ``body``. A ``param_body`` column (a population that draws the body) overrides
        either. A patient whose body this process's catalogs do not know (a cancer or
        body registered elsewhere) counts for every organ.

    Returns
    -------
    DataFrame
        One row per cancer of the cohort and organ of :data:`AUTOPSY_ORGANS` that some of
        its counted patients have, columns :data:`INVOLVEMENT_COLUMNS`: ``basis``
        (``"death"`` or ``"end_of_follow_up"``), ``n_patients`` counted (those whose
        body has the organ), ``n_involved`` and ``share`` of them with the organ
        involved, the ``disibio_row`` compared (None if the cancer has none; then the
        ``disibio_*`` values are missing), ``disibio_n`` autopsies, ``disibio_count``
        with the organ involved and ``disibio_share``, ``primary_site`` (the organ holds
        the primary: the paper counts metastases there for paired or diffuse organs,
        lung or skin, the model does not tell them from the primary) and
        ``calibration_target`` (the calibration fitted this cancer's soil in this organ
        to the paper's share: :func:`calibration_targets`, the primary's organ left
        out).

    Raises
    ------
    MetacascadeError
        A table lacks a column, or a patient has a colony in an organ its body (as
        ``body`` and the table say) lacks: the cohort's body is another; give ``body``.
    TypeError
        A table is no DataFrame, or ``body`` is neither a name nor None.

    """
    check_min_diameter(min_diameter_mm)
    _require(patients, ("patient", "cancer", "primary_organ", "death_day"), "patients")
    _require(colonies, ("patient", "organ", "diameter_mm_end"), "colonies")
    table = _disibio()
    if not patients.index.is_unique:  # (the organs' counts select rows by label)
        patients = patients.reset_index(drop=True)
    has = _has_organ(patients, colonies, body)
    involved = _involved_pairs(colonies, min_diameter_mm)
    fitted_cancers, fitted_organs = calibration_targets()
    rows = []
    for cancer, group in patients.groupby("cancer", sort=True):
        dead = group["death_day"].notna()
        basis = "death" if dead.any() else "end_of_follow_up"
        counted = group.loc[dead] if dead.any() else group
        hits = involved[involved["patient"].isin(counted["patient"])]
        n_involved = hits.groupby("organ")["patient"].nunique()
        primary = {ORGAN_TO_DISIBIO.get(str(o)) for o in counted["primary_organ"].unique()}
        row_name = CANCER_TO_DISIBIO.get(str(cancer))
        reference = table.loc[row_name] if row_name in table.index else None
        having = has.loc[counted.index].sum()
        for organ in AUTOPSY_ORGANS:
            n = int(having[organ])
            if n == 0:  # (no counted patient's body has it)
                continue
            k = int(n_involved.get(organ, 0))
            ref_n = None if reference is None else int(reference["N_autopsies"])
            ref_k = None if reference is None else int(reference[organ])
            rows.append({
                "cancer": str(cancer), "organ": organ, "basis": basis, "n_patients": n,
                "n_involved": k, "share": k / n,
                "disibio_row": row_name if reference is not None else None,
                "disibio_n": ref_n, "disibio_count": ref_k,
                "disibio_share": np.nan if ref_n is None or ref_k is None else ref_k / ref_n,
                "primary_site": organ in primary,
                "calibration_target": (str(cancer) in fitted_cancers
                                       and organ in fitted_organs and organ not in primary),
            })
    out = pd.DataFrame(rows, columns=list(INVOLVEMENT_COLUMNS))
    return out.astype({"n_patients": "int64", "n_involved": "int64", "disibio_n": "Int64",
                       "disibio_count": "Int64", "share": "float64",
                       "disibio_share": "float64", "primary_site": "bool",
                       "calibration_target": "bool"})


def calibration_targets() -> tuple[frozenset[str], frozenset[str]]:
    """The cancers and organs (diSibio columns) the packaged calibration fits.

    The calibration's own lists, ``CANCERS`` and ``ORGANS`` of
    :mod:`metacascade.calibration.targets.disibio2008`; it leaves out each primary's own
    organ, whose colonies the model does not count as metastases.
    """
    # (imported here: that module reads this one's tables)
    from metacascade.calibration.targets.disibio2008 import CANCERS, ORGANS

    return frozenset(CANCERS), frozenset(ORGANS)


def scenario_body(manifest: Any) -> str | None:
    """The body a cohort's manifest names for its patients (its scenario's ``body``).

    None if the scenario names none (each patient has its cancer's default body) or the
    manifest is of another kind; for :func:`involvement`'s ``body``.
    """
    scenario = manifest.get("scenario") if isinstance(manifest, dict) else None
    body = scenario.get("body") if isinstance(scenario, dict) else None
    return body if isinstance(body, str) else None


def _patient_bodies(patients: pd.DataFrame, body: str | None) -> pd.Series:
    """Each patient's body, a body-catalog name (None where it cannot be told).

    The ``param_body`` column if the population draws the body, else ``body`` (the
    cohort's scenario's), else the default body of the patient's cancer (None for a
    cancer this process's catalog does not know).
    """
    if body is not None and not isinstance(body, str):
        raise TypeError(f"body: expected a body's name (a string) or None, not "
                        f"{type(body).__name__}")
    if BODY_COLUMN in patients.columns:
        return patients[BODY_COLUMN].astype(object).where(patients[BODY_COLUMN].notna(), None)
    if body is not None:
        return pd.Series(body, index=patients.index, dtype=object)

    def default(cancer: Any) -> str | None:
        try:
            return get_cancer(str(cancer)).default_body
        except CatalogError:  # (a cancer registered in another process)
            return None

    defaults = {c: default(c) for c in patients["cancer"].unique()}
    return patients["cancer"].map(defaults).astype(object)


def _body_columns(body: Any) -> frozenset[str] | None:
    """The diSibio columns of ``body``'s organs; None for a body this process lacks."""
    try:
        organs = get_body(str(body)).organs
    except CatalogError:
        return None
    return frozenset(ORGAN_TO_DISIBIO[o] for o in organs if o in ORGAN_TO_DISIBIO)


def _has_organ(patients: pd.DataFrame, colonies: pd.DataFrame,
               body: str | None) -> pd.DataFrame:
    """(patients, :data:`AUTOPSY_ORGANS`): whether each patient's body has each organ.

    A patient whose body cannot be told has them all. A colony in an organ its patient's
    body lacks is refused: the body assumed is not the cohort's.
    """
    bodies = _patient_bodies(patients, body)
    columns = {name: _body_columns(name) for name in bodies.dropna().unique()}
    has = pd.DataFrame(True, index=patients.index, columns=list(AUTOPSY_ORGANS))
    for name, present in columns.items():
        if present is None:
            continue
        absent = [organ for organ in AUTOPSY_ORGANS if organ not in present]
        has.loc[(bodies == name).to_numpy(), absent] = False
    lacking = [bed for bed, o in ORGAN_TO_DISIBIO.items() if not has[o].all()]
    seen = colonies.loc[colonies["organ"].isin(lacking), ["patient", "organ"]]
    if len(seen):
        row = dict(zip(patients["patient"], range(len(patients)), strict=True))
        position = seen["patient"].map(row)
        known = position.notna().to_numpy()
        position = position[known].astype("int64").to_numpy()
        organ = seen["organ"].map(ORGAN_TO_DISIBIO).to_numpy()[known]
        column = pd.Series(organ).map({o: j for j, o in enumerate(has.columns)}).to_numpy()
        wrong = ~has.to_numpy()[position, column]
        if wrong.any():
            i = int(np.argmax(wrong))
            patient = patients["patient"].iloc[position[i]]
            raise MetacascadeError(
                f"colonies table: patient {patient} has a colony in the "
                f"{seen['organ'].to_numpy()[known][i]}, which its body "
                f"{bodies.iloc[position[i]]!r} lacks; give body= the cohort's body (its "
                "scenario's: scenario_body(manifest))")
    return has


#: Columns of :func:`time_to_first_metastasis` (indexed by organ).
TIMING_COLUMNS = ("n_founded", "median_first_founded_day", "n_detected",
                  "median_first_detected_day")


def time_to_first_metastasis(colonies: pd.DataFrame,
                             observations: pd.DataFrame) -> pd.DataFrame:
    """Per organ, when patients' first colony there was founded and first found.

    Days are the simulation's clock (day 0 the start of the simulated natural history,
    not the clinical time origin). Founding covers the colonies in the cohort's colonies
    table only, which keeps those of at least 1 mm at the end of follow-up or ever
    detected: a colony founded early that stayed microscopic does not count. A
    detection is a scan row with a colony (``kind == "scan"``, ``lesion > 0``).

    Parameters
    ----------
    colonies
        A cohort's colonies table (``patient``, ``organ``, ``founded_day``).
    observations
        A cohort's observations table (``patient``, ``time_days``, ``kind``, ``organ``,
        ``lesion``).

    Returns
    -------
    DataFrame
        Indexed by body-catalog organ (sorted), columns ``n_founded`` (patients with a
        colony there), ``median_first_founded_day`` (median over them of their first
        founding day), ``n_detected`` and ``median_first_detected_day`` (likewise for
        the first scan that found a colony there). NaN medians where no patient has one.

    """
    _require(colonies, ("patient", "organ", "founded_day"), "colonies")
    _require(observations, ("patient", "time_days", "kind", "organ", "lesion"),
             "observations")
    scans = observations[(observations["kind"] == "scan") & (observations["lesion"] > 0)]
    founded = _first_per_organ(colonies, "founded_day")
    detected = _first_per_organ(scans, "time_days")
    out = pd.DataFrame({
        "n_founded": founded["count"], "median_first_founded_day": founded["median"],
        "n_detected": detected["count"], "median_first_detected_day": detected["median"],
    }, columns=list(TIMING_COLUMNS))
    out = out.fillna({"n_founded": 0, "n_detected": 0})
    out = out.astype({"n_founded": "int64", "n_detected": "int64"}).sort_index()
    out.index.name = "organ"
    return out


def _first_per_organ(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Count and median, per organ, of each patient's earliest ``column`` there."""
    first = table.groupby(["organ", "patient"])[column].min()
    return first.groupby(level="organ").agg(["count", "median"])


def _involved_pairs(colonies: pd.DataFrame, min_diameter_mm: float) -> pd.DataFrame:
    """(patient, diSibio organ) pairs with a colony of at least ``min_diameter_mm``."""
    big = colonies[colonies["diameter_mm_end"] >= min_diameter_mm]
    organ = big["organ"].map(ORGAN_TO_DISIBIO)
    pairs = pd.DataFrame({"patient": big["patient"].to_numpy(), "organ": organ.to_numpy()})
    return pairs.dropna().drop_duplicates()


def check_min_diameter(min_diameter_mm: Any) -> None:
    """Refuse a smallest counted colony that is not a finite number of mm >= 0.

    (A truth value is no number: True was counted as 1 mm; NaN counted no colony.)
    """
    if not (is_number(min_diameter_mm) and math.isfinite(min_diameter_mm)
            and min_diameter_mm >= 0):
        raise ParameterError(f"min_diameter_mm: {min_diameter_mm!r} must be a finite "
                             "number of mm >= 0")


def _require(table: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame (a cohort's {name} table), "
                        f"not {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MetacascadeError(f"{name} table lacks column(s) {', '.join(missing)}")
