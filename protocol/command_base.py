"""What every SMTP command shares: the line limits, the ``Verb`` that keys the state table, the
``Outgoing`` bytes (with the spans that carry secrets), the checks on user-given fields and addresses,
and the ``Command`` base class. The commands themselves are in ``commands.py`` (and the message, sent
after DATA or in BDAT chunks, in ``message_commands.py``).

The checks keep anything unsafe off the wire: CR, LF and NUL are refused in every user-given field (a
CR or LF inside a field would smuggle in a second command, RFC 5321 §2.3.8), and a command line is at
most 512 octets with CRLF (RFC 5321 §4.5.3.1.4). Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import ClassVar

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
    DNS = "DNS lookup"
    """A DNS question asked before connecting, to find where the mail goes (RFC 5321 §5.1): no SMTP is sent."""


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


def command_line(text: str, secrets: tuple[tuple[int, int], ...] = (), *, limit: int = COMMAND_LINE_LIMIT) -> Outgoing:
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
