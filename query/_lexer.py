"""Tokens of a PromQL text, and where Prometheus would point at a parse error.

`promql_parser` reports errors without positions and in its own words. This
module tokenises the text itself and, for each class of error, finds the offset
Prometheus's parser reports and rewrites the message in Prometheus's wording:

- lexical errors sit where Prometheus's lexer stops (an unclosed bracket at the
  end of the input, an unexpected `)` just after it);
- type errors in calls point at the offending argument, in aggregations at the
  parameter or the aggregated expression;
- operand type errors point at the operand, operator errors (`bool`, scalar
  comparisons, `on`/`group_*` clashes) at the operator, and the rest of the
  binary-expression errors at the start of the whole binary expression;
- regex errors point at the matcher's label name.

:func:`locate` returns None when it cannot tell; the parser then falls back to
its prefix search.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from nightowl.model import go_quote

__all__ = [
    "AGGREGATORS",
    "Token",
    "context",
    "duration_overflow",
    "locate",
    "regex_reason",
    "tokens",
]

Token = tuple[str, int, int]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<badstring>["'`])
  | (?P<number>(?:0[xX][0-9a-fA-F_]+
              |[0-9][0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9]+)?
              |\.[0-9]+(?:[eE][-+]?[0-9]+)?)
             (?:[a-zA-Z]+[0-9]*)*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:.]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,@:])
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_PAIRS = {"(": ")", "[": "]", "{": "}"}

#: Binary operators by precedence (Prometheus's grammar, loosest first).
_PRECEDENCE = {
    "or": 1, "and": 2, "unless": 2,
    "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
    "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6,
}  # fmt: skip
_TYPE_WORDS = {"vector": "instant vector", "matrix": "range vector"}
_COMPARISONS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
_SET_OPS = frozenset({"and", "or", "unless"})
AGGREGATORS = frozenset(
    {"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk",
     "quantile", "count_values", "limitk", "limit_ratio"}
)  # fmt: skip


def tokens(text: str) -> list[Token]:
    """`(kind, start, end)` of each token, without white space and comments."""
    return [
        (m.lastgroup or "", m.start(), m.end())
        for m in _TOKEN.finditer(text)
        if m.lastgroup not in ("ws", "comment")
    ]


class _Text:
    """A text with its tokens and bracket pairs."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokens(text)
        self.match: dict[int, int] = {}
        stack: list[int] = []
        for i, (kind, start, _end) in enumerate(self.toks):
            if kind == "open":
                stack.append(i)
            elif kind == "close" and stack and _PAIRS[text[self.toks[stack[-1]][1]]] == text[start]:
                j = stack.pop()
                self.match[i] = j
                self.match[j] = i

    def word(self, i: int) -> str:
        if i < 0 or i >= len(self.toks):
            return ""
        _kind, start, end = self.toks[i]
        return self.text[start:end]

    def start(self, i: int) -> int:
        return self.toks[i][1] if i < len(self.toks) else len(self.text)

    def is_binary_op(self, i: int) -> bool:
        """Whether token i is a binary operator (not a unary sign or a matcher's `=`)."""
        word = self.word(i)
        if word not in _PRECEDENCE:
            return False
        if word in ("+", "-"):
            prev = self.word(i - 1)
            kind = self.toks[i - 1][0] if i > 0 else ""
            if i == 0 or kind in ("open", "op") or prev in _PRECEDENCE or prev == "bool":
                return False
        return not self.in_braces(i)

    def in_braces(self, i: int) -> bool:
        depth = 0
        for j in range(i - 1, -1, -1):
            word = self.word(j)
            if self.toks[j][0] == "close" and j in self.match:
                depth += 1
            elif self.toks[j][0] == "open":
                if depth == 0:
                    return word == "{"
                depth -= 1
        return False

    def enclosing_open(self, i: int) -> int | None:
        """Index of the innermost unmatched-so-far open bracket before token i."""
        depth = 0
        for j in range(i - 1, -1, -1):
            kind = self.toks[j][0]
            if kind == "close":
                depth += 1
            elif kind == "open":
                if depth == 0:
                    return j
                depth -= 1
        return None

    def operand_start(self, i: int) -> int:
        """Index of the first token of the operand that ends with token i."""
        while i > 0:
            kind = self.toks[i][0]
            word = self.word(i)
            if kind == "close" and i in self.match:
                j = self.match[i]
                opener = self.word(j)
                if opener == "[":
                    i = j - 1
                    continue
                if opener == "{" and self.toks[j - 1][0] == "ident" and j > 0:
                    return j - 1
                if opener == "(" and j > 0:
                    prev = self.word(j - 1)
                    if self.toks[j - 1][0] == "ident" and prev not in _PRECEDENCE:
                        return j - 1
                    if prev == ")" and j - 1 in self.match:
                        k = self.match[j - 1]
                        if self.word(k - 1) in ("by", "without") and k >= 2:
                            return k - 2
                return j
            if self.word(i - 1) in ("offset", "@") or (
                self.word(i - 1) == "-" and self.word(i - 2) in ("offset", "@")
            ):
                i -= 2 if self.word(i - 1) != "-" else 3
                continue
            if word in ("start", "end") and self.word(i - 1) == "@":
                i -= 2
                continue
            return i
        return 0

    def lhs_start(self, k: int) -> int:
        """Index of the first token of the left operand of the binary operator k."""
        prec = _PRECEDENCE[self.word(k)]
        i = k - 1
        first = k
        while i >= 0:
            kind = self.toks[i][0]
            word = self.word(i)
            if kind == "close" and i in self.match:
                first = self.match[i]
                i = first - 1
                continue
            if kind == "open" or word == ",":
                break
            if self.is_binary_op(i) and _PRECEDENCE[word] < prec:
                break
            first = i
            i -= 1
        return first

    def rhs_start(self, k: int) -> int:
        """Index of the first token of the right operand of the binary operator k."""
        i = k + 1
        if self.word(i) == "bool":
            i += 1
        for words in (("on", "ignoring"), ("group_left", "group_right")):
            if self.word(i) in words:
                i += 1
                if self.word(i) == "(" and i in self.match:
                    i = self.match[i] + 1
        return i

    def binary_ops(self) -> list[int]:
        return [i for i in range(len(self.toks)) if self.is_binary_op(i)]

    def operand_kind(self, first: int, last: int) -> str:
        """ "string", "matrix" or "" for the tokens first..last (a rough type)."""
        if first > last:
            return ""
        if first == last and self.toks[first][0] == "string":
            return "string"
        i = last
        while i > first and self.word(i - 1) in ("offset", "@", "-"):
            i -= 2 if self.word(i - 1) != "-" else 3
        if self.word(i) == "]" and i in self.match:
            return "matrix"
        return ""

    def operand_end(self, first: int) -> int:
        """Index of the last token of the operand starting at token `first`."""
        i = first
        n = len(self.toks)
        if self.toks[i][0] == "open" and i in self.match:
            i = self.match[i]
        elif self.toks[i][0] == "ident" and self.word(i + 1) in ("(", "{") and i + 1 in self.match:
            i = self.match[i + 1]
        elif self.toks[i][0] == "ident" and self.word(i + 1) in ("by", "without"):
            j = i + 2
            if self.word(j) == "(" and j in self.match:
                j = self.match[j] + 1
            i = self.match.get(j, j)
        while i + 1 < n:
            nxt = self.word(i + 1)
            bracket = nxt == "[" or (nxt == "{" and self.toks[i][0] == "ident")
            if bracket and i + 1 in self.match:
                i = self.match[i + 1]
            elif nxt in ("offset", "@"):
                i += 2 if self.word(i + 2) != "-" else 3
            else:
                break
        return i


def context(text: str, pos: int) -> str:
    """The ` in <where>, expected <what>` Prometheus adds to an unexpected token at `pos`."""
    t = _Text(text)
    i = next((j for j, tok in enumerate(t.toks) if tok[1] >= pos), len(t.toks))
    prev = t.word(i - 1)
    if prev == "offset" or (prev == "-" and t.word(i - 2) == "offset"):
        return " in offset, expected duration"
    if prev == "@":
        return " in @, expected timestamp"
    if prev in ("by", "without") and t.word(i) != "(":
        return ' in grouping opts, expected "("'
    opener = t.enclosing_open(i)
    if opener is not None and t.word(opener) == "{":
        if t.toks[i - 1][0] == "string":
            return ' in label matching, expected "," or "}"'
        if prev in ("=", "!=", "=~", "!~"):
            return " in label matching, expected string"
        if t.toks[i - 1][0] == "ident":
            return " in label matching, expected label matching operator"
        return ' in label matching, expected identifier or "}"'
    grouping = ("by", "without", "on", "ignoring", "group_left", "group_right")
    if opener is not None and t.word(opener) == "(" and t.word(opener - 1) in grouping:
        if prev in ("(", ","):
            return " in grouping opts, expected label"
        return ' in grouping opts, expected "," or ")"'
    # the parser recovers in the innermost aggregation around a call or parentheses
    while opener is not None and t.word(opener) == "(":
        if _is_aggregation(t, opener):
            return " in aggregation"
        opener = t.enclosing_open(opener)
    return ""


def _is_aggregation(t: _Text, opener: int) -> bool:
    """Whether the `(` at token `opener` holds an aggregation's arguments."""
    prev = opener - 1
    if t.word(prev) == ")" and prev in t.match and t.word(t.match[prev] - 1) in ("by", "without"):
        prev = t.match[prev] - 2
    return t.word(prev) in AGGREGATORS and t.toks[prev][0] == "ident"


# -- finders ------------------------------------------------------------------
#
# Each takes the text and promql_parser's message and returns (position,
# Prometheus's message), or None to leave the case to the next finder.

_Found = tuple[int, str] | None


def _lexical(t: _Text, msg: str) -> _Found:
    text = t.text
    m = re.match(r"unexpected character: '(.)'$", msg)
    if m and m.group(1) != "}":
        strings = [(a, b) for kind, a, b in t.toks if kind in ("string", "badstring")]
        if m.group(1) != ".":
            bad = [
                start for kind, start, _end in t.toks if kind == "bad" and text[start] == m.group(1)
            ]
            return (bad[0], msg) if bad else None
        for hit in re.finditer(r"(?<![\d.])\.(?!\d)", text):
            if not any(a <= hit.start() < b for a, b in strings):
                return hit.start(), msg
        return None
    m = re.match(r"unexpected character after '\.': '(.)'", msg)
    if m:
        strings = [(a, b) for kind, a, b in t.toks if kind in ("string", "badstring")]
        for hit in re.finditer(r"(?<![\d.])\." + re.escape(m.group(1)), text):
            if not any(a <= hit.start() < b for a, b in strings):
                return hit.start(), "unexpected character: '.'"
        return None
    m = re.match(r"unexpected character after '([=!])': '(.)'", msg)
    if m:
        idx = text.find(m.group(1) + m.group(2))
        return (idx, msg) if idx >= 0 else None
    if msg.startswith("unexpected right brace"):
        for i, (kind, start, _end) in enumerate(t.toks):
            if text[start] == "}" and (kind != "close" or i not in t.match):
                return start, "unexpected character: '}'"
        return None
    if msg.startswith("unclosed left parenthesis"):
        return len(text), "unclosed left parenthesis"
    if msg.startswith("unexpected end of input inside brackets"):
        return len(text), "unclosed left bracket"
    if msg.startswith("unexpected right parenthesis"):
        depth = 0
        for kind, start, _end in t.toks:
            if text[start] == "(" and kind == "open":
                depth += 1
            elif text[start] == ")" and kind == "close":
                depth -= 1
                if depth < 0:
                    return start + 1, "unexpected right parenthesis ')'"
        return None
    if msg.startswith("unterminated quoted string"):
        for kind, start, _end in t.toks:
            if kind == "badstring":
                words = "raw string" if text[start] == "`" else "quoted string"
                return start, f"unterminated {words}"
        return None
    if msg.startswith("unexpected second colon"):
        for i, (kind, start, _end) in enumerate(t.toks):
            if text[start] == "[" and kind == "open" and i in t.match:
                inside = text[start : t.start(t.match[i])]
                first = inside.find(":")
                second = inside.find(":", first + 1) if first >= 0 else -1
                if second >= 0:
                    return start + second, "unexpected colon ':'"
        return None
    m = re.match(r"invalid label matcher, expected label matching operator after '(.*)'$", msg)
    if m:
        for i in range(len(t.toks) - 1):
            if t.word(i) == m.group(1) and t.in_braces(i) and t.word(i + 1) in (",", "}"):
                word = t.word(i + 1)
                where = "in label matching, expected label matching operator"
                return t.start(i + 1), f'unexpected "{word}" {where}'
        return None
    m = re.match(r"unexpected identifier '(.*)' in label matching, expected string$", msg)
    if m:
        for i in range(len(t.toks)):
            if t.word(i) == m.group(1) and t.in_braces(i):
                where = "in label matching, expected string"
                return t.start(i), f'unexpected identifier "{m.group(1)}" {where}'
        return None
    m = re.match(r"unexpected character inside brackets: '(.)'", msg)
    if m:
        for i, (_kind, start, _end) in enumerate(t.toks):
            opener = t.enclosing_open(i)
            if text[start] == m.group(1) and opener is not None and t.word(opener) == "[":
                return start, f'unexpected "{m.group(1)}" in subquery or range, expected ":" or "]"'
        return None
    m = re.match(r"ParseFloatError\. (\S+) can't be parsed", msg)
    if m:
        idx = text.find(m.group(1))
        why = f'strconv.ParseFloat: parsing "{m.group(1)}": invalid syntax'
        return (idx, f"error parsing number: {why}") if idx >= 0 else None
    m = re.match(r"bad number or duration syntax: (\d*)\.\.", msg)
    if m:
        hit = re.search(rf"(?<![\w.]){m.group(1)}\.(\.\d+)", text)
        if hit:
            return hit.start(1), f'unexpected number "{hit.group(1)}"'
    if msg.startswith("unknown escape sequence") or msg == "invalid syntax":
        return _escape(t)
    m = re.match(r"bad number or duration syntax: (\S+)", msg)
    if m:
        idx = text.find(m.group(1))
        if idx < 0:
            return None
        head = re.match(r"0[xX][0-9a-fA-F]*|[0-9]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?", m.group(1))
        quoted = go_quote(head.group(0) if head else m.group(1))
        opener = t.enclosing_open(next((i for i, tok in enumerate(t.toks) if tok[1] == idx), 0))
        if opener is not None and t.word(opener) == "[":
            return idx, f"bad duration syntax: {quoted}"
        return idx, f"bad number or duration syntax: {quoted}"
    return None


def _escape(t: _Text) -> _Found:
    """The first string literal with a bad escape sequence, in Go's words."""
    for kind, start, end in t.toks:
        if kind != "string" or t.text[start] == "`":
            continue
        why = _escape_error(t.text[start + 1 : end - 1])
        if why:
            return start, why
    return None


def _go_rune(ch: str) -> str:
    return f"U+{ord(ch):04X} '{ch}'"


def _escape_error(body: str) -> str | None:
    """What is wrong with the escapes of a Go string literal's body, if anything."""
    digits = {"x": (2, "0123456789abcdefABCDEF"), "u": (4, "0123456789abcdefABCDEF"),
              "U": (8, "0123456789abcdefABCDEF")}  # fmt: skip
    i = 0
    while i < len(body):
        if body[i] != "\\":
            i += 1
            continue
        if i + 1 >= len(body):
            return "escape sequence not terminated"
        c = body[i + 1]
        if c in "abfnrtv\\'\"":
            i += 2
            continue
        if c in digits or c in "01234567":
            count, allowed = digits.get(c, (3, "01234567"))
            j = i + 2 if c in digits else i + 1
            for k in range(j, j + count):
                if k >= len(body):
                    return "escape sequence not terminated"
                if body[k] not in allowed:
                    return f"illegal character {_go_rune(body[k])} in escape sequence"
            i = j + count
            continue
        return f"unknown escape sequence {_go_rune(c)}"
    return None


def _call_args(t: _Text, name_idx: int) -> list[tuple[int, int]]:
    """(first, last) token indexes of each argument of the call at token name_idx."""
    j = name_idx + 1
    if t.word(j) in ("by", "without"):
        j += 1
        if t.word(j) == "(" and j in t.match:
            j = t.match[j] + 1
    if t.word(j) != "(" or j not in t.match:
        return []
    close = t.match[j]
    out: list[tuple[int, int]] = []
    first = j + 1
    i = first
    while i < close:
        if t.toks[i][0] == "open" and i in t.match:
            i = t.match[i] + 1
            continue
        if t.word(i) == ",":
            out.append((first, i - 1))
            first = i + 1
        i += 1
    if first < close or out:
        out.append((first, close - 1))
    return out


def _type_of(t: _Text, first: int, last: int, type_of: Callable[[str], str | None]) -> str | None:
    return type_of(t.text[t.start(first) : t.toks[last][2]])


def _call_types(t: _Text, msg: str, type_of: Callable[[str], str | None]) -> _Found:
    m = re.match(r"expected type (.+) in call to function '([^']+)', got (.+)$", msg)
    if not m:
        return None
    want, name, got = m.groups()
    got = _TYPE_WORDS.get(got, got)
    want = _TYPE_WORDS.get(want, want)
    text = f'expected type {want} in call to function "{name}", got {got}'
    calls = [i for i in range(len(t.toks)) if t.word(i) == name and t.word(i + 1) == "("]
    for i in calls:
        for first, last in _call_args(t, i):
            if _type_of(t, first, last, type_of) == got:
                return t.start(first), text
    return (t.start(calls[0]), text) if calls else None


def _aggregations(t: _Text, msg: str, type_of: Callable[[str], str | None]) -> _Found:
    m = re.match(r"expected type (.+) in aggregation expression, got (.+)$", msg)
    if m:
        want, got = (_TYPE_WORDS.get(g, g) for g in m.groups())
        param = want in ("scalar", "string")
        where = "parameter" if param else "expression"
        text = f"expected type {want} in aggregation {where}, got {got}"
        for i in range(len(t.toks)):
            if t.word(i) not in AGGREGATORS or t.toks[i][0] != "ident":
                continue
            args = _call_args(t, i)
            if not args:
                continue
            first, last = args[0] if param or len(args) == 1 else args[1]
            if _type_of(t, first, last, type_of) == got:
                return t.start(first), text
        return None
    m = re.match(r"wrong number of arguments for aggregate expression .*, got (\d+)", msg)
    if m:
        got = int(m.group(1))
        for i in range(len(t.toks)):
            if t.word(i) not in AGGREGATORS or t.toks[i][0] != "ident":
                continue
            if len(_call_args(t, i)) == got and t.word(i + 1) in ("(", "by", "without"):
                return t.start(i), msg
    return None


def _binary(t: _Text, msg: str, type_of: Callable[[str], str | None]) -> _Found:
    ops = t.binary_ops()
    if msg.startswith("binary expression must contain only scalar and instant vector types"):
        for k in ops:
            lhs = t.lhs_start(k)
            if t.operand_kind(lhs, k - 1):
                return t.start(lhs), msg
            rhs = t.rhs_start(k)
            if rhs < len(t.toks) and t.operand_kind(rhs, t.operand_end(rhs)):
                return t.start(rhs), msg
        return None
    m = re.match(r"(set operator|no grouping allowed for) '(\w+)'(.*)$", msg)
    if m:
        for k in ops:
            if t.word(k) == m.group(2):
                return t.start(t.lhs_start(k)), f'{m.group(1)} "{m.group(2)}"{m.group(3)}'
        return None
    if msg.startswith("vector matching only allowed between"):
        for k in ops:
            if t.word(t.rhs_start(k) - 1) in (")", "group_left", "group_right"):
                text = "vector matching only allowed between instant vectors"
                return t.start(t.lhs_start(k)), text
        return None
    if msg.startswith("comparisons between scalars must use BOOL modifier"):
        for k in ops:
            if t.word(k) in _COMPARISONS and t.word(k + 1) != "bool":
                left = type_of(t.text[t.start(t.lhs_start(k)) : t.start(k)])
                if left == "scalar":
                    return t.start(k), msg
        return None
    if msg.startswith("bool modifier can only be used on comparison operators"):
        for k in ops:
            if t.word(k + 1) == "bool" and t.word(k) not in _COMPARISONS:
                return t.start(k), msg
        return None
    m = re.match(r"label '([^']*)' must not occur in ON and GROUP clause at once", msg)
    if m:
        for k in ops:
            if t.word(k + 1) in ("on", "ignoring"):
                return t.start(
                    k
                ), f'label "{m.group(1)}" must not occur in ON and GROUP clause at once'
    return None


def _modifiers(t: _Text, msg: str, type_of: Callable[[str], str | None]) -> _Found:
    for word, prefix in (("offset", "offset may not"), ("@", "@ <timestamp> may not")):
        if msg.startswith(prefix):
            idx = [i for i in range(len(t.toks)) if t.word(i) == word]
            if idx:
                return t.start(t.operand_start(idx[0] - 1)), msg
            return None
    if msg.startswith("timestamp out of bounds for @ modifier"):
        for i in range(1, len(t.toks)):
            if t.word(i) != "@":
                continue
            num = i + 2 if t.word(i + 1) in ("-", "+") else i + 1
            if msg.endswith("inf") and num < len(t.toks) and t.toks[num][0] == "number":
                why = f'strconv.ParseFloat: parsing "{t.word(num)}": value out of range'
                return t.start(num), f"error parsing number: {why}"
            return t.start(t.operand_start(i - 1)), msg
        return None
    m = re.match(r"(offset|@) modifier must be preceded by", msg)
    if m:
        for i in range(1, len(t.toks)):
            if t.word(i) == m.group(1):
                where = "an instant vector selector or range vector selector or a subquery"
                text = f"{m.group(1)} modifier must be preceded by {where}"
                return t.start(t.operand_start(i - 1)), text
        return None
    m = re.match(r"metric name must not be set twice: '(.*)' or '(.*)'$", msg)
    if m:
        for i in range(len(t.toks) - 1):
            if t.word(i) == m.group(1) and t.word(i + 1) == "{":
                names = f'"{m.group(1)}" or "{m.group(2)}"'
                return t.start(i), f"metric name must not be set twice: {names}"
        return None
    if msg.startswith("subquery is only allowed on"):
        m = re.search(r"got (.+) instead", msg)
        got = m.group(1) if m else ""
        got = {"range vector": "matrix", "instant vector": "vector"}.get(got, got)
        text = f"subquery is only allowed on instant vector, got {got} instead"
        for i in range(1, len(t.toks)):
            if t.word(i) != "[" or i not in t.match:
                continue
            if ":" not in t.text[t.start(i) : t.start(t.match[i])]:
                continue
            first = t.operand_start(i - 1)
            kind = type_of(t.text[t.start(first) : t.start(i)])
            if kind is not None and kind != "instant vector":
                return t.start(first), text
        return None
    if msg.startswith("no arguments for aggregate expression"):
        for i in range(len(t.toks) - 2):
            if t.word(i) in AGGREGATORS and t.word(i + 1) == "(" and t.word(i + 2) == ")":
                return t.start(i), "no arguments for aggregate expression provided"
        return None
    if msg.startswith("trailing commas not allowed"):
        for i in range(len(t.toks) - 1):
            if t.word(i) == "," and t.word(i + 1) == ")":
                return t.start(i), msg
        return None
    if msg.startswith("unary expression only allowed"):
        m = re.search(r"got:? (\w+)", msg)
        got = m.group(1) if m else ""
        got = _TYPE_WORDS.get(got, got)
        allowed = "unary expression only allowed on expressions of type scalar or instant vector"
        text = f'{allowed}, got "{got}"'
        for i in range(len(t.toks)):
            if t.word(i) in ("-", "+") and not t.is_binary_op(i):
                return t.start(i), text
        return None
    if msg.startswith("ranges only allowed for vector selectors"):
        for i in range(1, len(t.toks)):
            if t.word(i) != "[" or i not in t.match:
                continue
            close = t.match[i]
            if ":" in (t.word(j) for j in range(i, close)):
                continue
            kind = t.toks[i - 1][0]
            if (t.word(i - 1) != "}" and kind != "ident") or t.word(i - 2) in ("offset", "@"):
                return t.start(i), msg
    return None


def _regex(t: _Text, msg: str, check: Callable[[str], str | None]) -> _Found:
    m = re.match(r"illegal regex for (.*)$", msg, re.DOTALL)
    if not m:
        m = re.match(r"invalid regular expression '(.*)': ", msg, re.DOTALL)
    if not m:
        return None
    value = m.group(1)
    toks = t.toks
    for i in range(2, len(toks)):
        if toks[i][0] != "string" or t.word(i - 1) not in ("=~", "!~"):
            continue
        if value not in t.word(i):
            continue
        name = i - 2
        if t.word(name) == "," or t.word(name) == "{":
            continue
        reason = check(value) or "invalid regular expression"
        return t.start(name), f"error parsing regexp: {reason}"
    return None


def regex_reason(value: str, err: str) -> str:
    """Python's `re.error` text in Go's regexp words where they correspond."""
    if err.startswith("missing ), unterminated subpattern"):
        return f"missing closing ): `^(?:{value})$`"
    if err.startswith("unbalanced parenthesis"):
        return f"unexpected ): `^(?:{value})$`"
    m = re.match(r"bad character range (\S+)", err)
    if m:
        return f"invalid character class range: `{m.group(1)}`"
    m = re.match(r"unknown extension \?(.)", err)
    if m:
        return f"invalid or unsupported Perl syntax: `(?{m.group(1)}`"
    if err.startswith("unterminated character set"):
        # the position counts the `(?s:` the pattern is wrapped in
        return f"missing closing ]: `{value[max(0, (err_pos(err) or 4) - 4) :]})$`"
    m = re.search(r"\{\d*,?\d*\}", value)
    if err.startswith("min repeat greater than max repeat") and m:
        return f"invalid repeat count: `{m.group(0)}`"
    if err.startswith("nothing to repeat") or err.startswith("multiple repeat"):
        return f"missing argument to repetition operator: `{value}`"
    return err


def err_pos(err: str) -> int | None:
    """The `at position N` of a `re.error` text."""
    m = re.search(r"at position (\d+)", err)
    return int(m.group(1)) if m else None


#: The longest duration promql_parser holds, in seconds (Rust's Duration from f64 panics past it).
_MAX_DURATION_S = 2.0**63 / 1e9


_DURATION_NUMBER = re.compile(
    r"(?:\[|:|\boffset\s*[-+]?)\s*([0-9_.]+(?:[eE][-+]?[0-9]+)?|(?i:inf|nan))(?![\w.])"
)


def _innermost_bracket(text: str, pos: int, strings: list[tuple[int, int]]) -> str:
    """The innermost bracket open at `pos`, outside string literals ("" if none)."""
    stack: list[str] = []
    for i, ch in enumerate(text[:pos]):
        if any(a <= i < b for a, b in strings):
            continue
        if ch in _PAIRS:
            stack.append(ch)
        elif ch in ")]}" and stack and _PAIRS[stack[-1]] == ch:
            stack.pop()
    return stack[-1] if stack else ""


def duration_overflow(text: str) -> tuple[int, str] | None:
    """A plain number used as a duration (offset, range, step) too large to hold.

    promql_parser panics on these; Prometheus would overflow Go's Duration.
    """
    # an unterminated quote runs to the end of the text
    strings = [
        (a, b if kind == "string" else len(text))
        for kind, a, b in tokens(text)
        if kind in ("string", "badstring")
    ]
    for m in _DURATION_NUMBER.finditer(text):
        start = m.start(1)
        if any(a <= start < b for a, b in strings):
            continue
        if text[m.start()] == ":" and _innermost_bracket(text, m.start(), strings) != "[":
            continue  # a colon in a metric name, not a subquery step
        try:
            value = float(m.group(1).replace("_", ""))
        except ValueError:
            continue
        if not value < _MAX_DURATION_S:
            return start, f'duration out of range: "{m.group(1)}"'
    return None


def locate(
    text: str,
    msg: str,
    type_of: Callable[[str], str | None],
    regex_check: Callable[[str], str | None],
) -> _Found:
    """Prometheus's (0-based position, message) for promql_parser's message `msg`.

    Args:
        text: The query.
        msg: promql_parser's (or our converter's) message.
        type_of: The value type name ("scalar", "string", "instant vector",
            "range vector") of a sub-expression's text, or None if it does not parse.
        regex_check: Go-worded reason a regex does not compile, or None.
    """
    t = _Text(text)
    for finder in (_lexical,):
        found = finder(t, msg)
        if found is not None:
            return found
    for typed in (_call_types, _aggregations, _binary, _modifiers):
        found = typed(t, msg, type_of)
        if found is not None:
            return found
    found = _regex(t, msg, regex_check)
    if found is None and msg.startswith("vector selector must contain at least one non-empty"):
        found = _empty_selector(t, msg, type_of)
    return found


def _empty_selector(t: _Text, msg: str, type_of: Callable[[str], str | None]) -> _Found:
    """The first selector that matches the empty label set on its own."""
    for i, (kind, _start, _end) in enumerate(t.toks):
        if kind != "open" or t.word(i) != "{" or i not in t.match:
            continue
        first = i - 1 if i > 0 and t.toks[i - 1][0] == "ident" else i
        selector = t.text[t.start(first) : t.toks[t.match[i]][2]]
        if selector == t.text.strip() or type_of(selector) is None:
            return t.start(first), msg
    return None
