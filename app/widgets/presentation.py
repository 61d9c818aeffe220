"""Presentation mode's stage: the current step as a large caption and the last exchange in large print.

Made for a projector at a big font size (100x30) and still correct at 80x24. It shows the lines of
the last step (from the wire log's transcript lines) and the step's title from the explanation catalog.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.narration import step_key
from smtpstep.app.session.stepper import SessionView
from smtpstep.app.session.transcript import TranscriptLine
from smtpstep.protocol.explanations import explain_step


def caption(view: SessionView | None) -> str:
    """"Step 5 of 11 — MAIL FROM:<a@b.test>: the envelope sender"-style caption."""
    if view is None:
        return "smtpstep"
    if view.last is None:
        first = view.queue[0].command if view.queue else None
        nxt = explain_step(step_key(first, view)).title if first is not None else ""
        return f"Ready: {view.total} steps planned. First: {nxt}"
    command = view.last.commands[-1]
    title = explain_step(step_key(command, view)).title
    outcome = ""
    if view.last.failure is not None:
        outcome = " — failed"
    elif view.last.answers:
        outcome = f" — {view.last.answers[-1].reply.code}"
    return f"Step {view.steps_done} of {max(view.total, view.steps_done)} · {title}{outcome}"


class PresentationStage(Vertical):
    """A caption line and the last exchange, each in its own bordered box (styled in main.tcss)."""

    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view (bound from the screen); _draw updates the boxes that changed."""
    lines: reactive[tuple[TranscriptLine, ...]] = reactive((), repaint=False)
    """The transcript lines of the step shown."""

    def compose(self) -> ComposeResult:
        yield Static(id="caption")
        exchange = Static(id="exchange")
        exchange.border_title = "On the wire"
        yield exchange

    def watch_view(self) -> None:
        self._draw()

    def watch_lines(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        view = self.view
        # Both boxes have fixed heights (main.tcss), so new content needs no relayout; unchanged content
        # is not redrawn at all.
        title = caption(view)
        if title != self._caption:
            self._caption = title
            self.query_one("#caption", Static).update(Text(title, style="bold", justify="center"), layout=False)
        body = Text()
        for line in self.lines[-14:]:
            if line.kind == "timing":
                continue
            style = {"client": "bold", "server": "bold italic", "error": "bold reverse"}.get(line.kind, "")
            body.append(f"{line.prefix} {line.text}\n", style=style)
        if view is not None and view.last is None:
            body.append("Press space for the first step.", style="italic")
        if body != self._body:
            self._body = body
            self.query_one("#exchange", Static).update(body, layout=False)

    _caption: str | None = None
    _body: Text | None = None

    def on_mount(self) -> None:
        self._draw()
