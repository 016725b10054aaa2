"""Label and ordering functions: `label_replace`, `label_join`, `sort*`.

`label_replace` follows Go's regexp template expansion; `sort_by_label` orders
label values naturally (digit runs as numbers) as Prometheus's natsort does.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

import numpy as np
from nightowl.query._fnbase import (
    annotate,
    drops,
    finish,
    string_arg,
    valid_label_name,
    vector_arg,
)
from nightowl.query.block import Arg, Block, EvalContext, Result

from nightowl.errors import QueryError
from nightowl.model import METRIC_NAME

__all__ = [
    "expand_template",
    "label_join",
    "label_replace",
    "natural_less",
    "re2_compat",
    "sort_by_label",
    "sort_by_value",
]


# -- sorting ----------------------------------------------------------------------


def _sort_warning(ctx: EvalContext) -> bool:
    """Warn (and return True) when a sort function runs in a range query."""
    if ctx.start != ctx.end:
        annotate(
            ctx,
            False,
            "PromQL warning: sort is ineffective for range queries since results are "
            "always ordered by labels",
            None,
        )
        return True
    return False


def _reorder(b: Block, order: list[int] | np.ndarray) -> Block:
    idx = np.asarray(order, dtype=np.int64)
    return Block(
        [b.labels[i] for i in idx.tolist()],
        b.values[idx],
        b.present[idx],
        drop_name=drops(b)[idx],
    )


def sort_by_value(descending: bool) -> Callable[..., Result]:
    """`sort`/`sort_desc`: order an instant result by value, NaN last."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        b = vector_arg(args[0])
        if _sort_warning(ctx) or not len(b) or b.values.shape[1] != 1:
            return finish(b.labels, b.values, b.present, drops(b))
        v = b.values[:, 0]
        rows = np.flatnonzero(b.present[:, 0])
        key = -v[rows] if descending else v[rows]
        nan = np.isnan(key)
        order = rows[np.lexsort((key, nan))]  # NaN last, stable otherwise
        return _reorder(b, order)

    return impl


_NAT_CHUNK = re.compile(r"[0-9]+|[^0-9]+")


def _atoi(s: str) -> int | None:
    if not s.isascii() or not s.isdigit():
        return None
    n = int(s)
    return n if n < 2**63 else None


def natural_less(a: str, b: str) -> bool:
    """`natsort.Compare` as Prometheus's `sort_by_label` uses it: digit runs compare
    as integers, other runs as strings; a string that is a prefix sorts first."""
    ca, cb = _NAT_CHUNK.findall(a), _NAT_CHUNK.findall(b)
    for i, x in enumerate(ca):
        if i >= len(cb):
            return False
        y = cb[i]
        xi, yi = _atoi(x), _atoi(y)
        if xi is not None and yi is not None:
            if xi == yi:
                if i == len(ca) - 1:
                    return True
                if i == len(cb) - 1:
                    return False
                continue
            return xi < yi
        if x == y:
            if i == len(ca) - 1:
                return True
            if i == len(cb) - 1:
                return False
            continue
        return x.encode() < y.encode()
    return False


def sort_by_label(descending: bool) -> Callable[..., Result]:
    """`sort_by_label(_desc)`: natural order of the given labels, then all labels."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        b = vector_arg(args[0])
        names = [string_arg(a) for a in args[1:]]
        if _sort_warning(ctx) or not len(b) or b.values.shape[1] != 1:
            return finish(b.labels, b.values, b.present, drops(b))

        def cmp(i: int, j: int) -> int:
            la, lb = b.labels[i], b.labels[j]
            for name in names:
                va, vb = la.get(name), lb.get(name)
                if va == vb:
                    continue
                less = natural_less(va, vb)
                return (1 if less else -1) if descending else (-1 if less else 1)
            if la == lb:
                return 0
            res = -1 if la < lb else 1
            return -res if descending else res

        rows = np.flatnonzero(b.present[:, 0]).tolist()
        return _reorder(b, sorted(rows, key=functools.cmp_to_key(cmp)))

    return impl


# -- labels -------------------------------------------------------------------------


def _is_name_char(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


def expand_template(template: str, match: re.Match[str]) -> str:
    """Go's `Regexp.ExpandString`: `$1`, `${1}`, `$name`, `${name}`, `$$`.

    A name is the longest run of letters, digits and `_` (so `$1x` means group
    "1x"); unknown groups and groups that did not take part expand to "".
    """
    out: list[str] = []
    i, n = 0, len(template)
    groups = match.re.groupindex
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        k = i + 1 if brace else i
        start = k
        while k < n and _is_name_char(template[k]):
            k += 1
        name = template[start:k]
        if not name or (brace and (k >= n or template[k] != "}")):
            out.append("$")
            continue
        i = k + 1 if brace else k
        num: int | None = None
        if name.isascii() and name.isdigit() and len(name) < 9:
            num = int(name)
            if name[0] == "0" and len(name) > 1:
                num = None
        idx = num if num is not None else groups.get(name)
        if idx is not None and idx <= match.re.groups and match.start(idx) >= 0:
            out.append(match.group(idx))
    return "".join(out)


_RE2_UNSUPPORTED = ("(?=", "(?!", "(?<=", "(?<!", "(?>")


def re2_compat(pattern: str) -> str:
    """Make an RE2 (Go) pattern mean the same to Python's `re`, or raise ValueError.

    Go accepts `(?<name>...)` groups (Python wants `(?P<name>...)`) and rejects
    what RE2 cannot do: lookaround, atomic groups and backreferences (`\\1`);
    Go's octal escapes (`\\12`) become code points.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "1234567":  # Go: octal if more octal digits follow, else a backreference
                j = i + 2
                while j < min(n, i + 4) and pattern[j] in "01234567":
                    j += 1
                if j == i + 2:
                    raise ValueError(f"invalid escape sequence: \\{nxt}")
                out.append(f"\\u{int(pattern[i + 1 : j], 8):04x}")
                i = j
                continue
            if nxt in "89":
                raise ValueError(f"invalid escape sequence: \\{nxt}")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern.startswith("]", i + 1) or pattern.startswith("^]", i + 1):
                out.append(pattern[i : i + 2 + pattern.startswith("^]", i + 1)])
                i += 2 + pattern.startswith("^]", i + 1)
                continue
        elif c == "(":
            if pattern.startswith(_RE2_UNSUPPORTED, i):
                raise ValueError(f"invalid or unsupported Perl syntax at {i}")
            if pattern.startswith("(?<", i):
                out.append("(?P<")
                i += 3
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _compile_regex(pattern: str) -> re.Pattern[str]:
    from nightowl.query.parser import translate_regex

    return re.compile(f"(?s:{translate_regex(re2_compat(pattern))})")


def label_replace(args: list[Arg], ctx: EvalContext) -> Result:
    """`label_replace(v, dst, replacement, src, regex)`: set `dst` where `src` fully matches."""
    b = vector_arg(args[0])
    dst, repl, src, regex = (string_arg(a) for a in args[1:5])
    try:
        rx = _compile_regex(regex)
    except (re.error, ValueError, OverflowError, RecursionError):
        raise QueryError(f"invalid regular expression in label_replace(): {regex}") from None
    if not valid_label_name(dst):
        raise QueryError(f"invalid destination label name in label_replace(): {dst}")
    labels = []
    drop = drops(b).copy()
    for i, lab in enumerate(b.labels):
        m = rx.fullmatch(lab.get(src))
        if m is None:
            labels.append(lab)
            continue
        labels.append(lab.with_(**{dst: expand_template(repl, m)}))
        if dst == METRIC_NAME:
            drop[i] = False
    return finish(labels, b.values, b.present, drop)


def label_join(args: list[Arg], ctx: EvalContext) -> Result:
    """`label_join(v, dst, separator, src...)`: set `dst` to the joined source values."""
    b = vector_arg(args[0])
    dst, sep = string_arg(args[1]), string_arg(args[2])
    srcs = [string_arg(a) for a in args[3:]]
    for s in srcs:
        if not valid_label_name(s):
            raise QueryError(f"invalid source label name in label_join(): {s}")
    if not valid_label_name(dst):
        raise QueryError(f"invalid destination label name in label_join(): {dst}")
    labels = [lab.with_(**{dst: sep.join(lab.get(s) for s in srcs)}) for lab in b.labels]
    drop = np.zeros(len(b), bool) if dst == METRIC_NAME else drops(b)
    return finish(labels, b.values, b.present, drop)
