"""SMTP commands as values, and the exact bytes each one puts on the wire.

Holds one frozen dataclass per RFC 5321 verb (plus the AUTH exchange, a user's raw line, and the
three steps that send no command: connect, read the greeting, TLS handshake). Each command checks its
own fields when it is made, so that nothing unsafe can reach the wire:
- CR, LF and NUL are refused in every user-given field: a line ends only with CRLF, and a CR or LF
  inside a field would smuggle in a second command (RFC 5321 §2.3.8);
- a command line is at most 512 octets with CRLF (RFC 5321 §4.5.3.1.4).

What all commands share (``Verb``, ``Outgoing``, the field checks, the ``Command`` base) is in
``command_base.py``; the message itself (``MessageBody``, ``Bdat``) in ``message_commands.py``; both are
re-exported here, so ``smtpstep.protocol.commands`` stays the one place to import commands from.

A line a person types becomes a command in ``command_parser.py``.

``render`` returns an ``Outgoing``: the bytes, and the spans of them that carry secrets (AUTH
payloads), so that every renderer can redact them. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smtpstep.protocol import dsn_parameters, sasl
from smtpstep.protocol.command_base import (
    AUTH_LINE_LIMIT,
    COMMAND_LINE_LIMIT,
    TEXT_LINE_LIMIT,
    Command,
    InvalidCommand,
    Outgoing,
    Verb,
    check_address,
    check_field,
    command_line,
    verb_list,
)
from smtpstep.protocol.message_commands import Bdat, MessageBody


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


DNS_TYPES = ("MX", "A", "AAAA")
"""The record types a DNS step asks for: where mail for a domain goes, then the chosen host's address
(RFC 5321 §5.1)."""


@dataclass(frozen=True)
class DnsLookup(Command):
    """Ask DNS for the ``rdtype`` records of ``name`` before connecting (RFC 5321 §5.1); nothing SMTP is sent.

    The transport's driver asks, the lesson's zone in memory or real DNS (``transport/mx.py``); the answer
    goes into the wire log as a line of its own and decides where the connection goes.
    """

    name: str
    rdtype: str = "MX"
    verb = Verb.DNS
    editable = False

    def __post_init__(self) -> None:
        check_field("the DNS name", self.name)
        object.__setattr__(self, "name", self.name.rstrip(".").lower())
        object.__setattr__(self, "rdtype", self.rdtype.upper())
        if self.rdtype not in DNS_TYPES:
            raise InvalidCommand(f"a DNS step asks for {', '.join(DNS_TYPES)} records, not {self.rdtype}")
        labels = self.name.split(".")
        if not self.name or len(self.name) > 253 or any(not 0 < len(label) <= 63 for label in labels) \
                or any(char.isspace() for char in self.name):
            raise InvalidCommand(f"“{self.name[:64]}” is not a domain name that DNS can be asked about "
                                 "(RFC 1035 §2.3.4: labels of 1 to 63 octets, 253 in all)")

    def render(self) -> Outgoing:
        return Outgoing(b"")

    @property
    def label(self) -> str:
        return f"(DNS: {self.rdtype} {self.name}?)"


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
        return command_line(f"EHLO {self.name}")


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
        return command_line(f"HELO {self.name}")


@dataclass(frozen=True)
class StartTls(Command):
    verb = Verb.STARTTLS

    def render(self) -> Outgoing:
        return command_line("STARTTLS")


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
            return command_line(f"AUTH {self.mechanism}")
        return command_line(prefix + initial, ((len(prefix), len(prefix) + len(initial)),))


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
        return command_line(self.payload, secrets, limit=AUTH_LINE_LIMIT)

    @property
    def label(self) -> str:
        if self.shown and self.secret:
            return f"({self.shown})"
        # An empty answer (XOAUTH2's reply to an error challenge, RFC 4954 §4) would be a blank queue line.
        return super().label or "(empty line)"


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
    ret: str | None = None
    """RET=FULL or RET=HDRS (RFC 3461 §4.3), only if the server offers DSN."""
    envid: str | None = None
    """ENVID=, the envelope identifier before xtext encoding (RFC 3461 §4.4), only if the server offers DSN."""
    requiretls: bool = False
    """REQUIRETLS (RFC 8689 §2), only over TLS to a server that offers it."""
    verb = Verb.MAIL

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", check_address("the sender address", self.address, allow_null=True))
        if not self.smtputf8 and not self.address.isascii():
            raise InvalidCommand(
                "the sender address has non-ASCII characters; that needs SMTPUTF8 (RFC 6531 §3.4)"
            )
        try:
            if self.ret is not None:
                object.__setattr__(self, "ret", dsn_parameters.ret_value(self.ret))
            if self.envid is not None:
                check_field("the ENVID", self.envid)
                dsn_parameters.check_envid(self.envid)
        except dsn_parameters.DsnSyntaxError as error:
            raise InvalidCommand(str(error)) from None
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
        if self.ret is not None:
            params.append(f"RET={self.ret}")
        if self.envid is not None:
            params.append(f"ENVID={dsn_parameters.xtext(self.envid)}")
        if self.requiretls:
            params.append("REQUIRETLS")
        return tuple(params)

    @property
    def dsn(self) -> bool:
        """Whether a DSN parameter is given (RET, ENVID): they need the DSN extension (RFC 3461 §4)."""
        return self.ret is not None or self.envid is not None

    def render(self) -> Outgoing:
        return command_line(" ".join((f"MAIL FROM:<{self.address}>",) + self.parameters))


@dataclass(frozen=True)
class RcptTo(Command):
    """``RCPT TO:<address>`` with the DSN parameters NOTIFY and ORCPT when asked for (RFC 3461 §4.1, §4.2)."""

    address: str
    notify: tuple[str, ...] | None = None
    """NOTIFY=NEVER, or some of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1), only if the server offers DSN."""
    orcpt: str | None = None
    """ORCPT=rfc822;<xtext>: the original recipient address, before encoding (RFC 3461 §4.2)."""
    verb = Verb.RCPT

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", check_address("the recipient address", self.address))
        try:
            if self.notify is not None:
                object.__setattr__(self, "notify", dsn_parameters.notify_words(",".join(self.notify)))
            if self.orcpt is not None:
                check_field("the ORCPT address", self.orcpt)
                dsn_parameters.orcpt_value(self.orcpt)
        except dsn_parameters.DsnSyntaxError as error:
            raise InvalidCommand(str(error)) from None
        self._check_length()

    @property
    def parameters(self) -> tuple[str, ...]:
        params = []
        if self.notify is not None:
            params.append("NOTIFY=" + ",".join(self.notify))
        if self.orcpt is not None:
            params.append("ORCPT=" + dsn_parameters.orcpt_value(self.orcpt))
        return tuple(params)

    @property
    def dsn(self) -> bool:
        """Whether a DSN parameter is given (NOTIFY, ORCPT): they need the DSN extension (RFC 3461 §4)."""
        return bool(self.parameters)

    def render(self) -> Outgoing:
        return command_line(" ".join((f"RCPT TO:<{self.address}>",) + self.parameters))


@dataclass(frozen=True)
class Data(Command):
    verb = Verb.DATA

    def render(self) -> Outgoing:
        return command_line("DATA")


@dataclass(frozen=True)
class Rset(Command):
    verb = Verb.RSET

    def render(self) -> Outgoing:
        return command_line("RSET")


@dataclass(frozen=True)
class Noop(Command):
    verb = Verb.NOOP

    def render(self) -> Outgoing:
        return command_line("NOOP")


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
        return command_line(f"VRFY {self.argument}")


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
        return command_line(f"EXPN {self.argument}")


@dataclass(frozen=True)
class Help(Command):
    argument: str = ""
    verb = Verb.HELP

    def __post_init__(self) -> None:
        check_field("the HELP argument", self.argument)
        self._check_length()

    def render(self) -> Outgoing:
        return command_line(f"HELP {self.argument}".rstrip())


@dataclass(frozen=True)
class Quit(Command):
    verb = Verb.QUIT

    def render(self) -> Outgoing:
        return command_line("QUIT")


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
                return command_line(self.line, ((start, len(self.line.encode())),))
        return command_line(self.line)


__all__ = [
    "AUTH_LINE_LIMIT",
    "Auth",
    "AuthResponse",
    "Bdat",
    "COMMAND_LINE_LIMIT",
    "Command",
    "Connect",
    "DNS_TYPES",
    "Data",
    "DnsLookup",
    "Ehlo",
    "Expn",
    "Helo",
    "Help",
    "InvalidCommand",
    "MailFrom",
    "MessageBody",
    "Noop",
    "Outgoing",
    "Quit",
    "Raw",
    "RcptTo",
    "ReadGreeting",
    "Rset",
    "StartTls",
    "TEXT_LINE_LIMIT",
    "TlsHandshake",
    "Verb",
    "Vrfy",
    "check_address",
    "check_field",
    "verb_list",
]
