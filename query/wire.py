"""Prometheus's JSON wire format for query results, both ways.

The `data` member of `/api/v1/query` and `/api/v1/query_range` answers::

    {"resultType": "vector", "result": [{"metric": {...}, "value": [1700000000.5, "1"]}]}
    {"resultType": "matrix", "result": [{"metric": {...}, "values": [[t, "v"], ...]}]}
    {"resultType": "scalar", "result": [t, "v"]}
    {"resultType": "string", "result": [t, "text"]}

Encoded as Prometheus 2.x/3.x writes it (`util/jsonutil`): timestamps are JSON numbers
of seconds built from the integer milliseconds, with `.` and exactly three digits when
there is a fraction (1500 ms is `1.500`, 2000 ms is `2`; scalar and string results
use the shortest form, `1.5`); strings escape `<`, `>`, `&`, U+2028
and U+2029 as Go does; sample values are strings of
the shortest round-trip digits, plain (`"0.000001"`, `"100000000000000000000"`) unless
the magnitude is below 1e-6 or at least 1e21 (`"1e-07"`, `"1e+21"`), and `"NaN"`,
`"+Inf"`, `"-Inf"`. (Recorded from Prometheus 2.42's own answers.) Label sets keep their
(sorted) order; staleness markers never appear in a matrix.

:func:`dumps_data` gives the exact text, :func:`encode_data` the same as plain Python
objects (where a timestamp is a float, so serialising it again may print `1.5`, not
`1.500`), and :func:`decode_data` turns either back into :mod:`query.values`. Decoding
rejects what nightowl cannot represent (native histograms) and malformed input with a
:class:`WireError` naming the JSON path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
from nightowl.query.values import (
    InstantSample,
    Matrix,
    RangeSeries,
    Scalar,
    String,
    Value,
    Vector,
)

from nightowl.errors import NightowlError
from nightowl.model import Labels, stale_mask

__all__ = [
    "WireError",
    "decode_data",
    "dumps_data",
    "encode_data",
    "format_scalar_value",
    "format_timestamp",
    "format_value",
    "parse_timestamp",
    "parse_value",
]


class WireError(NightowlError):
    """A JSON query answer that is malformed or holds what nightowl cannot represent."""


def format_value(v: float) -> str:
    """A sample value as Prometheus 2.x writes it in JSON.

    Shortest round-trip digits; plain decimal unless the magnitude is below 1e-6 or at
    least 1e21, where Go's exponent form is used (`1e-07`, `1.2345e+22`: at least two
    exponent digits). Checked against Prometheus 2.42's answers.
    """
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(v)  # shortest digits that round-trip, as Go's -1 precision
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        return text  # Python's repr is already Go's 'e' form here (`1e-07`)
    if "e" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_scalar_value(v: float) -> str:
    """A scalar result's value as Prometheus writes it: plain decimal, never an exponent.

    Prometheus's `Scalar.MarshalJSON` uses Go's `FormatFloat(v, 'f', -1, 64)`, so a scalar
    of 1e-07 is `"0.0000001"` where a vector point of the same value is `"1e-07"`.
    """
    v = float(v)
    if not math.isfinite(v):
        return format_value(v)
    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_timestamp(t_ms: int) -> str:
    """Milliseconds as Prometheus's JSON number of seconds (`1.500`, `2`, `-0.001`)."""
    t = int(t_ms)
    sign = "-" if t < 0 else ""
    whole, frac = divmod(abs(t), 1000)
    return f"{sign}{whole}.{frac:03d}" if frac else f"{sign}{whole}"


def _short_timestamp(t_ms: int) -> str:
    """Scalar and string results: shortest seconds (`62.5`, `2`), as Go's FormatFloat('f', -1)."""
    text = format_timestamp(t_ms)
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_value(text: Any, where: str = "value") -> float:
    """A sample value string (`"1.5"`, `"NaN"`, `"+Inf"`) as a float."""
    if not isinstance(text, str):
        raise WireError(f"{where}: sample value must be a string, got {_kind(text)}")
    try:
        return float(text)
    except ValueError:
        raise WireError(f"{where}: invalid sample value {text!r}") from None


def parse_timestamp(t: Any, where: str = "timestamp") -> int:
    """A JSON timestamp (seconds, int or float, or a numeric string) as int milliseconds."""
    if isinstance(t, bool) or not isinstance(t, int | float | str):
        raise WireError(f"{where}: timestamp must be a number, got {_kind(t)}")
    try:
        d = Decimal(str(t))
    except ArithmeticError:
        raise WireError(f"{where}: invalid timestamp {t!r}") from None
    if not d.is_finite():
        raise WireError(f"{where}: invalid timestamp {t!r}")
    return int((d * 1000).to_integral_value())


def _kind(obj: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(obj), "null" if obj is None else type(obj).__name__
    )


#: Go's encoder escapes these inside strings (HTML safety and JavaScript line separators).
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).translate(_GO_ESCAPES)


def _metric(labels: Labels) -> str:
    return "{" + ",".join(f"{_dumps(k)}:{_dumps(v)}" for k, v in labels) + "}"


def _points(ts: np.ndarray, vs: np.ndarray) -> list[tuple[int, float]]:
    vs = np.asarray(vs, dtype=np.float64)
    keep = ~stale_mask(vs)
    return list(zip(np.asarray(ts)[keep].tolist(), vs[keep].tolist(), strict=True))


def dumps_data(value: Value) -> str:
    """The `data` object of a query answer as compact JSON text, byte for byte Prometheus's."""
    if isinstance(value, Scalar):
        kind, result = "scalar", f'[{_short_timestamp(value.t)},"{format_scalar_value(value.v)}"]'
    elif isinstance(value, String):
        kind, result = "string", f"[{_short_timestamp(value.t)},{_dumps(value.v)}]"
    elif isinstance(value, Vector):
        kind = "vector"
        result = (
            "["
            + ",".join(
                f'{{"metric":{_metric(s.labels)},'
                f'"value":[{format_timestamp(s.t)},"{format_value(s.v)}"]}}'
                for s in value
            )
            + "]"
        )
    elif isinstance(value, Matrix):
        kind = "matrix"
        series = []
        for s in value:
            pts = ",".join(
                f'[{format_timestamp(t)},"{format_value(v)}"]'
                for t, v in _points(s.timestamps, s.values)
            )
            series.append(f'{{"metric":{_metric(s.labels)},"values":[{pts}]}}')
        result = "[" + ",".join(series) + "]"
    else:
        raise TypeError(f"not a query value: {type(value).__name__}")
    return f'{{"resultType":"{kind}","result":{result}}}'


def encode_data(value: Value) -> dict[str, Any]:
    """The `data` object as Python objects (timestamps as float seconds)."""
    return json.loads(dumps_data(value))


def _pair(obj: Any, where: str) -> tuple[int, Any]:
    if not isinstance(obj, list) or len(obj) != 2:
        raise WireError(f"{where}: expected [timestamp, value], got {_kind(obj)}")
    return parse_timestamp(obj[0], f"{where}[0]"), obj[1]


def _labels(obj: Any, where: str) -> Labels:
    if not isinstance(obj, Mapping):
        raise WireError(f"{where}: metric must be an object, got {_kind(obj)}")
    for k, v in obj.items():
        if not isinstance(v, str):
            raise WireError(f"{where}.{k}: label value must be a string, got {_kind(v)}")
    return Labels.from_dict(obj)


def _no_histograms(item: Mapping[str, Any], where: str) -> None:
    for key in ("histogram", "histograms"):
        if key in item:
            raise WireError(f"{where}.{key}: native histograms are not supported by nightowl")


def decode_data(data: Mapping[str, Any] | str | bytes) -> Value:
    """Turn a `data` object (parsed or JSON text) back into a query value.

    Raises:
        WireError: malformed input (the message names the JSON path) or native histograms.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise WireError(f"data: not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise WireError(f"data: expected an object, got {_kind(data)}")
    kind = data.get("resultType")
    result = data.get("result")
    if kind in ("scalar", "string"):
        t, v = _pair(result, "data.result")
        if kind == "scalar":
            return Scalar(t, parse_value(v, "data.result[1]"))
        if not isinstance(v, str):
            raise WireError(f"data.result[1]: string value must be a string, got {_kind(v)}")
        return String(t, v)
    if kind not in ("vector", "matrix"):
        raise WireError(f"data.resultType: unknown result type {kind!r}")
    if not isinstance(result, list):
        raise WireError(f"data.result: expected an array, got {_kind(result)}")
    if kind == "vector":
        vec = Vector()
        for i, item in enumerate(result):
            where = f"data.result[{i}]"
            if not isinstance(item, Mapping):
                raise WireError(f"{where}: expected an object, got {_kind(item)}")
            _no_histograms(item, where)
            t, v = _pair(item.get("value"), f"{where}.value")
            labels = _labels(item.get("metric", {}), f"{where}.metric")
            vec.append(InstantSample(labels, t, parse_value(v, f"{where}.value[1]")))
        return vec
    mat = Matrix()
    for i, item in enumerate(result):
        where = f"data.result[{i}]"
        if not isinstance(item, Mapping):
            raise WireError(f"{where}: expected an object, got {_kind(item)}")
        _no_histograms(item, where)
        values = item.get("values", [])
        if not isinstance(values, list):
            raise WireError(f"{where}.values: expected an array, got {_kind(values)}")
        ts = np.empty(len(values), dtype=np.int64)
        vs = np.empty(len(values), dtype=np.float64)
        for j, pair in enumerate(values):
            t, v = _pair(pair, f"{where}.values[{j}]")
            ts[j] = t
            vs[j] = parse_value(v, f"{where}.values[{j}][1]")
        mat.append(RangeSeries(_labels(item.get("metric", {}), f"{where}.metric"), ts, vs))
    return mat
