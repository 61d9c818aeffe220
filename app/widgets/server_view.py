"""The server's side pane: what the built-in server received and stored, so students see both ends.

Shows, for the latest accepted messages, the envelope the server took (MAIL FROM, RCPT TO, the
listener, TLS, the login) and the message as stored in its Maildir, with the Return-Path and
Received fields it put on top (RFC 5321 §4.4). Bare CR and LF in a stored message are shown as ␍
and ␊, where they are (the smtp-smuggling lesson). Before anything is stored, a line says so. Among the
messages, the server's notes: a relay hop's own SMTP session (``C:`` what the server sent as a client,
``S:`` what the MX answered, and its DNS questions) and the receiving MX's DNS questions. When a new note
arrives, the pane scrolls to it, so that the room sees the hop rather than the message that caused it.

Data in, nothing out: the app sets ``messages`` from ``LocalServer.received`` (forwarding
``on_received`` from the server's thread with ``call_from_thread``). Styles come from the screen's
.tcss through the component classes below; this widget has no DEFAULT_CSS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.lesson_view import server_lines

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage, ServerNote

SHOWN_MESSAGES = 3
"""How many of the latest messages are shown, newest last."""


class ServerView(Static):
    """What the built-in server received and stored."""

    COMPONENT_CLASSES = {
        "server-view--heading",
        "server-view--envelope",
        "server-view--header",
        "server-view--content",
        "server-view--empty",
    }
    """heading: who sent what over which listener; envelope: MAIL FROM and RCPT TO; header: the trace
    fields the server added; content: the message as the client sent it; empty: nothing stored yet."""

    messages: reactive[tuple[ReceivedMessage | ServerNote, ...]] = reactive((), always_update=True)
    """The messages the built-in server accepted, oldest first, with its notes among them
    (``LocalServer.received``)."""

    earlier = 0
    """How many of the server's messages and notes belong to earlier sessions (not in ``messages``)."""

    _notes_seen: frozenset[str] = frozenset()
    """Keys of the notes shown so far: a new one is scrolled to."""

    def watch_messages(self, messages: tuple[ReceivedMessage | ServerNote, ...]) -> None:
        parts: list[RenderableType] = []
        content = self._content(messages, parts)
        self.update(content)
        notes = frozenset(record.key for record in messages if not hasattr(record, "mail_from"))
        new = notes - self._notes_seen
        self._notes_seen = notes
        if new and isinstance(content, Group):
            self.call_after_refresh(self._scroll_to, parts)

    def _scroll_to(self, before: list[RenderableType]) -> None:
        """Scroll the pane's container so that what follows ``before`` (the first new note) is at the top."""
        if self.parent is None or not self.size.width:
            return
        console = self.app.console
        height = len(console.render_lines(Group(*before), console.options.update_width(self.size.width), pad=False))
        self.parent.scroll_to(y=height, animate=False)  # type: ignore[attr-defined]

    def _content(self, messages: tuple[ReceivedMessage | ServerNote, ...],
                 before_new: list[RenderableType] | None = None) -> Group | Text:
        """The pane's text; ``before_new`` gets what comes before the first note not shown before."""
        empty = self.get_component_rich_style("server-view--empty", partial=True)
        if not messages:
            if self.earlier:
                return Text(f"The built-in server has stored nothing in this session yet ({self.earlier} "
                            f"{'entry' if self.earlier == 1 else 'entries'} from earlier sessions not shown). "
                            "What it accepts appears here, as it stored it: with the Received field it added "
                            "on top (RFC 5321 §4.4).", style=empty)
            return Text("The built-in server has stored no message yet. What it accepts appears here, as it "
                        "stored it: with the Received field it added on top (RFC 5321 §4.4).", style=empty)
        parts: list[Text] = []
        shown = messages[-SHOWN_MESSAGES:]
        hidden = len(messages) - len(shown)
        if hidden or self.earlier:
            earlier = f"{self.earlier} from earlier sessions" if self.earlier else ""
            this = f"{hidden} earlier in this session" if hidden else ""
            parts.append(Text(f"({' and '.join(p for p in (this, earlier) if p)} not shown)", style=empty))
        marked = before_new is None
        for index, record in enumerate(shown):
            if index or parts:
                parts.append(Text(""))
            if not marked and not hasattr(record, "mail_from") and record.key not in self._notes_seen:
                assert before_new is not None
                before_new.extend(parts)
                marked = True
            for line in server_lines(record):
                style = self.get_component_rich_style(f"server-view--{line.kind}", partial=True)
                parts.append(Text(line.text, style=style, no_wrap=line.kind in ("header", "content")))
        return Group(*parts)
