"""The modal that asks how long to silence an alert (and why), or for an ack note."""

from __future__ import annotations

from typing import ClassVar

from nightowl.query.source import AlertInfo
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from nightowl.errors import UserError
from nightowl.timeutil import parse_duration

__all__ = ["AlertAction", "AlertActionScreen"]


class AlertAction(tuple[str, int, str]):
    """(kind "silence" | "ack", duration ms (silences), comment or note)."""

    __slots__ = ()


class AlertActionScreen(ModalScreen[AlertAction | None]):
    """Silence: a duration (Prometheus syntax) and a comment. Ack: a note. Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, kind: str, alert: AlertInfo) -> None:
        """Args:
        kind: "silence" or "ack".
        alert: The alert acted on.
        """
        super().__init__()
        self.kind = kind
        self.alert = alert

    def compose(self) -> ComposeResult:
        """A title, the inputs and a line for errors."""
        with Vertical(id="action-box"):
            if self.kind == "silence":
                yield Label(f"Silence {self.alert.name} (exactly these labels)", id="action-title")
                yield Input(
                    value="2h", placeholder="duration, e.g. 30m, 2h, 1d", id="action-duration"
                )
                yield Input(placeholder="comment (why)", id="action-text")
            else:
                yield Label(f"Acknowledge {self.alert.name}: you are on it", id="action-title")
                yield Input(placeholder="note, e.g. looking at the disk", id="action-text")
            yield Label("enter to confirm, escape to cancel", id="action-error")

    def on_mount(self) -> None:
        """Focus the first input."""
        self.query(Input).first().focus()

    @on(Input.Submitted)
    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the duration moves on; enter in the text confirms."""
        if event.input.id == "action-duration":
            self.query_one("#action-text", Input).focus()
            return
        text = self.query_one("#action-text", Input).value.strip()
        duration = 0
        if self.kind == "silence":
            try:
                duration = parse_duration(self.query_one("#action-duration", Input).value)
            except UserError as exc:
                self.query_one("#action-error", Label).update(str(exc))
                self.query_one("#action-duration", Input).focus()
                return
            if duration <= 0:
                self.query_one("#action-error", Label).update("the duration must be positive")
                return
            if not text:
                self.query_one("#action-error", Label).update("say why: a silence needs a comment")
                return
        self.dismiss(AlertAction((self.kind, duration, text)))

    def action_cancel(self) -> None:
        """Close without acting."""
        self.dismiss(None)
