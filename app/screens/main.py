"""The main screen: every pane of one SMTP session on one screen.

It holds the one reactive ``view`` and hands it to the panes by data binding; it lays them out and
switches between the wide layout (all panes) and the narrow one (TLS details on demand).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from smtpstep.app.session.stepper import SessionView
from smtpstep.app.widgets.command_queue import CommandQueue
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.app.widgets.presentation import PresentationStage
from smtpstep.app.widgets.server_view import ServerView
from smtpstep.app.widgets.session_header import SessionHeader
from smtpstep.app.widgets.state_pane import StatePane
from smtpstep.app.widgets.tls_status import TlsStatus
from smtpstep.app.widgets.wire_log import WireLog

NARROW_WIDTH = 110
"""Below this width the TLS pane shares its place with the explanation (toggle with L)."""


class MainScreen(Screen):
    # Styles: main.tcss beside this file, listed in the app's CSS_PATH (read once at start).

    view: reactive[SessionView | None] = reactive(None, always_update=True)
    """The session as of the last step; every pane renders from it."""
    warning: reactive[str | None] = reactive(None)
    """Why the next command will probably be refused, if it will."""
    show_tls: reactive[bool] = reactive(False)
    """In the narrow layout: show the TLS pane instead of the explanation."""
    target_label: reactive[str] = reactive("")
    """Where the session goes, in words (never the password)."""
    playing: reactive[float | None] = reactive(None)
    """The play pace in seconds while playing, else None."""
    secrets_shown: reactive[bool] = reactive(False)
    """True while the wire log shows secrets."""
    waited: reactive[float | None] = reactive(None)
    """Seconds the running step has waited so far."""
    presenting: reactive[bool] = reactive(False)
    """Presentation mode: large caption and last exchange; secondary panes collapsed."""
    viewing: reactive[int | None] = reactive(None)
    """When looking back: the step shown (the live session stays where it is)."""
    replaying: reactive[bool] = reactive(False)
    """True when showing a recording offline."""
    lesson_note: reactive[str | None] = reactive(None)
    """The lesson's narration for the step shown."""
    show_server: reactive[bool] = reactive(False)
    """Show the built-in server's side (what it received and stored) instead of the TLS pane."""

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header").data_bind(
            MainScreen.view, MainScreen.target_label, MainScreen.playing, MainScreen.secrets_shown, MainScreen.waited,
            MainScreen.viewing, MainScreen.replaying,
        )
        yield PresentationStage(id="stage").data_bind(MainScreen.view)
        with Horizontal(id="top"):
            queue = CommandQueue(id="queue").data_bind(MainScreen.view, MainScreen.warning)
            queue.border_title = "Command queue"
            yield queue
            wire = WireLog(id="wire")
            wire.border_title = "Wire log"
            yield wire
        with Horizontal(id="bottom"):
            with VerticalScroll(id="state-box") as box:
                box.border_title = "State"
                yield StatePane(id="state").data_bind(MainScreen.view)
            with VerticalScroll(id="explain-box") as box:
                box.border_title = "Explanation"
                yield ExplanationPane(id="explain").data_bind(MainScreen.view, MainScreen.warning,
                                                              MainScreen.lesson_note)
            with VerticalScroll(id="tls-box") as box:
                box.border_title = "TLS"
                yield TlsStatus(id="tls").data_bind(MainScreen.view)
            with VerticalScroll(id="server-box") as box:
                box.border_title = "Server side"
                yield ServerView(id="server-view")
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW_WIDTH, "-narrow")

    def watch_presenting(self, presenting: bool) -> None:
        self.set_class(presenting, "-present")

    def watch_show_server(self, show: bool) -> None:
        self.set_class(show, "-show-server")

    def watch_show_tls(self, show: bool) -> None:
        self.set_class(show, "-show-tls")

    def watch_view(self, view: SessionView | None) -> None:
        wire = self.query_one(WireLog)
        secrets = " ⚠ secrets shown" if wire.show_secrets else ""
        subtitle = f"{wire.style_name}{' · CRLF marks' if wire.crlf_marks else ''}{secrets}"
        if subtitle != self._wire_subtitle:  # setting it, even to the same words, repaints the whole log
            self._wire_subtitle = subtitle
            wire.border_subtitle = subtitle

    _wire_subtitle: str | None = None
