"""File-based service discovery (`file_sd_configs`), as Prometheus reads it.

A file_sd config names file globs (`targets/*.json`, `/etc/nightowl/sd/*.yml`).
Each matching file holds a list of target groups, in JSON or YAML::

    [{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"env": "prod"}}]

:class:`FileDiscovery` re-expands the globs and checks file modification times
on every :meth:`~FileDiscovery.refresh` (the manager calls it every
`refresh_interval`), re-reading only files that changed. A file that cannot be
read or parsed keeps its last good groups and reports an error naming the file
(and the entry), so a half-written file never empties a job. A deleted file's
groups go away. Every group carries `__meta_filepath`, as in Prometheus.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from nightowl.scrapers.target import TargetGroup

__all__ = ["FileDiscovery", "FileSDError", "parse_target_file"]

log = logging.getLogger("nightowl.scrapers.file_sd")

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EXTENSIONS = (".json", ".yml", ".yaml")


class FileSDError(ValueError):
    """A target file is malformed; the message names the file and the entry."""


def parse_target_file(path: str, text: str) -> list[TargetGroup]:
    """Parse the text of one target file (JSON or YAML by extension) into groups."""
    try:
        if path.endswith(".json"):
            data: Any = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise FileSDError(
            f"{path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}"
        ) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise FileSDError(f"{path}: expected a list of target groups, got {type(data).__name__}")
    groups = []
    for i, entry in enumerate(data):
        where = f"{path}: [{i}]"
        if not isinstance(entry, dict):
            raise FileSDError(f"{where}: a target group must be a mapping")
        unknown = set(entry) - {"targets", "labels"}
        if unknown:
            raise FileSDError(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
        targets = entry.get("targets") or []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise FileSDError(f"{where}.targets: expected a list of 'host:port' strings")
        for t in targets:
            if not t or "/" in t or any(c.isspace() for c in t):
                raise FileSDError(f"{where}.targets: invalid target address {t!r}")
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict):
            raise FileSDError(f"{where}.labels: expected a mapping of label names to values")
        clean: dict[str, str] = {}
        for name, value in labels.items():
            if not isinstance(name, str) or not _LABEL_NAME_RE.match(name):
                raise FileSDError(f"{where}.labels: invalid label name {name!r}")
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise FileSDError(f"{where}.labels.{name}: value must be a string")
            clean[name] = str(value)
        clean["__meta_filepath"] = path
        groups.append(TargetGroup(tuple(targets), clean, source=f"{path}[{i}]"))
    return groups


@dataclass(slots=True)
class _FileState:
    mtime_ns: int
    size: int
    groups: list[TargetGroup] = field(default_factory=list)
    error: str = ""


class FileDiscovery:
    """Target groups from files matching globs, re-read when they change.

    Args:
        patterns: File globs; relative ones are taken from `base_dir`.
        refresh_interval_ms: How often the manager should call :meth:`refresh`.
        base_dir: Directory relative globs are resolved in (the config file's).
    """

    def __init__(
        self,
        patterns: Sequence[str],
        refresh_interval_ms: int = 300_000,
        base_dir: Path | None = None,
    ) -> None:
        self.patterns = tuple(patterns)
        self.refresh_interval_ms = refresh_interval_ms
        self.base_dir = base_dir
        self._files: dict[str, _FileState] = {}
        self.errors: list[str] = []

    def _paths(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.patterns:
            p = os.path.expanduser(pattern)
            if self.base_dir is not None and not os.path.isabs(p):
                p = str(self.base_dir / p)
            for match in glob.glob(p):
                if match.endswith(_EXTENSIONS) and os.path.isfile(match):
                    found.add(match)
        return sorted(found)

    def refresh(self) -> bool:
        """Re-scan the globs; True when the groups changed. Errors land in :attr:`errors`."""
        changed = False
        errors: list[str] = []
        paths = self._paths()
        for gone in set(self._files) - set(paths):
            del self._files[gone]
            changed = True
        for path in paths:
            try:
                st = os.stat(path)
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
                continue
            state = self._files.get(path)
            if state is not None and (state.mtime_ns, state.size) == (st.st_mtime_ns, st.st_size):
                if state.error:
                    errors.append(state.error)
                continue
            try:
                text = Path(path).read_text(encoding="utf-8")
                groups = parse_target_file(path, text)
                error = ""
            except (OSError, UnicodeDecodeError, FileSDError) as exc:
                error = str(exc) if isinstance(exc, FileSDError) else f"{path}: {exc}"
                groups = state.groups if state is not None else []
                log.error("file_sd: %s (keeping the last good targets)", error)
                errors.append(error)
            if state is None or groups != state.groups:
                changed = True
            self._files[path] = _FileState(st.st_mtime_ns, st.st_size, groups, error)
        self.errors = errors
        return changed

    def groups(self) -> list[TargetGroup]:
        """The current groups of every file, in file name order."""
        out: list[TargetGroup] = []
        for path in sorted(self._files):
            out.extend(self._files[path].groups)
        return out
