"""Primary tumour types: site, drainage, growth, shedding, emboli, blood-test cut-off, soil."""

from metacascade.cancers.catalog import get_cancer, list_cancers
from metacascade.cancers.model import GROWTH_LAWS, Cancer

__all__ = ["GROWTH_LAWS", "Cancer", "get_cancer", "list_cancers"]
