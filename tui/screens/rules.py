"""The rules view: every recording and alerting rule with its state, last evaluation and error."""

from __future__ import annotations

from nightowl.query.source import RuleInfo
from nightowl.tui.format import format_age, format_value
from nightowl.tui.messages import RulesChanged
from nightowl.tui.screens._table import RefreshedTableScreen
from nightowl.tui.widgets.status import StatusBar
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from nightowl.errors import NightowlError

__all__ = ["RulesScreen"]

_COLUMNS = ("group", "rule", "type", "state", "health", "last eval", "took", "error")


class RulesScreen(RefreshedTableScreen):
    """A table of rules, refreshed every interval; cells update in place."""

    VIEW = "rules"
    TABLE_ID = "rules-table"
    COLUMNS = _COLUMNS

    def compose(self) -> ComposeResult:
        """Status bar, summary line, table, footer."""
        yield StatusBar(id="status")
        yield Static("loading rules…", id="rules-summary")
        yield DataTable(id="rules-table", cursor_type="row")
        yield Footer()

    @work(exclusive=True, group="rules", exit_on_error=False, description="rules")
    async def _fetch(self) -> None:
        try:
            rules = await self.app.source.rules()  # type: ignore[attr-defined]
        except NightowlError as exc:
            self.post_message(RulesChanged(None, error=exc.message))
            return
        self.post_message(RulesChanged(rules))

    def _row(self, r: RuleInfo) -> tuple[str, ...]:
        now = self.app.clock.now_ms()  # type: ignore[attr-defined]
        age = None if r.last_eval_ms is None else max(now - r.last_eval_ms, 0)
        state = r.state
        if r.kind == "alerting" and r.active:
            state = f"{r.state} ({r.active})"
        return (
            r.group,
            r.name,
            r.kind,
            state,
            r.health,
            "never" if age is None else format_age(age - age % 1000) + " ago",
            format_value(r.last_duration_s, "seconds"),
            r.last_error,
        )

    @on(RulesChanged)
    def on_rules_changed(self, message: RulesChanged) -> None:
        """Update rows in place; add and remove rows for rules that came and went."""
        summary = self.query_one("#rules-summary", Static)
        table = self.query_one("#rules-table", DataTable)
        if message.error:
            summary.update(f"rules unavailable: {message.error}")
            return
        if message.rules is None:
            table.clear()
            summary.update(
                "no rule evaluator here: no rule_files or [[rule_groups]] in the config, "
                "or another process (the database's owner) evaluates them"
            )
            return
        rules = message.rules
        firing = sum(1 for r in rules if r.state == "firing")
        failing = sum(1 for r in rules if r.health == "err")
        summary.update(f"{len(rules)} rules, {firing} firing, {failing} failing")
        wanted = {f"{r.file};{r.group};{r.name};{i}": r for i, r in enumerate(rules)}
        for key in [k.value for k in list(table.rows)]:
            if key not in wanted:
                table.remove_row(key)
        for key, r in wanted.items():
            row = self._row(r)
            if key in table.rows:
                for col, value in zip(_COLUMNS, row, strict=True):
                    if table.get_cell(key, col) != value:
                        table.update_cell(key, col, value)
            else:
                table.add_row(*row, key=key)
