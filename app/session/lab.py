"""The lab: the built-in server a session talks to, and a lesson's man in the middle.

The terminal app, ``smtpstep web`` tabs and ``smtpstep shots`` start the lab, ask it where a session
should connect (``target``: the built-in server, or the stripping relay in front of it for a lesson
part that wants one), read what the server received, and stop it at the end. The server it starts runs
in a process of its own (``protocol/server/process.py``), and so do the relays: nothing the server does
competes with the screen. A tab of ``smtpstep web`` takes a seat in its web server's shared server process
instead (``SMTPSTEP_SERVER_SEATS``, ``protocol/server/seat_client.py``): its own listeners, Maildir, scenario
and relays; if that server is gone, the tab starts a process of its own. No Textual here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.session.settings import SessionSettings, UsageError
from smtpstep.protocol.transport.wire import Target

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage
    from smtpstep.protocol.server.process import RemoteRelay, ServerProcess, StoredMessage
    from smtpstep.protocol.server.server import LocalServer


_early: ServerProcess | None = None
"""A seat taken as a web tab's process started (``take_seat_early``), for the tab's lab to take."""


def take_seat_early() -> None:
    """In a ``smtpstep web`` tab with a shared built-in server: start opening this tab's seat now (a thread
    connects), so that it is ready by the app's first frame; the lab takes it when it starts. Opening a seat
    is a connection and a line, not a process: it does not compete with that frame."""
    global _early
    from smtpstep.protocol.server.seat_client import SEATS_ENV, SeatClient

    seats = os.environ.get(SEATS_ENV)
    if seats and _early is None:
        _early = SeatClient(seats)
        _early.spawn()


def _take_early() -> ServerProcess | None:
    global _early
    early, _early = _early, None
    return early


class Lab:
    """The built-in server (started here in its own process, or one given) and the relay of the current
    lesson part."""

    def __init__(self, server: LocalServer | ServerProcess | None = None, *, log_path: Path | None = None,
                 on_received: Callable[[StoredMessage], None] | None = None) -> None:
        self.server: LocalServer | ServerProcess | None = server
        """The running built-in server, or None before ``start`` (or for a real server)."""
        self.log_path = log_path
        """Where the server's process writes its warnings (never the terminal)."""
        self.on_received = on_received
        """Called when the server stores a message: from its pipe's thread for a server in its own process.
        A given server that tells nobody yet tells the lab, until ``stop``."""
        if server is not None and server.on_received is None:
            server.on_received = on_received
        self._own = server is None
        self._relay: RemoteRelay | None = None
        self._starting: ServerProcess | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.server is not None

    def start(self, scenario: str = "normal") -> None:
        """Start the built-in server's process in ``scenario`` and wait until it listens (blocking: call it
        from a worker thread). Raises ``ServerProcessError``, whose text is one plain sentence. A ``stop``
        meanwhile ends the process, and this returns without a server."""
        from smtpstep.protocol.server.process import ServerProcess, ServerProcessError
        from smtpstep.protocol.server.seat_client import SEATS_ENV, SeatClient

        seats = os.environ.get(SEATS_ENV)
        with self._lock:
            if self.server is not None:
                return
            server = self._starting  # another thread is starting it: wait for that one
            if server is None and (early := _take_early()) is not None:
                early.on_received = self.on_received
                server = self._starting = early
            if server is None:
                server = self._starting = (
                    SeatClient(seats, scenario=scenario, on_received=self.on_received) if seats else
                    ServerProcess(scenario=scenario, log_path=self.log_path, on_received=self.on_received))
        try:
            try:
                server.start()
            except ServerProcessError:
                if not isinstance(server, SeatClient):
                    raise
                server = self._own_process_instead(server, scenario)
            if server.scenario != scenario:  # a seat taken early is in the normal scenario
                server.set_scenario(scenario)
        except ServerProcessError:
            with self._lock:
                cancelled = self._starting is not server
                self._starting = None
            if cancelled:
                return
            raise
        with self._lock:
            if self._starting is not server:  # stopped while it started
                return
            self._starting = None
            self.server, self._own = server, True

    def _own_process_instead(self, seat: ServerProcess, scenario: str) -> ServerProcess:
        """The shared server gave no seat (it is gone): start a server process of this session's own."""
        from smtpstep.protocol.server.process import ServerProcess, ServerProcessError

        server = ServerProcess(scenario=scenario, log_path=self.log_path, on_received=self.on_received)
        with self._lock:
            if self._starting is not seat:  # stopped meanwhile
                raise ServerProcessError("it was stopped before it was ready")
            self._starting = server
        server.start()
        return server

    def target(self, settings: SessionSettings) -> Target:
        """Where ``settings``' session connects. For a lesson part with a man in the middle, a fresh relay
        is started in front of the server, in the server's process (the previous part's is stopped first)."""
        self.stop_relay()
        target = settings.target(self.server)
        lesson, part = settings.lesson, settings.lesson_part
        if lesson is not None and lesson.part(part).session.mitm == "strip-starttls":
            from smtpstep.protocol.server.process import ServerProcess

            if not isinstance(self.server, ServerProcess):
                raise UsageError(f"the lesson {lesson.name} needs the built-in server's own process for its man in "
                                 "the middle")
            self._relay = self.server.start_relay(target.port)
            target = lesson.target(target, part, port=self._relay.port)
        return target

    @property
    def relay(self) -> RemoteRelay | None:
        """The man in the middle of the current lesson part, while one runs."""
        return self._relay

    @property
    def received(self) -> list[ReceivedMessage] | list[StoredMessage]:
        """What the built-in server accepted and stored, oldest first (empty without one)."""
        return self.server.received if self.server is not None else []

    def stop_relay(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.stop()

    def stop(self) -> None:
        """Stop the relay, and the server if the lab started it (blocking, until its process has ended).
        A server still starting is stopped too."""
        self.stop_relay()
        with self._lock:
            starting, self._starting = self._starting, None
            server, self.server = self.server, None
        if starting is not None:
            starting.stop()
        if server is not None and self._own:
            server.stop()
        elif server is not None and server.on_received is self.on_received:
            server.on_received = None
