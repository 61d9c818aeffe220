"""A man in the middle on loopback that strips STARTTLS, for the starttls-stripping lesson.

Holds ``StartTlsStripper``: a TCP relay between a client and the built-in server that deletes the
STARTTLS line from every EHLO reply it passes on, and turns a STARTTLS command sent anyway into
``XXXXXXXX`` so that the server answers 500 (what some middleboxes really did; RFC 3207 §6 warns of
both). A connection that is TLS from its first byte (implicit TLS, RFC 8314 §3.3) is relayed
untouched: the relay can neither read nor change it, which is the lesson's point.

Rules:
- it listens on loopback only and forwards only to the one upstream it was given;
- every change it makes is recorded in ``tampering`` (and passed to ``on_tamper``), so the lesson
  can show the attack, not just its effect;
- it never raises for what a peer does: a refused, closed or reset connection ends that relay.
Like the rest of ``server/`` and ``transport/``, this module does I/O; the core at the top of ``protocol/`` does none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from smtpstep.protocol.server.loop_thread import LoopThread

__all__ = ["StartTlsStripper"]

READ_SIZE = 65536
TLS_HANDSHAKE_RECORD = 0x16
"""The first byte of a TLS handshake record (RFC 8446 §5.1): the client started TLS at once."""
_STARTTLS = b"STARTTLS\r\n"


class StartTlsStripper:
    """A STARTTLS-stripping relay to ``upstream_host:upstream_port``.

    Run it on the current loop (``await start()`` / ``await stop()``) or on its own loop in a
    daemon thread (``start_in_thread()`` / ``stop_thread()``), as ``LocalServer`` does.
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0,
                 on_tamper: Callable[[str], None] | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        """Where every connection is relayed to."""
        self.host = host
        self.port = port
        """The port clients connect to; the real one once started (0 before means "any free port")."""
        self.tampering: list[str] = []
        """What the relay changed or could not read, in plain words, oldest first."""
        self.on_tamper = on_tamper
        """Called with each new ``tampering`` line, on the relay's loop."""
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = LoopThread("smtpstep-mitm")

    # --- Lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the relay is already running")
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every relayed connection. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._relays):
            task.cancel()
        if self._relays:
            await asyncio.wait(list(self._relays), timeout=5)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Run the relay on a new event loop in a daemon thread; return once it listens."""
        self._runner.start(self.start, timeout)

    def stop_thread(self, timeout: float = 10.0) -> None:
        self._runner.stop(self.stop, timeout)

    # --- Relaying -------------------------------------------------------------------------------

    def _tamper(self, text: str) -> None:
        self.tampering.append(text)
        if self.on_tamper is not None:
            with contextlib.suppress(Exception):
                self.on_tamper(text)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            await self._relay(client_reader, client_writer)
        except asyncio.CancelledError:
            pass  # stop() ends relays this way; asyncio would log a cancelled connection handler
        finally:
            self._relays.discard(task)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        link = _Link(self._tamper)
        pumps = [
            asyncio.ensure_future(self._pump(client_reader, up_writer, link.from_client)),
            asyncio.ensure_future(self._pump(up_reader, client_writer, link.from_server)),
        ]
        try:
            # When either side closes, the other is closed too: a relay has nothing to keep open.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (up_writer, client_writer):
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 2)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    change: Callable[[bytes, bool], bytes]) -> None:
        try:
            while data := await reader.read(READ_SIZE):
                out = change(data, False)
                if out:
                    writer.write(out)
                    await writer.drain()
            rest = change(b"", True)
            if rest:
                writer.write(rest)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            return


class _Link:
    """The tampering state of one relayed connection; pure byte editing, no I/O."""

    def __init__(self, tamper: Callable[[str], None]) -> None:
        self.tamper = tamper
        self.passthrough = False
        """True once the client spoke TLS from its first byte: nothing is read or changed any more."""
        self.started = False
        self._client = b""
        self._server = b""
        self._reply: list[bytes] = []

    def from_client(self, data: bytes, eof: bool) -> bytes:
        if not self.started and data:
            self.started = True
            if data[0] == TLS_HANDSHAKE_RECORD:
                self.passthrough = True
                self.tamper("the client started TLS with its first byte (implicit TLS): the man in the middle "
                            "sees only encrypted bytes and cannot remove anything, so it just passes them on")
        if self.passthrough:
            out, self._client = self._client + data, b""
            return out
        buffer = self._client + data
        out = bytearray()
        while (end := buffer.find(b"\n")) >= 0:
            line, buffer = buffer[:end + 1], buffer[end + 1:]
            if line.upper() == _STARTTLS:
                self.tamper("the client sent STARTTLS anyway; the man in the middle rewrote it as XXXXXXXX, "
                            "so the server answers 500 and never starts TLS")
                line = b"XXXXXXXX\r\n"
            out += line
        # Hold back only what could still become "STARTTLS\r\n"; anything else goes on at once.
        if eof or not _STARTTLS.startswith(buffer.upper()):
            out += buffer
            buffer = b""
        self._client = buffer
        return bytes(out)

    def from_server(self, data: bytes, eof: bool) -> bytes:
        if self.passthrough:
            out, self._server = self._server + data, b""
            return out
        buffer = self._server + data
        out = bytearray()
        while (end := buffer.find(b"\n")) >= 0:
            line, buffer = buffer[:end + 1], buffer[end + 1:]
            if not (len(line) >= 4 and line[:3].isdigit() and line[3:4] in (b"-", b" ", b"\r", b"\n")):
                out += b"".join(self._reply) + line  # not a reply line: pass it on as it is
                self._reply = []
                continue
            self._reply.append(line)
            if line[3:4] != b"-":  # the last line of a reply (RFC 5321 §4.2.1)
                out += self._strip(self._reply)
                self._reply = []
        if eof:
            out += b"".join(self._reply) + buffer
            self._reply, buffer = [], b""
        self._server = buffer
        return bytes(out)

    def _strip(self, lines: list[bytes]) -> bytes:
        kept = [line for line in lines if not (line.startswith(b"250") and line[4:].strip().upper() == b"STARTTLS")]
        if len(kept) == len(lines) or not kept:
            return b"".join(lines)
        removed = next(line for line in lines if line not in kept).strip().decode("ascii", "replace")
        last = kept[-1]
        kept[-1] = last[:3] + b" " + last[4:]  # the new last line ends the reply
        self.tamper(f"the man in the middle deleted “{removed}” from the server's EHLO reply before the client "
                    "saw it (RFC 3207 §6)")
        return b"".join(kept)
