"""SMTP replies and the incremental reply parser.

Holds the ``Reply`` value and ``ReplyParser``, which turns bytes from the server into complete replies.
It must not do I/O or keep time: it is fed bytes and returns what they complete.

Rules enforced here (each a ``ProtocolError`` from the peer, never another exception):
- a reply line is three digits, then a space or hyphen and text, or nothing (RFC 5321 §4.2);
- the first digit is 2, 3, 4 or 5 (RFC 5321 §4.2.1);
- every line of a multi-line reply carries the same code (RFC 5321 §4.2.1);
- a reply line is at most 512 octets (RFC 5321 §4.5.3.1.5); smtpstep accepts up to ``MAX_LINE`` to
  tolerate sloppy servers, and refuses more rather than buffer without bound;
- a reply has at most ``MAX_LINES`` lines, so that memory stays bounded whatever a server sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtpstep.protocol.text import quoted, quoted_bytes

MAX_LINE = 4096
"""Longest reply line accepted, in octets with CRLF: RFC 5321 §4.5.3.1.5 says 512, with slack for sloppy servers."""

MAX_LINES = 1000
"""Most lines accepted in one multi-line reply."""

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


class ProtocolError(Exception):
    """The peer broke the protocol. ``str(error)`` is one plain sentence; ``raw`` holds the bytes at fault."""

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


@dataclass(frozen=True)
class Reply:
    """One complete SMTP reply: its code, its text lines, and the enhanced status code if present."""

    code: int
    lines: tuple[str, ...]
    enhanced: str | None = None

    @property
    def kind(self) -> int:
        """The first digit: 2 done, 3 go on, 4 try again later, 5 permanent failure (RFC 5321 §4.2.1)."""
        return self.code // 100

    @property
    def positive(self) -> bool:
        return self.kind == 2

    @property
    def intermediate(self) -> bool:
        return self.kind == 3

    @property
    def transient(self) -> bool:
        return self.kind == 4

    @property
    def permanent(self) -> bool:
        return self.kind == 5

    @property
    def text(self) -> str:
        """The reply's text, lines joined by newlines, without the codes."""
        return "\n".join(self.lines)

    @property
    def first_line(self) -> str:
        return f"{self.code} {self.lines[0] if self.lines else ''}".rstrip()

    def to_bytes(self) -> bytes:
        """The reply as it would stand on the wire (used by tests and replays)."""
        lines = self.lines or ("",)
        out = [f"{self.code}{'-' if i < len(lines) - 1 else ' '}{line}\r\n" for i, line in enumerate(lines)]
        return "".join(out).encode("utf-8")


def enhanced_code(code: int, text: str) -> str | None:
    """The RFC 3463 status code at the start of ``text`` if its class agrees with ``code``, else None."""
    match = _ENHANCED.match(text)
    if not match or int(match.group(1)) != code // 100:
        return None
    return match.group(0)


printable = quoted
"""Server text for a sentence (``smtpstep.protocol.text.quoted``, under the name the core knows it by)."""


class ReplyParser:
    """Accumulates bytes and yields complete replies; bounded in memory whatever the peer sends."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._code: int | None = None
        self._lines: list[str] = []

    @property
    def pending(self) -> bytes:
        """Bytes received that do not yet form a complete line."""
        return bytes(self._buffer)

    @property
    def in_reply(self) -> bool:
        """True when a multi-line reply has started but not ended."""
        return self._code is not None or bool(self._buffer)

    def feed(self, data: bytes) -> list[Reply]:
        """Add bytes; return the replies they complete. Raises ``ProtocolError`` on a malformed reply."""
        self.add(data)
        replies = []
        while (reply := self.next()) is not None:
            replies.append(reply)
        return replies

    def add(self, data: bytes) -> None:
        """Add bytes without parsing them yet."""
        self._buffer += data

    def next(self) -> Reply | None:
        """The next complete reply from the bytes added so far, or None. Raises ``ProtocolError``.

        After an error the parser drops every byte it held: the peer is out of step, and whatever
        follows cannot be trusted to start a reply (so memory stays bounded as well).
        """
        try:
            return self._next()
        except ProtocolError:
            self._buffer.clear()
            self._reset()
            raise

    def _next(self) -> Reply | None:
        while True:
            # A line of MAX_LINE octets has its LF at index MAX_LINE - 1 at the latest.
            end = self._buffer.find(b"\n", 0, MAX_LINE)
            if end < 0:
                if len(self._buffer) >= MAX_LINE:
                    raise ProtocolError(
                        f"the server sent a reply line longer than {MAX_LINE} octets "
                        "(RFC 5321 §4.5.3.1.5 allows 512)",
                        bytes(self._buffer[:80]),
                    )
                return None
            raw_line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            reply = self._line(raw_line)
            if reply is not None:
                return reply

    def _line(self, raw_line: bytes) -> Reply | None:
        line = raw_line.rstrip(b"\n").rstrip(b"\r")
        if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3:4] not in (b" ", b"-")):
            self._reset()
            raise ProtocolError(
                f"the server sent something that is not an SMTP reply: “{quoted_bytes(line)}” "
                "(a reply starts with a three-digit code, RFC 5321 §4.2)",
                raw_line,
            )
        code = int(line[:3])
        if not 200 <= code <= 599:
            self._reset()
            raise ProtocolError(
                f"the server sent reply code {code}, which is outside 2xx-5xx (RFC 5321 §4.2.1)", raw_line
            )
        if self._code is not None and code != self._code:
            first = self._code
            self._reset()
            raise ProtocolError(
                f"the server mixed codes {first} and {code} in one multi-line reply (RFC 5321 §4.2.1)", raw_line
            )
        self._code = code
        self._lines.append(line[4:].decode("utf-8", "replace"))
        if len(self._lines) > MAX_LINES:
            self._reset()
            raise ProtocolError(f"the server sent a reply of more than {MAX_LINES} lines", raw_line)
        if line[3:4] == b"-":
            return None
        lines = tuple(self._lines)
        self._reset()
        return Reply(code, lines, enhanced_code(code, lines[0]) if lines else None)

    def _reset(self) -> None:
        self._code = None
        self._lines = []
