"""Turns the wire record into transcript lines, in textbook (``C:``/``S:``) or swaks style.

Shared by ``smtpstep run`` (printed lines), the wire log pane and exports. It reassembles lines that
arrived in pieces (a server may drip a reply byte by byte), redacts secret spans unless asked not to,
and can show line ends as visible marks. It parses no SMTP: it only splits bytes into lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.transport import Direction, WireChunk

STYLES = ("textbook", "swaks")

SECRET_MASK = "********"

_PREFIX = {
    # style -> (client plain, client TLS, server plain, server TLS, tls event, note, error)
    "textbook": ("C:", "C:", "S:", "S:", "  TLS", "  ==", "  !!"),
    "swaks": (" ->", " ~>", "<- ", "<~ ", "===", "===", "***"),
}


@dataclass(frozen=True)
class TranscriptLine:
    """One line to show: who sent it, the text, and where it came from."""

    kind: str
    """client, server, tls, note or error."""
    prefix: str
    text: str
    tls: bool
    step: int
    time: float
    secret: bool = False
    """True when part of the line was redacted (or would be, if secrets are shown)."""

    def plain(self) -> str:
        return f"{self.prefix} {self.text}".rstrip()


class Transcript:
    """Feeds wire chunks, returns complete lines. One instance per session view."""

    def __init__(self, *, style: str = "textbook", show_secrets: bool = False, crlf_marks: bool = False,
                 fold_lines: int | None = None) -> None:
        self.style = style if style in STYLES else "textbook"
        self.show_secrets = show_secrets
        self.crlf_marks = crlf_marks
        self.fold_lines = fold_lines
        """Show at most this many lines of one client chunk (a long message), then a count of the rest."""
        self._partial: dict[str, tuple[bytes, WireChunk]] = {}

    def _prefix(self, kind: str, tls: bool) -> str:
        cp, ct, sp, st, te, no, er = _PREFIX[self.style]
        return {
            "client": ct if tls else cp,
            "server": st if tls else sp,
            "tls": te,
            "note": no,
            "error": er,
        }[kind]

    def feed(self, chunk: WireChunk) -> list[TranscriptLine]:
        lines: list[TranscriptLine] = []
        if chunk.direction in (Direction.CLIENT, Direction.SERVER):
            other = Direction.SERVER if chunk.direction == Direction.CLIENT else Direction.CLIENT
            lines += self._flush(other)
            lines += self._bytes(chunk)
            return lines
        lines += self.flush()
        kind = {Direction.TLS: "tls", Direction.ERROR: "error"}.get(chunk.direction, "note")
        lines.append(TranscriptLine(kind, self._prefix(kind, chunk.tls), chunk.note, chunk.tls, chunk.step, chunk.time))
        return lines

    def feed_all(self, chunks: list[WireChunk]) -> list[TranscriptLine]:
        lines: list[TranscriptLine] = []
        for chunk in chunks:
            lines += self.feed(chunk)
        return lines + self.flush()

    def flush(self) -> list[TranscriptLine]:
        return self._flush(Direction.CLIENT) + self._flush(Direction.SERVER)

    def _flush(self, direction: str) -> list[TranscriptLine]:
        pending = self._partial.pop(direction, None)
        if pending is None or not pending[0]:
            return []
        data, chunk = pending
        return [self._line(direction, data, chunk, secret=False, complete=False)]

    def _bytes(self, chunk: WireChunk) -> list[TranscriptLine]:
        direction = chunk.direction
        secret = bool(chunk.secrets)
        data = chunk.data if self.show_secrets or not secret else chunk.redacted(SECRET_MASK.encode())
        head, first = self._partial.pop(direction, (b"", chunk))
        data = head + data
        parts = data.split(b"\n")
        rest = parts.pop()
        lines: list[TranscriptLine] = []
        total = len(parts)
        limit = self.fold_lines
        for index, raw in enumerate(parts):
            if limit is not None and total > limit and index == limit - 1:
                hidden = parts[index:-1]
                octets = sum(len(p) + 1 for p in hidden)
                lines.append(TranscriptLine(
                    "note", self._prefix("note", chunk.tls),
                    f"… {len(hidden):,} more lines ({octets:,} octets) folded …",
                    chunk.tls, chunk.step, chunk.time,
                ))
                lines.append(self._line(direction, parts[-1] + b"\n", chunk, secret=secret, complete=True))
                break
            lines.append(self._line(direction, raw + b"\n", first if index == 0 else chunk, secret=secret, complete=True))
        if rest:
            self._partial[direction] = (rest, chunk)
        return lines

    def _line(self, direction: str, raw: bytes, chunk: WireChunk, *, secret: bool, complete: bool) -> TranscriptLine:
        body = raw[:-1] if raw.endswith(b"\n") else raw
        cr = body.endswith(b"\r")
        if cr:
            body = body[:-1]
        text = body.decode("utf-8", "replace")
        if not text.isprintable():  # the common case skips the character-by-character escaping
            text = "".join(ch if ch.isprintable() or ch == "\t" else f"\\x{ord(ch):02x}" for ch in text)
        if self.crlf_marks:
            if complete:
                text += "␍␊" if cr else "␊ (bare LF)"
            elif cr:
                text += "␍"
        kind = "client" if direction == Direction.CLIENT else "server"
        return TranscriptLine(kind, self._prefix(kind, chunk.tls), text, chunk.tls, chunk.step, chunk.time, secret)
