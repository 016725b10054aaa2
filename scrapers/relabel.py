"""Prometheus relabeling: `relabel_configs`, `metric_relabel_configs`, `write_relabel_configs`.

The semantics follow Prometheus's `model/relabel` package, so a rule copied from a
prometheus.yml behaves the same here:

* defaults: ``regex = "(.*)"``, ``separator = ";"``, ``replacement = "$1"``,
  ``action = "replace"``; the regex is fully anchored (``^(?:regex)$``);
* ``$1``, ``${1}``, ``$name``, ``${name}`` and ``$$`` expand as Go's
  ``Regexp.Expand`` does: ``$name`` takes the longest run of word characters, so
  ``$1x`` means the group named ``1x`` (empty) and must be written ``${1}x``;
* actions: replace, keep, drop, keepequal, dropequal, hashmod, labelmap,
  labeldrop, labelkeep, lowercase, uppercase;
* setting a label to the empty string removes it.

Rules are compiled once (:class:`RelabelRule`) and applied to a plain
``dict[str, str]`` (:func:`relabel`), which is the cheap representation the scrape
loop works on. Callers keep their own caches keyed by input labels.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nightowl.errors import ConfigError

__all__ = [
    "ACTIONS",
    "RelabelRule",
    "compile_rules",
    "expand",
    "relabel",
    "relabel_labels",
]

#: Every action Prometheus knows, lower case as written in configs.
ACTIONS = frozenset(
    {
        "replace",
        "keep",
        "drop",
        "keepequal",
        "dropequal",
        "hashmod",
        "labelmap",
        "labeldrop",
        "labelkeep",
        "lowercase",
        "uppercase",
    }
)

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EXPAND_RE = re.compile(r"\$(?:\$|\{([^}]*)\}|(\w+))")


def expand(template: str, match: re.Match[str]) -> str:
    """Expand `template` with the groups of `match`, as Go's `Regexp.ExpandString` does.

    Unknown or unmatched groups expand to "". `$$` is a literal `$`. A `$` not
    followed by a group reference stays as it is.

    >>> m = re.fullmatch(r"(?P<host>[^:]+):(\\d+)", "db:5432")
    >>> expand("${host}-$2", m)
    'db-5432'
    """
    if "$" not in template:
        return template

    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if text == "$$":
            return "$"
        name = m.group(1) if m.group(1) is not None else m.group(2)
        if m.group(1) is not None and not re.fullmatch(r"\w+", name or ""):
            # Go leaves a malformed `${...}` untouched.
            return text
        try:
            value = (
                match.group(int(name)) if name.isascii() and name.isdigit() else match.group(name)
            )
        except IndexError:
            return ""
        return value or ""

    return _EXPAND_RE.sub(sub, template)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class RelabelRule:
    """One compiled relabel rule.

    Build it with :meth:`from_config` from a config object (anything with the
    prometheus.yml attribute names, or a mapping with those keys).
    """

    action: str = "replace"
    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    target_label: str = ""
    regex: re.Pattern[str] = re.compile("(?s:.*)")
    regex_text: str = "(.*)"
    modulus: int = 0
    replacement: str = "$1"

    @classmethod
    def from_config(cls, cfg: Any, where: str = "relabel_configs") -> RelabelRule:
        """Compile one rule; raises :class:`ConfigError` naming `where` when it is invalid."""
        action = str(_get(cfg, "action", "replace")).lower()
        if action not in ACTIONS:
            raise ConfigError(
                f"unknown relabel action {action!r}; expected one of {', '.join(sorted(ACTIONS))}",
                where=f"{where}.action",
            )
        regex_value = _get(cfg, "regex", "(.*)")
        if isinstance(regex_value, re.Pattern):
            regex_value = regex_value.pattern
        regex_text = str(regex_value)
        try:
            regex = re.compile(f"(?s:{regex_text})")
        except re.error as exc:
            raise ConfigError(
                f"invalid regex {regex_text!r}: {exc}", where=f"{where}.regex"
            ) from exc
        sources = _get(cfg, "source_labels", ())
        if isinstance(sources, str):
            sources = (sources,)
        rule = cls(
            action=action,
            source_labels=tuple(str(s) for s in sources),
            separator=str(_get(cfg, "separator", ";")),
            target_label=str(_get(cfg, "target_label", "")),
            regex=regex,
            regex_text=regex_text,
            modulus=int(_get(cfg, "modulus", 0)),
            replacement=str(_get(cfg, "replacement", "$1")),
        )
        rule._validate(where)
        return rule

    def _validate(self, where: str) -> None:
        needs_target = {"replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"}
        if self.action in needs_target and not self.target_label:
            raise ConfigError(
                f"relabel action {self.action!r} requires 'target_label'", where=where
            )
        if self.action in {"lowercase", "uppercase", "keepequal", "dropequal", "hashmod"} and (
            not _LABEL_NAME_RE.match(self.target_label)
        ):
            raise ConfigError(
                f"{self.target_label!r} is an invalid 'target_label' for action {self.action!r}",
                where=f"{where}.target_label",
            )
        if self.action == "replace" and not _LABEL_NAME_RE.match(
            _EXPAND_RE.sub("x", self.target_label)
        ):
            raise ConfigError(
                f"{self.target_label!r} is an invalid 'target_label' for replace action",
                where=f"{where}.target_label",
            )
        if self.action == "hashmod" and self.modulus <= 0:
            raise ConfigError(
                "relabel action 'hashmod' requires a positive 'modulus'", where=f"{where}.modulus"
            )
        if self.action in {"labeldrop", "labelkeep"} and (
            self.source_labels
            or self.target_label
            or self.separator != ";"
            or self.replacement != "$1"
            or self.modulus
        ):
            raise ConfigError(f"relabel action {self.action!r} only takes 'regex'", where=where)
        if self.action in {"keepequal", "dropequal"} and (
            self.regex_text != "(.*)" or self.replacement != "$1" or self.modulus
        ):
            raise ConfigError(
                f"relabel action {self.action!r} takes only 'source_labels', 'separator' "
                "and 'target_label'",
                where=where,
            )

    def apply(self, labels: dict[str, str]) -> bool:
        """Apply this rule to `labels` in place; False means the series/target is dropped."""
        action = self.action
        if action == "labeldrop":
            for name in [n for n in labels if self.regex.fullmatch(n)]:
                del labels[name]
            return True
        if action == "labelkeep":
            for name in [n for n in labels if not self.regex.fullmatch(n)]:
                del labels[name]
            return True
        if action == "labelmap":
            for name, value in list(labels.items()):
                m = self.regex.fullmatch(name)
                if m is not None:
                    new = expand(self.replacement, m)
                    if new:
                        labels[new] = value
            return True
        val = self.separator.join(labels.get(s, "") for s in self.source_labels)
        if action == "replace":
            m = self.regex.fullmatch(val)
            if m is None:
                return True
            target = expand(self.target_label, m)
            if not _LABEL_NAME_RE.match(target):
                return True
            res = expand(self.replacement, m)
            if res:
                labels[target] = res
            else:
                labels.pop(target, None)
            return True
        if action == "keep":
            return self.regex.fullmatch(val) is not None
        if action == "drop":
            return self.regex.fullmatch(val) is None
        if action == "keepequal":
            return labels.get(self.target_label, "") == val
        if action == "dropequal":
            return labels.get(self.target_label, "") != val
        if action == "hashmod":
            digest = hashlib.md5(val.encode(), usedforsecurity=False).digest()
            _set(labels, self.target_label, str(int.from_bytes(digest[8:], "big") % self.modulus))
            return True
        if action == "lowercase":
            _set(labels, self.target_label, val.lower())
            return True
        if action == "uppercase":
            _set(labels, self.target_label, val.upper())
            return True
        raise AssertionError(f"unhandled relabel action {action}")


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


def compile_rules(
    configs: Iterable[Any] | None, where: str = "relabel_configs"
) -> list[RelabelRule]:
    """Compile a list of relabel configs (None gives no rules); errors name `where[i]`."""
    if not configs:
        return []
    rules = []
    for i, cfg in enumerate(configs):
        if isinstance(cfg, RelabelRule):
            rules.append(cfg)
        else:
            rules.append(RelabelRule.from_config(cfg, f"{where}[{i}]"))
    return rules


def relabel(labels: dict[str, str], rules: Sequence[RelabelRule]) -> dict[str, str] | None:
    """Apply `rules` in order to a copy of `labels`; None when a rule dropped it."""
    out = dict(labels)
    for rule in rules:
        if not rule.apply(out):
            return None
    return out


def relabel_labels(
    pairs: Iterable[tuple[str, str]], rules: Sequence[RelabelRule]
) -> dict[str, str] | None:
    """Like :func:`relabel`, from (name, value) pairs such as a `Labels`."""
    return relabel(dict(pairs), rules)
