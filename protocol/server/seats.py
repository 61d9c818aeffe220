"""One built-in server process shared by the tabs of a ``smtpstep web`` server: a *seat* per tab.

``python -m smtpstep.protocol.server.process_child --shared`` runs ``serve_seats``: it makes the CA once,
listens on a Unix socket (on Linux in the abstract namespace, taking connections from the same user only;
elsewhere in a private folder, 0700, the socket 0600), and gives every connection a seat of its own: a ``LocalServer`` with its own three listeners (free ports), its own Maildir and CA file in the seat's
folder, its own scenario and its own relays, reporting on that connection only, in the line protocol of
``pipe.py`` (``ready``, ``received``, ``tamper``, ``reply``; the commands ``relay``, ``stop-relay``,
``scenario``, ``stop``). The tab's side is ``process.SeatClient``.

Rules:

- A seat is its connection: a tab that ends, crashes or is killed closes it, and its seat closes with it
  (listeners, relays, deliveries under way finished, its folder removed). For the server a dead tab is a
  closed connection, nothing more.
- What one seat receives is reported on its own connection alone: a tab never sees another tab's mail or
  reports. A seat's relays stand only in front of that seat's listeners.
- One seat's mistakes stay its own: an unreadable line is dropped, a connection that stops reading (more than
  ``MAX_BACKLOG`` of reports waiting) loses its seat, and a seat that cannot start says so and closes.
- The first line of a connection opens the seat: ``{"do": "open", "scenario": ..., "certificate": ...}``.
- When the process stops, every seat closes and the whole folder (socket included) is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import shutil
import socket
import struct
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtpstep.protocol.server.pipe import MAX_LINE, STOP_TIMEOUT, encode

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage, ServerNote
    from smtpstep.protocol.server.relay import StartTlsStripper
    from smtpstep.protocol.server.server import LocalServer

__all__ = ["SOCKET_NAME", "Seat", "serve_seats"]

log = logging.getLogger("smtpstep.server_process")

SOCKET_NAME = "seats.sock"
"""The Unix socket tabs connect to, in the shared server's private folder."""
MAX_BACKLOG = 1024 * 1024
"""Bytes of reports a seat's connection may leave unread before the seat is closed (a tab that hangs)."""
OPEN_TIMEOUT = 30.0
"""Seconds a new connection has to say ``open``."""


async def serve_seats(options: argparse.Namespace, send: Callable[[dict[str, Any]], None],
                      commands: Awaitable[None], done: asyncio.Event) -> int:
    """Serve seats until ``done``; ``send`` reports to the web server (``ready`` with the socket's path),
    ``commands`` reads its pipe (only ``stop``)."""
    from smtpstep.protocol.server.ca import make_certificates

    try:
        certificates = make_certificates(options.certificate)
    except ValueError as error:
        send({"event": "error", "message": str(error)})
        return 2
    folder = Path(tempfile.mkdtemp(prefix="smtpstep-seats-", dir=options.state_dir))  # 0700, in the web server's
    seats = _Seats(folder, certificates)
    address = socket_address(folder)
    try:
        listener = await asyncio.start_unix_server(seats.connection, path=address, limit=MAX_LINE)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        send({"event": "error", "message": f"it cannot listen on {shown_address(address)} ({error.strerror or error})"})
        return 1
    if not address.startswith("\0"):
        os.chmod(address, 0o600)
    ca_path = folder / "smtpstep-local-ca.pem"  # the one trust anchor of every seat (each has a copy too)
    ca_path.write_bytes(certificates.ca_pem)
    reading = asyncio.ensure_future(commands)
    try:
        send({"event": "ready", "ports": {}, "ca_pem": certificates.ca_pem.decode("ascii"), "ca_path": str(ca_path),
              "maildir": str(folder), "scenario": options.scenario, "describe": [],
              "socket": shown_address(address)})
        await done.wait()
    finally:
        reading.cancel()
        listener.close()
        await seats.close_all()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listener.wait_closed(), 5.0)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


class Seat:
    """One ``LocalServer`` and the relays in front of it, reporting on one channel (``send``) and obeying
    its commands: the whole server of a single child, or one tab's seat in a shared one."""

    def __init__(self, server: LocalServer, send: Callable[[dict[str, Any]], None]) -> None:
        self.server = server
        self.send = send
        self.relays: dict[int, StartTlsStripper] = {}

    def ready(self) -> dict[str, Any]:
        server = self.server
        return {"event": "ready", "ports": server.ports, "ca_pem": server.ca_pem.decode("ascii"),
                "ca_path": str(server.ca_path), "maildir": str(server.maildir_path), "scenario": server.scenario,
                "describe": server.describe()}

    def received(self, record: ReceivedMessage) -> None:
        # Called on the loop before the client is told 250, so the parent hears of a message before
        # its client does. Counting a 25 MB message's lines here (tens of milliseconds) spares the app
        # from reading it.
        self.send({"event": "received", "key": record.key, "mail_from": record.mail_from,
                   "rcpt_tos": list(record.rcpt_tos), "listener": record.listener, "tls": record.tls,
                   "auth_user": record.auth_user, "stored_size": len(record.stored),
                   "trace_size": record.trace_size, "line_count": record.line_count})

    def note(self, note: ServerNote) -> None:
        """A note of the server's own (a relay hop's session, an MX's DNS questions), for the Server side pane."""
        self.send({"event": "note", **note.report()})

    async def close(self) -> None:
        """Stop the relays and the server (deliveries under way finish)."""
        for relay in list(self.relays.values()):
            await relay.stop()
        self.relays.clear()
        await self.server.stop()

    async def obey(self, command: dict[str, Any]) -> bool:
        """Carry out one command and answer it if it has an ``id``; False for ``stop``."""
        from smtpstep.protocol.server.relay import StartTlsStripper

        server = self.server
        what, ident = command.get("do"), command.get("id")
        reply: dict[str, Any] = {}
        if what == "stop":
            return False
        if what == "relay":
            port = command.get("upstream_port")
            if port not in server.ports.values():
                reply = {"error": f"the relay can only be put in front of the server's own listeners, not port {port}"}
            else:
                relay = StartTlsStripper(server.host, port, on_tamper=lambda text: self.send(
                    {"event": "tamper", "relay": ident, "text": text}))
                try:
                    await relay.start()
                except OSError as error:
                    reply = {"error": f"the man in the middle could not listen ({error.strerror or error})"}
                else:
                    self.relays[ident] = relay
                    reply = {"port": relay.port}
        elif what == "stop-relay":
            stopped = self.relays.pop(command.get("relay"), None)
            if stopped is not None:
                await stopped.stop()
        elif what == "scenario":
            try:
                server.set_scenario(str(command.get("name")))
            except ValueError as error:
                reply = {"error": f"the built-in server cannot switch scenario: {error}"}
            else:
                reply = {"scenario": server.scenario, "describe": server.describe()}
        else:
            reply = {"error": f"the built-in server has no command {what!r}"}
        if isinstance(ident, int):
            self.send({"event": "reply", "id": ident, **reply})
        return True


def socket_address(folder: Path) -> str:
    """Where the seats are served. On Linux a name in the abstract namespace: no file to leave behind, no limit
    of 108 bytes on the folder's path; a connection from another user is refused (``SO_PEERCRED``), as the
    folder's mode refuses it elsewhere."""
    if sys.platform.startswith("linux"):
        return f"\0smtpstep-seats-{os.getpid()}-{secrets.token_hex(8)}"
    return str(folder / SOCKET_NAME)


def shown_address(address: str) -> str:
    """A socket address as text (an environment variable holds no NUL): ``@name`` for the abstract namespace
    (``seat_client.connectable`` reads it back)."""
    return "@" + address[1:] if address.startswith("\0") else address


def _same_user(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return True  # no peer credentials here: the socket's folder (0700) keeps others out
    _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid == os.getuid()


class _Seats:
    """The open seats: one per connection, each in a folder of its own."""

    def __init__(self, folder: Path, certificates: Any) -> None:
        self.folder = folder
        self.certificates = certificates
        self._numbers = itertools.count(1)
        self._open: dict[int, tuple[asyncio.Task[None], asyncio.StreamReader]] = {}
        self._closing = False

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing or not _same_user(writer):
            writer.close()
            return
        number = next(self._numbers)
        task = asyncio.current_task()
        assert task is not None
        self._open[number] = (task, reader)
        try:
            await self._seat(number, reader, writer)
        except ConnectionError:
            pass
        except Exception:  # noqa: BLE001 - one seat's failure never takes the others
            log.exception("seat %d failed", number)
        finally:
            self._open.pop(number, None)
            writer.close()
            shutil.rmtree(self.folder / f"seat-{number}", ignore_errors=True)

    async def _seat(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from smtpstep.protocol.server.server import LocalServer

        def send(event: dict[str, Any]) -> None:
            if writer.is_closing():
                return
            if writer.transport.get_write_buffer_size() > MAX_BACKLOG:
                log.warning("seat %d reads nothing: closed", number)
                writer.close()
                return
            writer.write(encode(event))

        first = await _command(reader, OPEN_TIMEOUT)
        if first is None or first.get("do") != "open":
            return
        folder = self.folder / f"seat-{number}"
        certificate = str(first.get("certificate", "valid"))
        try:
            server = LocalServer(scenario=str(first.get("scenario", "normal")), certificate=certificate,
                                 maildir=folder / "maildir", state_dir=folder,
                                 certificates=self.certificates if certificate == "valid" else None)
        except ValueError as error:  # an unknown scenario or certificate
            send({"event": "error", "message": str(error)})
            return
        seat = Seat(server, send)
        server.on_received, server.on_note = seat.received, seat.note
        try:
            await server.start()
        except OSError as error:
            await server.stop()
            send({"event": "error", "message": f"it cannot listen on {server.host} ({error.strerror or error})"})
            return
        try:
            send(seat.ready())
            while (command := await _command(reader)) is not None:
                if not await seat.obey(command):
                    break
        finally:
            await seat.close()  # deliveries under way finish

    async def close_all(self) -> None:
        """Close every seat as if its tab had hung up: each ends its own way (deliveries finish)."""
        self._closing = True
        seats = list(self._open.values())
        for _, reader in seats:
            reader.feed_eof()
        if seats:
            await asyncio.wait([task for task, _ in seats], timeout=STOP_TIMEOUT)


async def _command(reader: asyncio.StreamReader, timeout: float | None = None) -> dict[str, Any] | None:
    """The next command on a seat's connection; None once it ends (or breaks). Unreadable lines are skipped."""
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        except (ValueError, ConnectionError, TimeoutError):  # a line over the limit, a reset, silence
            return None
        if not line:
            return None
        try:
            command = json.loads(line)
        except ValueError:
            continue
        if isinstance(command, dict):
            return command
