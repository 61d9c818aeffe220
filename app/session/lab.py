"""The lab: the built-in server a session talks to, and a lesson's man in the middle.

The terminal app, ``smtpstep web`` tabs and ``smtpstep shots`` start the lab, ask it where a session
should connect (``target``: the built-in server, or the stripping relay in front of it for a lesson
part that wants one), read what the server received, and stop it at the end. No Textual here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smtpstep.app.session.settings import SessionSettings
from smtpstep.protocol.transport.wire import Target

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage
    from smtpstep.protocol.server.relay import StartTlsStripper
    from smtpstep.protocol.server.server import LocalServer


class Lab:
    """The built-in server (started here, or one given) and the relay of the current lesson part."""

    def __init__(self, server: LocalServer | None = None) -> None:
        self.server: LocalServer | None = server
        """The running built-in server, or None before ``start`` (or for a real server)."""
        self._own = server is None
        self._relay: StartTlsStripper | None = None

    @property
    def ready(self) -> bool:
        return self.server is not None

    def start(self, scenario: str = "normal") -> None:
        """Start the built-in server in ``scenario`` (blocking: call it from a worker thread)."""
        if self.server is not None:
            return
        from smtpstep.protocol.server.server import LocalServer  # aiosmtpd and trustme: only now

        server = LocalServer(scenario=scenario)
        server.start_in_thread()
        self.server, self._own = server, True

    def target(self, settings: SessionSettings) -> Target:
        """Where ``settings``' session connects. For a lesson part with a man in the middle, a fresh relay
        is started in front of the server (the previous part's is stopped first)."""
        self.stop_relay()
        target = settings.target(self.server)
        lesson, part = settings.lesson, settings.lesson_part
        if lesson is not None and lesson.part(part).session.mitm == "strip-starttls":
            from smtpstep.protocol.server.relay import StartTlsStripper

            self._relay = StartTlsStripper(target.host, target.port)
            self._relay.start_in_thread()
            target = lesson.target(target, part, port=self._relay.port)
        return target

    @property
    def relay(self) -> StartTlsStripper | None:
        """The man in the middle of the current lesson part, while one runs."""
        return self._relay

    @property
    def received(self) -> list[ReceivedMessage]:
        """What the built-in server accepted and stored, oldest first (empty without one)."""
        return self.server.received if self.server is not None else []

    def stop_relay(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.stop_thread()

    def stop(self) -> None:
        """Stop the relay, and the server if the lab started it (blocking)."""
        self.stop_relay()
        server, self.server = self.server, None
        if server is not None and self._own:
            server.stop_thread()
