"""The package version (read by hatchling and recorded in every result's provenance)."""

__version__ = "0.1.0"
