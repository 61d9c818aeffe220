"""What a transport hands out: the target, the wire record, failures, snapshots and step results.

Plain values shared by both transports (``asyncio_driver.py`` for the TUI, ``blocking_driver.py``
on a plain socket for ``smtpstep run``) and by everything that renders them. Importing this module
loads no event loop, no TLS and no sockets, so that a renderer or the headless path pays only for
what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from smtpstep.protocol.client import Answer, ClientView, Discarded
from smtpstep.protocol.commands import Command, Outgoing, Verb
from smtpstep.protocol.routing import DnsAnswer

# Imported at run time although only the annotations use them: the recording codec resolves these
# dataclasses' type hints to check what it decodes.
from smtpstep.protocol.transport.certificates import TlsInfo

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
"""Submission with STARTTLS (RFC 6409), submissions with implicit TLS (RFC 8314 §3.3), relay (RFC 5321)."""

STEP_TIMEOUTS = {
    Verb.GREETING: 300.0,
    Verb.MAIL: 300.0,
    Verb.RCPT: 300.0,
    Verb.DATA: 120.0,
    Verb.MESSAGE: 600.0,
    Verb.BDAT: 180.0,
    Verb.BDAT_LAST: 600.0,
}
"""RFC 5321 §4.5.3.2: greeting 5 min, MAIL 5, RCPT 5, DATA 2, a data block 3, after the final dot 10 (a
BDAT chunk counts as a data block, BDAT LAST as the end of the data); others 5."""

DEFAULT_STEP_TIMEOUT = 300.0
CONNECT_TIMEOUT = 30.0
DNS_TIMEOUT = 5.0
"""Seconds for one DNS step, retries included (dnspython's ``lifetime``)."""
READ_SIZE = 65536


@dataclass(frozen=True)
class Target:
    """Where and how to connect."""

    host: str
    port: int
    security: str = "starttls"
    server_hostname: str | None = None
    """The name to verify the certificate against and to send as SNI; defaults to ``host``."""
    ca_file: Path | None = None
    ca_pem: bytes | None = field(default=None, repr=False)
    """Extra trusted CA certificates (the built-in server's CA)."""
    insecure: bool = False
    timeout: float | None = None
    """One timeout for every step and the connect; None uses RFC 5321's per-command values."""
    builtin: bool = False
    """True for smtpstep's own local server."""
    allow_cleartext_auth: bool = False
    label: str | None = None
    """What the connection notes and explanations call the server instead of its address (screenshots that
    must not change with a free port); None shows the address."""
    steady: bool = False
    """For pictures that must not change from run to run (``smtpstep shots``): the TLS lines leave out the
    sizes of the server's handshake records, which change with each run's fresh certificate and signature."""
    keylog: str | None = None
    """The NSS key log file TLS secrets are appended to (``--tls-keys`` or SSLKEYLOGFILE), only when the
    user asked for it: whoever holds the file can decrypt the session, AUTH included. None: no key log."""
    dns: str | None = None
    """Whom the session's DNS steps ask before connecting (RFC 5321 §5.1): "zone" (the lessons' zone, in
    memory; the connection keeps this target's port, the built-in server's), "system" (the machine's
    resolver; ``smtpstep step|run --server mx``) or "HOST@PORT" (one DNS server). None: no DNS steps, the
    connection goes to ``host``."""

    @property
    def sni(self) -> str:
        return self.server_hostname or self.host

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def shown(self) -> str:
        """The server as notes and explanations name it: its label, else its address."""
        return self.label or self.address


class Direction:
    CLIENT = "client"
    SERVER = "server"
    TLS = "tls"
    """A TLS handshake message or a TLS boundary."""
    NOTE = "note"
    """Something that happened without bytes: connected, closed."""
    ERROR = "error"
    """A failure, in plain words."""
    DNS = "dns"
    """A DNS question and its answer, asked before connecting (its ``note`` is the line)."""


@dataclass(frozen=True, slots=True)
class WireChunk:
    """One chunk that crossed the wire, or a note about the connection.

    Slotted: a long session holds one per chunk, and a slotted instance is one object for the
    garbage collector to walk instead of two (instance and ``__dict__``).
    """

    direction: str
    data: bytes
    tls: bool
    time: float
    """Seconds since the session started (monotonic)."""
    step: int
    secrets: tuple[tuple[int, int], ...] = ()
    note: str = ""
    layer: str = ""
    """How the bytes crossed under TLS, from the records that carried them ("went out as one
    application_data record of 58 bytes"); empty for plaintext and notes."""

    def redacted(self, mask: bytes = b"********") -> bytes:
        return Outgoing(self.data, self.secrets).redacted(mask)


class RawKind:
    """What a ``RawEvent`` records: the TCP connection made (``started`` when the connect began, ``time`` when
    it returned), bytes as they crossed the socket (plaintext, or TLS records), the server's end of the
    stream, the client's close, the server's reset."""

    CONNECT, DATA, EOF, CLOSE, RESET = "connect", "data", "eof", "close", "reset"


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One thing that happened on the socket, with the socket's own bytes: what a .pcapng export frames.

    The wire chunks say what the bytes meant (SMTP plaintext, TLS notes); these are the bytes themselves,
    in order, TLS records included, so that a capture of the session can be rebuilt byte for byte.
    """

    kind: str
    time: float
    """Seconds since the session started (monotonic), as ``WireChunk.time``."""
    direction: str = ""
    data: bytes = b""
    step: int = 0
    secrets: tuple[tuple[int, int], ...] = ()
    """Spans of ``data`` that hold a secret (plaintext AUTH only: under TLS the bytes are ciphertext)."""
    started: float = 0.0
    client: tuple[str, int] = ("", 0)
    """The client's address and port (``connect`` only)."""
    server: tuple[str, int] = ("", 0)


class WireRecord:
    """Every chunk of a session, append-only, with an optional listener for live display.

    ``raw`` holds the socket's own bytes and TCP events (``RawEvent``); ``started`` is the wall-clock
    time (``time.time()``) of the session's start, which the chunk and event times count from."""

    def __init__(self, listener: Callable[[WireChunk], None] | None = None) -> None:
        self.chunks: list[WireChunk] = []
        self.listener = listener
        self.raw: list[RawEvent] = []
        self.started = 0.0

    def append(self, chunk: WireChunk) -> None:
        self.chunks.append(chunk)
        if self.listener is not None:
            self.listener(chunk)

    def __len__(self) -> int:
        return len(self.chunks)


@dataclass(frozen=True)
class Failure:
    """Why a step did not complete, in one plain sentence, with the bytes at fault."""

    kind: str
    """One of: resolve, refused, connect, timeout, closed, tls, protocol, not-allowed, policy."""
    message: str
    raw: bytes = b""
    verify_code: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """The whole session as of one step: immutable, safe to hand to a renderer."""

    target: Target
    client: ClientView
    tls: TlsInfo | None
    tls_history: tuple[TlsInfo, ...]
    step: int
    wire_count: int
    last: Answer | None
    failure: Failure | None
    connected: bool
    dns: tuple[DnsAnswer, ...] = ()
    """The answers of the session's DNS steps so far, in order (RFC 5321 §5.1)."""


@dataclass(frozen=True)
class StepResult:
    commands: tuple[Command, ...]
    answers: tuple[Answer, ...]
    discarded: tuple[Discarded, ...]
    failure: Failure | None
    snapshot: Snapshot
    elapsed: float
    wire_start: int
    wire_end: int
    lookup: DnsAnswer | None = None
    """A DNS step's answer (RFC 5321 §5.1); None for every SMTP step."""

    @property
    def ok(self) -> bool:
        return self.failure is None
