"""The engine: compiled models and what runs on them (routing now; the cascade next)."""

from metacascade.engine.route import RouteResult, route

__all__ = ["RouteResult", "route"]
