"""The asyncio transport: runs the session's steps on asyncio sockets, for the TUI (which has its loop).

``AsyncioTransport`` carries out the I/O requests of ``StepEngine``'s step generator (``io_requests``:
connect, write, read, take what is buffered, close) with asyncio streams and ``asyncio.timeout``
deadlines, moving raw bytes only (TLS is the engine's, ``memory_tls``); everything else (policy, failures in plain words, the wire record, TLS
facts) is ``engine``'s, shared with the blocking transport that ``smtpstep run`` uses. It never raises
for what a server or the network does.

The values it hands out live in ``wire.py`` and are re-exported here for the callers that take them
from the transport.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from smtpstep.protocol.commands import Command
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.engine import QUICKACK_WINDOW, StepEngine, Steps, quickack
from smtpstep.protocol.transport.io_requests import Close, IoRequest, OpenConnection, Read, Resolve, Unread, Write
from smtpstep.protocol.transport.wire import (  # noqa: F401 - re-exported: the transport's values
    CONNECT_TIMEOUT,
    DEFAULT_PORTS,
    DEFAULT_STEP_TIMEOUT,
    READ_SIZE,
    STEP_TIMEOUTS,
    Direction,
    Failure,
    Snapshot,
    StepResult,
    Target,
    WireChunk,
    WireRecord,
)

# Timeouts use ``asyncio.timeout``, never ``asyncio.wait_for``: on Python 3.11, ``wait_for`` swallows a
# cancellation that arrives in the same loop iteration as the awaited result (CPython gh-86296), so
# cancelling a step could be ignored and the step would carry on as if nothing had happened.

WRITE_SLICE = 256 * 1024
"""A large payload is written in slices, each drained before the next: memory stays bounded and the
loop (the TUI's) keeps turning while a 25 MB message goes out."""


class AsyncioTransport(StepEngine):
    """Runs an ``SmtpClient`` over a real connection, one step at a time, on asyncio."""

    def __init__(self, target: Target, *, listener: Callable[[WireChunk], None] | None = None) -> None:
        super().__init__(target, listener=listener)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def step(self, commands: Command | Sequence[Command], *, force: bool = False) -> StepResult:
        """Take one step: a command and its reply, a group of pipelined commands, the greeting, a handshake."""
        try:
            return await self._drive(self._step(commands, force))
        except asyncio.CancelledError:
            self._note("the step was cancelled; the connection is closed because its state is unknown")
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection without QUIT (used at exit and after errors)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            self._closed()
            writer.close()
            try:
                async with asyncio.timeout(2):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                pass
        if self.client.settled is not State.DISCONNECTED:
            self.client.connection_lost()

    # -- the driver --------------------------------------------------------------------------------

    async def _drive(self, steps: Steps) -> Any:
        value: Any = None
        error: OSError | None = None
        while True:
            try:
                request = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as done:
                return done.value
            value, error = None, None
            try:
                value = await self._perform(request)
            except OSError as failed:  # TimeoutError is an OSError too
                error = failed

    async def _perform(self, request: IoRequest) -> Any:
        match request:
            case Read(deadline, since):
                return await self._read(deadline, since)
            case Write(data, timeout):
                return await self._write(data, timeout)
            case OpenConnection(host, port, timeout):
                async with asyncio.timeout(timeout):
                    self._reader, self._writer = await _open(host, port)
                return self._writer.get_extra_info("peername"), self._writer.get_extra_info("sockname")
            case Unread(limit):
                # StreamReader has no public way to take its buffer without waiting, hence ``_buffer``, guarded.
                buffer = getattr(self._reader, "_buffer", None)
                if not isinstance(buffer, bytearray) or not buffer:
                    return b""
                data = bytes(buffer[:limit])
                del buffer[:len(data)]
                return data
            case Resolve(name, rdtype, where, timeout):
                from smtpstep.protocol.transport import mx  # dnspython: only for a session with DNS steps

                # dnspython's resolver blocks: in a worker thread, so the app's loop keeps turning meanwhile.
                return await asyncio.to_thread(mx.lookup, name, rdtype, where, timeout)
            case Close():
                return await self.close()
        raise TypeError(f"unknown I/O request {request!r}")

    async def _write(self, data: bytes, timeout: float) -> None:
        assert self._writer is not None
        view = memoryview(data)
        async with asyncio.timeout(timeout):
            for start in range(0, len(view), WRITE_SLICE):
                self._writer.write(view[start:start + WRITE_SLICE])
                await self._writer.drain()

    async def _read(self, deadline: float, since: float) -> bytes:
        assert self._reader is not None
        rearm = None
        if time.monotonic() < since + QUICKACK_WINDOW:
            rearm = asyncio.create_task(self._keep_acks_quick(since + QUICKACK_WINDOW))
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await self._reader.read(READ_SIZE)
        finally:
            if rearm is not None:
                rearm.cancel()

    async def _keep_acks_quick(self, until: float) -> None:
        sock = self._writer.get_extra_info("socket") if self._writer is not None else None
        while time.monotonic() < until:
            quickack(sock)
            await asyncio.sleep(0.002)


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Resolve ``host`` and try each address in turn, as ``open_connection`` does, keeping each error.

    asyncio folds the failures of several addresses into one ``OSError("Multiple exceptions: ...")``
    that is no longer a ``ConnectionRefusedError``: "localhost" (::1 and 127.0.0.1) with nothing
    listening would be reported as an odd connect error in Python's words, not as "refused".
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    errors: list[OSError] = []
    for family, _, _, _, address in infos:
        scoped = family == socket.AF_INET6 and len(address) > 3 and address[3]
        ip = f"{address[0]}%{address[3]}" if scoped else address[0]
        try:
            return await asyncio.open_connection(ip, address[1], family=family, limit=READ_SIZE * 4)
        except OSError as error:
            errors.append(error)
    refused = [error for error in errors if isinstance(error, ConnectionRefusedError)]
    raise (refused or errors or [OSError(f"no address found for {host}")])[0]
