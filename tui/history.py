"""Query history: persisted, newest last, searchable.

Stored as JSON lines (a PromQL query may span lines) in the XDG data dir
(`query_history.jsonl`). Each new query is appended (the last copy of a query
wins when the file is read); the file is rewritten without duplicates once it
holds twice the maximum. Bad lines in the file are skipped, never fatal; a file
that cannot be written only loses persistence, never the UI.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["QueryHistory"]

MAX_ENTRIES = 1000


class QueryHistory:
    """A list of past queries with shell-like navigation.

    Args:
        path: The history file, or None to keep history in memory only.
        max_entries: How many queries are kept (`[tui] history_size`).
    """

    def __init__(self, path: Path | None, max_entries: int = MAX_ENTRIES) -> None:
        self.path = path
        self.max_entries = max(max_entries, 1)
        self.entries: list[str] = []
        self.error: str | None = None
        self._file_lines = 0
        if path is not None and path.exists():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                self.error = f"query history not read: {exc}"
                lines = []
            self._file_lines = len(lines)
            for line in lines:
                try:
                    q = json.loads(line)
                except ValueError:
                    continue
                if isinstance(q, str) and q.strip():
                    self._push(q)

    def _push(self, query: str) -> None:
        if query in self.entries:
            self.entries.remove(query)
        self.entries.append(query)
        del self.entries[: -self.max_entries]

    def add(self, query: str) -> None:
        """Remember `query` as the newest entry (moving an older duplicate) and persist."""
        query = query.strip()
        if not query:
            return
        self._push(query)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._file_lines + 1 > 2 * self.max_entries:
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(
                    "".join(json.dumps(q) + "\n" for q in self.entries), encoding="utf-8"
                )
                tmp.replace(self.path)
                self._file_lines = len(self.entries)
            else:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(query) + "\n")
                self._file_lines += 1
        except OSError as exc:
            self.error = f"query history not saved: {exc}"

    def older(self, index: int | None) -> int | None:
        """The index before `index` (None: start from the newest); None when at the oldest."""
        if not self.entries:
            return None
        if index is None:
            return len(self.entries) - 1
        return index - 1 if index > 0 else index

    def newer(self, index: int | None) -> int | None:
        """The index after `index`; None past the newest (back to the edited text)."""
        if index is None or index >= len(self.entries) - 1:
            return None
        return index + 1

    def search(self, needle: str, before: int | None = None) -> int | None:
        """The newest entry containing `needle` (case-insensitive) older than `before`."""
        end = len(self.entries) if before is None else before
        low = needle.lower()
        for i in range(end - 1, -1, -1):
            if low in self.entries[i].lower():
                return i
        return None
