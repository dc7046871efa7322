"""The event catalog: per event name its directions, doc types, counts, times and field paths.

`fields` reads one payload (paths, value formats, phases), `model` is what the catalog knows,
`builder` accumulates stored rows into it (pure; builders merge), `partials` keeps one
builder per day of data under manifests/, `cache` merges them into the store's catalog.
"""

from store.catalog.builder import CatalogBuilder, CatalogRow, build_catalog
from store.catalog.cache import (
    BUILDER_REVISION,
    CatalogUpdate,
    catalog_from_store,
    iter_store_rows,
    store_fingerprint,
    update_catalog,
)
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
from store.catalog.partials import PARTIALS_VERSION, RefreshReport
from store.errors import CatalogError

__all__ = [
    "BUILDER_REVISION",
    "CATALOG_VERSION",
    "PARTIALS_VERSION",
    "ID_FORMATS",
    "Catalog",
    "CatalogBuilder",
    "CatalogError",
    "CatalogRow",
    "CatalogUpdate",
    "EventInfo",
    "FieldInfo",
    "RefreshReport",
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
    "update_catalog",
    "value_format",
    "walk",
]
