"""The transcript printer of ``smtpstep run``: wire chunks in, transcript lines out, to the terminal as
they come and to the ``--transcript`` file.

Every line it writes is shown text (``smtpstep.protocol.text``): the transcript's lines and notes are
escaped by ``Transcript``, a lesson's words here, so the terminal and the transcript file get the same
visible escapes for any control character a server, a certificate or a lesson file holds.

Secrets are redacted unless the user asked to see them: the transcript masks the spans AUTH marks, and
the printer also blanks the password and its base64 forms wherever they appear. No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from smtpstep.app.session.options import password_forms
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.session.transcript import SECRET_MASK, Transcript
from smtpstep.protocol.text import shown
from smtpstep.protocol.transport.wire import Direction, WireChunk

EMIT_BATCH = 256 * 1024
"""Characters of transcript printed per write: a long message goes out in blocks, not a line at a time."""


class Printer:
    """Wire chunks in, transcript lines out: to the terminal as they come and to the transcript file.

    A ``.txt`` transcript gets exactly the printed lines. Any other format (``.md``, ``.html``,
    ``.svg``, ``.json``) is an export of the session's recording, written when the session ends.
    """

    def __init__(self, settings: SessionSettings, out: TextIO, file: TextIO | None) -> None:
        self.transcript = Transcript(style=settings.style, show_secrets=settings.show_secrets)
        self.out = out
        self.settings = settings
        suffix = settings.transcript.suffix.lower() if settings.transcript is not None else ".txt"
        self.file = file if suffix == ".txt" else None
        self.export_file = file if suffix != ".txt" else None
        """The --transcript file of another format than .txt: the export is written into it at the end."""
        self.hide = () if settings.show_secrets else password_forms(settings.user, settings.password)
        self.tls = False
        self.last_error: str | None = None
        """The last failure the transport reported, so that the closing line does not repeat it."""

    def chunk(self, chunk: WireChunk) -> None:
        """The transport's listener."""
        self.tls = chunk.tls
        if chunk.direction == Direction.ERROR:
            self.last_error = chunk.note
        self._emit(self.transcript.iter_plain(chunk))

    def note(self, text: str, direction: str = Direction.NOTE) -> None:
        """A line of smtpstep's own (header, timing, TLS facts), styled like the transport's notes."""
        self.chunk_note(WireChunk(direction, b"", self.tls, 0.0, 0, note=text))

    def chunk_note(self, chunk: WireChunk) -> None:
        self._emit(self.transcript.iter_plain(chunk))

    def say(self, text: str, prefix: str = "  »", *, wrap: bool = True) -> None:
        """A lesson's words (narration, the server's side), each line after ``prefix``.

        Not redacted: the text comes from the lesson file, whose demo password is public on purpose
        (the AUTH lessons decode it), or from the server's stored message, which holds no password.
        """
        self.flush()
        import textwrap  # a lesson's words only: a plain session never wraps (start-up time)

        width = max(40, 100 - len(prefix))
        lines = (textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) if wrap else [text]) or [""]
        for line in lines:
            text = shown(f"{prefix} {line}".rstrip())
            print(text, file=self.out, flush=True)
            if self.file is not None:
                self.file.write(text + "\n")

    def flush(self) -> None:
        self._emit(line.plain() for line in self.transcript.flush())

    def _emit(self, texts: Iterable[str]) -> None:
        """Print transcript lines in their plain form (and write them to the transcript file), a batch
        per write and flush. ``Transcript.iter_plain`` hands a long message over in blocks of lines,
        made with string methods; one ``print`` per line made a 25 MB message (330,000 lines) take seconds."""
        batch: list[str] = []
        size = 0
        for text in texts:
            batch.append(text)
            size += len(text) + 1
            if size >= EMIT_BATCH:
                self._write(batch)
                batch, size = [], 0
        if batch:
            self._write(batch)

    def _write(self, texts: list[str]) -> None:
        block = "\n".join(texts) + "\n"
        for form in self.hide:  # no form holds a line end, so a block hides what its lines would
            block = block.replace(form, SECRET_MASK)
        self.out.write(block)
        self.out.flush()
        if self.file is not None:
            self.file.write(block)
