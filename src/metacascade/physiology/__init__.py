"""The body: capillary beds, drainage junctions, flows, and routing through them."""

from metacascade.physiology.catalog import get_body, list_bodies
from metacascade.physiology.emboli import EMBOLI, SIZE_CLASSES, EmbolusType, SizeClass
from metacascade.physiology.model import Bed, Body, Junction

__all__ = [
    "EMBOLI",
    "SIZE_CLASSES",
    "Bed",
    "Body",
    "EmbolusType",
    "Junction",
    "SizeClass",
    "get_body",
    "list_bodies",
]
