"""The query bar: PromQL input with validation as you type, completion and history."""

from __future__ import annotations

from typing import ClassVar

from nightowl.query.source import PROMQL_FUNCTIONS
from nightowl.tui.complete import Context, candidates, completion_context
from textual.binding import Binding, BindingType
from textual.suggester import Suggester
from textual.widgets import Input

__all__ = ["CompletionIndex", "QueryBar"]


class CompletionIndex:
    """The names the bar completes from; filled by the query screen's workers."""

    def __init__(self) -> None:
        self.metrics: list[str] = []
        self.labels: dict[str, list[str]] = {}
        """Metric ("" for all) -> label names."""
        self.values: dict[tuple[str, str], list[str]] = {}
        """(label, metric) -> values."""

    def words(self, ctx: Context) -> list[str]:
        """Candidates for `ctx` from what is known so far."""
        return candidates(
            ctx,
            metrics=self.metrics,
            functions=PROMQL_FUNCTIONS,
            labels=self.labels.get(ctx.metric, self.labels.get("", [])),
            values=self.values.get((ctx.label, ctx.metric), []),
        )


class _Suggest(Suggester):
    def __init__(self, index: CompletionIndex) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.index = index

    async def get_suggestion(self, value: str) -> str | None:
        ctx = completion_context(value)
        words = self.index.words(ctx)
        if not words:
            return None
        return value[: len(value) - len(ctx.prefix)] + words[0]


class QueryBar(Input):
    """PromQL input. Right arrow or tab accepts the grey suggestion; the screen
    handles enter (run), up/down (history) and ctrl+r (search)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "accept_suggestion", "Complete", show=False),
    ]

    def __init__(self, index: CompletionIndex, *, id: str | None = None) -> None:
        """Args:
        index: Names to complete from.
        id: The widget id.
        """
        super().__init__(
            placeholder="PromQL, e.g. rate(node_cpu_seconds_total[1m])  (enter runs, esc leaves)",
            suggester=_Suggest(index),
            id=id,
        )
        self.index = index

    def action_accept_suggestion(self) -> None:
        """Take the suggested completion (like right arrow at the end)."""
        if self._suggestion:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
