"""Prometheus's HTTP API envelope, byte for byte where clients care.

Every API answer is one JSON object::

    {"status": "success", "data": ..., "warnings": [...], "infos": [...]}
    {"status": "error", "errorType": "bad_data", "error": "...", "warnings": [...]}

(`warnings`/`infos` only when non-empty, `data` absent on errors, as Prometheus's
`omitempty` fields). Strings are escaped as Go's encoder does (`<`, `>`, `&`,
U+2028, U+2029 as `\\u....`). Query results are written by
:mod:`nightowl.query.wire`, the one implementation of Prometheus's value and time
formatting (scalars in plain decimal, vector points in Go's exponent form below 1e-6).

The error kinds and their HTTP statuses are Prometheus's (`web/api/v1/api.go`):
bad_data 400, execution 422, canceled 499, timeout 503, unavailable 503,
not_found 404, internal 500, not_acceptable 406; nightowl adds too_large 413
(request bodies) and too_many_requests 429 (the concurrent query queue is full).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from nightowl.query.values import Matrix, QueryResult, Scalar, String, Value, Vector
from nightowl.query.wire import dumps_data, format_value

from nightowl.errors import NightowlError

__all__ = [
    "STATUS_BY_KIND",
    "ApiError",
    "RawJSON",
    "error_body",
    "query_data_json",
    "success_body",
]

#: HTTP status per Prometheus `errorType`.
STATUS_BY_KIND: dict[str, int] = {
    "bad_data": 400,
    "execution": 422,
    "canceled": 499,
    "timeout": 503,
    "unavailable": 503,
    "not_found": 404,
    "internal": 500,
    "not_acceptable": 406,
    "too_large": 413,
    "too_many_requests": 429,
}


class ApiError(NightowlError):
    """An API failure with Prometheus's `errorType` (`kind`) and HTTP status.

    Args:
        kind: bad_data, execution, canceled, timeout, unavailable, not_found,
            internal, not_acceptable, too_large or too_many_requests.
        message: The `error` text.
        status: Override the status the kind implies.
    """

    def __init__(self, kind: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status if status is not None else STATUS_BY_KIND.get(kind, 500)


class RawJSON:
    """Already encoded JSON that :func:`success_body` splices in as is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _dumps(obj: Any) -> str:
    """Compact JSON with Go's string escapes (`<`, `>`, `&`, U+2028, U+2029)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).translate(
        _GO_ESCAPES
    )


#: Go's encoding/json escapes these inside strings; Prometheus's answers carry them so.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def query_data_json(value: Value) -> str:
    """The `data` of a query answer, `{"resultType": ..., "result": ...}`, as Prometheus 2.42."""
    return dumps_data(value)


def _encode(obj: Any) -> str:
    if isinstance(obj, RawJSON):
        return obj.text
    if isinstance(obj, QueryResult):
        return query_data_json(obj.value)
    if isinstance(obj, _VALUES):
        return query_data_json(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_dumps(str(k))}:{_encode(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in obj) + "]"
    if isinstance(obj, float) and not math.isfinite(obj):
        return _dumps(format_value(obj))
    return _dumps(obj)


_VALUES = (Scalar, String, Vector, Matrix)


def success_body(data: Any, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> bytes:
    """A success envelope around `data` (plain JSON values, :class:`RawJSON` anywhere)."""
    out = '{"status":"success","data":' + _encode(data)
    out += _notes(warnings, infos)
    return (out + "}").encode()


def _notes(warnings: Iterable[str], infos: Iterable[str]) -> str:
    out = ""
    warnings = list(warnings)
    infos = list(infos)
    if warnings:
        out += ',"warnings":' + _dumps(warnings)
    if infos:
        out += ',"infos":' + _dumps(infos)
    return out


def error_body(kind: str, message: str, warnings: Sequence[str] = ()) -> bytes:
    """An error envelope (`errorType` is `kind`)."""
    out = '{"status":"error","errorType":' + _dumps(kind) + ',"error":' + _dumps(message)
    return (out + _notes(warnings, ()) + "}").encode()
