"""Border titles that read the same in a closed box and in a title rule.

Textual pads a border title with a space only beside a corner. On short
terminals (`.-short` in `app.tcss`) panels and the alert pane lose their side
borders and become title rules, so their titles are padded here instead:
`─ CPU ────` rather than `─CPU────`.
"""

from __future__ import annotations

from textual.widget import Widget

__all__ = ["frame_title"]

_NO_EDGE = ("", "none", "hidden", "blank")


def frame_title(widget: Widget, title: str) -> str:
    """`title` as the widget's border should show it: padded with spaces when the
    border has no left edge (no corner for Textual to pad beside)."""
    if widget.styles.border_left[0] in _NO_EDGE and title:
        return f" {title} "
    return title
