"""What the built-in server is, as plain values: its name, its demo account, its listeners, and the
record of a message it accepted.

No aiosmtpd, trustme or I/O here: the app, the lessons and the server's own process all read these
(``ReceivedMessage`` crosses the pipe from the server's process to the app).
"""

from __future__ import annotations

from dataclasses import dataclass

BANNER_NAME = "mail.smtpstep.test"
"""The name the server greets with and puts in its certificate; ``.test`` is reserved (RFC 6761 §6.2)."""
IDENT = "ESMTP smtpstep local server"
"""Text after the name in the 220 greeting (RFC 5321 §4.3.1); "ESMTP" there is only a convention."""
DEMO_USER = "student"
"""The one account the server knows."""
DEMO_PASSWORD = "classroom"
"""Its password, deliberately public: this server is for lessons on loopback."""
LISTENERS = ("plain", "submission", "submissions")
"""Listener names, in the order they are started and described."""
SECURITY_LISTENER = {"none": "plain", "starttls": "submission", "tls": "submissions"}
"""Which listener a client's connection security setting talks to."""



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

