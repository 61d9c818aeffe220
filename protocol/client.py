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
- ``Envelope``: MAIL FROM, the RCPT TOs and the octets sent in BDAT chunks. RSET, a new EHLO, the end
  of DATA or BDAT LAST clear it (RFC 5321 §4.1.1.5, §4.1.4; RFC 3030 §2).
What may be sent is decided in one place, ``rules.py`` (pure functions of what the client knows): ``check``
(for a command) and ``allowed`` (the verbs, which the State pane and the stage line show) apply the same
rules: the state table, then the session's facts (TLS on, authenticated, what the last EHLO advertised,
HELO or EHLO, the open transaction, a request just refused with 5yz). A rule that is only a SHOULD gives an
``advice`` refusal (``advised_against``).
It must not do I/O, sleep, read a clock or decide policy (which server to trust, when to stop):
the transport and the planner do that.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from smtpstep.protocol import rules
from smtpstep.protocol.capabilities import Capabilities
from smtpstep.protocol.client_values import (
    Answer,
    ClientView,
    Discarded,
    Envelope,
    Event,
    ProtocolViolation,
    ServerClosing,
    Session,
    Transaction,
)
from smtpstep.protocol.commands import (
    Auth,
    Bdat,
    Command,
    Ehlo,
    Helo,
    MailFrom,
    MessageBody,
    Outgoing,
    RcptTo,
    Verb,
)
from smtpstep.protocol.replies import ProtocolError, Reply, ReplyParser, printable
from smtpstep.protocol.rules import CommandNotAllowed
from smtpstep.protocol.states import IDLE, NO_REPLY, State, after_reply

_AFTER_THE_END = {
    State.CLOSED: "the session is over (after a 421 or the reply to QUIT the server closes, RFC 5321 §3.8, "
                  "§4.1.1.10), so the client reads nothing more",
    State.PROTOCOL_ERROR: "the server broke the protocol, so the client reads nothing more from it",
}
"""Why ``receive_data`` throws bytes away unread once the session is over."""

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
        self._refused: tuple[Verb, bytes, str] | None = None
        """The request the server refused with 5yz in its last reply (verb, line, first line of the reply):
        a client should not repeat it as is (RFC 5321 §4.2.1)."""

    # -- what the client may do ------------------------------------------------------------------

    @property
    def state(self) -> State:
        """What the client waits for now: the first pending command's awaited state, else the settled one."""
        return rules.awaited(self._facts())

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

    def _facts(self) -> rules.Facts:
        return rules.Facts(self._settled, tuple(self._pending), self.session, self.envelope, self._refused)

    def projected(self) -> State:
        """The settled state if every pending command succeeds: what a pipelined command must fit."""
        return rules.projected(self._facts())

    def allowed(self) -> frozenset[Verb]:
        """The verbs a command may be sent with now without a warning: exactly those for which ``check``
        accepts some command (``rules.allowed``)."""
        return rules.allowed(self._facts())

    def advised_against(self) -> tuple[tuple[Verb, str], ...]:
        """Verbs the state allows but an RFC advises against now (a SHOULD NOT), each with why."""
        return rules.advised_against(self._facts())

    def check(self, command: Command) -> CommandNotAllowed | None:
        """Why ``command`` does not fit now, or None if it does (``rules.check``)."""
        return rules.check(self._facts(), command)

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
        self._refused = None
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
            self._refused = None
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
        self._refused = (verb, command.render().data, printable(reply.first_line)) \
            if reply.permanent and verb not in _NOT_REPEATABLE else None
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
        elif verb in (Verb.BDAT, Verb.BDAT_LAST):
            # RFC 3030 §2: a 250 to each chunk; the one to BDAT LAST ends the transaction. A failed chunk
            # fails the message, and the envelope stays until RSET clears the transaction.
            chunked = self.envelope.chunked + (command.size if isinstance(command, Bdat) else 0)
            if ok and verb == Verb.BDAT:
                self.envelope = replace(self.envelope, chunked=chunked)
            else:
                self.transactions += (Transaction(replace(self.envelope, chunked=chunked if ok else
                                                          self.envelope.chunked), reply),)
                if ok:
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
            advised_against=self.advised_against(),
        )

    @property
    def auth_in_progress(self) -> Auth | None:
        """The AUTH command whose challenges are being answered, if any (holds the secret: do not show)."""
        return self._auth

    # -- internals -------------------------------------------------------------------------------

    _effective = staticmethod(rules.effective)

    def _pop(self, verb: Verb) -> None:
        if self._pending and self._pending[0].verb == verb:
            self._pending.popleft()


_NOT_REPEATABLE = frozenset({Verb.CONNECT, Verb.GREETING, Verb.TLS_HANDSHAKE, Verb.MESSAGE, Verb.BDAT, Verb.BDAT_LAST,
                             Verb.AUTH_RESPONSE})
"""Steps that are not requests a client could repeat as is (no line of their own, or a chunk of the message)."""


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
