"""The I/O requests a step yields to its driver: one small frozen class per thing to do.

``engine.StepEngine`` takes a step as a generator of these; ``asyncio_driver`` and ``blocking_driver``
each carry them out (``match`` on the class) and send back what the request produced, or throw the
``OSError`` it raised (``TimeoutError`` included) into the generator. Plain values: this module imports
no event loop, no socket and no TLS, and it decides nothing. The requests move raw bytes only: TLS is
the engine's (``memory_tls``), so a handshake is writes and reads of records like any other step.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OpenConnection:
    """Open a TCP connection within ``timeout`` seconds → ``(peer, local)``: both ends' addresses.

    Raises ``socket.gaierror``, ``OSError`` (``ConnectionRefusedError`` preferred when several addresses
    fail) or ``TimeoutError``.
    """

    host: str
    port: int
    timeout: float


@dataclass(frozen=True, slots=True)
class Write:
    """Write every byte of ``data`` (plaintext, or TLS records) within ``timeout`` seconds → None."""

    data: bytes
    timeout: float


@dataclass(frozen=True, slots=True)
class Read:
    """Up to ``wire.READ_SIZE`` raw bytes (b"" at the end of the stream) before ``deadline``.

    ``deadline`` and ``since`` (when the wait for this reply began) are ``time.monotonic()`` values.
    Raises ``TimeoutError``.
    """

    deadline: float
    since: float


@dataclass(frozen=True, slots=True)
class Unread:
    """What arrived but was not read yet, taken without waiting → bytes (b"" when there is none).

    ``limit``: at most this many bytes (None: all of it, as before a TLS handshake, where nothing
    may be left behind to be read later as if TLS had protected it).
    """

    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    """Ask DNS for the ``rdtype`` records of ``name`` within ``timeout`` seconds → ``routing.DnsAnswer``.

    ``where`` says whom to ask (``wire.Target.dns``): "zone" (the lessons' zone, in memory), "system" (the
    machine's resolver) or "HOST@PORT" (one DNS server). Never raises: a failed lookup is an answer too.
    """

    name: str
    rdtype: str
    where: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection (the driver's ``close()``) → None."""


IoRequest = OpenConnection | Write | Read | Unread | Resolve | Close
"""Anything a step may ask its driver to do."""

Steps = Generator[IoRequest, Any, Any]
"""A step: yields ``IoRequest`` values, is sent what each produced, returns its result."""
