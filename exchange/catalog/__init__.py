"""The searchable catalog: SQLModel tables, the chain indexer and filter queries."""

from exchange.catalog.catalog import Catalog
from exchange.catalog.query import build_count, build_query
from exchange.catalog.schemas import CatalogFilter, CatalogQueryError, DeviceDetail, DeviceOut, Page

__all__ = ["Catalog", "CatalogFilter", "CatalogQueryError", "DeviceDetail", "DeviceOut", "Page", "build_count",
           "build_query"]
