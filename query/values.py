"""PromQL result values, shaped like Prometheus's (`promql/value.go`).

An expression evaluates to one of four types:

- :class:`Scalar`: one float at one time;
- :class:`String`: one string at one time;
- :class:`Vector`: an instant vector, a list of :class:`InstantSample` (one per series);
- :class:`Matrix`: a list of :class:`RangeSeries`, each with numpy arrays of times and values
  (range-vector selectors at one instant, and every range query's result).

:class:`QueryResult` carries the value plus warnings and infos (Prometheus's annotations).
Times are int Unix milliseconds; values float64. The HTTP API and `nightowl query -o json`
encode these with `query.wire`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from nightowl.model import Labels

__all__ = [
    "InstantSample",
    "Matrix",
    "QueryResult",
    "RangeSeries",
    "Scalar",
    "String",
    "Value",
    "ValueType",
    "Vector",
]


class ValueType(StrEnum):
    """The `resultType` names of Prometheus's API."""

    SCALAR = "scalar"
    STRING = "string"
    VECTOR = "vector"
    MATRIX = "matrix"


@dataclass(slots=True)
class Scalar:
    """A single float at time `t` (ms)."""

    t: int
    v: float
    type = ValueType.SCALAR


@dataclass(slots=True)
class String:
    """A single string at time `t` (ms)."""

    t: int
    v: str
    type = ValueType.STRING


@dataclass(slots=True)
class InstantSample:
    """One element of an instant vector."""

    labels: Labels
    t: int
    v: float


class Vector(list[InstantSample]):
    """An instant vector: a list of samples, one per distinct label set."""

    __slots__ = ()
    type = ValueType.VECTOR


@dataclass(slots=True)
class RangeSeries:
    """One series of a matrix: sorted int64 ms `timestamps` and float64 `values`."""

    labels: Labels
    timestamps: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)


class Matrix(list[RangeSeries]):
    """A range vector or a range query's result: a list of series."""

    __slots__ = ()
    type = ValueType.MATRIX


Value = Scalar | String | Vector | Matrix


@dataclass(slots=True)
class QueryResult:
    """What the engine returns: the value plus Prometheus-style annotations."""

    value: Value
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
