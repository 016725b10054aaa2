"""nightowl's time-series store: one SQLite file, compressed, with retention and rollups.

Public names (everything else in this package is internal)::

    Store.open(path, *, readonly=False, options=StoreOptions(...)) -> Store
        await store.append(batch) / store.append_sync(batch) -> AppendResult
        store.select / series / label_names / label_values / metadata / rollups
        store.compact_sync(force=False) / await store.compact() -> CompactionResult
        store.stats() -> StoreStats; store.close() (or `with` / `async with`)

The protocols the rest of nightowl codes against (`Appender`, `Querier`,
`SeriesData`, `RollupData`, `AppendResult`) live in :mod:`nightowl.store.api`.
See docs/operations.md for retention, compaction and the on-disk layout.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightowl.store.api import Appender, AppendResult, Querier, RollupData, SeriesData
    from nightowl.store.compact import CompactionResult
    from nightowl.store.options import (
        CHUNK_WINDOW_MS,
        ROLLUP_RESOLUTIONS,
        DatabaseStats,
        StoreOptions,
        StoreStats,
    )
    from nightowl.store.store import Store

__all__ = [
    "CHUNK_WINDOW_MS",
    "ROLLUP_RESOLUTIONS",
    "AppendResult",
    "Appender",
    "CompactionResult",
    "DatabaseStats",
    "Querier",
    "RollupData",
    "SeriesData",
    "Store",
    "StoreOptions",
    "StoreStats",
]

# Loaded lazily, so that `nightowl.store.api` and `nightowl.store.memory` stay free
# of sqlite3 for the layers that only need the protocols.
_WHERE = {
    "AppendResult": "api",
    "Appender": "api",
    "Querier": "api",
    "RollupData": "api",
    "SeriesData": "api",
    "CompactionResult": "compact",
    "CHUNK_WINDOW_MS": "options",
    "ROLLUP_RESOLUTIONS": "options",
    "DatabaseStats": "options",
    "StoreOptions": "options",
    "StoreStats": "options",
    "Store": "store",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nightowl.store.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
