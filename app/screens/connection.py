"""The connection screen: server, port, security, login, CA file, envelope and message, then reconnect.

The password field is masked and its value lives only in the session settings in memory: it is never
written anywhere. Validation is the same as on the command line (``smtpstep.app.session.settings``).

In a tab of a listening ``smtpstep web`` (``smtpstep.app.session.confinement``) the session stays on the
built-in server unless the teacher allowed others (``--allow-servers``): the server and CA file fields are
disabled, and a server typed anyway is refused. Error messages quote what was typed; they are shown as
text, never as markup.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, TextArea

from smtpstep.app.session.confinement import servers_allowed
from smtpstep.app.session.settings import SessionSettings, UsageError, parse_server
from smtpstep.protocol.commands import InvalidCommand, check_address, check_field


class Tick(Checkbox):
    """A checkbox marked ✓ when on and left empty when off (Textual's marks "off" with a faint X, which reads
    as neither state at a distance)."""

    BUTTON_INNER = " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = "✓" if self.value else " "
        super().watch_value()


class ConnectionScreen(ModalScreen[SessionSettings | None]):
    # Styles: dialogs.tcss and connection.tcss, in the app's CSS_PATH (a screen's own would restyle the whole app when it opens).
    AUTO_FOCUS = "Input"
    """Typing goes to the first field that can be changed (the server's, or the user name's in a confined tab)."""
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="connection.cancel"),
                Binding("ctrl+s", "connect", "Connect", id="connection.connect")]

    def __init__(self, settings: SessionSettings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Connection (Ctrl+S connects, Esc cancels)"
            yield from self._fields(s)
            # Below the fields, outside their scrolling: the error and the buttons stay in sight at 80x24.
            yield Label("", id="error")
            with Horizontal(classes="row buttons"):
                yield Button("Connect", variant="primary", id="connect")
                yield Button("Cancel", id="cancel")

    def _fields(self, s: SessionSettings) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Label("Server (host or host:port; empty = the built-in server)" if servers_allowed() else
                        "Server: the built-in server (this page may reach no other; smtpstep web --allow-servers)")
            yield Input(value=s.server or "", placeholder="built-in server", id="server",
                        disabled=not servers_allowed())
            yield Label("Security")
            yield Select([("STARTTLS (port 587)", "starttls"), ("Implicit TLS (port 465)", "tls"),
                          ("None: plain text (port 25)", "none")], value=s.security, allow_blank=False,
                         id="security")
            with Horizontal(classes="row"):
                yield Input(value=s.user or "", placeholder="user name (empty: no AUTH)", id="user")
                yield Input(value="", placeholder="password (masked, never stored)", password=True, id="password")
            yield Input(value=str(s.ca_file or ""), placeholder="CA file (PEM) to trust, optional", id="ca",
                        disabled=not servers_allowed())
            yield Tick("Skip certificate checks (insecure)", value=s.insecure, id="insecure")
            yield Tick("Allow AUTH without TLS", value=s.allow_cleartext_auth, id="cleartext")
            yield Label("EHLO name, sender, recipients (comma separated), subject")
            yield Input(value=s.helo, id="helo")
            yield Input(value=s.mail_from, id="from")
            yield Input(value=", ".join(s.rcpt_tos), id="to")
            yield Input(value=s.subject, id="subject")
            yield Label("Message body")
            yield TextArea(s.body, id="body")

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _build(self) -> SessionSettings:
        server = self._value("server") or None
        if server is not None and not servers_allowed() and server != self.settings.server:  # the teacher's stays
            raise UsageError("this page connects only to its built-in server (smtpstep web --allow-servers lets it "
                             "reach others)")
        security = str(self.query_one("#security", Select).value)
        if server is not None:
            parse_server(server, security)
        user = self._value("user") or None
        password = self.query_one("#password", Input).value
        if server is None:
            user, password = self.settings.user, self.settings.password
        elif user and not password:
            if self.settings.server == server and self.settings.user == user and self.settings.password:
                password = self.settings.password
            else:
                raise UsageError("enter the password for AUTH (or leave the user name empty for no AUTH)")
        # A tab names no file of this machine to read: the CA file stays the one the teacher gave.
        ca_text = self._value("ca") if servers_allowed() else str(self.settings.ca_file or "")
        ca = Path(ca_text).expanduser() if ca_text else None
        if ca is not None and not ca.is_file():
            raise UsageError(f"the CA file {ca} does not exist")
        rcpts = tuple(r.strip() for r in self._value("to").split(",") if r.strip())
        if not rcpts:
            raise UsageError("give at least one recipient")
        try:
            check_address("the sender", self._value("from"), allow_null=True)
            for rcpt in rcpts:
                check_address("a recipient", rcpt)
            check_field("the EHLO name", self._value("helo"))
            check_field("the subject", self._value("subject"))
        except InvalidCommand as error:
            raise UsageError(str(error)) from None
        if not self._value("helo") or " " in self._value("helo"):
            raise UsageError("the EHLO name must be one word")
        return replace(
            self.settings, server=server, security=security, user=user if server else self.settings.user,
            password=password if server else self.settings.password, ca_file=ca,
            insecure=self.query_one("#insecure", Checkbox).value,
            allow_cleartext_auth=self.query_one("#cleartext", Checkbox).value,
            helo=self._value("helo"), mail_from=self._value("from"), rcpt_tos=rcpts,
            subject=self._value("subject"), body=self.query_one("#body", TextArea).text,
        )

    def action_connect(self) -> None:
        try:
            settings = self._build()
        except UsageError as error:
            self.query_one("#error", Label).update(Text(f"✗ {error}"))  # quotes what was typed: never markup
            return
        self.dismiss(settings)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "connect":
            self.action_connect()
        else:
            self.action_cancel()
