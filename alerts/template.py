"""The Go text/template subset that Prometheus rule labels and annotations use.

Rule files written for Prometheus carry templates such as
``{{ $labels.instance }} is at {{ $value | humanizePercentage }}``. This module
parses them once (so `nightowl check rules` reports a bad template with the rule
that holds it) and expands them per alert.

Supported: text and actions with trim markers (``{{-`` / ``-}}``), comments,
pipelines (``a | b "x"``), parenthesised sub-pipelines, variables
(``$x := ...``, ``$x = ...``), field chains on the dot and on variables
(``.Labels.job``, ``$labels.job``), ``if`` / ``else if`` / ``else`` / ``end``,
``with``, ``range`` (over lists and maps, with ``$i, $v :=``), string, number
and bool literals, the Go builtins ``eq ne lt le gt ge and or not len index
print printf println`` and Prometheus's functions ``humanize humanize1024
humanizeDuration humanizePercentage humanizeTimestamp title toUpper toLower
reReplaceAll match stripPort stripDomain query first value label strvalue
sortByLabel safeHtml args``. As in Prometheus, a missing map key expands to the
empty string (``missingkey=zero``), and the variables ``$labels``, ``$value``,
``$externalLabels`` and ``$externalURL`` are predefined.

    >>> Template.parse("{{ $labels.job }}: {{ $value | humanize }}").expand(
    ...     TemplateData({"job": "api"}, 1234567.0))
    'api: 1.235M'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from nightowl.errors import ParseError

__all__ = [
    "QueryFunc",
    "Template",
    "TemplateData",
    "TemplateError",
    "go_format_float",
    "humanize",
    "humanize_1024",
    "humanize_duration",
    "humanize_percentage",
    "humanize_timestamp",
]

#: `query "expr"` inside a template: returns a list of (labels dict, value) pairs.
QueryFunc = Callable[[str], list[tuple[dict[str, str], float]]]


class TemplateError(ParseError):
    """A template does not parse, or failed while expanding."""


@dataclass(slots=True)
class TemplateData:
    """What a rule template sees: ``$labels``, ``$value``, ``$externalLabels``, ``$externalURL``."""

    labels: Mapping[str, str]
    value: float | str = 0.0
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    query: QueryFunc | None = None


# ---------------------------------------------------------------------- number formatting


def _go_special(v: float) -> str | None:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return None


def go_format_float(v: float) -> str:
    """A float64 as Go's ``%v`` prints it: shortest digits, exponent form below 1e-4
    and from 1e+06 up (``1e+06``, ``1.234567e+06``, ``123456``, ``0.0001``, ``1e-05``).
    """
    special = _go_special(v)
    if special is not None:
        return special
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    sign, digits, exp10 = Decimal(repr(v)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    # value = 0.ds * 10**dp
    dp = len(digits) + int(exp10)
    exp = dp - 1
    neg = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= len(ds):
        return f"{neg}{ds}{'0' * (dp - len(ds))}"
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def _g4(v: float) -> str:
    special = _go_special(v)
    if special is not None:
        return special
    return f"{v:.4g}"


def humanize(v: float) -> str:
    """SI prefixes: 1234567 -> ``1.235M``, 0.0012 -> ``1.2m`` (Prometheus's humanize)."""
    v = float(v)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize_1024(v: float) -> str:
    """Binary prefixes: 1048576 -> ``1Mi``."""
    v = float(v)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def humanize_duration(v: float) -> str:
    """Seconds as ``1d 2h 3m 4s``, ``1.5s`` or ``250ms``."""
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        d = int(v)
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(v: float) -> str:
    """A ratio as a percentage: 0.1234 -> ``12.34%``."""
    return _g4(float(v) * 100) + "%"


def humanize_timestamp(v: float) -> str:
    """Unix seconds as Go prints a UTC time: ``1970-01-01 00:00:01 +0000 UTC``."""
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 9.2e9:  # beyond int64 nanoseconds, as Go refuses it
        raise TypeError("time out of range")
    # Prometheus goes through model.Time: int64 nanoseconds truncated to milliseconds.
    ms = math.trunc(math.trunc(v * 1e9) / 1_000_000)
    secs, rem_ms = divmod(ms, 1000)
    dt = datetime(1970, 1, 1) + timedelta(seconds=secs)
    base = dt.strftime("%Y-%m-%d %H:%M:%S")
    frac = f".{rem_ms:03d}".rstrip("0") if rem_ms else ""
    return f"{base}{frac} +0000 UTC"


# ---------------------------------------------------------------------- values and functions


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise TypeError("expected a number, got bool")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise TypeError(f"cannot convert {v!r} to a number") from None
    raise TypeError(f"expected a number, got {_type(v)}")


def _type(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, int):
        return "int"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map"
    return "slice"


def _fmt(v: Any) -> str:
    """Go's ``%v``."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_format_float(v)
    if isinstance(v, int | str):
        return str(v)
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{_fmt(k)}:{_fmt(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, Sequence):
        return "[" + " ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _truth(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if isinstance(v, str | Mapping | Sequence):
        return len(v) > 0
    return True


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    pos = 0
    ai = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2) or "", m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[ai]
        ai += 1
        spec = "%" + flags + width + (f".{prec}" if prec is not None else "")
        if verb == "v" or (verb == "s" and not isinstance(a, str)):
            s = _fmt(a)
            out.append((spec + "s") % s)
        elif verb == "s":
            out.append((spec + "s") % a)
        elif verb == "q":
            out.append('"' + str(a).replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif verb == "d":
            if isinstance(a, int) and not isinstance(a, bool):
                out.append((spec + "d") % a)
            else:
                out.append(f"%!d({_type(a)}={_fmt(a)})")
        elif verb in "feEgGxX":
            if verb in "xX" and isinstance(a, int) and not isinstance(a, bool):
                out.append((spec + verb) % a)
                continue
            if verb in "xX" and isinstance(a, str):
                out.append(a.encode().hex() if verb == "x" else a.encode().hex().upper())
                continue
            try:
                f = _to_float(a) if not isinstance(a, str) else float("nan")
            except TypeError:
                out.append(f"%!{verb}({_type(a)}={_fmt(a)})")
                continue
            if isinstance(a, str):
                out.append(f"%!{verb}(string={a})")
                continue
            special = _go_special(f)
            if verb in "gG" and prec is None and special is None:
                text = go_format_float(f)
                text = text.upper() if verb == "G" else text
                out.append((spec + "s") % text)
            elif special is not None:
                out.append((spec.replace("0", "") + "s") % special)
            else:
                text = (spec + verb) % f
                out.append(text)
        elif verb == "t":
            out.append(_fmt(bool(a)))
        else:
            out.append(f"%!{verb}({_type(a)}={_fmt(a)})")
    out.append(fmt[pos:])
    if ai < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_type(a)}={_fmt(a)}" for a in args[ai:]) + ")")
    return "".join(out)


def _title(s: str) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), s)


def _go_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _re_replace_all(pattern: str, repl: str, text: str) -> str:
    """Go's Regexp.ReplaceAllString: `$1`, `${1}`, `$name`; `$1x` names group "1x"."""
    rx = _go_regex(pattern)

    def expand(m: re.Match[str]) -> str:
        def group(name: str) -> str:
            if name.isdigit():
                i = int(name)
                return (m.group(i) or "") if i <= rx.groups else ""
            return (m.group(name) or "") if name in rx.groupindex else ""

        return re.sub(
            r"\$\$|\$\{(\w+)\}|\$(\w+)",
            lambda t: "$" if t.group(0) == "$$" else group(t.group(1) or t.group(2)),
            repl,
        )

    return rx.sub(expand, text)


def _strip_port(host: str) -> str:
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _strip_domain(host: str) -> str:
    port = ""
    h = host
    if h.count(":") == 1:
        h, port = h.split(":", 1)
        port = ":" + port
    if re.fullmatch(r"[\d.]+", h):
        return host
    return h.split(".", 1)[0] + port


def _sample(labels: Mapping[str, str], value: float) -> dict[str, Any]:
    return {"Labels": dict(labels), "Value": value}


def _first(v: Any) -> Any:
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise TypeError("first: expected query results")
    if not v:
        raise TypeError("first() called on vector with no elements")
    return v[0]


def _cmp_args(name: str, a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a, b
    if type(a) is not type(b):
        raise TypeError(f"{name}: incompatible types for comparison")
    return a, b


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise TypeError("eq: missing argument for comparison")
    for b in bs:
        x, y = _cmp_args("eq", a, b)
        if x == y:
            return True
    return False


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, Mapping):
            v = v.get(k, "")
        elif isinstance(v, Sequence):
            v = v[int(k)]
        else:
            raise TypeError(f"can't index item of type {_type(v)}")
    return v


def _len(v: Any) -> int:
    if isinstance(v, str | Mapping | Sequence):
        return len(v)
    raise TypeError(f"len of type {_type(v)}")


_BUILTINS: dict[str, Callable[..., Any]] = {
    "humanize": lambda v: humanize(_to_float(v)),
    "humanize1024": lambda v: humanize_1024(_to_float(v)),
    "humanizeDuration": lambda v: humanize_duration(_to_float(v)),
    "humanizePercentage": lambda v: humanize_percentage(_to_float(v)),
    "humanizeTimestamp": lambda v: humanize_timestamp(_to_float(v)),
    "title": lambda s: _title(str(s)),
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "reReplaceAll": _re_replace_all,
    "match": lambda p, s: _go_regex(p).search(s) is not None,
    "stripPort": _strip_port,
    "stripDomain": _strip_domain,
    "safeHtml": lambda s: str(s),
    "args": lambda *a: {f"arg{i}": v for i, v in enumerate(a)},
    "first": _first,
    "value": lambda s: s["Value"],
    "label": lambda name, s: s["Labels"].get(name, ""),
    "strvalue": lambda s: s["Labels"].get("__value__", ""),
    "sortByLabel": lambda name, xs: sorted(xs, key=lambda s: s["Labels"].get(name, "")),
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": lambda a, b: (lambda x, y: x < y)(*_cmp_args("lt", a, b)),
    "le": lambda a, b: (lambda x, y: x <= y)(*_cmp_args("le", a, b)),
    "gt": lambda a, b: (lambda x, y: x > y)(*_cmp_args("gt", a, b)),
    "ge": lambda a, b: (lambda x, y: x >= y)(*_cmp_args("ge", a, b)),
    "not": lambda a: not _truth(a),
    "len": _len,
    "index": _index,
    "print": lambda *a: _go_print(a),
    "println": lambda *a: " ".join(_fmt(x) for x in a) + "\n",
    "printf": _printf,
    "html": lambda s: (
        str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    ),
    "urlquery": lambda s: __import__("urllib.parse").parse.quote_plus(str(s)),
}
#: Functions that take the pipeline's previous value; `and`/`or` are evaluated lazily.
FUNCTIONS = frozenset([*_BUILTINS, "and", "or", "query"])


def _go_print(args: Sequence[Any]) -> str:
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += _fmt(a)
    return out


# ---------------------------------------------------------------------- lexer


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)))
  | (?P<var>\$[A-Za-z_0-9]*(?:\.[A-Za-z_0-9]+)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z_0-9]*)+)
  | (?P<dot>\.)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<comma>,)
  | (?P<ident>[A-Za-z_][A-Za-z_0-9]*)
    """,
    re.VERBOSE,
)


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _go_unquote(s: str) -> str:
    body = s[1:-1]

    def esc(m: re.Match[str]) -> str:
        c = m.group(1)
        table = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a"}
        if c in table:
            return table[c]
        if c.startswith("x"):
            return chr(int(c[1:], 16))
        if c.startswith(("u", "U")):
            return chr(int(c[1:], 16))
        if c[0] in "01234567":
            return chr(int(c, 8))
        raise ValueError(f"unknown escape sequence \\{c}")

    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", esc, body)


# ---------------------------------------------------------------------- AST


@dataclass(slots=True)
class _Text:
    text: str


@dataclass(slots=True)
class _Lit:
    value: Any


@dataclass(slots=True)
class _Field:
    var: str | None  # None: the dot
    chain: tuple[str, ...]


@dataclass(slots=True)
class _Ident:
    name: str


@dataclass(slots=True)
class _Cmd:
    args: list[Any]


@dataclass(slots=True)
class _Pipe:
    cmds: list[_Cmd]
    decl: list[str] = field(default_factory=list)
    assign: bool = False  # `=` instead of `:=`


@dataclass(slots=True)
class _Action:
    pipe: _Pipe


@dataclass(slots=True)
class _Branch:
    kind: str  # if / with / range
    pipe: _Pipe
    body: list[Any]
    other: list[Any]


# ---------------------------------------------------------------------- parser


_UNSUPPORTED = ("define", "template", "block", "break", "continue")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.items = self._split(text)
        self.i = 0

    def error(self, msg: str, pos: int) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return TemplateError(f"template: {line}:{col}: {msg}", line=line, column=col, position=pos)

    def _split(self, text: str) -> list[tuple[str, Any, int]]:
        """Text and action items; each action a token list."""
        items: list[tuple[str, Any, int]] = []
        pos = 0
        trim_next = False
        while True:
            start = text.find("{{", pos)
            chunk = text[pos:] if start < 0 else text[pos:start]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if start < 0:
                if chunk:
                    items.append(("text", chunk, pos))
                return items
            inner_start = start + 2
            trim_left = text.startswith("- ", inner_start) or text.startswith("-\t", inner_start)
            trim_left = trim_left or text.startswith("-\n", inner_start)
            if trim_left:
                chunk = chunk.rstrip(" \t\r\n")
                inner_start += 1
            if chunk:
                items.append(("text", chunk, pos))
            # comment
            rest = text[inner_start:].lstrip(" \t\r\n") if trim_left else text[inner_start:]
            if rest.startswith("/*"):
                cstart = text.index("/*", inner_start)
                cend = text.find("*/", cstart + 2)
                if cend < 0:
                    raise self.error("unclosed comment", start)
                after = cend + 2
                m = re.match(r"\s*(-?)\}\}", text[after:])
                if not m:
                    raise self.error("comment ends before closing delimiter", start)
                trim_next = m.group(1) == "-"
                pos = after + m.end()
                continue
            toks, end, trim_next = self._lex(inner_start, start)
            items.append(("action", toks, start))
            pos = end

    def _lex(self, i: int, start: int) -> tuple[list[_Tok], int, bool]:
        text = self.text
        toks: list[_Tok] = []
        while True:
            if i >= len(text):
                raise self.error("unclosed action", start)
            if text.startswith("}}", i):
                return toks, i + 2, False
            m = re.match(r"\s+-\}\}", text[i:])
            if m:
                return toks, i + m.end(), True
            m = _TOKEN.match(text, i)
            if not m:
                raise self.error(f"unexpected {text[i]!r} in action", i)
            kind = m.lastgroup or ""
            tok_text = m.group(0)
            if kind != "ws":
                if kind == "ident" and tok_text in ("true", "false", "nil"):
                    kind = tok_text if tok_text == "nil" else "bool"
                toks.append(_Tok(kind, tok_text, i))
            i = m.end()

    def parse(self) -> list[Any]:
        body, end = self._list(())
        if end is not None:
            raise self.error(f"unexpected {{{{{end[0]}}}}}", end[1])
        return body

    def _list(self, stops: tuple[str, ...]) -> tuple[list[Any], tuple[str, int, list[_Tok]] | None]:
        out: list[Any] = []
        while self.i < len(self.items):
            kind, payload, pos = self.items[self.i]
            self.i += 1
            if kind == "text":
                out.append(_Text(payload))
                continue
            toks: list[_Tok] = payload
            if not toks:
                raise self.error("missing value for command", pos)
            head = toks[0]
            if head.kind == "ident" and head.text in ("end", "else"):
                if head.text not in stops:
                    raise self.error(f"unexpected {{{{{head.text}}}}}", pos)
                return out, (head.text, pos, toks[1:])
            if head.kind == "ident" and head.text in ("if", "with", "range"):
                out.append(self._branch(head.text, toks[1:], pos))
                continue
            if head.kind == "ident" and head.text in _UNSUPPORTED:
                raise self.error(f"{head.text!r} is not supported in rule templates", pos)
            out.append(_Action(self._pipe(toks, pos, allow_decl=True)))
        if stops:
            raise self.error("unexpected EOF", len(self.text))
        return out, None

    def _branch(self, kind: str, toks: list[_Tok], pos: int) -> _Branch:
        if not toks:
            raise self.error(f"missing value for {kind}", pos)
        pipe = self._pipe(toks, pos, allow_decl=True, allow_two=kind == "range")
        body, end = self._list(("end", "else"))
        assert end is not None
        other: list[Any] = []
        if end[0] == "else":
            rest = end[2]
            if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with"):
                if kind == "range" or rest[0].text != kind:
                    raise self.error(f"else {rest[0].text} not allowed in {kind}", end[1])
                other = [self._branch(rest[0].text, rest[1:], end[1])]
                return _Branch(kind, pipe, body, other)
            if rest:
                raise self.error("unexpected tokens after else", end[1])
            other, end2 = self._list(("end",))
            assert end2 is not None
            if end2[2]:
                raise self.error("unexpected tokens after end", end2[1])
        elif end[2]:
            raise self.error("unexpected tokens after end", end[1])
        return _Branch(kind, pipe, body, other)

    def _pipe(
        self, toks: list[_Tok], pos: int, *, allow_decl: bool = False, allow_two: bool = False
    ) -> _Pipe:
        decl: list[str] = []
        assign = False
        j = 0
        if allow_decl:
            # $x :=  |  $x =  |  $i, $v :=
            if len(toks) >= 2 and toks[0].kind == "var" and toks[1].kind in ("decl", "assign"):
                decl = [toks[0].text]
                assign = toks[1].kind == "assign"
                j = 2
            elif (
                allow_two
                and len(toks) >= 4
                and toks[0].kind == "var"
                and toks[1].kind == "comma"
                and toks[2].kind == "var"
                and toks[3].kind in ("decl", "assign")
            ):
                decl = [toks[0].text, toks[2].text]
                assign = toks[3].kind == "assign"
                j = 4
        for d in decl:
            if "." in d:
                raise self.error(f"cannot declare a field: {d}", pos)
        cmds, j = self._cmds(toks, j, pos, close=False)
        if j != len(toks):
            raise self.error(f"unexpected {toks[j].text!r} in command", toks[j].pos)
        return _Pipe(cmds, decl, assign)

    def _cmds(self, toks: list[_Tok], j: int, pos: int, *, close: bool) -> tuple[list[_Cmd], int]:
        cmds: list[_Cmd] = []
        args: list[Any] = []
        while j < len(toks):
            t = toks[j]
            if t.kind == "rp":
                if not close:
                    raise self.error("unexpected right paren", t.pos)
                break
            if t.kind == "pipe":
                if not args:
                    raise self.error("missing command before '|'", t.pos)
                cmds.append(_Cmd(args))
                args = []
                j += 1
                continue
            if t.kind == "lp":
                sub, j = self._cmds(toks, j + 1, t.pos, close=True)
                if j >= len(toks) or toks[j].kind != "rp":
                    raise self.error("unclosed left paren", t.pos)
                j += 1
                node: Any = _Pipe(sub)
                # (x).Field
                if j < len(toks) and toks[j].kind == "field":
                    raise self.error("field access on a pipeline is not supported", toks[j].pos)
                args.append(node)
                continue
            args.append(self._operand(t))
            j += 1
        if not args:
            raise self.error("missing value for command", pos)
        cmds.append(_Cmd(args))
        for c in cmds[1:]:
            if not isinstance(c.args[0], _Ident):
                raise self.error("non executable command in pipeline stage", pos)
        return cmds, j

    def _operand(self, t: _Tok) -> Any:
        if t.kind == "str" or t.kind == "char":
            try:
                v = _go_unquote(t.text)
            except ValueError as exc:
                raise self.error(str(exc), t.pos) from None
            return _Lit(ord(v) if t.kind == "char" and len(v) == 1 else v)
        if t.kind == "raw":
            return _Lit(t.text[1:-1])
        if t.kind == "num":
            s = t.text.replace("_", "")
            try:
                if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", s):
                    return _Lit(int(s, 0) if not re.fullmatch(r"[-+]?0\d+", s) else int(s, 8))
                return _Lit(float(s))
            except ValueError:
                raise self.error(f"bad number syntax: {t.text!r}", t.pos) from None
        if t.kind == "bool":
            return _Lit(t.text == "true")
        if t.kind == "nil":
            return _Lit(None)
        if t.kind == "var":
            parts = t.text.split(".")
            return _Field(parts[0], tuple(parts[1:]))
        if t.kind == "field":
            return _Field(None, tuple(t.text.split(".")[1:]))
        if t.kind == "dot":
            return _Field(None, ())
        if t.kind == "ident":
            if t.text not in FUNCTIONS:
                raise self.error(f'function "{t.text}" not defined', t.pos)
            return _Ident(t.text)
        raise self.error(f"unexpected {t.text!r} in operand", t.pos)


# ---------------------------------------------------------------------- evaluation


class _Exec:
    def __init__(self, dot: Any, variables: dict[str, Any], query: QueryFunc | None) -> None:
        self.scopes: list[dict[str, Any]] = [variables]
        self.query = query
        self.dot = dot

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise TypeError(f"undefined variable: {name}")

    def set(self, name: str, value: Any, assign: bool) -> None:
        if assign:
            for scope in reversed(self.scopes):
                if name in scope:
                    scope[name] = value
                    return
            raise TypeError(f"undefined variable: {name}")
        self.scopes[-1][name] = value

    def run(self, nodes: list[Any], dot: Any, out: list[str]) -> None:
        for n in nodes:
            if isinstance(n, _Text):
                out.append(n.text)
            elif isinstance(n, _Action):
                v = self.pipe(n.pipe, dot)
                if not n.pipe.decl:
                    out.append(_fmt(v))
            else:
                self.branch(n, dot, out)

    def branch(self, b: _Branch, dot: Any, out: list[str]) -> None:
        self.scopes.append({})
        try:
            v = self.pipe(b.pipe, dot)
            if b.kind == "range":
                items: list[tuple[Any, Any]]
                if isinstance(v, Mapping):
                    items = [(k, v[k]) for k in sorted(v)]
                elif isinstance(v, Sequence) and not isinstance(v, str):
                    items = list(enumerate(v))
                elif isinstance(v, int) and not isinstance(v, bool):
                    items = [(i, i) for i in range(v)]
                elif v is None:
                    items = []
                else:
                    raise TypeError(f"range can't iterate over {_fmt(v)}")
                if not items:
                    self.run(b.other, dot, out)
                for k, item in items:
                    if len(b.pipe.decl) == 2:
                        self.scopes[-1][b.pipe.decl[0]] = k
                        self.scopes[-1][b.pipe.decl[1]] = item
                    elif b.pipe.decl:
                        self.scopes[-1][b.pipe.decl[0]] = item
                    self.run(b.body, item, out)
                return
            if _truth(v):
                self.run(b.body, v if b.kind == "with" else dot, out)
            else:
                self.run(b.other, dot, out)
        finally:
            self.scopes.pop()

    def pipe(self, p: _Pipe, dot: Any) -> Any:
        value: Any = _NOARG
        for c in p.cmds:
            value = self.cmd(c, dot, value)
        for name in p.decl[:1]:
            self.set(name, value, p.assign)
        return value

    def arg(self, node: Any, dot: Any) -> Any:
        if isinstance(node, _Lit):
            return node.value
        if isinstance(node, _Field):
            base = dot if node.var is None else (dot if node.var == "$" else self.lookup(node.var))
            if node.var == "$":
                base = self.dot
            for name in node.chain:
                if isinstance(base, Mapping):
                    base = base.get(name, "")
                elif base is None or base == "":
                    raise TypeError(f"nil pointer evaluating .{name}")
                else:
                    raise TypeError(f"can't evaluate field {name} in type {_type(base)}")
            return base
        if isinstance(node, _Pipe):
            return self.pipe(node, dot)
        if isinstance(node, _Ident):
            return self.call(node.name, [], dot)
        raise TypeError(f"bad operand {node!r}")

    def cmd(self, c: _Cmd, dot: Any, prev: Any) -> Any:
        head = c.args[0]
        if isinstance(head, _Ident):
            return self.call(head.name, c.args[1:], dot, prev)
        if len(c.args) > 1:
            raise TypeError(f"can't give argument to non-function {_fmt(self.arg(head, dot))}")
        if prev is not _NOARG:
            raise TypeError("can't give argument to non-function")
        return self.arg(head, dot)

    def call(self, name: str, arg_nodes: list[Any], dot: Any, prev: Any = None) -> Any:
        if prev is None:
            prev = _NOARG
        if name in ("and", "or"):
            nodes = list(arg_nodes)
            vals_iter = [lambda n=n: self.arg(n, dot) for n in nodes]
            if prev is not _NOARG:
                vals_iter.append(lambda: prev)
            if not vals_iter:
                raise TypeError(f"wrong number of args for {name}: want at least 1 got 0")
            v: Any = None
            for get in vals_iter:
                v = get()
                if (name == "and") != _truth(v):
                    return v
            return v
        args = [self.arg(n, dot) for n in arg_nodes]
        if prev is not _NOARG:
            args.append(prev)
        if name == "query":
            if len(args) != 1:
                raise TypeError("wrong number of args for query: want 1")
            if self.query is None:
                raise TypeError("query: no query function in this context")
            return [_sample(lbls, val) for lbls, val in self.query(str(args[0]))]
        fn = _BUILTINS[name]
        try:
            return fn(*args)
        except TypeError as exc:
            raise TypeError(f"error calling {name}: {exc}") from None
        except (KeyError, IndexError, re.error, ValueError) as exc:
            raise TypeError(f"error calling {name}: {exc}") from None


_NOARG = object()


class Template:
    """A parsed template. Parse once with :meth:`parse`, expand per alert with :meth:`expand`."""

    __slots__ = ("_nodes", "text")

    def __init__(self, text: str, nodes: list[Any]) -> None:
        self.text = text
        self._nodes = nodes

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse `text`; raises :class:`TemplateError` with line:column on a syntax error."""
        return cls(text, _Parser(text).parse())

    @property
    def is_static(self) -> bool:
        """True when the text holds no action at all."""
        return all(isinstance(n, _Text) for n in self._nodes)

    def expand(self, data: TemplateData) -> str:
        """Expand with Prometheus's rule-template data; raises :class:`TemplateError`."""
        if self.is_static:
            return self.text
        dot = {
            "Labels": dict(data.labels),
            "ExternalLabels": dict(data.external_labels),
            "ExternalURL": data.external_url,
            "Value": data.value,
        }
        variables = {
            "$": dot,
            "$labels": dot["Labels"],
            "$externalLabels": dot["ExternalLabels"],
            "$externalURL": data.external_url,
            "$value": data.value,
        }
        ex = _Exec(dot, variables, data.query)
        out: list[str] = []
        try:
            ex.run(self._nodes, dot, out)
        except (TypeError, RecursionError) as exc:
            raise TemplateError(f"error executing template: {exc}") from None
        return "".join(out)
