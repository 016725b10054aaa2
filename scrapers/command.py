"""Commands run on an interval whose output becomes metrics (Nagios-sampler style).

A :class:`CommandSource` runs an argv (never through a shell: no quoting
pitfalls, no injection) with ``asyncio.create_subprocess_exec`` in its own
process group and session, reads stdout (bounded) and stderr (its tail is
kept for the error message), and on timeout kills the whole process group, so
a script's children cannot outlive it or hold its pipes open.

Output formats:

- ``number``: stdout, stripped, is one number; it becomes metric `metric`;
- ``prometheus``: stdout is the Prometheus text format (or OpenMetrics, when
  it ends with ``# EOF``), parsed by :mod:`nightowl.scrapers.exposition`;
  samples keep their own timestamps when they have them;
- ``json``: stdout is a JSON document mapped by field paths exactly as
  :mod:`nightowl.scrapers.jsonsrc` does.

Output is parsed only when the command exits with status 0. Every series
carries ``command="<name>"``; besides the parsed metrics each run writes
``nightowl_command_success``, ``nightowl_command_exit_code`` and
``nightowl_command_duration_seconds`` (see docs/metrics.md). A failed run
ends the previously parsed series with staleness markers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from nightowl.scrapers import exposition
from nightowl.scrapers._jsonpath import JsonMapping
from nightowl.scrapers._sources import (
    BatchBuilder,
    PeriodicSource,
    StaleTracker,
    check_label_name,
    check_metric_name,
)
from nightowl.store.api import Appender

from nightowl.errors import ConfigError, ParseError
from nightowl.model import METRIC_NAME, MetricType, SampleBatch
from nightowl.timeutil import Clock

__all__ = ["CommandResult", "CommandSource", "run_command"]

#: Largest stdout read (a bigger output fails the run and kills the command).
DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024
#: How much of stderr's end is kept for the error message.
STDERR_TAIL = 2048


class CommandResult:
    """What one run of a command produced."""

    __slots__ = ("duration_s", "error", "exit_code", "stderr", "stdout", "timed_out")

    def __init__(self) -> None:
        self.exit_code: int | None = None
        """Exit status; negative: killed by that signal; None: it could not be started."""
        self.stdout = b""
        self.stderr = b""
        self.duration_s = 0.0
        self.timed_out = False
        self.error = ""


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The leader may have exited already while a background child of it still
    # holds our pipes: the group outlives its leader, so kill the group anyway.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _read_bounded(stream: asyncio.StreamReader | None, limit: int) -> tuple[bytes, bool]:
    """Read to EOF keeping at most `limit` bytes; True when more than that came."""
    if stream is None:
        return b"", False
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return b"".join(parts), False
        size += len(chunk)
        if size > limit:
            return b"".join(parts), True
        parts.append(chunk)


async def _read_tail(stream: asyncio.StreamReader | None, keep: int) -> bytes:
    if stream is None:
        return b""
    tail = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return tail
        tail = (tail + chunk)[-keep:]


async def run_command(
    argv: Sequence[str],
    *,
    timeout_s: float,
    max_output: int = DEFAULT_MAX_OUTPUT,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> CommandResult:
    """Run `argv` without a shell; kill its process group on timeout or oversize output."""
    res = CommandResult()
    started = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # own process group: killpg reaches its children
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    except OSError as exc:
        res.error = f"cannot run {argv[0]!r}: {exc.strerror or exc}"
        res.duration_s = time.perf_counter() - started
        return res
    out_task = asyncio.ensure_future(_read_bounded(proc.stdout, max_output))
    err_task = asyncio.ensure_future(_read_tail(proc.stderr, STDERR_TAIL))
    try:
        try:
            async with asyncio.timeout(timeout_s):
                res.stdout, too_big = await out_task
                if too_big:
                    res.error = f"output larger than {max_output} bytes"
                    _kill_group(proc)
                await proc.wait()
                res.stderr = await err_task
        except TimeoutError:
            res.timed_out = True
            res.error = f"timed out after {timeout_s:g} s; killed"
            _kill_group(proc)
            await proc.wait()
    finally:
        if proc.returncode is None or not out_task.done():
            # Cancelled (source stopped) mid-run: leave nothing behind.
            _kill_group(proc)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(proc.wait())
        for t in (out_task, err_task):
            t.cancel()
        await asyncio.gather(out_task, err_task, return_exceptions=True)
    res.exit_code = proc.returncode
    res.duration_s = time.perf_counter() - started
    if not res.error and res.exit_code != 0:
        res.error = f"exit status {res.exit_code}"
        tail = res.stderr.decode("utf-8", "replace").strip().splitlines()
        if tail:
            res.error += f": {tail[-1][:300]}"
    return res


class CommandSource(PeriodicSource):
    """Runs one command on an interval and writes what its output says.

    Args:
        name: The config's name (the `command` label).
        argv: Program and arguments (never a shell string).
        appender: Where samples go.
        format: number | prometheus | json.
        metric: format = number: the metric name for the value.
        metrics: format = json: field-to-metric mappings.
        labels: Static labels added to every parsed series.
        interval_ms: Time between runs.
        timeout_ms: How long a run may take before its process group is killed.
        max_output: Largest stdout accepted, in bytes.
        env: Environment for the command (None: nightowl's own).
        cwd: Working directory (None: nightowl's).
        clock: Wall clock for timestamps.
    """

    kind = "command"

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        appender: Appender,
        *,
        format: Literal["number", "prometheus", "json"] = "number",
        metric: str = "",
        metrics: Sequence[Any] = (),
        labels: Mapping[str, str] | None = None,
        interval_ms: int = 15_000,
        timeout_ms: int = 10_000,
        max_output: int = DEFAULT_MAX_OUTPUT,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            name, appender, interval_ms=interval_ms, timeout_ms=timeout_ms, clock=clock
        )
        where = f"command_configs.{name}"
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
            raise ConfigError(
                "command must be a non-empty list of strings (the argv; no shell is used)",
                where=f"{where}.command",
            )
        if format not in ("number", "prometheus", "json"):
            raise ConfigError(
                f"format must be number, prometheus or json, not {format!r}",
                where=f"{where}.format",
            )
        if timeout_ms <= 0:
            raise ConfigError("timeout must be positive", where=f"{where}.timeout")
        self.argv = tuple(argv)
        self.format = format
        self.metric = metric
        if format == "number":
            if not metric:
                raise ConfigError(
                    "format = number needs `metric`: the name of the metric",
                    where=f"{where}.metric",
                )
            check_metric_name(metric, f"{where}.metric")
        self.mapping: JsonMapping | None = None
        if format == "json":
            self.mapping = JsonMapping(metrics, f"{where}.metrics")
            if not len(self.mapping):
                raise ConfigError("format = json needs `metrics`", where=f"{where}.metrics")
        self.labels = dict(labels or {})
        for k in self.labels:
            check_label_name(k, f"{where}.labels")
        self.max_output = max_output
        self.env = env
        self.cwd = cwd
        self.timeouts = 0
        self.last_result: CommandResult | None = None
        self._stale = StaleTracker()

    @classmethod
    def from_config(
        cls, cfg: Any, appender: Appender, *, clock: Clock | None = None, **overrides: Any
    ) -> CommandSource:
        """Build from a `[[command_configs]]` entry (nightowl.config.CommandConfig or alike)."""
        kwargs: dict[str, Any] = {
            "format": cfg.format,
            "metric": getattr(cfg, "metric", "") or "",
            "metrics": tuple(getattr(cfg, "metrics", ()) or ()),
            "labels": dict(getattr(cfg, "labels", {}) or {}),
            "interval_ms": cfg.interval,
            "timeout_ms": cfg.timeout,
        }
        kwargs.update(overrides)
        return cls(cfg.name, tuple(cfg.command), appender, clock=clock, **kwargs)

    def describe(self) -> str:
        """The argv, space-joined (for display only; it is never given to a shell)."""
        return " ".join(self.argv)

    def _parse(self, stdout: bytes, b: BatchBuilder, extra: dict[str, str]) -> int:
        """Add the output's samples to `b`; returns how many. Raises ParseError."""
        if self.format == "number":
            text = stdout.decode("utf-8", "replace").strip()
            try:
                value = float(text)
            except ValueError:
                shown = text if len(text) <= 60 else text[:57] + "..."
                raise ParseError(f"expected one number on stdout, got {shown!r}") from None
            b.add(self.metric, extra, value)
            return 1
        if self.format == "json":
            try:
                doc = json.loads(stdout)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ParseError(f"malformed JSON on stdout: {exc}") from None
            except RecursionError:
                raise ParseError("JSON on stdout nested too deeply") from None
            assert self.mapping is not None
            added, _ = self.mapping.apply(doc, b, extra)
            return added
        parsed = exposition.parse(stdout)
        for fam, meta in parsed.metadata.items():
            b.meta(fam, meta.type, meta.help, meta.unit)
        n = 0
        for labels, t, v in parsed.samples():
            pairs = dict(labels)
            name = pairs.pop(METRIC_NAME, "")
            b.add(name, {**pairs, **extra}, v, t_ms=t)
            n += 1
        return n

    async def collect(self, now_ms: int) -> SampleBatch:
        """Run the command once and build its batch."""
        res = await run_command(
            self.argv,
            timeout_s=self.timeout_ms / 1000,
            max_output=self.max_output,
            env=self.env,
            cwd=self.cwd,
        )
        self.last_result = res
        if res.timed_out:
            self.timeouts += 1
        b = BatchBuilder(now_ms)
        error = res.error
        samples = 0
        if not error:
            try:
                samples = self._parse(res.stdout, b, self.labels | {"command": self.name})
            except ParseError as exc:
                where = f"stdout line {exc.line}" if exc.line else "stdout"
                if exc.line and exc.column:
                    where += f" column {exc.column}"
                error = f"{where}: {exc.message}"
                b = BatchBuilder(now_ms)  # nothing half-parsed goes out
        self._stale.mark(b)
        src = {"command": self.name}
        b.meta(
            "nightowl_command_success",
            MetricType.GAUGE,
            "1 if the last run exited 0 and its output parsed.",
        )
        b.add("nightowl_command_success", src, 0.0 if error else 1.0)
        b.meta(
            "nightowl_command_exit_code",
            MetricType.GAUGE,
            "Exit status of the last run (negative: killed by that signal; NaN: not started).",
        )
        b.add(
            "nightowl_command_exit_code",
            src,
            math.nan if res.exit_code is None else float(res.exit_code),
        )
        b.meta(
            "nightowl_command_duration_seconds",
            MetricType.GAUGE,
            "How long the last run took.",
            "seconds",
        )
        b.add("nightowl_command_duration_seconds", src, res.duration_s)
        b.meta("nightowl_command_timeouts_total", MetricType.COUNTER, "Runs killed on timeout.")
        b.add("nightowl_command_timeouts_total", src, self.timeouts)
        b.meta("nightowl_command_samples", MetricType.GAUGE, "Samples parsed from the last run.")
        b.add("nightowl_command_samples", src, samples)
        self.healthy = not error
        self.last_error = f"{self.argv[0]}: {error}" if error else ""
        return b.build()
