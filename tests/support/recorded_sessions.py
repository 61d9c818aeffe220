"""Recorded SMTP sessions and a replayer for the sans-I/O client (after h11's ``tests/helpers.py``).

A script is a list of steps: ``Send`` (a command and the exact bytes it must put on the wire),
``Receive`` (bytes from the server), ``Connected`` and ``TlsUp`` (the transport's events). ``replay``
runs a script through an ``SmtpClient`` the way ``transport/engine.py`` does, optionally cutting every
``Receive`` into chunks, and returns what was sent and every event. The server side of each session
is written as Postfix and aiosmtpd answer (greeting, EHLO keywords, enhanced status codes). Imports
only ``protocol``: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from smtpstep.protocol.client import Answer, Discarded, SmtpClient
from smtpstep.protocol.commands import (
    Auth,
    AuthResponse,
    Bdat,
    Command,
    Connect,
    Data,
    DnsLookup,
    Ehlo,
    Expn,
    Helo,
    Help,
    MailFrom,
    MessageBody,
    Noop,
    Quit,
    Raw,
    RcptTo,
    ReadGreeting,
    Rset,
    StartTls,
    TlsHandshake,
    Vrfy,
)
from smtpstep.protocol.states import State


@dataclass(frozen=True)
class Send:
    """The client sends ``command``; ``wire`` is the exact bytes ``SmtpClient.send`` must return."""

    command: Command
    wire: bytes
    force: bool = False


@dataclass(frozen=True)
class Receive:
    """Bytes from the server, as one read (a replay may cut them into smaller reads)."""

    data: bytes


@dataclass(frozen=True)
class Connected:
    """The TCP connection is open (``connection_made``)."""

    implicit_tls: bool = False


@dataclass(frozen=True)
class TlsUp:
    """The TLS handshake finished (``tls_established``)."""


Step = Send | Receive | Connected | TlsUp
Chunker = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def split_at(offset: int) -> Chunker:
    """Cut each read in two at ``offset`` (or leave it whole if it is shorter)."""

    def chunks(data: bytes) -> list[bytes]:
        return [data[:offset], data[offset:]] if 0 < offset < len(data) else [data]

    return chunks


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@dataclass
class Replay:
    client: SmtpClient
    sent: list[bytes] = field(default_factory=list)
    events: list[Answer | Discarded] = field(default_factory=list)

    @property
    def answers(self) -> list[Answer]:
        return [e for e in self.events if isinstance(e, Answer)]

    @property
    def wire(self) -> bytes:
        return b"".join(self.sent)


def replay(script: Sequence[Step], *, chunks: Chunker = whole, client: SmtpClient | None = None) -> Replay:
    """Run ``script``; assert that every ``Send`` puts exactly its ``wire`` bytes out."""
    result = Replay(client or SmtpClient())
    for step in script:
        c = result.client
        if isinstance(step, Send):
            out = c.send(step.command, force=step.force)
            assert out.data == step.wire, (step.command, out.data, step.wire)
            result.sent.append(out.data)
        elif isinstance(step, Receive):
            for chunk in chunks(step.data):
                result.events.extend(c.receive_data(chunk))
        elif isinstance(step, Connected):
            c.connection_made(implicit_tls=step.implicit_tls)
        elif isinstance(step, TlsUp):
            c.tls_established()
        else:  # pragma: no cover
            raise TypeError(step)
    return result


def receives(script: Sequence[Step]) -> list[bytes]:
    return [s.data for s in script if isinstance(s, Receive)]


# -- the server's lines ------------------------------------------------------------------------------

CLIENT_NAME = "client.example.test"
USER, PASSWORD = "student", "s3cret"
SENDER, RCPT_OK, RCPT_BAD = "student@client.example.test", "teacher@example.test", "nobody@example.test"

GREETING = b"220 mail.example.test ESMTP Postfix (Debian/GNU)\r\n"
EHLO_PLAIN = (
    b"250-mail.example.test\r\n"
    b"250-PIPELINING\r\n"
    b"250-SIZE 10240000\r\n"
    b"250-VRFY\r\n"
    b"250-ETRN\r\n"
    b"250-STARTTLS\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-8BITMIME\r\n"
    b"250-DSN\r\n"
    b"250 SMTPUTF8\r\n"
)
EHLO_TLS = (
    b"250-mail.example.test\r\n"
    b"250-PIPELINING\r\n"
    b"250-SIZE 10240000\r\n"
    b"250-VRFY\r\n"
    b"250-ETRN\r\n"
    b"250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
    b"250-AUTH=PLAIN LOGIN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-8BITMIME\r\n"
    b"250-DSN\r\n"
    b"250 SMTPUTF8\r\n"
)
EHLO_NO_PIPELINING = (
    b"250-mail.example.test Hello client.example.test\r\n"
    b"250-SIZE 33554432\r\n"
    b"250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n"
    b"250-STARTTLS\r\n"
    b"250-AUTH PLAIN LOGIN\r\n"
    b"250-CHUNKING\r\n"
    b"250 HELP\r\n"
)
"""aiosmtpd's shape; it offers AUTH before TLS only when told to, as here, so every verb can be tried."""

MESSAGE = b"Subject: hello\r\n\r\n.a line that starts with a dot\r\nbye\r\n"
MESSAGE_ON_WIRE = b"Subject: hello\r\n\r\n..a line that starts with a dot\r\nbye\r\n.\r\n"

# -- whole sessions ----------------------------------------------------------------------------------

SUBMISSION: list[Step] = [
    Send(Connect(), b""),
    Connected(),
    Send(ReadGreeting(), b""),
    Receive(GREETING),
    Send(Ehlo(CLIENT_NAME), b"EHLO client.example.test\r\n"),
    Receive(EHLO_PLAIN),
    Send(StartTls(), b"STARTTLS\r\n"),
    Receive(b"220 2.0.0 Ready to start TLS\r\n"),
    Send(TlsHandshake(), b""),
    TlsUp(),
    Send(Ehlo(CLIENT_NAME), b"EHLO client.example.test\r\n"),
    Receive(EHLO_TLS),
    Send(Auth("PLAIN", USER, PASSWORD), b"AUTH PLAIN AHN0dWRlbnQAczNjcmV0\r\n"),
    Receive(b"235 2.7.0 Authentication successful\r\n"),
    Send(MailFrom(SENDER), b"MAIL FROM:<student@client.example.test>\r\n"),
    Receive(b"250 2.1.0 Ok\r\n"),
    Send(RcptTo(RCPT_OK), b"RCPT TO:<teacher@example.test>\r\n"),
    Receive(b"250 2.1.5 Ok\r\n"),
    Send(RcptTo(RCPT_BAD), b"RCPT TO:<nobody@example.test>\r\n"),
    Receive(
        b"550 5.1.1 <nobody@example.test>: Recipient address rejected: "
        b"User unknown in local recipient table\r\n"
    ),
    Send(Data(), b"DATA\r\n"),
    Receive(b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    Send(MessageBody(MESSAGE), MESSAGE_ON_WIRE),
    Receive(b"250 2.0.0 Ok: queued as 4FgH1T2Zq1z9sVb\r\n"),
    Send(Quit(), b"QUIT\r\n"),
    Receive(b"221 2.0.0 Bye\r\n"),
]
"""Submission on port 587: STARTTLS, AUTH PLAIN, one recipient refused, one message, QUIT."""

SUBMISSION_WIRE = (
    b"EHLO client.example.test\r\n"
    b"STARTTLS\r\n"
    b"EHLO client.example.test\r\n"
    b"AUTH PLAIN AHN0dWRlbnQAczNjcmV0\r\n"
    b"MAIL FROM:<student@client.example.test>\r\n"
    b"RCPT TO:<teacher@example.test>\r\n"
    b"RCPT TO:<nobody@example.test>\r\n"
    b"DATA\r\n" + MESSAGE_ON_WIRE + b"QUIT\r\n"
)
"""Everything the client writes in ``SUBMISSION``, in order."""

# -- prefixes that leave the client in each state -------------------------------------------------------

_CONNECTED: list[Step] = [Send(Connect(), b""), Connected()]
_GREETED: list[Step] = _CONNECTED + [Send(ReadGreeting(), b""), Receive(GREETING)]
_HELLO: list[Step] = _GREETED + [
    Send(Ehlo(CLIENT_NAME), b"EHLO client.example.test\r\n"),
    Receive(EHLO_NO_PIPELINING),
]
_MAIL: list[Step] = _HELLO + [Send(MailFrom(SENDER), b"MAIL FROM:<student@client.example.test>\r\n"),
                              Receive(b"250 OK\r\n")]
_RCPT: list[Step] = _MAIL + [Send(RcptTo(RCPT_OK), b"RCPT TO:<teacher@example.test>\r\n"),
                             Receive(b"250 OK\r\n")]
_DATA: list[Step] = _RCPT + [Send(Data(), b"DATA\r\n"), Receive(b"354 End data with <CR><LF>.<CR><LF>\r\n")]

STATE_SCRIPTS: dict[State, list[Step]] = {
    State.DISCONNECTED: [],
    State.CONNECTING: [Send(Connect(), b"")],
    State.AWAITING_GREETING: _CONNECTED,
    State.SERVER_REFUSED: _CONNECTED + [Send(ReadGreeting(), b""), Receive(b"554 5.3.2 No SMTP service here\r\n")],
    State.READY_FOR_HELLO: _GREETED,
    State.AWAITING_HELLO_REPLY: _GREETED + [Send(Ehlo(CLIENT_NAME), b"EHLO client.example.test\r\n")],
    State.READY_FOR_MAIL: _HELLO,
    State.AWAITING_STARTTLS_REPLY: _HELLO + [Send(StartTls(), b"STARTTLS\r\n")],
    State.AWAITING_TLS_HANDSHAKE: _HELLO + [Send(StartTls(), b"STARTTLS\r\n"), Receive(b"220 Ready to start TLS\r\n")],
    State.AWAITING_AUTH_REPLY: _HELLO + [Send(Auth("LOGIN", USER, PASSWORD), b"AUTH LOGIN\r\n")],
    State.AUTH_CHALLENGED: _HELLO + [Send(Auth("LOGIN", USER, PASSWORD), b"AUTH LOGIN\r\n"),
                                     Receive(b"334 VXNlcm5hbWU6\r\n")],
    State.AWAITING_MAIL_REPLY: _HELLO + [Send(MailFrom(SENDER), b"MAIL FROM:<student@client.example.test>\r\n")],
    State.READY_FOR_RCPT: _MAIL,
    State.AWAITING_RCPT_REPLY: _MAIL + [Send(RcptTo(RCPT_OK), b"RCPT TO:<teacher@example.test>\r\n")],
    State.READY_FOR_DATA: _RCPT,
    State.AWAITING_DATA_GO_AHEAD: _RCPT + [Send(Data(), b"DATA\r\n")],
    State.READY_FOR_MESSAGE: _DATA,
    State.AWAITING_MESSAGE_RESULT: _DATA + [Send(MessageBody(b"hi\r\n"), b"hi\r\n.\r\n")],
    State.AWAITING_CHUNK_REPLY: _RCPT + [Send(Bdat(b"hi\r\n"), b"BDAT 4\r\nhi\r\n")],
    State.READY_FOR_CHUNK: _RCPT + [Send(Bdat(b"hi\r\n"), b"BDAT 4\r\nhi\r\n"), Receive(b"250 4 octets\r\n")],
    State.READY_FOR_RSET: _RCPT + [Send(Bdat(b"hi\r\n"), b"BDAT 4\r\nhi\r\n"), Receive(b"552 too big\r\n")],
    State.AWAITING_REPLY: _HELLO + [Send(Noop(), b"NOOP\r\n")],
    State.AWAITING_QUIT_REPLY: _HELLO + [Send(Quit(), b"QUIT\r\n")],
    State.CLOSED: _HELLO + [Send(Quit(), b"QUIT\r\n"), Receive(b"221 Bye\r\n")],
}
"""A script per state of ``State`` that leaves a client there, without PIPELINING, TLS or AUTH done.

The EHLO reply offers STARTTLS, AUTH PLAIN LOGIN and CHUNKING, so that no capability guard hides the state table."""


def client_in(state: State) -> SmtpClient:
    client = replay(STATE_SCRIPTS[state]).client
    assert client.state == state, (client.state, state)
    return client


SAMPLE_COMMANDS: dict[str, Command] = {
    "connect": Connect(),
    "greeting": ReadGreeting(),
    "TLS handshake": TlsHandshake(),
    "EHLO": Ehlo(CLIENT_NAME),
    "HELO": Helo(CLIENT_NAME),
    "STARTTLS": StartTls(),
    "AUTH": Auth("PLAIN", USER, PASSWORD),
    "AUTH response": AuthResponse("c3R1ZGVudA==", shown="the user name, base64"),
    "MAIL": MailFrom(SENDER),
    "RCPT": RcptTo(RCPT_OK),
    "DATA": Data(),
    "message": MessageBody(b"hi\r\n"),
    "BDAT": Bdat(b"hi\r\n"),
    "BDAT LAST": Bdat(b"hi\r\n", last=True),
    "RSET": Rset(),
    "NOOP": Noop(),
    "VRFY": Vrfy("teacher"),
    "EXPN": Expn("staff"),
    "HELP": Help(),
    "QUIT": Quit(),
    "raw": Raw("XCLIENT NAME=spike.example.test"),
    "DNS lookup": DnsLookup("example.test"),
}
"""One command of each ``Verb``, keyed by the verb's value. A DNS step is no SMTP command: the client's state
table allows it nowhere (the transport takes it before connecting)."""
