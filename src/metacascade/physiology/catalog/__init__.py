"""Registry of reference bodies. One module per body; names are short lower-case words."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from metacascade.errors import CatalogError
from metacascade.physiology.catalog import adult_female, adult_male
from metacascade.physiology.model import Body

_BUILDERS: dict[str, Callable[[], Body]] = {}


def register_body(name: str, builder: Callable[[], Body]) -> None:
    """Add a body builder to the registry; a duplicate name is refused."""
    if name in _BUILDERS:
        raise CatalogError(f"body {name!r} is already registered")
    _BUILDERS[name] = builder


register_body("adult_male", adult_male.build)
register_body("adult_female", adult_female.build)


def list_bodies() -> tuple[str, ...]:
    """Names of the registered bodies."""
    return tuple(_BUILDERS)


@cache
def get_body(name: str) -> Body:
    """The registered body called ``name``; an unknown name lists what exists."""
    if name not in _BUILDERS:
        raise CatalogError(
            f"unknown body {name!r}; known bodies: {', '.join(_BUILDERS)}"
        )
    return _BUILDERS[name]()
