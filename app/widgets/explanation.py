"""The explanation pane: what just happened, in plain words, with the reply decoded and its RFC section."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.narration import Block, narrate
from smtpstep.app.session.stepper import SessionView

_TITLE_STYLE = {
    "lesson": "bold underline",
    "error": "bold reverse",
    "halt": "bold reverse",
    "warning": "bold underline",
}


def render_blocks(blocks: list[Block]) -> Group:
    parts = []
    for block in blocks:
        marker = {"error": "✗ ", "halt": "■ ", "warning": "⚠ ", "keyword": "• ", "lesson": "✎ "}.get(block.kind, "")
        parts.append(Text(marker + block.title, style=_TITLE_STYLE.get(block.kind, "bold")))
        body = Text(block.text)
        if block.rfc:
            body.append(f" ({block.rfc})", style="italic")
        if body.plain:
            parts.append(body)
    return Group(*parts)


class ExplanationPane(Static):
    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view to render (bound from the screen); redrawn only when the words change."""
    warning: reactive[str | None] = reactive(None, repaint=False)
    """Why the next command will probably be refused, shown first."""
    lesson_note: reactive[str | None] = reactive(None, repaint=False)
    """The lesson's narration for the step just taken (or its introduction before the first step)."""

    blocks: list[Block] = []

    @property
    def plain_text(self) -> str:
        """What the pane says, as plain text (for tests and exports)."""
        return "\n".join(f"{b.title} [{b.rfc}]\n{b.text}" for b in self.blocks)

    def watch_view(self, view: SessionView | None) -> None:
        self._refresh_content()

    def watch_warning(self) -> None:
        self._refresh_content()

    def watch_lesson_note(self) -> None:
        self._refresh_content()

    _shown: object = ()

    def _refresh_content(self) -> None:
        view = self.view
        key = None if view is None else (view.steps_done, id(view.last), view.halt, view.explanation_key,
                                         view.snapshot.client.session, self.warning, self.lesson_note)
        if key == self._shown:
            return  # nothing this pane says has changed: skip the relayout
        self._shown = key
        if self.view is None:
            self.blocks = []
            self.update(Text("Starting the built-in server…", style="italic"))
            return
        blocks = narrate(self.view)
        if self.lesson_note:
            blocks.insert(0, Block("lesson", "Lesson", self.lesson_note))
        if self.warning:
            blocks.insert(0, Block("warning", "The next command is out of order",
                                   f"The server will probably refuse it: {self.warning}."))
        if blocks == self.blocks:
            return  # the same words (a second NOOP...): no redraw
        self.blocks = blocks
        self.update(render_blocks(blocks))
