"""Small helpers of :mod:`metacascade.units`."""

import pytest

from metacascade.units import years_text


@pytest.mark.parametrize(("value", "spec", "text"), [
    (1, "g", "1 year"), (1.0, "g", "1 year"), (2, "g", "2 years"), (0.5, "g", "0.5 years"),
    (1.0004, ".3g", "1 year"), (10, "g", "10 years")])
def test_years_text(value, spec, text):
    assert years_text(value, spec) == text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (1e12, "cell", "1e+12 cells"), (1, "cell", "1 cell"), (0, "cell", "0 cells"),
    (3.2e6, "cell/g/d", "3.2e+06 cells/g/d"), (5, "cell/7.5 mL", "5 cells/7.5 mL"),
    (2, "lesion", "2 lesions"), (157, "d", "157 d"), (5.9, "L/min", "5.9 L/min"),
    (0.5, "1", "0.5"), (1.00001, "cell", "1 cell")])
def test_count_units_are_plural_for_counts_other_than_1(value, unit, text):
    """The report and the catalog printed "1e+12 cell"."""
    from metacascade.units import quantity_text

    assert quantity_text(value, unit, ".4g") == text


def test_the_report_and_the_catalog_print_plural_cells():
    from metacascade.describe import catalog_text, scenario_text
    from metacascade.scenario import Scenario

    tumour = scenario_text(Scenario.from_dict({"cancer": "breast"}))[0]
    assert "toward 1e+12 cells;" in tumour and "sheds 3.2e+06 cells/g/d" in tumour
    catalog = catalog_text()
    assert " 1e+12 cells " in catalog and " 1e+12 cell " not in catalog


def test_a_population_in_words_prints_plural_cells():
    from metacascade.describe import population_text

    text = population_text({
        "a": {"lognormal": {"median": 1e9, "sigma": 0.5}, "unit": "cell"},
        "b": {"uniform": {"low": 1, "high": 3}, "unit": "cell"},
        "c": {"discrete": {"values": [1, 2]}, "unit": "cell"}})
    assert text == ["a: lognormal, median 1e+09 cells, sigma 0.5",
                    "b: uniform between 1 and 3 cells", "c: one of 1 cell, 2 cells"]
