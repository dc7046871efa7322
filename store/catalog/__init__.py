"""The event catalog: per event name its directions, doc types, counts, times and field paths.

`fields` reads one payload (paths, value formats, phases), `model` is what the catalog knows,
`builder` accumulates stored rows into it (pure), `cache` builds it from the store and keeps
it under manifests/ until the store changes.
"""

from store.catalog.builder import CatalogBuilder, CatalogRow, build_catalog
from store.catalog.cache import catalog_from_store, iter_store_rows, store_fingerprint
from store.catalog.fields import ID_FORMATS, parent_path, to_datetime, value_format, walk
from store.catalog.model import (
    CATALOG_VERSION,
    Catalog,
    EventInfo,
    FieldInfo,
    Shape,
    attach_validation,
    describe_event,
    event_from_dict,
    event_to_dict,
)
from store.errors import CatalogError

__all__ = [
    "CATALOG_VERSION",
    "ID_FORMATS",
    "Catalog",
    "CatalogBuilder",
    "CatalogError",
    "CatalogRow",
    "EventInfo",
    "FieldInfo",
    "Shape",
    "attach_validation",
    "build_catalog",
    "catalog_from_store",
    "describe_event",
    "event_from_dict",
    "event_to_dict",
    "iter_store_rows",
    "parent_path",
    "store_fingerprint",
    "to_datetime",
    "value_format",
    "walk",
]
