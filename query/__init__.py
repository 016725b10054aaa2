"""PromQL for nightowl: parse, evaluate, and check against Prometheus's own tests.

    >>> from nightowl.query import Engine
    >>> from nightowl.store.memory import MemoryStore
    >>> Engine(MemoryStore()).instant("2 * 21", 0).value.v
    42.0

Modules: `parser` (adapter over the Rust `promql_parser` into `ast`), `engine`
(the evaluator; `_aggregate`, `_binary`, `_rollup` are its parts), `block` (the
step-major shapes shared with `functions`), `values` (results), `promqltest`
(the `.test` conformance runner). Names here are imported lazily, so importing
the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Engine",
    "EngineOptions",
    "QueryResult",
    "parse",
    "run_file",
    "run_script",
]

_LAZY = {
    "Engine": "engine",
    "EngineOptions": "engine",
    "QueryResult": "values",
    "parse": "parser",
    "run_file": "promqltest",
    "run_script": "promqltest",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
