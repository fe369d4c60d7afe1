"""Values fitted by the diSibio calibration, as the catalogs use them.

``metacascade calibrate --targets disibio2008 --seed 1 --out DIR`` writes
``DIR/catalog_values.json``; ``make calibration`` runs it and copies that file to
``data/calibrated_disibio2008.json`` in the package, which this module reads. The
catalogs take from it, as :class:`~metacascade.citations.Calibrated` parameters naming
the run:

* the body catalog: ``arrest`` (per-pass arrest of a medium single cell in every
  capillary bed but the lymph nodes);
* the cascade: ``extravasation.<wall kind>`` and ``dormant_after_extravasation``;
* each fitted primary: ``soil.<cancer>.<bed>`` for the beds of the twelve target
  organs (posterior medians of the per-organ fits) and ``soil.<cancer>.other`` for the
  beds without an autopsy target, the lymph node included (the primary's
  blood-flow-alone soil level).

Values are on their natural scales (a soil is a multiplier, not its log10); each entry
carries its 95 % posterior interval. The value is the posterior median: the weighted
median of the particles of the fit's last generation (the 0.5 weighted quantile, the
smallest particle value whose cumulative weight reaches a half), and the interval their
0.025 and 0.975 weighted quantiles. Where the weights rest on a few particles, as in a
stage 1 that stopped before temperature 1 (a tempered posterior; the README gives the
packaged run's), one particle can hold nearly half the weight or more; the median is
then that particle's value and may be an end of the interval, and the note says so when
it is one (``extravasation.fenestrated``): read such a value as the best-weighted
particle's, not as the centre of a well-sampled posterior.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any

from metacascade.citations import Calibrated, Parameter
from metacascade.errors import CatalogError

#: The packaged calibration the catalogs read.
CALIBRATION_FILE = "calibrated_disibio2008.json"
#: Format tag of the file.
FORMAT = "metacascade-calibrated/1"
#: Range of a soil the calibration fits (its prior, uniform in log10), and of a catalog
#: soil stated relative to the fitted ones.
SOIL_RANGE = (1e-6, 1e3)


@functools.cache
def calibration_run() -> dict[str, Any]:
    """The packaged calibration: its name, command, data, and fitted values."""
    resource = files("metacascade") / "data" / CALIBRATION_FILE
    data: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise CatalogError(f"{CALIBRATION_FILE}: format {data.get('format')!r} is not "
                           f"{FORMAT!r}")
    return data


def calibrated(name: str, unit: str, bounds: tuple[float, float], what: str) -> Parameter:
    """The fitted value of ``name`` as a catalog parameter.

    Parameters
    ----------
    name
        Key in the packaged file (``arrest``, ``extravasation.sinusoid``,
        ``soil.breast.lung``, ...).
    unit, bounds
        The parameter's unit and allowed range (the fit's prior lies within it).
    what
        What the number is, for the source's note.

    """
    run = calibration_run()
    try:
        entry = run["parameters"][name]
    except KeyError:
        raise CatalogError(f"{CALIBRATION_FILE}: no calibrated value for {name!r}") from None
    value, low, high = (float(entry[k]) for k in ("value", "q025", "q975"))
    end = "upper" if value == high else "lower" if value == low else ""
    at_end = (f": the median is the interval's {end} end, one particle holding more than "
              "47.5 % of the weight" if end else "")
    note = (f"{what}; posterior median, 95 % posterior interval {low:.3g}-{high:.3g} "
            f"(weighted quantiles of the particles of the fit's last generation{at_end}); "
            f"{entry['basis']}; reproduce with `{run['command']}`")
    return Parameter(float(entry["value"]), unit,
                     Calibrated(calibration=run["calibration"], data=run["data"], note=note),
                     bounds)
