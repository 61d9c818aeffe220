"""Turns the wire record into transcript lines, in textbook (``C:``/``S:``) or swaks style.

Shared by ``smtpstep run`` (printed lines), the wire log pane and exports. It reassembles lines that
arrived in pieces (a server may drip a reply byte by byte), redacts secret spans unless asked not to,
and can show line ends as visible marks. It parses no SMTP: it only splits bytes into lines.

Every line's text is shown text (``smtpstep.protocol.text.shown``): a control character a server or a
client sent, and any in a note, is a visible escape such as ``\\x1b``, so that no renderer of a line
(the terminal, a file, an export) can pass it on raw.

A chunk can be a whole 25 MB message (330,000 lines). ``iter_feed`` makes its lines as they are
read, a block of bytes at a time, so a printer never holds them all; with ``fold_lines`` set, only the
lines shown are made and the rest is counted in C (``bytes.count``), never split. A line is a
``NamedTuple``: cheap to make and to keep by the hundred thousand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import NamedTuple

from smtpstep.protocol.text import shown
from smtpstep.protocol.transport.wire import Direction, WireChunk

STYLES = ("textbook", "swaks")
"""Transcript styles: ``C:``/``S:`` as in RFC 5321's examples, or swaks' arrows."""

SECRET_MASK = "********"

_PREFIX = {
    # style -> (client plain, client TLS, server plain, server TLS, tls event, note, error, DNS lookup)
    "textbook": ("C:", "C:", "S:", "S:", "  TLS", "  ==", "  !!", "DNS:"),
    "swaks": (" ->", " ~>", "<- ", "<~ ", "===", "===", "***", "DNS:"),
}

_PREFIXES = {
    style: {"client": (cp, ct), "server": (sp, st), "tls": (te, te), "note": (no, no), "error": (er, er),
            "dns": (dn, dn)}
    for style, (cp, ct, sp, st, te, no, er, dn) in _PREFIX.items()
}
"""style -> kind -> (prefix outside TLS, prefix inside TLS), built once instead of per line."""

BLOCK = 64 * 1024
"""Bytes of a long chunk decoded and split at once: lines come in batches of about this size."""


class TranscriptLine(NamedTuple):
    """One line to show: who sent it, the text, and where it came from."""

    kind: str
    """client, server, tls, note, error or dns (a DNS question and its answer, asked before connecting)."""
    prefix: str
    text: str
    tls: bool
    step: int
    time: float
    secret: bool = False
    """True when part of the line was redacted (or would be, if secrets are shown)."""

    def plain(self) -> str:
        return f"{self.prefix} {self.text}".rstrip()


_TRAILING_BLANKS = re.compile(r"[ \t]+$", re.MULTILINE)
"""What ``str.rstrip`` takes off a printable line (after escaping, its only blanks are spaces and tabs)."""


class Transcript:
    """Feeds wire chunks, returns complete lines. One instance per session view."""

    def __init__(self, *, style: str = "textbook", show_secrets: bool = False, crlf_marks: bool = False,
                 fold_lines: int | None = None, record_layer: bool = False) -> None:
        self.style = style if style in STYLES else "textbook"
        self.show_secrets = show_secrets
        self.crlf_marks = crlf_marks
        self.record_layer = record_layer
        """After each chunk that crossed inside TLS, a line on the records that carried it (``WireChunk.layer``)."""
        self.fold_lines = fold_lines
        """Show at most this many lines of one client chunk (a long message), then a count of the rest."""
        self._partial: dict[str, tuple[bytes, WireChunk]] = {}

    def _prefix(self, kind: str, tls: bool) -> str:
        return _PREFIXES[self.style][kind][1 if tls else 0]

    def feed(self, chunk: WireChunk) -> list[TranscriptLine]:
        """The lines ``chunk`` completes (a line cut between chunks waits for the rest)."""
        return list(self.iter_feed(chunk))

    def iter_feed(self, chunk: WireChunk) -> Iterator[TranscriptLine]:
        """The same lines as ``feed``, made as the iterator is read: a 25 MB message comes a block at a
        time instead of as 330,000 lines in one list.

        The transcript takes the chunk at once: a line left incomplete is kept for the next chunk
        before this returns, so ``feed`` and ``flush`` may be called before the iterator is read.
        Read it before the lines of later chunks, or they come out of order.
        """
        return self._iter(chunk, plain=False)

    def _iter(self, chunk: WireChunk, *, plain: bool) -> Iterator[TranscriptLine | str]:
        """``iter_feed``'s lines; with ``plain``, a long run of plain printable lines may come as one
        ``str`` block in ``plain()`` form instead (``iter_plain``)."""
        if chunk.direction in (Direction.CLIENT, Direction.SERVER):
            other = Direction.SERVER if chunk.direction == Direction.CLIENT else Direction.CLIENT
            before = self._flush(other)
            lines = self._bytes(chunk, plain)
            if self.record_layer and chunk.layer:
                lines = chain(lines, (self._layer_line(chunk),))
            return chain(before, lines) if before else iter(lines)
        before = self.flush()
        kind = {Direction.TLS: "tls", Direction.ERROR: "error", Direction.DNS: "dns"}.get(chunk.direction, "note")
        # A note may quote a server (a failure) or a certificate (TLS facts): shown, like the wire lines.
        before.append(TranscriptLine(kind, self._prefix(kind, chunk.tls), shown(chunk.note), chunk.tls,
                                     chunk.step, chunk.time))
        return iter(before)

    def _layer_line(self, chunk: WireChunk) -> TranscriptLine:
        """"↳ this EHLO went out as one application_data record of 58 bytes": the record layer under the bytes."""
        if chunk.direction == Direction.CLIENT:
            count = chunk.data.count(b"\n")
            words = chunk.data.split(None, 1)
            word = shown(words[0][:16].decode("utf-8", "replace")) if words and count <= 1 else ""
            what = f"this {word}" if word else f"these {count:,} lines"
        else:
            what = "the server's bytes above"
        return TranscriptLine("tls", self._prefix("tls", True), f"↳ {what} {shown(chunk.layer)}", True, chunk.step,
                              chunk.time)

    def iter_plain(self, chunk: WireChunk) -> Iterator[str]:
        """The lines of ``iter_feed`` in their ``TranscriptLine.plain()`` form, for a printer: each item
        is one line or a block of lines joined by "\n". A block of plain printable lines is made whole
        with string methods (C speed), not line by line: ``smtpstep run`` prints a 25 MB message."""
        items = self._iter(chunk, plain=True)  # takes the chunk now, as iter_feed does
        return (item if isinstance(item, str) else item.plain() for item in items)

    def feed_all(self, chunks: Iterable[WireChunk]) -> list[TranscriptLine]:
        lines: list[TranscriptLine] = []
        for chunk in chunks:
            lines += self.iter_feed(chunk)
        return lines + self.flush()

    def flush(self) -> list[TranscriptLine]:
        return self._flush(Direction.CLIENT) + self._flush(Direction.SERVER)

    def _flush(self, direction: str) -> list[TranscriptLine]:
        pending = self._partial.pop(direction, None)
        if pending is None or not pending[0]:
            return []
        data, chunk = pending
        return [self._line(direction, data, chunk, secret=False, complete=False)]

    def _bytes(self, chunk: WireChunk, plain: bool = False) -> Iterable[TranscriptLine | str]:
        """Keeps what follows the chunk's last line end for later, now; returns the complete lines."""
        direction = chunk.direction
        secret = bool(chunk.secrets)
        data = chunk.data if self.show_secrets or not secret else chunk.redacted(SECRET_MASK.encode())
        head, first = self._partial.pop(direction, (b"", chunk))
        end = data.rfind(b"\n") + 1  # the complete lines are head + data[:end]
        if end == 0:
            if head + data:
                self._partial[direction] = (head + data, chunk)
            return ()
        if end < len(data):
            self._partial[direction] = (data[end:], chunk)
        nl = data.find(b"\n") + 1
        if nl == end:  # one line: the common case of commands and reply lines
            return (self._line(direction, head + data[:nl], first, secret=secret, complete=True),)
        return self._lines(direction, head, first, data, nl, end, chunk, secret, plain)

    def _lines(self, direction: str, head: bytes, first: WireChunk, data: bytes, nl: int, end: int,
               chunk: WireChunk, secret: bool, plain: bool = False) -> Iterator[TranscriptLine | str]:
        """The lines of ``head + data[:end]``, the first one ending at ``nl``; folded if there are too many."""
        kind = "client" if direction == Direction.CLIENT else "server"
        prefix = self._prefix(kind, chunk.tls)
        limit = self.fold_lines
        total = data.count(b"\n", 0, end) if limit is not None and limit > 0 else 0
        if not 0 < (limit or 0) < total:
            yield self._line(direction, head + data[:nl], first, secret=secret, complete=True)
            yield from self._run(data, nl, end, kind, prefix, chunk, secret, plain)
            return
        assert limit is not None
        # Lines 0 .. limit-2 are shown, lines limit-1 .. total-2 counted, and the last line shown.
        shown_end = 0
        for _ in range(limit - 1):
            shown_end = data.find(b"\n", shown_end) + 1
        last = data.rfind(b"\n", 0, end - 1) + 1
        if limit > 1:
            yield self._line(direction, head + data[:nl], first, secret=secret, complete=True)
            yield from self._run(data, nl, shown_end, kind, prefix, chunk, secret, plain)
        octets = last - shown_end + (len(head) if limit == 1 else 0)
        yield TranscriptLine("note", self._prefix("note", chunk.tls),
                             f"… {total - limit:,} more lines ({octets:,} octets) folded …",
                             chunk.tls, chunk.step, chunk.time)
        yield from self._run(data, last, end, kind, prefix, chunk, secret, plain)

    def _run(self, data: bytes, start: int, stop: int, kind: str, prefix: str, chunk: WireChunk,
             secret: bool, plain: bool = False) -> Iterator[TranscriptLine | str]:
        """The complete lines of ``data[start:stop]`` (``stop`` just after a line end), a block at a time.

        A block is decoded whole and split: a line end is one byte that no UTF-8 sequence contains, so
        this gives the same text (and the same U+FFFD for broken sequences) as decoding line by line.
        """
        marks = self.crlf_marks
        tls, step, when = chunk.tls, chunk.step, chunk.time
        blocks = plain and not marks  # the caller wants plain text and no line-end marks
        lead = prefix + " "
        while start < stop:
            cut = stop if stop - start <= BLOCK else data.rfind(b"\n", start, start + BLOCK) + 1
            if cut <= start:  # one line longer than a block
                cut = data.find(b"\n", start, stop) + 1
            decoded = data[start:cut].decode("utf-8", "replace")
            if blocks:
                body = decoded.replace("\r\n", "\n")[:-1]  # [:-1]: the block's last line end
                if "\r" not in body and body.replace("\n", "").replace("\t", "").isprintable():
                    yield _TRAILING_BLANKS.sub("", lead + body.replace("\n", "\n" + lead))
                    start = cut
                    continue
            texts = decoded.split("\n")
            texts.pop()  # the empty string after the block's last line end
            for text in texts:
                cr = text[-1:] == "\r"
                if cr:
                    text = text[:-1]
                text = shown(text)
                if marks:
                    text += "␍␊" if cr else "␊ (bare LF)"
                yield TranscriptLine(kind, prefix, text, tls, step, when, secret)
            start = cut

    def _line(self, direction: str, raw: bytes, chunk: WireChunk, *, secret: bool, complete: bool) -> TranscriptLine:
        body = raw[:-1] if raw.endswith(b"\n") else raw
        cr = body.endswith(b"\r")
        if cr:
            body = body[:-1]
        text = shown(body.decode("utf-8", "replace"))
        if self.crlf_marks:
            if complete:
                text += "␍␊" if cr else "␊ (bare LF)"
            elif cr:
                text += "␍"
        kind = "client" if direction == Direction.CLIENT else "server"
        return TranscriptLine(kind, self._prefix(kind, chunk.tls), text, chunk.tls, chunk.step, chunk.time, secret)
