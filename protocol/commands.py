"""SMTP commands as values, and the exact bytes each one puts on the wire.

Holds one frozen dataclass per RFC 5321 verb (plus the AUTH exchange, a user's raw line, and the
three steps that send no command: connect, read the greeting, TLS handshake). Each command checks its
own fields when it is made, so that nothing unsafe can reach the wire:
- CR, LF and NUL are refused in every user-given field: a line ends only with CRLF, and a CR or LF
  inside a field would smuggle in a second command (RFC 5321 §2.3.8);
- a command line is at most 512 octets with CRLF (RFC 5321 §4.5.3.1.4).

``render`` returns an ``Outgoing``: the bytes, and the spans of them that carry secrets (AUTH
payloads), so that every renderer can redact them. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field
from typing import ClassVar

from smtpstep.protocol import sasl

COMMAND_LINE_LIMIT = 512
"""RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, CRLF included."""

AUTH_LINE_LIMIT = 12288
"""RFC 4954 §4: answers to 334 challenges are not bound by the 512-octet command limit; 12288 octets
is the length the RFC calls sufficient for deployed mechanisms, and smtpstep's cap."""

TEXT_LINE_LIMIT = 998
"""RFC 5322 §2.1.1: a message line is at most 998 characters before CRLF (RFC 5321 §4.5.3.1.6: 1000 with it)."""


class InvalidCommand(ValueError):
    """A command cannot be built from what was given; ``str(error)`` says why in plain words."""


class Verb(enum.Enum):
    """What kind of step a command is; the state table is keyed on these."""

    CONNECT = "connect"
    GREETING = "greeting"
    TLS_HANDSHAKE = "TLS handshake"
    EHLO = "EHLO"
    HELO = "HELO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    AUTH_RESPONSE = "AUTH response"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    MESSAGE = "message"
    BDAT = "BDAT"
    """A chunk of the message that more chunks follow (RFC 3030 §2)."""
    BDAT_LAST = "BDAT LAST"
    """The last chunk of the message; its reply ends the transaction (RFC 3030 §2)."""
    RSET = "RSET"
    NOOP = "NOOP"
    VRFY = "VRFY"
    EXPN = "EXPN"
    HELP = "HELP"
    QUIT = "QUIT"
    RAW = "raw"


def verb_list(verbs: frozenset[Verb] | set[Verb]) -> str:
    """Verbs for people, in session order: "EHLO, HELO, QUIT, any other command"."""
    return ", ".join("any other command" if v == Verb.RAW else v.value for v in Verb if v in verbs)


@dataclass(frozen=True)
class Outgoing:
    """Bytes to write, and the (start, end) spans within them that carry secrets."""

    data: bytes
    secrets: tuple[tuple[int, int], ...] = ()

    def redacted(self, mask: bytes = b"********") -> bytes:
        out, last = bytearray(), 0
        for start, end in self.secrets:
            out += self.data[last:start] + mask
            last = end
        return bytes(out + self.data[last:])


def check_field(name: str, value: str) -> str:
    """Refuse characters that would end the command line early (RFC 5321 §2.3.8), and text that is not
    Unicode at all (bytes that were not UTF-8, kept by Python as lone surrogates, PEP 383)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidCommand(f"{name} is not valid UTF-8 text") from None
    for char, said in (("\r", "a carriage return (CR)"), ("\n", "a line feed (LF)"), ("\0", "a NUL byte")):
        if char in value:
            raise InvalidCommand(
                f"{name} contains {said}; SMTP lines end only with CRLF, so it would split the command "
                "in two (RFC 5321 §2.3.8)"
            )
    return value


_LOCAL_ATOM = re.compile(r"^[^\s<>()\[\]\\,;:@\"]+$")


def check_address(name: str, address: str, *, allow_null: bool = False) -> str:
    """A mailbox the way MAIL and RCPT carry it: local@domain, or <> for MAIL (RFC 5321 §4.1.2)."""
    check_field(name, address)
    if address in ("", "<>"):
        if allow_null:
            return ""
        raise InvalidCommand(f"{name} is empty; RCPT TO needs a mailbox such as student@example.test")
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidCommand(f"{name} “{address}” is not a mailbox: it needs a local part, @ and a domain")
    if " " in address or "<" in address or ">" in address:
        raise InvalidCommand(f"{name} “{address}” contains a space or an angle bracket")
    if not (local.startswith('"') and local.endswith('"')) and not _LOCAL_ATOM.match(local):
        raise InvalidCommand(f"{name} “{address}” has characters that need quoting in its local part (RFC 5321 §4.1.2)")
    if len(local.encode()) > 64 or len(domain.encode()) > 255 or len(address.encode()) > 254:
        raise InvalidCommand(
            f"{name} “{address[:40]}…” is too long (RFC 5321 §4.5.3.1: local part 64, domain 255, path 256 octets)"
        )
    return address


def _line(text: str, secrets: tuple[tuple[int, int], ...] = (), *, limit: int = COMMAND_LINE_LIMIT) -> Outgoing:
    data = text.encode("utf-8") + b"\r\n"
    if len(data) > limit:
        rule = "RFC 4954 §4" if limit == AUTH_LINE_LIMIT else "RFC 5321 §4.5.3.1.4"
        raise InvalidCommand(f"the command line would be {len(data)} octets; {rule} allows {limit} with CRLF")
    return Outgoing(data, secrets)


class Command:
    """Base of every step the client can take; ``verb`` keys the state table."""

    verb: Verb
    editable: ClassVar[bool] = True
    """Whether a person may change the line this step sends (pseudo-steps, the message and anything that
    carries a secret may not: the line shown is not the line sent)."""

    def render(self) -> Outgoing:
        raise NotImplementedError

    def _check_length(self) -> None:
        # Checked when the command is made, not when it is sent: a command that exists can be
        # rendered, so a queue label or a send never fails late (RFC 5321 §4.5.3.1.4).
        self.render()

    @property
    def label(self) -> str:
        """A short human label for queues and captions (never shows a secret)."""
        return self.render().redacted().decode("utf-8", "replace").rstrip("\r\n")


@dataclass(frozen=True)
class Connect(Command):
    """Open the TCP connection (and, for implicit TLS, the handshake right after)."""

    verb = Verb.CONNECT
    editable = False

    def render(self) -> Outgoing:
        return Outgoing(b"")

    @property
    def label(self) -> str:
        return "(connect)"


@dataclass(frozen=True)
class ReadGreeting(Command):
    """Wait for the server's greeting (RFC 5321 §3.1); nothing is sent."""

    verb = Verb.GREETING
    editable = False

    def render(self) -> Outgoing:
        return Outgoing(b"")

    @property
    def label(self) -> str:
        return "(wait for the 220 greeting)"


@dataclass(frozen=True)
class TlsHandshake(Command):
    """Run the TLS handshake after a 220 reply to STARTTLS (RFC 3207 §4); nothing SMTP is sent."""

    verb = Verb.TLS_HANDSHAKE
    editable = False

    def render(self) -> Outgoing:
        return Outgoing(b"")

    @property
    def label(self) -> str:
        return "(TLS handshake)"


@dataclass(frozen=True)
class Ehlo(Command):
    name: str
    verb = Verb.EHLO

    def __post_init__(self) -> None:
        check_field("the EHLO name", self.name)
        if not self.name or " " in self.name:
            raise InvalidCommand("the EHLO name must be one word, such as client.example.test (RFC 5321 §4.1.1.1)")
        self._check_length()

    def render(self) -> Outgoing:
        return _line(f"EHLO {self.name}")


@dataclass(frozen=True)
class Helo(Command):
    name: str
    verb = Verb.HELO

    def __post_init__(self) -> None:
        check_field("the HELO name", self.name)
        if not self.name or " " in self.name:
            raise InvalidCommand("the HELO name must be one word, such as client.example.test (RFC 5321 §4.1.1.1)")
        self._check_length()

    def render(self) -> Outgoing:
        return _line(f"HELO {self.name}")


@dataclass(frozen=True)
class StartTls(Command):
    verb = Verb.STARTTLS

    def render(self) -> Outgoing:
        return _line("STARTTLS")


@dataclass(frozen=True)
class Auth(Command):
    """``AUTH <mechanism>`` with an initial response where the mechanism has one (RFC 4954 §4)."""

    mechanism: str
    username: str
    password: str = field(repr=False)
    verb = Verb.AUTH
    editable = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mechanism", self.mechanism.upper())
        if self.mechanism not in sasl.MECHANISMS:
            raise InvalidCommand(
                f"smtpstep does not speak AUTH {self.mechanism}; it knows {', '.join(sasl.MECHANISMS)}"
            )
        check_field("the user name", self.username)
        check_field("the password", self.password)

    def render(self) -> Outgoing:
        initial = sasl.initial_response(self.mechanism, self.username, self.password)
        prefix = f"AUTH {self.mechanism} "
        # RFC 4954 §4: AUTH itself stays within 512 octets; if the initial response would not fit,
        # the client MUST NOT send it, and answers the server's empty 334 challenge instead.
        if initial is None or len(prefix) + len(initial) + 2 > COMMAND_LINE_LIMIT:
            return _line(f"AUTH {self.mechanism}")
        return _line(prefix + initial, ((len(prefix), len(prefix) + len(initial)),))


@dataclass(frozen=True)
class AuthResponse(Command):
    """One base64 line answering a 334 challenge (RFC 4954 §4); ``secret`` marks it for redaction."""

    payload: str = field(repr=False)
    secret: bool = True
    shown: str = ""
    """What the payload means, in words safe to show (e.g. "the user name, base64")."""
    placeholder: bool = False
    """A preview of an answer not yet computable (the challenge has not come): never sent."""
    verb = Verb.AUTH_RESPONSE
    editable = False

    def __post_init__(self) -> None:
        check_field("the AUTH response", self.payload)
        self._check_length()

    def render(self) -> Outgoing:
        secrets = ((0, len(self.payload.encode())),) if self.secret else ()
        return _line(self.payload, secrets, limit=AUTH_LINE_LIMIT)

    @property
    def label(self) -> str:
        return f"({self.shown})" if self.shown and self.secret else super().label


@dataclass(frozen=True)
class MailFrom(Command):
    """``MAIL FROM:<address>`` with the ESMTP parameters the server advertised (RFC 5321 §4.1.1.2)."""

    address: str
    size: int | None = None
    """SIZE=n (RFC 1870 §6), only if the server offers SIZE."""
    body_8bit: bool = False
    """BODY=8BITMIME (RFC 6152 §3), only if the server offers 8BITMIME."""
    smtputf8: bool = False
    """SMTPUTF8 (RFC 6531 §3.4), only if the server offers it."""
    verb = Verb.MAIL

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", check_address("the sender address", self.address, allow_null=True))
        if not self.smtputf8 and not self.address.isascii():
            raise InvalidCommand(
                "the sender address has non-ASCII characters; that needs SMTPUTF8 (RFC 6531 §3.4)"
            )
        self._check_length()

    @property
    def parameters(self) -> tuple[str, ...]:
        params = []
        if self.size is not None:
            params.append(f"SIZE={self.size}")
        if self.body_8bit:
            params.append("BODY=8BITMIME")
        if self.smtputf8:
            params.append("SMTPUTF8")
        return tuple(params)

    def render(self) -> Outgoing:
        return _line(" ".join((f"MAIL FROM:<{self.address}>",) + self.parameters))


@dataclass(frozen=True)
class RcptTo(Command):
    address: str
    verb = Verb.RCPT

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", check_address("the recipient address", self.address))
        self._check_length()

    def render(self) -> Outgoing:
        return _line(f"RCPT TO:<{self.address}>")


@dataclass(frozen=True)
class Data(Command):
    verb = Verb.DATA

    def render(self) -> Outgoing:
        return _line("DATA")


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


@dataclass(frozen=True)
class Rset(Command):
    verb = Verb.RSET

    def render(self) -> Outgoing:
        return _line("RSET")


@dataclass(frozen=True)
class Noop(Command):
    verb = Verb.NOOP

    def render(self) -> Outgoing:
        return _line("NOOP")


@dataclass(frozen=True)
class Vrfy(Command):
    argument: str
    verb = Verb.VRFY

    def __post_init__(self) -> None:
        check_field("the VRFY argument", self.argument)
        if not self.argument.strip():
            raise InvalidCommand("VRFY needs a user name or mailbox to check (RFC 5321 §4.1.1.6)")
        self._check_length()

    def render(self) -> Outgoing:
        return _line(f"VRFY {self.argument}")


@dataclass(frozen=True)
class Expn(Command):
    """``EXPN <list>``: ask the server to list a mailing list's members (RFC 5321 §4.1.1.7)."""

    argument: str
    verb = Verb.EXPN

    def __post_init__(self) -> None:
        check_field("the EXPN argument", self.argument)
        if not self.argument.strip():
            raise InvalidCommand("EXPN needs the name of a mailing list to expand (RFC 5321 §4.1.1.7)")
        self._check_length()

    def render(self) -> Outgoing:
        return _line(f"EXPN {self.argument}")


@dataclass(frozen=True)
class Help(Command):
    argument: str = ""
    verb = Verb.HELP

    def __post_init__(self) -> None:
        check_field("the HELP argument", self.argument)
        self._check_length()

    def render(self) -> Outgoing:
        return _line(f"HELP {self.argument}".rstrip())


@dataclass(frozen=True)
class Quit(Command):
    verb = Verb.QUIT

    def render(self) -> Outgoing:
        return _line("QUIT")


_VERB_OF_RAW = {
    "EHLO": Verb.EHLO,
    "HELO": Verb.HELO,
    "STARTTLS": Verb.STARTTLS,
    "AUTH": Verb.AUTH,
    "MAIL": Verb.MAIL,
    "RCPT": Verb.RCPT,
    "DATA": Verb.DATA,
    "RSET": Verb.RSET,
    "NOOP": Verb.NOOP,
    "VRFY": Verb.VRFY,
    "EXPN": Verb.EXPN,
    "HELP": Verb.HELP,
    "QUIT": Verb.QUIT,
}


@dataclass(frozen=True)
class Raw(Command):
    """A line typed by the user, sent as is with CRLF. Its verb is read from its first word."""

    line: str
    verb = Verb.RAW

    def __post_init__(self) -> None:
        check_field("the line", self.line)
        if not self.line.strip():
            raise InvalidCommand("the line is empty")
        if self.line.split(" ", 1)[0].upper() == "BDAT":
            # The server reads the octets after a BDAT line as message data (RFC 3030 §2): a bare line
            # would make it take the next commands as the message.
            raise InvalidCommand("a BDAT line is followed by its chunk of the message; write BDAT <size> or "
                                 "BDAT <size> LAST and the chunk is taken from the message")
        self._check_length()

    @property
    def editable(self) -> bool:  # type: ignore[override]
        """A typed line may be edited again, unless it carries a secret (a hand-typed AUTH)."""
        return not self.render().secrets

    @property
    def acts_as(self) -> Verb:
        """The verb the server will take this line for (SMTP verbs are case-insensitive, RFC 5321 §2.4)."""
        return _VERB_OF_RAW.get(self.line.split(" ", 1)[0].split(":", 1)[0].upper(), Verb.RAW)

    def render(self) -> Outgoing:
        # A hand-typed AUTH carries credentials after the mechanism name: mark them secret too.
        if self.acts_as == Verb.AUTH:
            words = self.line.split(" ")
            if len(words) > 2:
                start = len(" ".join(words[:2]).encode()) + 1
                return _line(self.line, ((start, len(self.line.encode())),))
        return _line(self.line)


def parse_command(line: str, *, message_rest: bytes | None = None) -> Command:
    """Turn a typed line into the matching command, or a ``Raw`` one for anything else.

    AUTH typed by hand stays ``Raw``: credentials go through ``Auth`` so that they are redacted.
    ``BDAT <size> [LAST]`` takes its chunk from the start of ``message_rest`` (the part of the message
    not sent or queued yet); without it, or if the line is not of that form, it is refused.
    """
    check_field("the line", line)
    text = line.strip()
    word, _, rest = text.partition(" ")
    verb = word.upper()
    rest = rest.strip()
    if verb == "BDAT":
        return _bdat(rest, message_rest)
    try:
        return _structured(verb, text, rest)
    except InvalidCommand:
        return Raw(text)  # malformed on purpose, perhaps: let the server judge it


def _structured(verb: str, text: str, rest: str) -> Command:
    simple = {"STARTTLS": StartTls, "DATA": Data, "RSET": Rset, "NOOP": Noop, "QUIT": Quit}
    if verb in simple and not rest:
        return simple[verb]()
    if verb == "EHLO" and rest and " " not in rest:
        return Ehlo(rest)
    if verb == "HELO" and rest and " " not in rest:
        return Helo(rest)
    if verb == "VRFY" and rest:
        return Vrfy(rest)
    if verb == "EXPN" and rest:
        return Expn(rest)
    if verb == "HELP":
        return Help(rest)
    upper = text.upper()
    if upper.startswith("MAIL FROM:") and " " not in text[10:].strip():
        return MailFrom(text[10:].strip())
    if upper.startswith("RCPT TO:") and " " not in text[8:].strip():
        return RcptTo(text[8:].strip())
    return Raw(text)


def _bdat(arguments: str, message_rest: bytes | None) -> Bdat:
    """``BDAT <size> [LAST]`` (RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [SP end-marker]), its chunk
    the next ``size`` octets of the message."""
    words = arguments.split()
    if not words or not words[0].isdigit() or len(words) > 2 or (len(words) == 2 and words[1].upper() != "LAST"):
        raise InvalidCommand("write BDAT <size> or BDAT <size> LAST, the size in octets (RFC 3030 §2)")
    if message_rest is None:
        raise InvalidCommand("BDAT sends the next octets of the message, and there is no message to take them from")
    size = int(words[0])
    if size > len(message_rest):
        raise InvalidCommand(f"only {len(message_rest):,} octets of the message are left to send, not {size:,}")
    return Bdat(message_rest[:size], last=len(words) == 2)
