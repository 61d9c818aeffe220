"""The message as commands: ``MessageBody`` (the text after DATA's 354, dot-stuffed, CRLF line ends and
the final dot, RFC 5321 §4.5.2, §4.1.1.4) and ``Bdat`` (a chunk of the canonical message, RFC 3030 §2),
with the facts a person is shown about them (stuffed lines, lines over 998 octets, bare line ends).

A message can be megabytes: the work is done with bytes methods and remembered for the last few
messages. Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from smtpstep.protocol.command_base import TEXT_LINE_LIMIT, Command, InvalidCommand, Outgoing, Verb

__all__ = ["Bdat", "MessageBody"]


@dataclass(frozen=True)
class MessageBody(Command):
    """The message after a 354, dot-stuffed and ended with CRLF.CRLF (RFC 5321 §4.1.1.4, §4.5.2).

    ``content`` is the message as meant (RFC 5322 headers and body). Bare CR or LF become CRLF
    (RFC 5321 §2.3.8); a line starting with "." gets a second "." (§4.5.2).

    With ``exact``, ``content`` goes on the wire byte for byte: no dot-stuffing, bare CR and LF kept,
    and it must already end with CRLF.CRLF. Only the smtp-smuggling lesson uses it, and only towards
    the built-in server, to show why the end of data must be exactly CRLF.CRLF (RFC 5321 §4.1.1.4).
    """

    content: bytes = field(repr=False)
    exact: bool = False
    """Send ``content`` as given (a lesson's deliberately malformed message); see above."""
    verb = Verb.MESSAGE
    editable = False

    def __post_init__(self) -> None:
        if self.exact and not self.content.endswith(b"\r\n.\r\n"):
            raise InvalidCommand(
                "a message sent exactly as given must end with CRLF.CRLF itself, or the server would wait "
                "for the end of data for ever (RFC 5321 §4.1.1.4)"
            )

    @staticmethod
    def normalized_lines(content: bytes) -> list[bytes]:
        """The message's lines without line endings; CRLF, bare CR and bare LF each end a line."""
        lines = _normalized(content).split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return lines

    def render(self) -> Outgoing:
        if self.exact:
            return Outgoing(self.content)
        return Outgoing(_stuffed(self.content))

    @property
    def stuffed_lines(self) -> int:
        """How many lines got an extra leading dot (none when sent ``exact``)."""
        if self.exact:
            return 0
        return _facts(self.content)[1]

    @property
    def long_lines(self) -> tuple[int, ...]:
        """1-based numbers of lines over 998 octets (RFC 5322 §2.1.1): servers may refuse or break them."""
        return _facts(self.content)[2]

    @property
    def had_bare_line_ends(self) -> bool:
        """True if the content had a CR or LF not part of CRLF, which ``render`` turned into CRLF."""
        return self.content.replace(b"\r\n", b"").count(b"\r") + self.content.replace(b"\r\n", b"").count(b"\n") > 0

    @property
    def canonical(self) -> bytes:
        """The message as RFC 5322 text on the wire outside DATA: every line ended by CRLF (RFC 5321
        §2.3.8), no dot-stuffing and no terminating dot line. What BDAT chunks carry (RFC 3030 §2)."""
        if self.exact:
            return self.content[: -len(b".\r\n")]
        return _canonical(self.content)

    @property
    def label(self) -> str:
        size = len(self.render().data)
        if self.exact:
            return f"(the message exactly as given: {size:,} octets, bare line ends kept)"
        return f"(the message: {_facts(self.content)[0]:,} lines, {size:,} octets, then “.”)"


# A message can be megabytes and its command is rebuilt by every proposal and label: the work is done
# with bytes methods (C speed) and remembered for the last few messages (a bytes object caches its hash).
@functools.lru_cache(maxsize=4)
def _normalized(content: bytes) -> bytes:
    return content.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


@functools.lru_cache(maxsize=4)
def _all_crlf(content: bytes) -> bool:
    """Whether every line end is CRLF already (as ``build_message`` makes them): then the message is
    stuffed and counted as it is, without a normalized copy of it (25 MB less for a 25 MB message)."""
    crlf = content.count(b"\r\n")
    return content.count(b"\r") == crlf and content.count(b"\n") == crlf


@functools.lru_cache(maxsize=4)
def _canonical(content: bytes) -> bytes:
    if _all_crlf(content):
        text = content
    else:
        text = _normalized(content).replace(b"\n", b"\r\n")
    return text + b"\r\n" if text and not text.endswith(b"\r\n") else text


@functools.lru_cache(maxsize=4)
def _stuffed(content: bytes) -> bytes:
    if _all_crlf(content):
        text, end = content, b"\r\n"
    else:
        text, end = _normalized(content), b"\n"
    if text and not text.endswith(end):
        text += end
    if text.startswith(b"."):
        text = b"." + text
    text = text.replace(end + b".", end + b"..")  # RFC 5321 §4.5.2: double a leading dot
    return (text if end == b"\r\n" else text.replace(b"\n", b"\r\n")) + b".\r\n"


@functools.lru_cache(maxsize=4)
def _facts(content: bytes) -> tuple[int, int, tuple[int, ...]]:
    """(line count, lines starting with ".", numbers of lines over 998 octets)."""
    if _all_crlf(content):
        text, end = content, b"\r\n"
    else:
        text, end = _normalized(content), b"\n"
    count = text.count(end) + (1 if text and not text.endswith(end) else 0)
    stuffed = text.count(end + b".") + (1 if text.startswith(b".") else 0)
    if not _has_line_over(text, end, TEXT_LINE_LIMIT):
        return count, stuffed, ()
    long_lines = tuple(i for i, line in enumerate(text.split(end), 1) if len(line) > TEXT_LINE_LIMIT)
    return count, stuffed, long_lines


def _has_line_over(text: bytes, end: bytes, limit: int) -> bool:
    """Whether a line of ``text`` (lines ended by ``end``) is longer than ``limit``, looking a bounded way
    ahead for each line end (a split of a 25 MB message would make 330,000 objects to answer no)."""
    pos, size, window = 0, len(text), limit + len(end)
    while pos < size:
        found = text.find(end, pos, pos + window)
        if found < 0:
            return size - pos > limit
        pos = found + len(end)
    return False


@dataclass(frozen=True)
class Bdat(Command):
    """``BDAT <size> [LAST]`` and the chunk of the message it carries (RFC 3030 §2).

    The chunk follows the command line at once and is sent exactly: no dot-stuffing, no terminating dot,
    its size counted in octets. ``chunk`` is a piece of ``MessageBody.canonical``, never a secret. Only
    for a server that advertised CHUNKING: one that did not would read the chunk as commands (RFC 3030
    §2), which is why the client never lets it be forced there.
    """

    chunk: bytes = field(repr=False)
    last: bool = False
    """The LAST marker: this chunk ends the message, and its reply the transaction."""
    editable = False

    @property
    def verb(self) -> Verb:  # type: ignore[override]
        return Verb.BDAT_LAST if self.last else Verb.BDAT

    @property
    def size(self) -> int:
        return len(self.chunk)

    @property
    def line(self) -> str:
        """The command line, without CRLF and without the chunk."""
        return f"BDAT {self.size}" + (" LAST" if self.last else "")

    def render(self) -> Outgoing:
        return Outgoing(self.line.encode("ascii") + b"\r\n" + self.chunk)

    @property
    def label(self) -> str:
        octets = f"{self.size:,} octet{'' if self.size == 1 else 's'}"
        return f"{self.line} (then {octets} of the message)" if self.size else self.line
