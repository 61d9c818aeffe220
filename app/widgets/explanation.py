"""The explanation pane: what just happened, in plain words, with the reply decoded and its RFC section.

Each new step (or a look back at another one) opens at the top of the words: the scroll position of the
box around the pane is put back, never kept from the step before.
"""

from __future__ import annotations

import re

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from smtpstep.app.session.narration import Block, narrate
from smtpstep.app.session.stepper import HeadWarning, SessionView
from smtpstep.protocol.commands import Verb

_TITLE_STYLE = {
    "lesson": "bold underline",
    "error": "bold reverse",
    "halt": "bold reverse",
    "warning": "bold underline",
    "tls": "bold",
}


_HEADING = re.compile(r"^(Lesson [^:\n]+: |Part \d+ of \d+: |▶ )")
"""A line of a lesson's note that is a heading: the lesson's or a part's title, the pointer to the next part."""


def render_blocks(blocks: list[Block]) -> Group:
    parts = []
    for block in blocks:
        marker = {"error": "✗ ", "halt": "■ ", "warning": "⚠ ", "keyword": "• ", "lesson": "✎ ", "tls": "🔒 "}.get(
            block.kind, "")
        parts.append(Text(marker + block.title, style=_TITLE_STYLE.get(block.kind, "bold")))
        body = Text()
        for number, line in enumerate(block.text.split("\n")):
            if number:
                body.append("\n")
            body.append(line, style="bold" if block.kind == "lesson" and _HEADING.match(line) else "")
        if block.rfc:
            body.append(f" ({block.rfc})", style="italic")
        if body.plain:
            parts.append(body)
    return Group(*parts)


def tls_blocks(view: SessionView) -> list[Block]:
    """After a TLS handshake: what it brought (version, cipher, name, certificate, trust), for when the TLS
    pane is out of sight (a narrow screen, or the server's side in front)."""
    last, tls = view.last, view.snapshot.tls
    if last is None or tls is None or not any(c.verb == Verb.TLS_HANDSHAKE for c in last.commands):
        return []
    leaf = tls.chain[0] if tls.chain else None
    lines = [f"{tls.version} · {tls.cipher}" if view.snapshot.client.session.tls else "the handshake failed",
             f"name checked and sent (SNI): {tls.sni or 'none (an IP address)'}"]
    if leaf is not None:
        lines.append(f"certificate: {leaf.subject}, issued by {leaf.issuer}")
    lines.append(("✓ " if tls.verified else "✗ ") + tls.verification)
    return [Block("tls", "TLS (L shows all of it)", "\n".join(lines), "RFC 3207 §4.1")]


REPLAY_HINT = ("Press space or → to show the first recorded step. Each press shows the next recorded step, and ← "
               "the one before; nothing is sent anywhere, and every byte shown is the one recorded.")
"""What the pane says before the first step of a replay (instead of how to take a step)."""


class ExplanationPane(Static):
    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view to render (bound from the screen); redrawn only when the words change."""
    warning: reactive[HeadWarning | None] = reactive(None, repaint=False)
    """Why the next command does not fit the session now, shown first."""
    lesson_note: reactive[str | None] = reactive(None, repaint=False)
    """The lesson's narration for the step just taken (or its introduction before the first step)."""
    tls_hidden: reactive[bool] = reactive(False, repaint=False)
    """The TLS pane is out of sight: a TLS step's facts are told here too."""
    replaying: reactive[bool] = reactive(False, repaint=False)
    """A recording is shown offline: a key press shows the next recorded step, and sends nothing."""

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

    def watch_tls_hidden(self) -> None:
        self._refresh_content()

    def watch_replaying(self) -> None:
        self._refresh_content()

    _shown: object = ()

    def _refresh_content(self) -> None:
        view = self.view
        key = None if view is None else (view.steps_done, id(view.last), view.halt, view.explanation_key,
                                         view.snapshot.client.session, self.warning, self.lesson_note,
                                         self.tls_hidden, self.replaying)
        if key == self._shown:
            return  # nothing this pane says has changed: skip the relayout
        self._shown = key
        if self.view is None:
            self.blocks = []
            self.update(Text("Starting the built-in server…", style="italic"))
            return
        blocks = narrate(self.view)
        if self.replaying and blocks and blocks[0].kind == "hint":
            blocks[0] = Block("hint", "A recorded session", REPLAY_HINT)
        if self.tls_hidden:
            blocks[1:1] = tls_blocks(self.view)
        if self.lesson_note:
            blocks.insert(0, Block("lesson", "Lesson", self.lesson_note))
        if self.warning:
            warning = self.warning
            blocks.insert(0, Block("warning", f"The next command is {warning.headline}",
                                   f"{warning.consequence[:1].upper()}{warning.consequence[1:]}: {warning.reason}."))
        step = (self.view.steps_done, id(self.view.last))
        if step != self._step:
            self._step = step
            self._to_top()  # a new step (or a look back at another one) is read from its first line
        if blocks == self.blocks:
            return  # the same words (a second NOOP...): no redraw
        self.blocks = blocks
        self.update(render_blocks(blocks))

    _step: object = None

    def _to_top(self) -> None:
        """Scroll the box around the pane back to its top."""
        box = self.parent
        if isinstance(box, Widget):
            box.scroll_home(animate=False, immediate=True)
