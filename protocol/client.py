"""The sans-I/O SMTP client: bytes in, events out; commands in, bytes out.

``SmtpClient`` checks each command against the state table (``states.py``) and returns the exact
bytes to write; ``receive_data`` parses what the server sent and returns the events now complete
(h11's bytes-in, events-out): an ``Answer`` per reply, ``Discarded`` bytes it would not read, a
``ServerClosing`` for a 421 nobody asked for, and a ``ProtocolViolation`` after the answers it could
still apply when the server broke the protocol. A violation leaves the client in
``State.PROTOCOL_ERROR``, which allows nothing but closing the connection; ``receive_data`` never
raises for what a server sends. It keeps two separate lifetimes, as RFC 5321 and RFC 3207 do:
- ``Session``: the greeting, EHLO capabilities, TLS and AUTH. STARTTLS throws all of it away
  (RFC 3207 §4.2); the facts from before TLS are kept in ``Session.before_tls`` for display only.
- ``Envelope``: MAIL FROM and the RCPT TOs. RSET, a new EHLO or the end of DATA clear it
  (RFC 5321 §4.1.1.5, §4.1.4).
It must not do I/O, sleep, read a clock or decide policy (which server to trust, when to stop):
the transport and the planner do that.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from smtpstep.protocol.capabilities import Capabilities
from smtpstep.protocol.commands import (
    Auth,
    AuthResponse,
    Command,
    Ehlo,
    Helo,
    MailFrom,
    MessageBody,
    Outgoing,
    Raw,
    RcptTo,
    Verb,
)
from smtpstep.protocol.replies import ProtocolError, Reply, ReplyParser, printable
from smtpstep.protocol.states import ALLOWED, AWAITS, IDLE, NO_REPLY, PIPELINE_LAST, READS_COMMANDS, State, after_reply


class CommandNotAllowed(Exception):
    """The command does not fit the session now. ``str(error)`` says why the server would refuse it.

    ``forceable`` is True when the client can still send it on purpose (the server decides);
    False when sending is impossible (no connection, no 354 yet for a message, ...) or when the
    server would not read the line as a command (before the greeting, after 334 or 354).
    """

    def __init__(self, reason: str, *, forceable: bool = True) -> None:
        super().__init__(reason)
        self.forceable = forceable


@dataclass(frozen=True)
class Session:
    """Facts learned during this SMTP session; STARTTLS discards them (RFC 3207 §4.2)."""

    greeting: Reply | None = None
    hello_name: str | None = None
    """The name the client gave in EHLO/HELO, once the server accepted it."""
    extended: bool = False
    """True after a successful EHLO, False after HELO (no extensions, RFC 5321 §4.1.1.1)."""
    capabilities: Capabilities | None = None
    tls: bool = False
    implicit_tls: bool = False
    authenticated_as: str | None = None
    auth_mechanism: str | None = None
    ehlo_refused: bool = False
    """True when EHLO got 500/502: the server wants HELO (RFC 5321 §4.1.1.1)."""
    before_tls: Session | None = None
    """The facts as they were before STARTTLS, kept only to show what changed."""


@dataclass(frozen=True)
class Envelope:
    """The current mail transaction (RFC 5321 §3.3)."""

    mail_from: str | None = None
    rcpt_tos: tuple[str, ...] = ()
    """Recipients the server accepted."""
    rejected: tuple[tuple[str, Reply], ...] = ()
    """Recipients the server refused, with its reply."""
    smtputf8: bool = False


@dataclass(frozen=True)
class Answer:
    """A command (or the greeting, or a handshake) and the reply that completed it."""

    command: Command
    reply: Reply
    state: State
    """The settled state after this reply."""


@dataclass(frozen=True)
class Discarded:
    """Bytes the client threw away unread, and why (e.g. plaintext after 220 to STARTTLS)."""

    data: bytes
    reason: str


@dataclass(frozen=True)
class ServerClosing:
    """The server announced, unasked, that it closes the session (a 421, RFC 5321 §3.8); the client is closed."""

    reply: Reply


@dataclass(frozen=True)
class ProtocolViolation:
    """The server broke the protocol; the client is now in ``State.PROTOCOL_ERROR``.

    ``message`` is one plain sentence (untrusted text in it is escaped and cut short); ``raw`` holds the
    bytes at fault.
    """

    message: str
    raw: bytes = b""


Event = Answer | Discarded | ServerClosing | ProtocolViolation
"""What ``SmtpClient.receive_data`` returns, in the order the bytes gave them."""


@dataclass(frozen=True)
class Transaction:
    """A finished DATA: the envelope as it was and the server's reply to the final dot."""

    envelope: Envelope
    reply: Reply


@dataclass(frozen=True)
class ClientView:
    """An immutable copy of everything the client knows, for snapshots."""

    state: State
    settled: State
    pending: tuple[Command, ...]
    session: Session
    envelope: Envelope
    transactions: tuple[Transaction, ...]
    challenge: str | None
    auth_in_progress: str | None
    """The mechanism of an AUTH exchange under way (never the secret)."""
    allowed: frozenset[Verb]


_ORDER_HINTS: dict[Verb, str] = {
    Verb.EHLO: "EHLO comes after the 220 greeting (RFC 5321 §3.1, §4.1.1.1)",
    Verb.HELO: "HELO comes after the 220 greeting (RFC 5321 §3.1, §4.1.1.1)",
    Verb.STARTTLS: "STARTTLS comes after EHLO and outside a mail transaction (RFC 3207 §4)",
    Verb.AUTH: "AUTH comes after EHLO and never during a mail transaction (RFC 4954 §4)",
    Verb.MAIL: "MAIL FROM starts a transaction: it needs a successful EHLO first and no open transaction "
    "(RFC 5321 §4.1.1.2, §4.1.4)",
    Verb.RCPT: "RCPT TO needs an accepted MAIL FROM first (RFC 5321 §4.1.1.3)",
    Verb.DATA: "DATA needs at least one accepted RCPT TO (RFC 5321 §4.1.1.4)",
    Verb.MESSAGE: "the message may only be sent after DATA got 354 (RFC 5321 §4.1.1.4)",
    Verb.AUTH_RESPONSE: "an AUTH response only answers a 334 challenge (RFC 4954 §4)",
    Verb.GREETING: "the greeting comes once, right after the connection opens (RFC 5321 §3.1)",
    Verb.TLS_HANDSHAKE: "the TLS handshake follows a 220 reply to STARTTLS, or opens an implicit TLS connection "
    "(RFC 3207 §4, RFC 8314 §3)",
    Verb.CONNECT: "the client is already connected",
}

_AFTER_THE_END = {
    State.CLOSED: "the session is over (after a 421 or the reply to QUIT the server closes, RFC 5321 §3.8, "
                  "§4.1.1.10), so the client reads nothing more",
    State.PROTOCOL_ERROR: "the server broke the protocol, so the client reads nothing more from it",
}
"""Why ``receive_data`` throws bytes away unread once the session is over."""

_HARD = frozenset({Verb.CONNECT, Verb.GREETING, Verb.TLS_HANDSHAKE, Verb.MESSAGE, Verb.AUTH_RESPONSE})
"""Steps that can never be forced out of order: they are not lines a server could judge."""

_CHANGES_NEXT_LINE = frozenset({Verb.CONNECT, Verb.TLS_HANDSHAKE, Verb.STARTTLS, Verb.AUTH, Verb.AUTH_RESPONSE,
                                Verb.DATA})
"""Pending steps whose reply may turn the next line into something other than a command: TLS bytes
(RFC 3207 §4), a SASL answer (RFC 4954 §4) or message text (RFC 5321 §4.1.1.4)."""


class SmtpClient:
    """One SMTP connection's client side, without I/O."""

    def __init__(self) -> None:
        self._settled = State.DISCONNECTED
        self._pending: deque[Command] = deque()
        self._parser = ReplyParser()
        self.session = Session()
        """Facts of the current session (replaced, never mutated)."""
        self.envelope = Envelope()
        """The open transaction (replaced, never mutated)."""
        self.transactions: tuple[Transaction, ...] = ()
        """Every finished DATA of this connection."""
        self.challenge: str | None = None
        """The text of the last 334 AUTH challenge, while one is to be answered."""
        self._auth: Auth | None = None

    # -- what the client may do ------------------------------------------------------------------

    @property
    def state(self) -> State:
        """What the client waits for now: the first pending command's awaited state, else the settled one."""
        if self._pending:
            return AWAITS[self._effective(self._pending[0])]
        return self._settled

    @property
    def settled(self) -> State:
        """The state after every reply received so far."""
        return self._settled

    @property
    def pending(self) -> tuple[Command, ...]:
        return tuple(self._pending)

    @property
    def unparsed(self) -> bytes:
        """Bytes received that are not yet a complete reply line (at most ``replies.MAX_LINE`` octets)."""
        return self._parser.pending

    def projected(self) -> State:
        """The settled state if every pending command succeeds: what a pipelined command must fit."""
        state = self._settled
        for command in self._pending:
            verb = self._effective(command)
            if verb == Verb.CONNECT:
                state = State.AWAITING_GREETING
            elif verb == Verb.TLS_HANDSHAKE:
                state = State.READY_FOR_HELLO if self.session.greeting else State.AWAITING_GREETING
            else:
                state = after_reply(verb, {Verb.DATA: 354, Verb.GREETING: 220}.get(verb, 250), state)
        return state

    def allowed(self) -> frozenset[Verb]:
        """The verbs that fit the state now (before guards on capabilities)."""
        if self._pending:
            if not self._may_pipeline() or self._effective(self._pending[-1]) in PIPELINE_LAST:
                return frozenset()
            return ALLOWED.get(self.projected(), frozenset())
        return ALLOWED.get(self._settled, frozenset())

    def check(self, command: Command) -> CommandNotAllowed | None:
        """Why ``command`` does not fit now, or None if it does."""
        verb = self._effective(command)
        if isinstance(command, AuthResponse) and command.placeholder:
            return CommandNotAllowed("this AUTH answer is a preview: it is computed when the challenge comes",
                                     forceable=False)
        if self._settled == State.CLOSED:
            return CommandNotAllowed("the connection is closed; reconnect to start a new session", forceable=False)
        if self._settled == State.PROTOCOL_ERROR:
            return CommandNotAllowed(
                "the server broke the protocol, so no reply can be matched to a command any more; the "
                "connection can only be closed (RFC 5321 §4.2, §3.8)",
                forceable=False,
            )
        forceable = verb not in _HARD and self._next_line_is_a_command()
        if self._pending:
            last = self._effective(self._pending[-1])
            if not self._may_pipeline():
                return CommandNotAllowed(
                    f"the reply to {self._pending[0].label} has not arrived yet; without PIPELINING the client "
                    "waits for each reply (RFC 5321 §4.3.1, RFC 2920)",
                    forceable=forceable,
                )
            if last in PIPELINE_LAST:
                return CommandNotAllowed(
                    f"{last.value} must be the last command of a pipelined group: wait for its reply (RFC 2920 §3.1)",
                    forceable=forceable,
                )
        state = self.projected()
        if verb not in ALLOWED.get(state, frozenset()):
            hint = _ORDER_HINTS.get(verb, "")
            may = ", ".join(sorted(v.value for v in ALLOWED.get(state, frozenset())))
            reason = f"the session is {state.value}" + (f"; {hint}" if hint else "") + (
                f". Allowed now: {may}" if may else ""
            )
            return CommandNotAllowed(reason, forceable=forceable)
        return self._guard(command, verb, state)

    def _next_line_is_a_command(self) -> bool:
        """Whether the server would read a line sent now as a command, so that forcing one means something.

        Forcing a line where the server reads something else would put the client out of step with it:
        before the greeting the greeting would be taken as the line's reply; after 334 or 354 the line
        is a SASL answer or message text, and no reply to it ever comes.
        """
        if self._pending:
            return self._effective(self._pending[-1]) not in _CHANGES_NEXT_LINE
        return self._settled in READS_COMMANDS

    def _guard(self, command: Command, verb: Verb, state: State) -> CommandNotAllowed | None:
        caps = self.session.capabilities
        if verb == Verb.STARTTLS:
            if self.session.tls:
                return CommandNotAllowed("TLS is already on; STARTTLS may not be repeated (RFC 3207 §4.2)")
            if caps is not None and "STARTTLS" not in caps:
                return CommandNotAllowed("the server did not offer STARTTLS in its EHLO reply (RFC 3207 §4)")
        if verb == Verb.AUTH:
            if self.session.authenticated_as:
                return CommandNotAllowed("the client is already authenticated; one AUTH per session (RFC 4954 §4)")
            if isinstance(command, Auth) and caps is not None and command.mechanism not in caps.auth_mechanisms:
                offered = " ".join(caps.auth_mechanisms) or "no AUTH at all"
                return CommandNotAllowed(
                    f"the server did not offer AUTH {command.mechanism} (it offered {offered}; RFC 4954 §3)"
                )
        if isinstance(command, MailFrom):
            needs = [
                (command.size is not None, "SIZE", "SIZE= needs the SIZE extension (RFC 1870 §4)"),
                (command.body_8bit, "8BITMIME", "BODY=8BITMIME needs the 8BITMIME extension (RFC 6152 §2)"),
                (command.smtputf8, "SMTPUTF8", "SMTPUTF8 needs the SMTPUTF8 extension (RFC 6531 §3.4)"),
            ]
            for used, keyword, reason in needs:
                if used and (caps is None or keyword not in caps):
                    return CommandNotAllowed(f"the server did not advertise {keyword}: {reason}")
        smtputf8 = self.envelope.smtputf8 or any(isinstance(c, MailFrom) and c.smtputf8 for c in self._pending)
        if isinstance(command, RcptTo) and not command.address.isascii() and not smtputf8:
            return CommandNotAllowed(
                "the recipient has non-ASCII characters; MAIL FROM must carry SMTPUTF8 first (RFC 6531 §3.4)"
            )
        return None

    # -- sending ---------------------------------------------------------------------------------

    def send(self, command: Command, *, force: bool = False) -> Outgoing:
        """Record ``command`` as sent and return its bytes. Raises ``CommandNotAllowed`` (state unchanged)."""
        refusal = self.check(command)
        if refusal is not None and not (force and refusal.forceable):
            raise refusal
        outgoing = command.render()
        self._pending.append(command)
        if isinstance(command, Auth):
            self._auth = command
        return outgoing

    def withdraw(self, count: int) -> None:
        """Forget the last ``count`` commands given to ``send`` that were never written (a refused group)."""
        for _ in range(count):
            command = self._pending.pop()
            if command is self._auth:
                self._auth = None

    # -- events from the transport ---------------------------------------------------------------

    def connection_made(self, *, implicit_tls: bool = False) -> None:
        """The TCP connection is open; with implicit TLS (RFC 8314 §3.3) the handshake comes first."""
        self._pop(Verb.CONNECT)
        self.session = Session(implicit_tls=implicit_tls)
        self._settled = State.AWAITING_TLS_HANDSHAKE if implicit_tls else State.AWAITING_GREETING

    def tls_established(self) -> None:
        """The TLS handshake finished. After STARTTLS every session fact is forgotten (RFC 3207 §4.2)."""
        self._pop(Verb.TLS_HANDSHAKE)
        if self.session.implicit_tls and self.session.greeting is None:
            self.session = replace(self.session, tls=True)
            self._settled = State.AWAITING_GREETING
        else:
            self.session = Session(tls=True, before_tls=self.session)
            self.envelope = Envelope()
            self._settled = State.READY_FOR_HELLO
        self._parser = ReplyParser()

    def connection_lost(self) -> None:
        """The connection closed, by either side."""
        self._pending.clear()
        self._settled = State.CLOSED

    @property
    def idle(self) -> bool:
        """Whether the server owes the client nothing now: whatever it sends is unsolicited (``IDLE``)."""
        return not self._pending and self._settled in IDLE

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the server; return the events they complete, in order. Never raises.

        - an ``Answer`` for each reply, applied to the state in the order the commands were sent;
        - ``Discarded`` for bytes that must not be read: plaintext while the TLS handshake is due, or
          anything after the session closed or broke;
        - ``ServerClosing`` for a 421 that no command is waiting for (RFC 5321 §3.8): the client closes;
        - ``ProtocolViolation`` for a malformed reply or one nobody asked for, after the answers that
          came before it: the client moves to ``State.PROTOCOL_ERROR`` and reads nothing more.
        """
        if self._settled in (State.CLOSED, State.PROTOCOL_ERROR):
            return [Discarded(data, _AFTER_THE_END[self._settled])] if data else []
        if self._settled == State.AWAITING_TLS_HANDSHAKE or (self._pending and self._pending[0].verb in NO_REPLY):
            # No SMTP reply may come before the TLS handshake (RFC 3207 §4.2; RFC 8314 §3.3 for implicit
            # TLS): bytes now would be read as if TLS had protected them.
            return [Discarded(data, "the server sent plaintext while the client waited for the TLS handshake; it "
                                    "could come from an attacker, so it is thrown away unread (RFC 3207 §4.2)")]
        events: list[Event] = []
        self._parser.add(data)
        while True:
            try:
                reply = self._parser.next()
            except ProtocolError as error:
                events.append(self._violation(str(error), error.raw))
                break
            if reply is None:
                break
            if not self._pending:
                if reply.code == 421:  # RFC 5321 §3.8: the server may announce shutdown at any time
                    self._close_reading()
                    events.append(ServerClosing(reply))
                else:
                    events.append(self._violation(
                        f"the server sent a reply nobody asked for: “{printable(reply.first_line)}”",
                        reply.to_bytes(),
                    ))
                break
            command = self._pending.popleft()
            events.append(self._answer(command, reply))
            if self._settled == State.CLOSED:
                # RFC 5321 §3.8: after 421 (or QUIT's reply) the server closes; nothing else will be answered.
                self._close_reading()
                break
            if self._settled == State.AWAITING_TLS_HANDSHAKE:
                rest = self._parser.pending
                self._parser = ReplyParser()
                if rest:
                    events.append(
                        Discarded(
                            rest,
                            "the server sent more plaintext after its 220 to STARTTLS; it could come from an "
                            "attacker, so it is thrown away unread (RFC 3207 §4.2; the client side of CVE-2011-0411)",
                        )
                    )
                break
        return events

    def _close_reading(self) -> None:
        """The session is over (421, QUIT's reply): nothing pending will be answered, nothing more is read."""
        self._pending.clear()
        self._settled = State.CLOSED
        self._parser = ReplyParser()

    def _violation(self, message: str, raw: bytes) -> ProtocolViolation:
        """Enter ``PROTOCOL_ERROR`` (as h11's ERROR state): replies can no longer be matched to commands."""
        self._pending.clear()
        self._settled = State.PROTOCOL_ERROR
        self._parser = ReplyParser()  # let go of whatever the peer sent after the fault
        self._auth = None
        self.challenge = None
        return ProtocolViolation(message, raw)

    def _answer(self, command: Command, reply: Reply) -> Answer:
        verb = self._effective(command)
        before = self._settled
        self._settled = after_reply(verb, reply.code, before)
        ok = reply.positive
        if verb == Verb.GREETING:
            self.session = replace(self.session, greeting=reply)
        elif verb in (Verb.EHLO, Verb.HELO) and ok:
            extended = verb == Verb.EHLO
            name = command.name if isinstance(command, (Ehlo, Helo)) else command.label.split(" ", 1)[-1]
            self.session = replace(
                self.session,
                hello_name=name,
                extended=extended,
                capabilities=Capabilities.from_reply(reply) if extended else Capabilities.none(),
            )
            self.envelope = Envelope()
        elif verb == Verb.EHLO and reply.code in (500, 502):
            self.session = replace(self.session, ehlo_refused=True)
        elif verb in (Verb.AUTH, Verb.AUTH_RESPONSE):
            self.challenge = reply.lines[0] if reply.code == 334 and reply.lines else None
            if ok:
                auth = self._auth
                self.session = replace(
                    self.session,
                    authenticated_as=auth.username if auth else "(raw AUTH)",
                    auth_mechanism=auth.mechanism if auth else None,
                )
            if reply.code != 334:
                self._auth = None
        elif verb == Verb.MAIL and ok:
            address = command.address if isinstance(command, MailFrom) else _raw_path(command.label[10:])
            smtputf8 = isinstance(command, MailFrom) and command.smtputf8
            self.envelope = Envelope(mail_from=address, smtputf8=smtputf8)
        elif verb == Verb.RCPT:
            address = command.address if isinstance(command, RcptTo) else _raw_path(command.label[8:])
            if ok:
                self.envelope = replace(self.envelope, rcpt_tos=self.envelope.rcpt_tos + (address,))
            else:
                self.envelope = replace(self.envelope, rejected=self.envelope.rejected + ((address, reply),))
        elif verb == Verb.MESSAGE:
            self.transactions += (Transaction(self.envelope, reply),)
            self.envelope = Envelope()
        elif verb == Verb.RSET and ok:
            self.envelope = Envelope()
        return Answer(command, reply, self._settled)

    # -- views -----------------------------------------------------------------------------------

    def view(self) -> ClientView:
        return ClientView(
            state=self.state,
            settled=self._settled,
            pending=self.pending,
            session=self.session,
            envelope=self.envelope,
            transactions=self.transactions,
            challenge=self.challenge,
            auth_in_progress=self._auth.mechanism if self._auth else None,
            allowed=self.allowed(),
        )

    @property
    def auth_in_progress(self) -> Auth | None:
        """The AUTH command whose challenges are being answered, if any (holds the secret: do not show)."""
        return self._auth

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _effective(command: Command) -> Verb:
        return command.acts_as if isinstance(command, Raw) else command.verb

    def _may_pipeline(self) -> bool:
        caps = self.session.capabilities
        return caps is not None and "PIPELINING" in caps

    def _pop(self, verb: Verb) -> None:
        if self._pending and self._pending[0].verb == verb:
            self._pending.popleft()


def _raw_path(text: str) -> str:
    words = text.split()
    return words[0].strip("<>") if words else ""


__all__ = [
    "Answer",
    "ClientView",
    "CommandNotAllowed",
    "Discarded",
    "Envelope",
    "Event",
    "MessageBody",
    "ProtocolViolation",
    "ServerClosing",
    "Session",
    "SmtpClient",
    "Transaction",
]
