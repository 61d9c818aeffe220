"""The blocking transport: the same steps as ``asyncio_driver.AsyncioTransport``, on a plain socket, without asyncio.

``smtpstep run`` is one short process; importing asyncio and running an event loop costs it more
than the whole SMTP session takes (benchmarks/results/headless_session.md). ``BlockingTransport``
carries out ``StepEngine``'s I/O requests with ``socket`` and socket timeouts; it moves raw bytes
only (TLS is the engine's): the policy, the plain-words failures, the wire record, TLS and its facts
are the same code as the TUI's transport. Deadlines are ``time.monotonic()`` values, one per reply, as there.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from smtpstep.protocol.commands import Command
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.engine import QUICKACK_WINDOW, StepEngine, Steps, quickack
from smtpstep.protocol.transport.io_requests import Close, IoRequest, OpenConnection, Read, Resolve, Unread, Write
from smtpstep.protocol.transport.wire import READ_SIZE, StepResult, Target, WireChunk

QUICKACK_EVERY = 0.002
"""How often the first ``QUICKACK_WINDOW`` of a wait re-arms TCP_QUICKACK (as the asyncio transport does)."""


class BlockingTransport(StepEngine):
    """Runs an ``SmtpClient`` over a real connection, one step at a time, blocking the calling thread."""

    def __init__(self, target: Target, *, listener: Callable[[WireChunk], None] | None = None) -> None:
        super().__init__(target, listener=listener)
        self._sock: socket.socket | None = None

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def step(self, commands: Command | Sequence[Command], *, force: bool = False) -> StepResult:
        """Take one step: a command and its reply, a group of pipelined commands, the greeting, a handshake."""
        try:
            return self._drive(self._step(commands, force))
        except KeyboardInterrupt:
            self._note("the step was interrupted; the connection is closed because its state is unknown")
            self.close()
            raise

    def close(self) -> None:
        """Close the connection without QUIT (used at exit and after errors)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            self._closed()
            try:
                sock.close()
            except OSError:
                pass
        if self.client.settled is not State.DISCONNECTED:
            self.client.connection_lost()

    # -- the driver --------------------------------------------------------------------------------

    def _drive(self, steps: Steps) -> Any:
        value: Any = None
        error: OSError | None = None
        while True:
            try:
                request = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as done:
                return done.value
            value, error = None, None
            try:
                value = self._perform(request)
            except OSError as failed:  # socket.timeout (TimeoutError) is an OSError too
                error = failed

    def _perform(self, request: IoRequest) -> Any:
        match request:
            case Read(deadline, since):
                return self._read(deadline, since)
            case Write(data, timeout):
                assert self._sock is not None
                self._sock.settimeout(timeout)
                self._sock.sendall(data)
                return None
            case OpenConnection(host, port, timeout):
                self._sock = _open(host, port, timeout)
                return self._sock.getpeername(), self._sock.getsockname()
            case Unread(limit):
                return self._unread(limit)
            case Resolve(name, rdtype, where, timeout):
                from smtpstep.protocol.transport import mx  # dnspython: only for a session with DNS steps

                return mx.lookup(name, rdtype, where, timeout)
            case Close():
                return self.close()
        raise TypeError(f"unknown I/O request {request!r}")

    def _read(self, deadline: float, since: float) -> bytes:
        """Up to ``READ_SIZE`` bytes before ``deadline``; in the first ``QUICKACK_WINDOW`` of the wait,
        in short slices that re-arm TCP_QUICKACK (see ``engine.quickack``)."""
        sock = self._sock
        assert sock is not None
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError("the reply did not come in time")
            if now < since + QUICKACK_WINDOW:
                quickack(sock)
                sock.settimeout(min(QUICKACK_EVERY, deadline - now))
            else:
                sock.settimeout(deadline - now)
            try:
                return sock.recv(READ_SIZE)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise

    def _unread(self, limit: int | None) -> bytes:
        """Bytes already waiting in the socket, at most ``limit`` of them (None: all), taken without waiting."""
        sock = self._sock
        assert sock is not None
        parts: list[bytes] = []
        left = limit
        # Non-blocking for the look: with a timeout set, Python waits for data before every recv
        # (MSG_DONTWAIT would not stop that wait).
        sock.settimeout(0)
        while left is None or left > 0:
            try:
                data = sock.recv(READ_SIZE if left is None else min(left, READ_SIZE))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # a broken connection shows itself in the step that comes next
            if not data:
                break
            parts.append(data)
            if left is not None:
                left -= len(data)
        return b"".join(parts)


def _open(host: str, port: int, timeout: float) -> socket.socket:
    """Resolve ``host`` and try each address in turn within ``timeout``, keeping each error.

    Like the asyncio transport's ``_open``: when every address fails, a refusal is reported before any
    other error, so that "localhost" with nothing listening on ::1 and 127.0.0.1 reads as refused.
    """
    deadline = time.monotonic() + timeout
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            errors.append(TimeoutError("the connect timed out"))
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
        except OSError as error:
            sock.close()
            errors.append(error)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio does: commands go at once
        return sock
    refused = [error for error in errors if isinstance(error, ConnectionRefusedError)]
    raise (refused or errors or [OSError(f"no address found for {host}")])[0]
