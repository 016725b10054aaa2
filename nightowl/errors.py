"""The root of nightowl's error family.

Every package raises a subclass of :class:`NightowlError`, so the CLI can catch
one family and print a clean message (exit 2 for user errors) instead of a
traceback::

    NightowlError                      message + optional hint, where (file:line, key path)
    ├── UserError                      bad input from the user: exit status 2
    │   ├── ConfigError                nightowl.config: TOML syntax, unknown keys, bad values
    │   ├── ParseError                 exposition text, PromQL, rule files: carries a position
    │   └── UsageError                 bad command-line arguments or combinations
    ├── StoreError                     nightowl.store: the database file (exit status 2)
    │   ├── DatabaseLockedError        another process holds the writer lock (names its PID)
    │   ├── CorruptDatabaseError       not SQLite, damaged, or a schema we cannot read
    │   └── SchemaVersionError         written by a newer nightowl; never touched
    └── QueryError                     nightowl.query: evaluation failed (timeout, limits, types)

Packages may add subclasses of their own; each names *what* went wrong and
*where* in :attr:`NightowlError.where`.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorruptDatabaseError",
    "DatabaseLockedError",
    "NightowlError",
    "ParseError",
    "QueryError",
    "SchemaVersionError",
    "StoreError",
    "UsageError",
    "UserError",
]


class NightowlError(Exception):
    """Base of every error nightowl raises on purpose.

    Args:
        message: What went wrong, in one sentence a user can act on.
        hint: Optional next step ("run `nightowl db stats` to see ...").
        where: Optional location: a file path, `file:line:col`, or a config key path.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UserError(NightowlError):
    """The user gave us something we cannot use. The CLI exits with status 2."""

    exit_code = 2


class ConfigError(UserError):
    """A config file is unreadable, not TOML, or holds an unknown key or bad value."""


class ParseError(UserError):
    """Text in some language (exposition format, PromQL, YAML) failed to parse.

    Args:
        line: 1-based line number, when known.
        column: 1-based column, when known.
        position: 0-based character offset into the input, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        where: str | None = None,
        line: int | None = None,
        column: int | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint, where=where)
        self.line = line
        self.column = column
        self.position = position


class UsageError(UserError):
    """Command-line arguments that make no sense together."""


class StoreError(NightowlError):
    """The database file could not be used.

    The CLI exits with status 2 for these, as for user errors: a database that is
    missing, unreadable, locked or damaged is the user's to fix (its path, its
    permissions, another process), never a reason for a traceback.
    """

    exit_code = 2


class DatabaseLockedError(StoreError, UserError):
    """Another process is the writer of this database file."""

    exit_code = 2


class CorruptDatabaseError(StoreError, UserError):
    """The file is not a nightowl SQLite database, or it is damaged."""

    exit_code = 2


class SchemaVersionError(StoreError, UserError):
    """The database was written by a newer nightowl; we refuse to touch it."""

    exit_code = 2


class QueryError(NightowlError):
    """A query could not be evaluated (limits, timeout, type errors at run time).

    Args:
        kind: Prometheus's `errorType` for the HTTP API: "bad_data", "execution",
            "timeout", "canceled", "internal", "not_found", "unavailable".
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "execution",
        hint: str | None = None,
        where: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, where=where)
        self.kind = kind
