"""Wiring of the DevSecOps sources from a loaded config, for the runtime.

:class:`DevSecSources` builds one source per ``[[log_configs]]``,
``[[command_configs]]``, ``[[json_configs]]`` and ``[[report_configs]]``
entry, starts them as asyncio tasks, rebuilds them on reload, and lists them
as targets for ``/api/v1/targets`` and the targets view. A bad entry never
stops the others: its error is returned and the rest run. The push receiver
is not built here: it answers HTTP requests, so the server mounts it (see
:meth:`PushReceiver.from_config <nightowl.scrapers.push.PushReceiver.from_config>`).
"""

from __future__ import annotations

from typing import Any

from nightowl.scrapers._sources import PeriodicSource
from nightowl.scrapers.command import CommandSource
from nightowl.scrapers.jsonsrc import JsonSource
from nightowl.scrapers.logs import LogSource
from nightowl.scrapers.reports import ReportSource
from nightowl.store.api import Appender

from nightowl.errors import NightowlError
from nightowl.model import TargetStatus
from nightowl.timeutil import Clock

__all__ = ["DevSecSources"]

_SECTIONS: tuple[tuple[str, type[Any]], ...] = (
    ("log_configs", LogSource),
    ("command_configs", CommandSource),
    ("json_configs", JsonSource),
    ("report_configs", ReportSource),
)


class DevSecSources:
    """The log, command, JSON and report sources of one config, as running tasks.

    Args:
        appender: Where every source writes.
        clock: Wall clock for timestamps (tests pass a fake one).
    """

    def __init__(self, appender: Appender, *, clock: Clock | None = None) -> None:
        self.appender = appender
        self.clock = clock
        self.sources: list[PeriodicSource] = []

    async def apply(self, config: Any) -> list[str]:
        """Stop the current sources and start those of `config`; returns build errors.

        Log sources save their offsets when stopped, so a reload resumes where
        it was rather than re-reading or skipping lines.
        """
        await self.stop()
        errors: list[str] = []
        for section, cls in _SECTIONS:
            for i, entry in enumerate(getattr(config, section, ()) or ()):
                try:
                    source = cls.from_config(entry, self.appender, clock=self.clock)
                except NightowlError as exc:
                    name = getattr(entry, "name", "") or str(i)
                    errors.append(f"{section}[{name}]: {exc}")
                    continue
                self.sources.append(source)
        for source in self.sources:
            source.start()
        return errors

    async def stop(self) -> None:
        """Stop every source (commands running right now are killed)."""
        sources, self.sources = self.sources, []
        for source in sources:
            await source.stop()

    def targets(self) -> list[TargetStatus]:
        """One status per source, in config order."""
        return [s.status() for s in self.sources]
