"""Prometheus's HTTP API envelope and value encoding, byte for byte where clients care.

Every API answer is one JSON object::

    {"status": "success", "data": ..., "warnings": [...], "infos": [...]}
    {"status": "error", "errorType": "bad_data", "error": "...", "warnings": [...]}

(`warnings`/`infos` only when non-empty, `data` absent on errors, as Prometheus's
`omitempty` fields). Query results follow Prometheus's jsonutil encoding:
timestamps are JSON numbers of seconds written from the integer milliseconds,
with three decimals when there is a fraction (1500 ms is ``1.500``, 2000 ms is
``2``, as Prometheus writes them), sample values are strings in Go's
shortest formatting (``"1"``, ``"0.000001"``, ``"1e-07"``, ``"1e+21"``)
with ``"NaN"``, ``"+Inf"`` and ``"-Inf"``.

The error kinds and their HTTP statuses are Prometheus's (`web/api/v1/api.go`):
bad_data 400, execution 422, canceled 499, timeout 503, unavailable 503,
not_found 404, internal 500, not_acceptable 406; nightowl adds too_large 413
(request bodies) and too_many_requests 429 (the concurrent query queue is full).

These helpers are pure functions, reusable by anything that prints Prometheus JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from nightowl.query.values import Matrix, QueryResult, Scalar, String, Vector

from nightowl.errors import NightowlError
from nightowl.model import Labels, stale_mask

__all__ = [
    "STATUS_BY_KIND",
    "ApiError",
    "RawJSON",
    "error_body",
    "format_timestamp",
    "format_value",
    "labels_json",
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


def format_value(v: float, *, scalar: bool = False) -> str:
    """A sample value as Prometheus writes it.

    Go's shortest `FormatFloat`, with `'e'` below 1e-6 and from 1e21 on and `'f'`
    between (encoding/json's rule, which Prometheus's encoder of vector and matrix
    points follows); a scalar result (`scalar=True`) is always `'f'`, as Prometheus's
    `Scalar.MarshalJSON` writes it.
    """
    if v != v:
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    a = abs(v)
    if not scalar and a != 0 and (a < 1e-6 or a >= 1e21):
        return repr(float(v))  # shortest digits, exponent of at least two digits, as Go
    text = repr(float(v))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_timestamp(t_ms: int) -> str:
    """A timestamp (ms) as Prometheus's JSON writes it: seconds, `.` and 3 digits if any."""
    t = int(t_ms)
    sign = ""
    if t < 0:
        sign, t = "-", -t
    whole, frac = divmod(t, 1000)
    if frac:
        return f"{sign}{whole}.{frac:03d}"
    return f"{sign}{whole}"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def labels_json(labels: Labels) -> str:
    """A label set as a JSON object (label order kept: Labels are sorted)."""
    return _dumps(dict(labels))


def _pairs(ts: np.ndarray, vs: np.ndarray) -> str:
    keep = ~stale_mask(vs)
    ts = ts[keep]
    vs = vs[keep]
    return ",".join(
        f'[{format_timestamp(t)},"{format_value(v)}"]'
        for t, v in zip(ts.tolist(), vs.tolist(), strict=True)
    )


def query_data_json(value: Any) -> str:
    """The `data` of a query answer: `{"resultType": ..., "result": ...}`."""
    if isinstance(value, Scalar):
        result = f'[{format_timestamp(value.t)},"{format_value(value.v, scalar=True)}"]'
        kind = "scalar"
    elif isinstance(value, String):
        result = f"[{format_timestamp(value.t)},{_dumps(value.v)}]"
        kind = "string"
    elif isinstance(value, Vector):
        kind = "vector"
        result = (
            "["
            + ",".join(
                f'{{"metric":{labels_json(s.labels)},'
                f'"value":[{format_timestamp(s.t)},"{format_value(s.v)}"]}}'
                for s in value
            )
            + "]"
        )
    elif isinstance(value, Matrix):
        kind = "matrix"
        parts = []
        for s in value:
            parts.append(
                f'{{"metric":{labels_json(s.labels)},"values":[{_pairs(s.timestamps, s.values)}]}}'
            )
        result = "[" + ",".join(parts) + "]"
    else:
        raise TypeError(f"not a query value: {type(value).__name__}")
    return f'{{"resultType":"{kind}","result":{result}}}'


def _encode(obj: Any) -> str:
    if isinstance(obj, RawJSON):
        return obj.text
    if isinstance(obj, QueryResult):
        return query_data_json(obj.value)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_dumps(str(k))}:{_encode(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in obj) + "]"
    if isinstance(obj, float) and not math.isfinite(obj):
        return _dumps(format_value(obj))
    return _dumps(obj)


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
