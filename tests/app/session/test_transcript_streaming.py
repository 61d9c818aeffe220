"""Transcript on long chunks: the same lines as the line-by-line algorithm it replaced, made lazily,
folded without splitting the whole chunk, and every line of a 100,000-line session kept."""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass
from itertools import islice

import pytest

from smtpstep.app.session import transcript as transcript_module
from smtpstep.app.session.transcript import SECRET_MASK, Transcript, TranscriptLine
from smtpstep.protocol.transport.wire import Direction, WireChunk

# --- The algorithm before the streaming rewrite, kept as the model the new one must match ---------


@dataclass(frozen=True)
class _Line:
    kind: str
    prefix: str
    text: str
    tls: bool
    step: int
    time: float
    secret: bool = False


_OLD_PREFIX = {
    "textbook": ("C:", "C:", "S:", "S:", "  TLS", "  ==", "  !!"),
    "swaks": (" ->", " ~>", "<- ", "<~ ", "===", "===", "***"),
}


class _Reference:
    def __init__(self, *, style="textbook", show_secrets=False, crlf_marks=False, fold_lines=None):
        self.style, self.show_secrets, self.crlf_marks, self.fold_lines = style, show_secrets, crlf_marks, fold_lines
        self._partial = {}

    def _prefix(self, kind, tls):
        cp, ct, sp, st, te, no, er = _OLD_PREFIX[self.style]
        return {"client": ct if tls else cp, "server": st if tls else sp, "tls": te, "note": no, "error": er}[kind]

    def feed(self, chunk):
        lines = []
        if chunk.direction in (Direction.CLIENT, Direction.SERVER):
            other = Direction.SERVER if chunk.direction == Direction.CLIENT else Direction.CLIENT
            return lines + self._flush(other) + self._bytes(chunk)
        lines += self.flush()
        kind = {Direction.TLS: "tls", Direction.ERROR: "error"}.get(chunk.direction, "note")
        lines.append(_Line(kind, self._prefix(kind, chunk.tls), chunk.note, chunk.tls, chunk.step, chunk.time))
        return lines

    def flush(self):
        return self._flush(Direction.CLIENT) + self._flush(Direction.SERVER)

    def _flush(self, direction):
        pending = self._partial.pop(direction, None)
        if pending is None or not pending[0]:
            return []
        return [self._line(direction, pending[0], pending[1], secret=False, complete=False)]

    def _bytes(self, chunk):
        direction, secret = chunk.direction, bool(chunk.secrets)
        data = chunk.data if self.show_secrets or not secret else chunk.redacted(SECRET_MASK.encode())
        head, first = self._partial.pop(direction, (b"", chunk))
        parts = (head + data).split(b"\n")
        rest = parts.pop()
        lines, total, limit = [], len(parts), self.fold_lines
        for index, raw in enumerate(parts):
            if limit is not None and total > limit and index == limit - 1:
                hidden = parts[index:-1]
                octets = sum(len(p) + 1 for p in hidden)
                lines.append(_Line("note", self._prefix("note", chunk.tls),
                                   f"… {len(hidden):,} more lines ({octets:,} octets) folded …",
                                   chunk.tls, chunk.step, chunk.time))
                lines.append(self._line(direction, parts[-1] + b"\n", chunk, secret=secret, complete=True))
                break
            lines.append(self._line(direction, raw + b"\n", first if index == 0 else chunk, secret=secret,
                                    complete=True))
        if rest:
            self._partial[direction] = (rest, chunk)
        return lines

    def _line(self, direction, raw, chunk, *, secret, complete):
        body = raw[:-1] if raw.endswith(b"\n") else raw
        cr = body.endswith(b"\r")
        if cr:
            body = body[:-1]
        text = "".join(ch if ch.isprintable() or ch == "\t" else f"\\x{ord(ch):02x}"
                       for ch in body.decode("utf-8", "replace"))
        if self.crlf_marks:
            if complete:
                text += "␍␊" if cr else "␊ (bare LF)"
            elif cr:
                text += "␍"
        kind = "client" if direction == Direction.CLIENT else "server"
        return _Line(kind, self._prefix(kind, chunk.tls), text, chunk.tls, chunk.step, chunk.time, secret)


def _as_tuple(line) -> tuple:
    return (line.kind, line.prefix, line.text, line.tls, line.step, line.time, line.secret)


# --- Random sessions -------------------------------------------------------------------------------

_PIECES = [b"\r\n", b"\n", b"\r", b"MAIL FROM:<a@b.test>", b"250 OK", b"\t", b"\x00", b"\x1b[31m", b"\xe2\x82",
           b"\xe2\x82\xac", b"\xf0\x9f\x98", b"\xff", "héllo ✓".encode(), b".", b" ", b"x" * 300]


def _random_session(rng: random.Random, chunks: int) -> list[WireChunk]:
    out = []
    for step in range(chunks):
        roll = rng.random()
        if roll < 0.08:
            out.append(WireChunk(rng.choice([Direction.TLS, Direction.NOTE, Direction.ERROR]), b"", rng.random() < 0.5,
                                 step * 0.01, step, note=f"note {step}"))
            continue
        data = b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 60)))
        secrets = ()
        if data and rng.random() < 0.15:
            start = rng.randrange(len(data))
            secrets = ((start, rng.randrange(start, len(data) + 1)),)
        out.append(WireChunk(rng.choice([Direction.CLIENT, Direction.SERVER]), data, rng.random() < 0.5,
                             step * 0.01, step, secrets))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_lines_match_the_line_by_line_algorithm_for_random_sessions(seed, monkeypatch):
    rng = random.Random(seed)
    monkeypatch.setattr(transcript_module, "BLOCK", rng.choice([8, 64, 1024, 64 * 1024]))  # blocks end mid-chunk
    options = {"style": rng.choice(["textbook", "swaks"]), "show_secrets": rng.random() < 0.3,
               "crlf_marks": rng.random() < 0.5, "fold_lines": rng.choice([None, 0, 1, 2, 3, 5, 40])}
    chunks = _random_session(rng, 80)
    new, old = Transcript(**options), _Reference(**options)
    for chunk in chunks:
        assert [_as_tuple(line) for line in new.feed(chunk)] == [_as_tuple(line) for line in old.feed(chunk)], chunk
    assert [_as_tuple(line) for line in new.flush()] == [_as_tuple(line) for line in old.flush()]


def test_iter_feed_gives_the_lines_of_feed_and_takes_the_chunk_before_it_is_read():
    message = b"".join(b"line %d of the message\r\n" % i for i in range(10_000)) + b"cut"
    chunk = WireChunk(Direction.CLIENT, message, True, 1.0, 7)
    lazy = Transcript().iter_feed(chunk)
    eager = Transcript().feed(chunk)
    assert len(eager) == 10_000
    assert list(lazy) == eager
    transcript = Transcript()
    unread = transcript.iter_feed(chunk)
    # The partial "cut" is already held: it is flushed although the iterator was never read.
    assert [line.text for line in transcript.flush()] == ["cut"]
    assert [line.text for line in islice(unread, 2)] == ["line 0 of the message", "line 1 of the message"]


def test_a_huge_chunk_folds_with_exact_counts():
    lines = [b"x" * (i % 90) + b"\r\n" for i in range(330_000)]
    data = b"".join(lines)
    folded = Transcript(fold_lines=40).feed(WireChunk(Direction.CLIENT, data, True, 0.5, 9))
    assert len(folded) == 41
    hidden = lines[39:-1]
    assert folded[39].kind == "note"
    assert folded[39].text == f"… {len(hidden):,} more lines ({sum(map(len, hidden)):,} octets) folded …"
    assert [line.text for line in folded[:39]] == [raw[:-2].decode() for raw in lines[:39]]
    assert folded[40].text == lines[-1][:-2].decode() and folded[40].kind == "client"


def test_folding_counts_a_line_that_began_in_an_earlier_chunk():
    transcript = Transcript(fold_lines=1)
    assert transcript.feed(WireChunk(Direction.CLIENT, b"head", False, 0.0, 1)) == []
    lines = transcript.feed(WireChunk(Direction.CLIENT, b"er\r\nb\r\nlast\r\n", False, 0.1, 1))
    assert [line.text for line in lines] == ["… 2 more lines (11 octets) folded …", "last"]


def test_a_huge_unfolded_chunk_streams_every_line_in_order():
    count = 330_000
    data = b"".join(b"%d\r\n" % i for i in range(count))
    seen = 0
    for seen, line in enumerate(Transcript().iter_feed(WireChunk(Direction.CLIENT, data, False, 0.0, 1)), 1):
        assert line.text == str(seen - 1)
    assert seen == count


def test_one_line_longer_than_a_block_stays_one_line(monkeypatch):
    monkeypatch.setattr(transcript_module, "BLOCK", 16)
    data = b"a\r\n" + b"y" * 100 + b"\r\nz\r\n"
    assert [line.text for line in Transcript().feed(WireChunk(Direction.SERVER, data, False, 0.0, 1))] == [
        "a", "y" * 100, "z"]


def test_a_transcript_line_keeps_its_fields_and_plain_form():
    line = TranscriptLine("client", "C:", "EHLO me", True, 3, 0.25)
    assert (line.kind, line.prefix, line.text, line.tls, line.step, line.time, line.secret) == (
        "client", "C:", "EHLO me", True, 3, 0.25, False)
    assert line.plain() == "C: EHLO me"
    assert TranscriptLine("note", "  ==", "", False, 0, 0.0).plain() == "  =="


def test_lines_hold_no_objects_the_cycle_collector_must_walk():
    # A line's fields are str, int, float and bool: kept as a plain tuple it is untracked after one
    # collection, which is what keeps a 100,000-line wire log from slowing full collections.
    line = Transcript().feed(WireChunk(Direction.SERVER, b"250 OK\r\n", True, 0.5, 2))[0]
    kept = tuple(line)
    gc.collect()
    assert not gc.is_tracked(kept)


@pytest.mark.parametrize("seed", range(40))
def test_iter_plain_prints_what_the_lines_plain_forms_print(seed, monkeypatch):
    # iter_plain (smtpstep run's printer) makes long runs of lines as blocks with string methods: the
    # text must be exactly the lines' plain() forms, one per line, for every kind of content.
    rng = random.Random(1000 + seed)
    monkeypatch.setattr(transcript_module, "BLOCK", rng.choice([8, 64, 1024, 64 * 1024]))
    options = {"style": rng.choice(["textbook", "swaks"]), "show_secrets": rng.random() < 0.3,
               "crlf_marks": rng.random() < 0.3, "fold_lines": rng.choice([None, None, 2, 40])}
    chunks = _random_session(rng, 80)
    chunks.append(WireChunk(Direction.CLIENT, b"".join(b"line %d  \r\n" % i for i in range(5000)) + b"\r\n.\r\n",
                            True, 9.0, 99))
    blocks, lines = Transcript(**options), Transcript(**options)
    printed, expected = [], []
    for chunk in chunks:
        printed += blocks.iter_plain(chunk)
        expected += [line.plain() for line in lines.iter_feed(chunk)]
    printed += [line.plain() for line in blocks.flush()]
    expected += [line.plain() for line in lines.flush()]
    assert "\n".join(printed) == "\n".join(expected)


def test_iter_plain_makes_a_long_plain_run_in_blocks_not_lines():
    message = b"".join(b"line %d of the message\r\n" % i for i in range(10_000))
    items = list(Transcript().iter_plain(WireChunk(Direction.CLIENT, message, True, 0.0, 1)))
    assert len(items) < 100  # blocks of many lines, not 10,000 items
    assert "\n".join(items).split("\n") == [f"C: line {i} of the message" for i in range(10_000)]
