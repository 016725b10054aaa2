"""What the query bar can complete at the end of the text, and the candidates.

Pure: given the text typed so far and the names known, return the completion
context and the candidate words. The query bar turns the first candidate into
an inline suggestion and lists the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Context", "candidates", "completion_context"]

_IDENT_TAIL = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*$")
_LABEL_VALUE_TAIL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"\\]*)$')
_METRIC_BEFORE_BRACE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*$")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)$")
_KEYWORDS = ("by", "without", "on", "ignoring", "offset", "bool", "and", "or", "unless")


@dataclass(frozen=True, slots=True)
class Context:
    """What is being typed at the end of the text.

    kind: "name" (metric or function), "label" (a label name), "value" (a label value)
    or "none". `prefix` is the partial word; `metric` the selector's metric (or "");
    `label` the label whose value is typed.
    """

    kind: str
    prefix: str = ""
    metric: str = ""
    label: str = ""


def _open_brace(text: str) -> int | None:
    depth_quote = False
    pos = None
    i = 0
    while i < len(text):
        ch = text[i]
        if depth_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                depth_quote = False
        elif ch == '"':
            depth_quote = True
        elif ch == "{":
            pos = i
        elif ch == "}":
            pos = None
        i += 1
    return pos


def completion_context(text: str) -> Context:
    """Classify the end of `text` for completion.

    >>> completion_context('rate(http_requests_total{job="a', ).kind
    'value'
    """
    brace = _open_brace(text)
    if brace is not None:
        m_metric = _METRIC_BEFORE_BRACE.search(text[:brace])
        metric = m_metric.group(1) if m_metric else ""
        inside = text[brace + 1 :]
        m = _LABEL_VALUE_TAIL.search(inside)
        if m:
            return Context("value", m.group(3), metric, m.group(1))
        if inside.count('"') % 2 == 1:
            return Context("none")
        m = _IDENT_TAIL.search(inside)
        tail = inside[m.start() :] if m else ""
        if re.search(r"(^|[{,\s])[A-Za-z_0-9]*$", inside):
            return Context("label", tail, metric)
        return Context("none")
    if text.count('"') % 2 == 1:
        return Context("none")
    m = _GROUPING.search(text)
    if m:
        tail = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", m.group(2))
        return Context("label", tail.group(0) if tail else "")
    m = _IDENT_TAIL.search(text)
    if m:
        return Context("name", m.group(0))
    return Context("none")


def candidates(
    ctx: Context,
    *,
    metrics: Iterable[str] = (),
    functions: Iterable[str] = (),
    labels: Iterable[str] = (),
    values: Iterable[str] = (),
    limit: int = 50,
) -> list[str]:
    """Words that complete `ctx.prefix`, shortest first within each group."""
    if ctx.kind == "name":
        pool = [*functions, *_KEYWORDS, *metrics]
    elif ctx.kind == "label":
        pool = [x for x in labels if x != "__name__"]
    elif ctx.kind == "value":
        pool = list(values)
    else:
        return []
    seen: set[str] = set()
    out = []
    for word in sorted(pool, key=lambda w: (len(w), w)):
        if word.startswith(ctx.prefix) and word != ctx.prefix and word not in seen:
            seen.add(word)
            out.append(word)
            if len(out) >= limit:
                break
    return out
