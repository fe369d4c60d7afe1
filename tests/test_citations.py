import math

import pytest

from metacascade.citations import Assumption, Calibrated, Parameter, assumed, cited
from metacascade.errors import ParameterError
from metacascade.references import ALL_REFERENCES, ICRP89


def test_parameter_refuses_values_outside_bounds():
    with pytest.raises(ParameterError, match=r"outside the allowed range \[0, 1\]"):
        Parameter(1.5, "1", Assumption("x"), (0.0, 1.0))
    with pytest.raises(ParameterError, match=r"not a finite number"):
        Parameter(math.nan, "1", Assumption("x"), (0.0, 1.0))
    with pytest.raises(ParameterError, match=r"not ordered"):
        Parameter(0.5, "1", Assumption("x"), (1.0, 0.0))


def test_with_value_checks_bounds_and_names_the_field():
    p = assumed(0.3, "1", "reason", (0.0, 1.0))
    assert p.with_value(0.7).value == 0.7
    assert p.with_value(0.7).source == p.source
    with pytest.raises(ParameterError, match=r"^cluster_share: -0\.1 is outside"):
        p.with_value(-0.1, what="cluster_share")


def test_sources_describe_themselves():
    c = cited(6.5, "L/min", ICRP89.at("Table 2.39"), (1, 40))
    assert "ICRP 2002" in c.source.describe() and "Table 2.39" in c.source.describe()
    assert c.to_dict()["source"]["kind"] == "citation"
    a = assumed(1.0, "1", "because", (0, 2))
    assert a.source.describe() == "assumed: because"
    cal = Calibrated("abc-2026-01", "diSibio 2008")
    assert "abc-2026-01" in cal.describe() and cal.to_dict()["kind"] == "calibrated"


def test_reference_keys_are_unique():
    keys = [ref.key for ref in ALL_REFERENCES]
    assert len(keys) == len(set(keys))


def test_every_work_names_its_authors_or_is_named_by_its_title():
    """No placeholder reaches a user: a work without known authors leads with its title."""
    from metacascade.cancers import get_cancer
    from metacascade.report.citations import _reference

    for ref in ALL_REFERENCES:
        text = ref.describe() + " " + _reference(ref)
        assert "not recorded" not in text and "REFERENCE_VALUES" not in text, ref.key
        assert text.startswith(ref.authors or f'"{ref.title}" {ref.year}, {ref.venue}')
    lung = get_cancer("lung").doubling_time.source.describe()
    assert lung.startswith('"Pulmonary metastases tumor doubling time: assessment by computed '
                           'tomography" 2003, Am J Clin Oncol 26(4), abstract (')


@pytest.mark.parametrize(("q025", "q975", "said"), [
    (0.5, 0.9, ""),
    (0.5, 0.8, ": the median is the interval's upper end, one particle holding more than "
               "47.5 % of the weight"),
    (0.8, 0.9, ": the median is the interval's lower end, one particle holding more than "
               "47.5 % of the weight"),
])
def test_a_calibrated_value_says_it_is_the_posterior_median(monkeypatch, q025, q975, said):
    import metacascade.calibrated as calibrated

    run = {"calibration": "c1", "data": "d", "command": "metacascade calibrate",
           "parameters": {"x": {"value": 0.8, "q025": q025, "q975": q975, "basis": "b"}}}
    monkeypatch.setattr(calibrated, "calibration_run", lambda: run)
    note = calibrated.calibrated("x", "1", (0.0, 1.0), "what").source.note
    assert note == (f"what; posterior median, 95 % posterior interval {q025:g}-{q975:g} "
                    f"(weighted quantiles of the particles of the fit's last generation"
                    f"{said}); b; reproduce with `metacascade calibrate`")
