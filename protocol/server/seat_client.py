"""A tab's seat in the built-in server shared by a ``smtpstep web`` server: ``SeatClient``, the tab's side of
``seats.py``. It offers what ``ServerProcess`` offers (ports, CA, Maildir, ``received``, ``describe()``,
relays, scenarios) for a server that is not this tab's own process but a seat of its own in the shared one.

Rules:

- The seat is the connection: this tab ending (or crashing) closes it, and the seat with it; the shared
  server going away ends the connection, and this handle reports it as a server that ended.
- The same line protocol as a server process's pipe (``pipe.py``), over a Unix socket: the first line
  opens the seat in a scenario.
- It imports no asyncio, aiosmtpd or cryptography.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

from smtpstep.protocol.server.process import ServerProcess, ServerProcessError, StoredMessage

__all__ = ["SEATS_ENV", "SeatClient", "connectable"]


def connectable(text: str) -> str:
    """The socket's address as ``seats.shown_address`` wrote it: ``@name`` is a name in the abstract namespace."""
    return "\0" + text[1:] if text.startswith("@") else text

SEATS_ENV = "SMTPSTEP_SERVER_SEATS"
"""A tab's environment: the Unix socket of its web server's shared built-in server, where it takes a seat."""


class SeatClient(ServerProcess):
    """This tab's seat in the shared built-in server: a ``ServerProcess`` whose "process" is a connection."""

    def __init__(self, path: str, *, scenario: str = "normal", certificate: str = "valid",
                 on_received: Callable[[StoredMessage], None] | None = None) -> None:
        super().__init__(scenario=scenario, certificate=certificate, on_received=on_received)
        self.path = path
        """The shared server's Unix socket."""
        self._socket: socket.socket | None = None

    def _run(self) -> None:
        """Connect, open the seat, then read its reports until the connection ends."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(connectable(self.path))
        except OSError as error:
            sock.close()
            self._ended(ServerProcessError(f"the shared built-in server cannot be reached ({error.strerror or error})"))
            return
        reports = sock.makefile("rb")
        with self._lock:
            self._socket, self._out = sock, sock.makefile("wb")
            stopping = self._stopping
        try:
            self._send({"do": "open", "scenario": self.scenario, "certificate": self.certificate})
            if stopping:
                self._hang_up()
            self._read_reports(reports)
        except ServerProcessError:
            pass
        finally:
            reports.close()
            with self._lock:
                stopped = self._stopping
            self._abort(0)
            self._ended(None if stopped else ServerProcessError("the shared built-in server closed this tab's seat"))

    def _hang_up(self) -> None:
        super()._hang_up()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_WR)  # the seat ends; the server closes its side

    def _abort(self, waited: float) -> None:
        with self._lock:
            sock, self._socket = self._socket, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
