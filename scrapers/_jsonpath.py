"""Field paths into JSON documents, and the mapping of fields to metrics.

Used by the JSON-over-HTTP source and by commands with ``format = "json"``.
The path syntax is deliberately small (it is what `nightowl.config` accepts):

=====================  ===========================================================
``a.b.c``              key lookups (keys: letters, digits, ``_ @ $ -``)
``a.b[0].c``           list index (``[-1]`` is the last item)
``items[*].duration``  every item of a list (or every value of an object): one
                       series per item
``[*].name``           the document itself is a list
``a["x.y"]``           a key with other characters, quoted
=====================  ===========================================================

Labels of a fanned-out metric come from sibling fields: a label path's ``[*]``
steps are bound, in order, to the items the value path is iterating, so with
``path = "jobs[*].duration"`` the label ``{ job = "jobs[*].name" }`` is the
name of the same job. A label path without ``[*]`` reads one fixed field
(``project.name``) for every series. ``~`` at the end of a label path gives the
key (object) or index (list) that the last ``[*]`` stands for:
``{ disk = "disks[*]~" }`` with ``path = "disks[*].errors"`` over
``{"disks": {"sda": {"errors": 0}}}`` gives ``disk="sda"``.

Values: numbers as they are, booleans as 1/0, strings holding a number
(``"12.5"``, ``"NaN"``) parsed; anything else (null, missing, text, objects)
yields no sample and is counted as skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nightowl.scrapers._sources import (
    BatchBuilder,
    check_label_name,
    check_metric_name,
    format_label_value,
)

from nightowl.errors import ConfigError
from nightowl.model import MetricType

__all__ = ["JsonMapping", "JsonMetric", "JsonPath"]

_KEY = r"[A-Za-z0-9_@$-]+"
_TOKEN_RE = re.compile(
    rf"""\.(?P<dot>{_KEY})
        |(?P<first>^{_KEY})
        |\[(?P<index>-?\d+)\]
        |\[(?P<star>\*)\]
        |\[(?P<quoted>"(?:[^"\\]|\\.)*")\]
        |(?P<tilde>~$)""",
    re.VERBOSE,
)

_WILD = object()
_MISSING = object()


class JsonPath:
    """A compiled field path.

    >>> JsonPath("items[*].n").find({"items": [{"n": 1}, {"n": 2}]})
    [(1, (0,)), (2, (1,))]
    """

    __slots__ = ("key_of_last", "steps", "text", "wildcards")

    def __init__(self, text: str, where: str = "path") -> None:
        if not isinstance(text, str) or not text:
            raise ConfigError("empty field path", where=where)
        self.text = text
        steps: list[object] = []
        self.key_of_last = False
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or (m.group("first") is not None and pos != 0):
                raise ConfigError(
                    f"invalid field path {text!r} at character {pos + 1}: use a.b[0].c, "
                    'items[*].name or a["odd.key"]',
                    where=where,
                )
            if m.group("tilde") is not None:
                self.key_of_last = True
            elif m.group("star") is not None:
                steps.append(_WILD)
            elif m.group("index") is not None:
                steps.append(int(m.group("index")))
            elif m.group("quoted") is not None:
                steps.append(json.loads(m.group("quoted")))
            else:
                steps.append(m.group("dot") or m.group("first"))
            pos = m.end()
        self.steps = tuple(steps)
        self.wildcards = sum(1 for s in steps if s is _WILD)
        if self.key_of_last and not self.wildcards:
            raise ConfigError(f"{text!r}: `~` needs a [*] before it", where=where)

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"

    def find(self, doc: Any) -> list[tuple[Any, tuple[Any, ...]]]:
        """Every value the path reaches, with the keys/indexes its `[*]` steps took."""
        return list(self._walk(doc, 0, ()))

    def _walk(self, node: Any, i: int, bound: tuple[Any, ...]) -> Iterator[tuple[Any, tuple]]:
        if i == len(self.steps):
            yield node, bound
            return
        step = self.steps[i]
        if step is _WILD:
            if isinstance(node, list):
                for k, child in enumerate(node):
                    yield from self._walk(child, i + 1, (*bound, k))
            elif isinstance(node, dict):
                for k, child in node.items():
                    yield from self._walk(child, i + 1, (*bound, k))
            return
        child = _step(node, step)
        if child is not _MISSING:
            yield from self._walk(child, i + 1, bound)

    def get(self, doc: Any, bound: Sequence[Any]) -> Any:
        """The value with the `[*]` steps taken as `bound` says (None when absent)."""
        node = doc
        k = 0
        for step in self.steps:
            if step is _WILD:
                if k >= len(bound):
                    return None
                node = _step(node, bound[k])
                k += 1
            else:
                node = _step(node, step)
            if node is _MISSING:
                return None
        if self.key_of_last:
            return bound[self.wildcards - 1] if self.wildcards <= len(bound) else None
        return node


def _step(node: Any, step: object) -> Any:
    if isinstance(step, int) and not isinstance(step, bool):
        if isinstance(node, list) and -len(node) <= step < len(node):
            return node[step]
        if isinstance(node, dict):
            return node.get(str(step), _MISSING)
        return _MISSING
    if isinstance(node, dict):
        return node.get(step, _MISSING)  # type: ignore[call-overload]
    return _MISSING


def to_number(value: Any) -> float | None:
    """A JSON value as a sample value, or None when it is not one."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class JsonMetric:
    """One metric taken from a JSON field (the shape of `[[json_configs.metrics]]`)."""

    name: str
    path: str
    labels: Mapping[str, str] = field(default_factory=dict)
    type: Literal["gauge", "counter"] = "gauge"
    help: str = ""


class JsonMapping:
    """A compiled list of :class:`JsonMetric`: document in, samples out.

    Args:
        metrics: The metric specs (objects with name, path, labels, type, help).
        where: Config key path for errors (`json_configs.ci.metrics`).
    """

    def __init__(self, metrics: Sequence[Any], where: str) -> None:
        self._compiled: list[tuple[Any, JsonPath, list[tuple[str, JsonPath]], MetricType]] = []
        for i, m in enumerate(metrics):
            w = f"{where}[{i}]"
            check_metric_name(m.name, f"{w}.name")
            path = JsonPath(m.path, f"{w}.path")
            labels = []
            for lname, lpath in dict(getattr(m, "labels", {}) or {}).items():
                check_label_name(lname, f"{w}.labels")
                lp = JsonPath(lpath, f"{w}.labels.{lname}")
                if lp.wildcards > path.wildcards:
                    raise ConfigError(
                        f"label path {lpath!r} has more [*] than the value path {m.path!r}",
                        where=f"{w}.labels.{lname}",
                    )
                labels.append((lname, lp))
            mtype = getattr(m, "type", "gauge") or "gauge"
            if mtype not in ("gauge", "counter"):
                raise ConfigError(
                    f"type must be gauge or counter, not {mtype!r}", where=f"{w}.type"
                )
            kind = MetricType.COUNTER if mtype == "counter" else MetricType.GAUGE
            self._compiled.append((m, path, labels, kind))

    def __len__(self) -> int:
        return len(self._compiled)

    def apply(self, doc: Any, b: BatchBuilder, extra: Mapping[str, str]) -> tuple[int, int]:
        """Add every mapped sample to `b` (labels: mapped, then `extra`).

        Returns (samples added, fields skipped because they held no number).
        """
        added = skipped = 0
        for m, path, labels, kind in self._compiled:
            b.meta(m.name, kind, getattr(m, "help", "") or "")
            for value, bound in path.find(doc):
                number = to_number(value)
                if number is None:
                    skipped += 1
                    continue
                lbls: dict[str, str] = {}
                for lname, lp in labels:
                    raw = lp.get(doc, bound)
                    if isinstance(raw, dict | list):
                        continue
                    lbls[lname] = format_label_value(raw)
                lbls.update(extra)
                b.add(m.name, lbls, number)
                added += 1
        return added, skipped
