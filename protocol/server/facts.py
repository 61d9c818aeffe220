"""What the built-in server is, as plain values: its name, its demo account, its listeners, and the
record of a message it accepted.

No aiosmtpd, trustme or I/O here: the app, the lessons and the server's own process all read these.
A ``ReceivedMessage`` holds its bytes; what the server's process reports to the app has the same
attributes, with the bytes left in the Maildir (``process.StoredMessage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

BANNER_NAME = "mail.smtpstep.test"
"""The name the server greets with and puts in its certificate; ``.test`` is reserved (RFC 6761 §6.2)."""
IDENT = "ESMTP smtpstep local server"
"""Text after the name in the 220 greeting (RFC 5321 §4.3.1); "ESMTP" there is only a convention."""
DEMO_USER = "student"
"""The one account the server knows."""
DEMO_PASSWORD = "classroom"
"""Its password, deliberately public: this server is for lessons on loopback."""
DEMO_TOKEN = "smtpstep-demo-token"
"""The one OAuth 2.0 access token the server takes for the demo account (AUTH XOAUTH2 and OAUTHBEARER in the
modern-login scenario), public like the password. A real token comes from the provider's OAuth flow."""
LISTENERS = ("plain", "submission", "submissions")
"""Listener names, in the order they are started and described."""
SECURITY_LISTENER = {"none": "plain", "starttls": "submission", "tls": "submissions"}
"""Which listener a client's connection security setting talks to."""


def listener_port(ports: dict[str, int], security: str) -> int:
    """The port, among a server's listener ``ports``, for a client's security: ``none``, ``starttls`` or ``tls``."""
    try:
        return ports[SECURITY_LISTENER[security]]
    except KeyError:
        raise ValueError(f"security must be one of {', '.join(SECURITY_LISTENER)}, not {security!r}") from None



@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted and stored."""

    key: str
    """Maildir key: the file's name under ``new/``; also in the "queued as" reply."""
    mail_from: str
    """The reverse-path from MAIL FROM, ``<>`` for a null sender (RFC 5321 §4.5.5)."""
    rcpt_tos: tuple[str, ...]
    """The accepted forward-paths, in RCPT order."""
    original_content: bytes
    """The message as the client meant it: dot-unstuffed (RFC 5321 §4.5.2), CRLF line ends."""
    stored: bytes
    """What is in the Maildir: the trace fields (Return-Path, Received) and ``original_content``."""
    listener: str
    """Which listener took it: ``plain``, ``submission`` or ``submissions``."""
    tls: bool
    """Whether the transaction ran under TLS (STARTTLS or implicit)."""
    auth_user: str | None
    """Who had authenticated with AUTH, or None."""

    @property
    def trace_size(self) -> int:
        """Bytes the server put before ``original_content`` in ``stored``: its trace fields."""
        return len(self.stored) - len(self.original_content)

    @cached_property
    def line_count(self) -> int:
        """Lines of ``stored``, split at CRLF only."""
        return line_count(self.stored)

    def head(self, lines: int) -> bytes:
        """``stored`` up to and including its ``lines``-th CRLF (all of it when it has fewer)."""
        return self.stored[:head_size(self.stored, lines)]


def line_count(data: bytes) -> int:
    """Lines of ``data`` split at CRLF, a final CRLF ending the last line rather than starting an empty one."""
    return data.count(b"\r\n") + (0 if not data or data.endswith(b"\r\n") else 1)


def head_size(data: bytes, lines: int) -> int:
    """How many bytes of ``data`` its first ``lines`` CRLF-ended lines take (all of ``data`` when it has fewer)."""
    end = 0
    for _ in range(max(lines, 0)):
        found = data.find(b"\r\n", end)
        if found < 0:
            return len(data)
        end = found + 2
    return end

