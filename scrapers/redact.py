"""Redaction of label values that look like secrets.

Exporters sometimes leak credentials into labels: a `url` label with
`user:password@`, a `cmdline` label with `--token=...`, an AWS access key id in an
`info` metric. Once such a value reaches the store it is kept for the whole
retention and shown in every view, so the scrape loop passes every new series'
label values through a :class:`Redactor` (after metric relabeling; the result is
cached per series, so this costs nothing on repeat scrapes).

A pattern is a regular expression searched in the value. When it has a group
named ``secret`` only that group is replaced, so a URL keeps its host
(`https://bob:<redacted>@db:5432`); otherwise the whole match is replaced.
Metric names (`__name__`) are never touched.

:data:`DEFAULT_PATTERNS` covers credentials in URLs, `password=`/`token=`-style
key-value pairs, bearer tokens, JWTs, AWS access key ids, GitHub, GitLab and Slack
tokens and PEM private keys. Users add their own patterns (or turn the defaults
off) in the config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from nightowl.errors import ConfigError

__all__ = ["DEFAULT_PATTERNS", "REDACTED", "Redactor"]

#: What a secret is replaced with.
REDACTED = "<redacted>"

#: The built-in patterns (Python regular expressions).
DEFAULT_PATTERNS: tuple[str, ...] = (
    # user:password@ in a URL
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:(?P<secret>[^@\s/]+)@",
    # key=value / key: value pairs whose key names a secret
    r"(?i)(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|auth|credentials?)"
    r"\s*[=:]\s*(?P<secret>[^\s&;,\"']+)",
    # --password VALUE style command-line flags
    r"(?i)--?(?:passw(?:or)?d|secret|token|api[_-]?key)\s+(?P<secret>[^\s-][^\s]*)",
    # HTTP bearer / basic credentials
    r"(?i)\b(?:bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
    # JSON Web Tokens
    r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
    # AWS access key ids
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
    # GitHub, GitLab and Slack tokens
    r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b",
    r"\bglpat-[A-Za-z0-9_-]{20,}\b",
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",
    # PEM private keys
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
)


class Redactor:
    """Replaces secret-looking parts of label values with :data:`REDACTED`.

    Args:
        patterns: Extra regular expressions (a group named ``secret`` limits what is
            replaced).
        use_defaults: Include :data:`DEFAULT_PATTERNS`.
        where: Config key path named in errors for a bad pattern.

    >>> Redactor().redact("postgres://app:hunter2@db:5432/app")
    'postgres://app:<redacted>@db:5432/app'
    """

    def __init__(
        self,
        patterns: Iterable[str] = (),
        *,
        use_defaults: bool = True,
        where: str = "redact_patterns",
    ) -> None:
        compiled: list[re.Pattern[str]] = []
        sources = [*(DEFAULT_PATTERNS if use_defaults else ()), *patterns]
        for i, text in enumerate(sources):
            try:
                compiled.append(re.compile(text))
            except re.error as exc:
                index = i - (len(DEFAULT_PATTERNS) if use_defaults else 0)
                raise ConfigError(
                    f"invalid redaction pattern {text!r}: {exc}", where=f"{where}[{index}]"
                ) from exc
        self._patterns = compiled

    @property
    def enabled(self) -> bool:
        """False when there are no patterns at all."""
        return bool(self._patterns)

    def redact(self, value: str) -> str:
        """`value` with every secret-looking part replaced."""
        for pattern in self._patterns:
            if pattern.search(value) is None:
                continue
            value = pattern.sub(_replacer, value)
        return value

    def redact_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """A copy of `labels` with secret-looking values redacted (`__name__` untouched)."""
        out = {}
        for name, value in labels.items():
            out[name] = value if name == "__name__" else self.redact(value)
        return out


def _replacer(m: re.Match[str]) -> str:
    if "secret" in m.re.groupindex and m.group("secret") is not None:
        start, end = m.span("secret")
        base = m.start()
        text = m.group(0)
        return text[: start - base] + REDACTED + text[end - base :]
    return REDACTED
