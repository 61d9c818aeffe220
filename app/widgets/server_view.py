"""The server's side pane: what the built-in server received and stored, so students see both ends.

Shows, for the latest accepted messages, the envelope the server took (MAIL FROM, RCPT TO, the
listener, TLS, the login) and the message as stored in its Maildir, with the Return-Path and
Received fields it put on top (RFC 5321 §4.4). Bare CR and LF in a stored message are shown as ␍
and ␊, where they are (the smtp-smuggling lesson). Before anything is stored, a line says so.

Data in, nothing out: the app sets ``messages`` from ``LocalServer.received`` (forwarding
``on_received`` from the server's thread with ``call_from_thread``). Styles come from the screen's
.tcss through the component classes below; this widget has no DEFAULT_CSS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.lesson_view import server_lines

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage  # aiosmtpd: only when the server runs

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

    messages: reactive[tuple[ReceivedMessage, ...]] = reactive((), always_update=True)
    """The messages the built-in server accepted, oldest first (``LocalServer.received``)."""

    def watch_messages(self, messages: tuple[ReceivedMessage, ...]) -> None:
        self.update(self._content(messages))

    def _content(self, messages: tuple[ReceivedMessage, ...]) -> Group | Text:
        if not messages:
            return Text("The built-in server has stored no message yet. What it accepts appears here, as it "
                        "stored it: with the Received field it added on top (RFC 5321 §4.4).",
                        style=self.get_component_rich_style("server-view--empty", partial=True))
        parts: list[Text] = []
        shown = messages[-SHOWN_MESSAGES:]
        if len(messages) > len(shown):
            parts.append(Text(f"({len(messages) - len(shown)} earlier message(s) not shown)",
                              style=self.get_component_rich_style("server-view--empty", partial=True)))
        for index, record in enumerate(shown):
            if index or parts:
                parts.append(Text(""))
            for line in server_lines(record):
                style = self.get_component_rich_style(f"server-view--{line.kind}", partial=True)
                parts.append(Text(line.text, style=style, no_wrap=line.kind in ("header", "content")))
        return Group(*parts)
