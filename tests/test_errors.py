"""Tests for nightowl.errors: exit statuses and messages."""

from __future__ import annotations

from nightowl.errors import ConfigError, NightowlError, ParseError


def test_every_store_error_exits_2() -> None:
    """A database the CLI cannot use is reported with exit status 2, like user errors."""
    from nightowl.errors import (
        CorruptDatabaseError,
        DatabaseLockedError,
        SchemaVersionError,
        StoreError,
    )

    for cls in (StoreError, DatabaseLockedError, CorruptDatabaseError, SchemaVersionError):
        assert cls("x").exit_code == 2


def test_message_names_where_and_hint() -> None:
    """An error prints where it happened and the hint on its own line."""
    err = ConfigError("unknown key 'foo'", where="c.toml:3", hint="did you mean 'for'?")
    assert str(err) == "c.toml:3: unknown key 'foo'\n  hint: did you mean 'for'?"
    assert err.exit_code == 2
    assert NightowlError("boom").exit_code == 1
    assert ParseError("bad", line=2, column=5).column == 5
