"""Redaction of secret-looking label values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nightowl.scrapers.redact import REDACTED, Redactor

from nightowl.errors import ConfigError

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://bob:hunter2@db.example:5432/x", "https://bob:<redacted>@db.example:5432/x"),
        ("redis://:pw@cache:6379", "redis://:<redacted>@cache:6379"),
        ("--db-url=x password=hunter2 user=bob", "--db-url=x password=<redacted> user=bob"),
        ("api_key: abcdef123", "api_key: <redacted>"),
        ("/bin/app --token s3cr3t --verbose", "/bin/app --token <redacted> --verbose"),
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer <redacted>"),
        (f"jwt {JWT}", f"jwt {REDACTED}"),
        ("AKIAIOSFODNN7EXAMPLE", REDACTED),
        ("ghp_" + "a" * 36, REDACTED),
        ("glpat-" + "b" * 20, REDACTED),
        ("xoxb-1234567890-abcdef", REDACTED),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", REDACTED),
        # Ordinary values stay as they are.
        ("https://example.com:8443/metrics", "https://example.com:8443/metrics"),
        ("10.0.0.1:9100", "10.0.0.1:9100"),
        ("GET /api/v1/users", "GET /api/v1/users"),
        ("tokenizer", "tokenizer"),
        ("sda1", "sda1"),
    ],
)
def test_default_patterns(value: str, expected: str) -> None:
    """The built-in patterns catch common secrets and leave ordinary values alone."""
    assert Redactor().redact(value) == expected


def test_custom_patterns_and_defaults_off() -> None:
    """User patterns add to (or replace) the defaults; metric names are never touched."""
    r = Redactor([r"sess-(?P<secret>\w+)"], use_defaults=False)
    assert r.redact("id sess-abc123") == "id sess-<redacted>"
    assert r.redact("password=x") == "password=x"
    labels = r.redact_labels({"__name__": "sess-name", "s": "sess-1"})
    assert labels == {"__name__": "sess-name", "s": "sess-<redacted>"}
    assert not Redactor(use_defaults=False).enabled


def test_bad_pattern_is_a_config_error() -> None:
    """An invalid regex names its position."""
    with pytest.raises(ConfigError) as err:
        Redactor(["ok", "("], where="scrape_configs[0].redact_patterns")
    assert "scrape_configs[0].redact_patterns[1]" in str(err.value)


@given(st.text(max_size=200))
def test_redaction_never_crashes_and_is_idempotent(value: str) -> None:
    """Any value redacts without error; redacting twice changes nothing more."""
    r = Redactor()
    once = r.redact(value)
    assert r.redact(once) == once
