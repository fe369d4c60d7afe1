"""The docstrings of the top-level names speak to users: no private names, no issues."""

import inspect
import re

import metacascade


def _documented():
    """Every top-level name and its public methods, with their docstrings."""
    for name in metacascade.__all__:
        value = getattr(metacascade, name)
        yield name, inspect.getdoc(value) or ""
        if inspect.isclass(value):
            for member, attribute in vars(value).items():
                if not member.startswith("_") and callable(attribute):
                    yield f"{name}.{member}", inspect.getdoc(attribute) or ""


def test_no_top_level_docstring_sends_users_to_private_code_or_issues():
    """Population pointed to its private _check_support; RouteResult.to_dict to "the
    issue's exact keys"."""
    bad = {name: doc for name, doc in _documented()
           if re.search(r"`_[a-z]\w*`|\bthe issue\b", doc)}
    assert bad == {}
