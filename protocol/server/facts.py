"""What the built-in server is, as plain values: its name, its demo account, its listeners, and the
record of a message it accepted.

No aiosmtpd, trustme or I/O here: the app, the lessons and the server's own process all read these.
A ``ReceivedMessage`` holds its bytes; what the server's process reports to the app has the same
attributes, with the bytes left in the Maildir (``process.StoredMessage``).
"""

from __future__ import annotations

import json
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



NOTE_KINDS = ("heading", "dns", "client", "server", "note")
"""What a line of a ``ServerNote`` is: its title, a DNS question and answer, a line the server sent as a client
(CRLF taken off), a reply line it got, or a remark in the server's own words."""
MAX_NOTE_LINES = 400
"""Lines a note keeps at most (a report from the server's process is bounded, whatever a message holds)."""
MAX_NOTE_TEXT = 1000
"""Characters of one line of a note in a report: an SMTP text line's limit (RFC 5321 §4.5.3.1.6)."""
MAX_NOTE_REPORT = 60 * 1024
"""Bytes of JSON one note's report takes at most (under the pipe's line limit, ``pipe.MAX_LINE``)."""


@dataclass(frozen=True)
class ServerNote:
    """Something the built-in server did besides storing a message, for the server side to show in order
    among the messages: the SMTP session of a relay hop it made as a client, the DNS questions its
    receiving MX asked. It has a ``key`` like a message, so a list of both can be compared by keys."""

    key: str
    """Unique among the server's records (``hop-…``, ``mx-…``); never a Maildir key."""
    lines: tuple[tuple[str, str], ...]
    """(kind, text) in order, kind one of ``NOTE_KINDS``; the text is the wire's or a server's, unescaped."""
    before: str = ""
    """The key of the message this note belongs before (the message the hop delivered), or ""."""

    def report(self, limit: int = MAX_NOTE_REPORT) -> dict[str, object]:
        """The note as the server's process reports it (JSON values), in at most ``limit`` bytes of JSON: lines
        past what fits are dropped, and a last line says so."""
        lines = [[kind, text[:MAX_NOTE_TEXT]] for kind, text in self.lines[:MAX_NOTE_LINES]]
        while True:
            event = {"key": self.key, "lines": lines, "before": self.before}
            if len(json.dumps(event)) <= limit or len(lines) <= 1:
                return event
            lines = lines[:len(lines) * 3 // 4] + [["note", "… the rest of this note was too long to report"]]

    @classmethod
    def from_report(cls, event: dict[str, object]) -> ServerNote:
        """The note of a ``note`` report (a report that does not fit raises ``KeyError``, ``TypeError`` or
        ``ValueError``; lines of an unknown kind are dropped, and at most ``MAX_NOTE_LINES`` are kept)."""
        lines = event["lines"]
        if not isinstance(lines, list):
            raise TypeError("a note's lines must be a list")
        kept = tuple((str(kind), str(text)) for kind, text in lines[:MAX_NOTE_LINES] if kind in NOTE_KINDS)
        return cls(key=str(event["key"]), lines=kept, before=str(event.get("before") or ""))
