"""A message the built-in server's process stored, as the parent knows it: the facts the child reported,
with the bytes left in the Maildir and read only when asked for.

``StoredMessage`` reads its Maildir file (a bounded read for ``head``); it never writes, moves or deletes
it, and holds no bytes of the message itself.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtpstep.protocol.server.facts import head_size

__all__ = ["HEAD_CHUNK", "StoredMessage"]

HEAD_CHUNK = 64 * 1024
"""Bytes read at a time from a Maildir file while looking for the lines to show."""


@dataclass(frozen=True)
class StoredMessage:
    """A message the server's process accepted and stored: the facts of ``facts.ReceivedMessage``, with its
    bytes left in the Maildir and read only when asked for (``head`` reads just the lines wanted)."""

    key: str
    """Maildir key: the file's name under ``new/``; also in the "queued as" reply."""
    mail_from: str
    """The reverse-path from MAIL FROM, ``<>`` for a null sender (RFC 5321 §4.5.5)."""
    rcpt_tos: tuple[str, ...]
    """The accepted forward-paths, in RCPT order."""
    listener: str
    """Which listener took it: ``plain``, ``submission`` or ``submissions``."""
    tls: bool
    """Whether the transaction ran under TLS (STARTTLS or implicit)."""
    auth_user: str | None
    """Who had authenticated with AUTH, or None."""
    maildir: Path
    """The Maildir it was stored in."""
    stored_size: int
    """Bytes in the Maildir file: the trace fields and the message."""
    trace_size: int
    """Bytes of trace fields (Return-Path, Received) the server put before the message."""
    line_count: int
    """Lines of the stored file, split at CRLF only (counted by the server, which had the bytes)."""

    @classmethod
    def from_report(cls, event: dict[str, Any], maildir: Path) -> StoredMessage:
        """The message of a ``received`` report from the server's process (values checked for their type:
        a report that does not fit raises ``KeyError``, ``TypeError`` or ``ValueError``)."""
        return cls(
            key=str(event["key"]), mail_from=str(event["mail_from"]),
            rcpt_tos=tuple(str(rcpt) for rcpt in event["rcpt_tos"]), listener=str(event["listener"]),
            tls=bool(event["tls"]), auth_user=None if event["auth_user"] is None else str(event["auth_user"]),
            maildir=maildir, stored_size=int(event["stored_size"]), trace_size=int(event["trace_size"]),
            line_count=int(event["line_count"]))

    @property
    def path(self) -> Path:
        """The file: ``new/KEY``, or ``cur/KEY:2,FLAGS`` once a mail reader has moved it there."""
        new = self.maildir / "new" / self.key
        if not new.exists():
            for moved in (self.maildir / "cur").glob(f"{glob.escape(self.key)}:*"):
                return moved
        return new

    @property
    def stored(self) -> bytes:
        """What is in the Maildir file, read now (empty if the file is gone)."""
        try:
            return self.path.read_bytes()
        except OSError:
            return b""

    @property
    def original_content(self) -> bytes:
        """The message as the client meant it, read now: ``stored`` without the trace fields."""
        return self.stored[self.trace_size:]

    def head(self, lines: int) -> bytes:
        """The file up to and including its ``lines``-th CRLF, reading no further than that."""
        data = b""
        try:
            with open(self.path, "rb") as file:
                while chunk := file.read(HEAD_CHUNK):
                    data += chunk
                    end = head_size(data, lines)
                    if end < len(data):
                        return data[:end]
        except OSError:
            return b""
        return data[:head_size(data, lines)]
