"""Text from outside, made safe to show: the one way a string smtpstep did not write reaches a person.

Servers, certificates, lesson files, recordings, the clients of ``smtpstep serve`` and web clients send
text that smtpstep did not write. Shown raw, it could drive the terminal that shows it: ESC starts a
control sequence (OSC 52 writes the clipboard, OSC 0 the window title, CSI 2J clears the screen, CSI
?1049h switches screens), BEL rings, a C1 byte such as U+009B is a CSI of its own on some terminals,
and bidirectional overrides (U+202E) make a line read differently from what it holds. ``shown``
turns every character that is not printable into a visible escape, written as Python writes it:
``\\x1b``, ``\\x07``, ``\\x00``, ``\\x9b``, ``\\u202e``. What is printable keeps its own form, so any
language reads as it should.

Which characters: everything ``str.isprintable`` refuses (C0 and C1 controls, DEL, format characters
such as the bidirectional controls and zero-width joiners, separators other than the space, private
use, unassigned code points and the lone surrogates that undecodable bytes become), except TAB,
which moves the cursor and nothing else. Line ends are escaped too, unless a caller prints lines
(``LINES``); a caller that quotes text inside a sentence bounds it first (``quoted``).

Who applies it: the transcript (the wire log, ``smtpstep run``, exports), the sentences that quote a
server (``replies``, the transport), and the app's output layer (``smtpstep.app.terminal``), which puts
every write to stdout, stderr and the log files, and every Rich and Textual text the terminal app
draws, through the same table. Rich markup is a separate matter: outside text is handed to Rich and
Textual as text objects, never as markup.

Pure: no I/O, no Rich, no Textual.
"""

from __future__ import annotations

ELLIPSIS = "…"


def escape_of(code: int) -> str:
    """The visible escape of one code point: ``\\x1b``, ``\\u202e`` or ``\\U000e0001``."""
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class _Escapes(dict[int, str]):
    """A ``str.translate`` table: every code point that is not printable to its escape, the others
    (and those in ``keep``) to themselves. Filled in as characters are met; at most one entry per
    distinct code point, so its size is bounded by the text shown, not by Unicode."""

    def __init__(self, keep: str) -> None:
        super().__init__()
        self.keep = frozenset(keep)

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = char if char.isprintable() or char in self.keep else escape_of(code)
        self[code] = value
        return value


TABLE: dict[int, str] = _Escapes("\t")
"""``str.translate`` table for one line of text: TAB kept, everything else unprintable escaped."""

LINES: dict[int, str] = _Escapes("\t\n")
"""The same for text made of lines (a terminal stream, a log file): line feeds kept as well."""


def shown(text: str) -> str:
    """``text`` with every character that is not printable (but TAB) as a visible escape."""
    if text.isprintable():  # the common case: C speed, nothing made
        return text
    return text.translate(TABLE)


def shown_lines(text: str) -> str:
    """``shown``, keeping line feeds: for text printed as lines."""
    return text.translate(LINES)


def is_shown(text: str) -> bool:
    """Whether ``text`` needs no escaping (``shown(text) == text``)."""
    return text.isprintable() or shown(text) == text


def quoted(text: str, limit: int = 60) -> str:
    """Outside text for a sentence: at most ``limit`` characters of it, shown, with an ellipsis when
    cut. The limit applies before escaping, so a line of escapes is still one line of a sentence."""
    return shown(text[:limit]) + (ELLIPSIS if len(text) > limit else "")


def quoted_bytes(raw: bytes, limit: int = 60) -> str:
    """``quoted`` for bytes a peer sent (decoded as UTF-8, broken sequences as U+FFFD)."""
    return quoted(raw[:limit].decode("utf-8", "replace"), limit) + (ELLIPSIS if len(raw) > limit else "")


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: bytes that were not UTF-8, decoded with surrogate escapes
    (PEP 383: the command line, aiosmtpd's arguments), are lone surrogates that cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
