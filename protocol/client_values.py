"""The SMTP client's values: what it knows of the session (``Session``, ``Envelope``, ``Transaction``), the
events ``SmtpClient.receive_data`` returns (``Answer``, ``Discarded``, ``ServerClosing``,
``ProtocolViolation``) and the immutable ``ClientView`` snapshots show.

Frozen dataclasses only: no I/O, no rules (``rules.py``) and no state changes (``client.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpstep.protocol.capabilities import Capabilities
from smtpstep.protocol.commands import Command, Verb
from smtpstep.protocol.replies import Reply
from smtpstep.protocol.states import State


@dataclass(frozen=True)
class Session:
    """Facts learned during this SMTP session; STARTTLS discards them (RFC 3207 §4.2)."""

    greeting: Reply | None = None
    hello_name: str | None = None
    """The name the client gave in EHLO/HELO, once the server accepted it."""
    extended: bool = False
    """True after a successful EHLO, False after HELO (no extensions, RFC 5321 §4.1.1.1)."""
    capabilities: Capabilities | None = None
    tls: bool = False
    implicit_tls: bool = False
    authenticated_as: str | None = None
    auth_mechanism: str | None = None
    ehlo_refused: bool = False
    """True when EHLO got 500/502: the server wants HELO (RFC 5321 §4.1.1.1)."""
    before_tls: Session | None = None
    """The facts as they were before STARTTLS, kept only to show what changed."""


@dataclass(frozen=True)
class Envelope:
    """The current mail transaction (RFC 5321 §3.3)."""

    mail_from: str | None = None
    rcpt_tos: tuple[str, ...] = ()
    """Recipients the server accepted."""
    rejected: tuple[tuple[str, Reply], ...] = ()
    """Recipients the server refused, with its reply."""
    smtputf8: bool = False
    chunked: int = 0
    """Octets of the message the server accepted in BDAT chunks so far (RFC 3030 §2)."""


@dataclass(frozen=True)
class Answer:
    """A command (or the greeting, or a handshake) and the reply that completed it."""

    command: Command
    reply: Reply
    state: State
    """The settled state after this reply."""


@dataclass(frozen=True)
class Discarded:
    """Bytes the client threw away unread, and why (e.g. plaintext after 220 to STARTTLS)."""

    data: bytes
    reason: str


@dataclass(frozen=True)
class ServerClosing:
    """The server announced, unasked, that it closes the session (a 421, RFC 5321 §3.8); the client is closed."""

    reply: Reply


@dataclass(frozen=True)
class ProtocolViolation:
    """The server broke the protocol; the client is now in ``State.PROTOCOL_ERROR``.

    ``message`` is one plain sentence (untrusted text in it is escaped and cut short); ``raw`` holds the
    bytes at fault.
    """

    message: str
    raw: bytes = b""


Event = Answer | Discarded | ServerClosing | ProtocolViolation
"""What ``SmtpClient.receive_data`` returns, in the order the bytes gave them."""


@dataclass(frozen=True)
class Transaction:
    """A finished DATA: the envelope as it was and the server's reply to the final dot."""

    envelope: Envelope
    reply: Reply


@dataclass(frozen=True)
class ClientView:
    """An immutable copy of everything the client knows, for snapshots."""

    state: State
    settled: State
    pending: tuple[Command, ...]
    session: Session
    envelope: Envelope
    transactions: tuple[Transaction, ...]
    challenge: str | None
    auth_in_progress: str | None
    """The mechanism of an AUTH exchange under way (never the secret)."""
    allowed: frozenset[Verb]
    """The verbs a command may be sent with now, without a warning (``SmtpClient.allowed``)."""
    advised_against: tuple[tuple[Verb, str], ...] = ()
    """Verbs that fit the state but that an RFC advises against now, each with why (``SmtpClient.advised_against``)."""


__all__ = ["Answer", "ClientView", "Discarded", "Envelope", "Event", "ProtocolViolation", "ServerClosing", "Session",
           "Transaction"]
