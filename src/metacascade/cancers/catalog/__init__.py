"""Registry of cancer types. One module per type; each number cited or marked assumed."""

from __future__ import annotations

import importlib

from metacascade.cancers.model import Cancer
from metacascade.errors import CatalogError

#: Module names under this package, in display order.
_MODULES = (
    "breast", "prostate", "colon", "rectum", "lung", "stomach", "pancreas", "melanoma",
    "kidney", "liver", "osteosarcoma", "choriocarcinoma",
)

_REGISTRY: dict[str, Cancer] = {}
_LOADED: list[bool] = []


def register_cancer(cancer: Cancer) -> None:
    """Add a cancer type to the registry after the catalog's; a name in use is refused.

    The catalog is loaded first, so a type named as one of its own (``breast``) is
    refused here, and the registry stays as it was.
    """
    _load()
    if cancer.name in _REGISTRY:
        raise CatalogError(f"cancer {cancer.name!r} is already registered; a new type needs "
                           f"a name not among: {', '.join(_REGISTRY)}")
    _REGISTRY[cancer.name] = cancer


def _load() -> None:
    """Import the catalog modules, all of them or none (a failed import is tried again)."""
    if _LOADED:
        return
    catalog: dict[str, Cancer] = {}
    for module in _MODULES:
        cancer: Cancer = importlib.import_module(f"{__name__}.{module}").CANCER
        if cancer.name in catalog:  # (a mistake in the catalog itself)
            raise CatalogError(f"catalog module {module!r}: cancer {cancer.name!r} is "
                               "already in the catalog")
        catalog[cancer.name] = cancer
    # (the registry is empty here: register_cancer loads the catalog before it adds)
    _REGISTRY.update(catalog)
    _LOADED.append(True)


def list_cancers() -> tuple[str, ...]:
    """Names of the registered cancer types (the catalog's, then those registered)."""
    _load()
    return tuple(_REGISTRY)


def get_cancer(name: str) -> Cancer:
    """The registered cancer type called ``name``; an unknown name lists what exists."""
    _load()
    if name not in _REGISTRY:
        raise CatalogError(
            f"unknown cancer {name!r}; known cancers: {', '.join(_REGISTRY)}"
        )
    return _REGISTRY[name]
