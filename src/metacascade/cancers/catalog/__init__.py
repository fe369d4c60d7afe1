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
    """Add a cancer type to the registry; a duplicate name is refused."""
    if cancer.name in _REGISTRY:
        raise CatalogError(f"cancer {cancer.name!r} is already registered")
    _REGISTRY[cancer.name] = cancer


def _load() -> None:
    """Import the catalog modules once (types registered by hand before are kept)."""
    if _LOADED:
        return
    _LOADED.append(True)
    for module in _MODULES:
        register_cancer(importlib.import_module(f"{__name__}.{module}").CANCER)


def list_cancers() -> tuple[str, ...]:
    """Names of the registered cancer types."""
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
