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
What may be sent is decided in one place: ``check`` (for a command) and ``allowed`` (the verbs, which the
State pane and the stage line show) apply the same rules: the state table, then the session's facts (TLS
on, authenticated, what the last EHLO advertised, HELO or EHLO, the open transaction, a request just
refused with 5yz). A rule that is only a SHOULD gives an ``advice`` refusal (``advised_against``).
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
    Bdat,
    Command,
    Ehlo,
    Helo,
    MailFrom,
    MessageBody,
    Outgoing,
    Raw,
    RcptTo,
    Verb,
    verb_list,
)
from smtpstep.protocol.replies import ProtocolError, Reply, ReplyParser, printable
from smtpstep.protocol.states import ALLOWED, AWAITS, IDLE, NO_REPLY, PIPELINE_LAST, READS_COMMANDS, State, after_reply


class CommandNotAllowed(Exception):
    """The command does not fit the session now. ``str(error)`` says why.

    ``forceable`` is True when the client can still send it on purpose (the server decides);
    False when sending is impossible (no connection, no 354 yet for a message, ...), when the
    server would not read the line as a command (before the greeting, after 334 or 354), or when an
    RFC says the client MUST NOT (a second STARTTLS, BDAT to a server without CHUNKING).

    ``advice`` is True when the rule is a SHOULD (NOT): the server may well accept the command, but
    the RFC advises against it (RFC 2119 §3, §4). Otherwise the server will probably refuse it.
    """

    out_of_table = False
    """True when the state table itself has no place for the verb now (``states.ALLOWED``)."""

    def __init__(self, reason: str, *, forceable: bool = True, advice: bool = False) -> None:
        super().__init__(reason)
        self.forceable = forceable
        self.advice = advice

    def __eq__(self, other: object) -> bool:
        # A value, not an event: the screen compares the warning it shows with the new one.
        return isinstance(other, CommandNotAllowed) and (str(self), self.forceable, self.advice) == \
            (str(other), other.forceable, other.advice)

    def __hash__(self) -> int:
        return hash((str(self), self.forceable, self.advice))


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
    chunked: int = 0
    """Octets of the message the server accepted in BDAT chunks so far (RFC 3030 §2)."""


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
    """The verbs a command may be sent with now, without a warning (``SmtpClient.allowed``)."""
    advised_against: tuple[tuple[Verb, str], ...] = ()
    """Verbs that fit the state but that an RFC advises against now, each with why (``SmtpClient.advised_against``)."""


_ORDER_HINTS: dict[Verb, str] = {
    Verb.EHLO: "EHLO comes after the 220 greeting (RFC 5321 §3.1, §4.1.1.1)",
    Verb.HELO: "HELO comes after the 220 greeting (RFC 5321 §3.1, §4.1.1.1)",
    Verb.STARTTLS: "STARTTLS comes after EHLO and outside a mail transaction (RFC 3207 §4)",
    Verb.AUTH: "AUTH comes after EHLO and never during a mail transaction (RFC 4954 §4)",
    Verb.MAIL: "MAIL FROM starts a transaction: it needs a successful EHLO first and no open transaction "
    "(RFC 5321 §4.1.1.2, §4.1.4)",
    Verb.RCPT: "RCPT TO needs an accepted MAIL FROM first (RFC 5321 §4.1.1.3)",
    Verb.DATA: "DATA needs at least one accepted RCPT TO (RFC 5321 §4.1.1.4)",
    Verb.BDAT: "BDAT sends the message instead of DATA, after at least one accepted RCPT TO (RFC 3030 §2)",
    Verb.BDAT_LAST: "BDAT sends the message instead of DATA, after at least one accepted RCPT TO (RFC 3030 §2)",
    Verb.MESSAGE: "the message may only be sent after DATA got 354 (RFC 5321 §4.1.1.4)",
    Verb.AUTH_RESPONSE: "an AUTH response only answers a 334 challenge (RFC 4954 §4)",
    Verb.GREETING: "the greeting comes once, right after the connection opens (RFC 5321 §3.1)",
    Verb.TLS_HANDSHAKE: "the TLS handshake follows a 220 reply to STARTTLS, or opens an implicit TLS connection "
    "(RFC 3207 §4, RFC 8314 §3)",
    Verb.CONNECT: "the client is already connected",
}

_STATE_HINTS: dict[State, str] = {
    State.READY_FOR_CHUNK: "once a BDAT chunk is accepted the message goes on in BDAT chunks until BDAT LAST; "
    "DATA and BDAT cannot be used in the same transaction (RFC 3030 §2)",
    State.READY_FOR_RSET: "after a failed BDAT the transaction is in an unknown state, and RSET must clear it "
    "before any other command (RFC 3030 §2)",
}
"""Why little fits in a state, said instead of the verb's hint (the verb is not the point there)."""

_BEFORE_HELLO = frozenset({Verb.NOOP, Verb.HELP, Verb.EXPN, Verb.VRFY, Verb.RSET})
"""RFC 5321 §4.1.4: these "can be used at any time ... or without previously initializing a session",
but "clients SHOULD open a session with EHLO before sending these commands"."""

_SAME_LINE_ALWAYS = frozenset({Verb.DATA, Verb.STARTTLS, Verb.RSET, Verb.NOOP, Verb.QUIT})
"""Verbs that take no argument: any such command is the exact request refused before."""

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
        self._refused: tuple[Verb, bytes, str] | None = None
        """The request the server refused with 5yz in its last reply (verb, line, first line of the reply):
        a client should not repeat it as is (RFC 5321 §4.2.1)."""

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
        """The verbs a command may be sent with now without a warning: exactly those for which ``check``
        accepts some command (one rule set, ``_refusal``; a command can still fail its own details, such
        as an AUTH mechanism or a MAIL parameter the server did not offer)."""
        if self._blocked(forceable=True) is not None:
            return frozenset()
        state = self.projected()
        return frozenset(verb for verb in ALLOWED.get(state, ()) if self._verb_rules(verb, state, True) is None)

    def advised_against(self) -> tuple[tuple[Verb, str], ...]:
        """Verbs the state allows but an RFC advises against now (a SHOULD NOT), each with why."""
        if self._blocked(forceable=True) is not None:
            return ()
        state = self.projected()
        found = []
        for verb in Verb:
            if verb in ALLOWED.get(state, ()):
                refusal = self._verb_rules(verb, state, True)
                if refusal is not None and refusal.advice:
                    found.append((verb, str(refusal)))
        return tuple(found)

    def check(self, command: Command) -> CommandNotAllowed | None:
        """Why ``command`` does not fit now, or None if it does."""
        verb = self._effective(command)
        if isinstance(command, AuthResponse) and command.placeholder:
            return CommandNotAllowed("this AUTH answer is a preview: it is computed when the challenge comes",
                                     forceable=False)
        refusal = self._refusal(verb)
        if refusal is not None:
            if refusal.out_of_table:
                may = verb_list(self.allowed())
                if may:
                    refusal = CommandNotAllowed(f"{refusal}. Allowed now: {may}", forceable=refusal.forceable)
            return refusal
        return self._command_refusal(command, verb)

    def _refusal(self, verb: Verb) -> CommandNotAllowed | None:
        """Why no command of ``verb`` fits now, or None: the rules of state, order, TLS, AUTH, what the last
        EHLO advertised, HELO or EHLO, the open transaction and the last refused request."""
        # What the client may not do even on purpose stays unforceable while a reply is awaited, too.
        forceable = verb not in _HARD and self._next_line_is_a_command() and self._must_not(verb) is None
        blocked = self._blocked(forceable=forceable)
        if blocked is not None:
            return blocked
        must_not = self._must_not(verb)
        if must_not is not None:
            return must_not
        state = self.projected()
        if verb not in ALLOWED.get(state, frozenset()):
            hint = _STATE_HINTS.get(state) or _ORDER_HINTS.get(verb, "")
            refusal = CommandNotAllowed(f"the session is {state.value}" + (f"; {hint}" if hint else ""),
                                        forceable=forceable)
            refusal.out_of_table = True  # check() adds what is allowed instead
            return refusal
        return self._verb_rules(verb, state, forceable)

    def _blocked(self, *, forceable: bool) -> CommandNotAllowed | None:
        """Why no command at all fits now (the session is over, or a reply is still due), or None."""
        if self._settled == State.CLOSED:
            return CommandNotAllowed("the connection is closed; reconnect to start a new session", forceable=False)
        if self._settled == State.PROTOCOL_ERROR:
            return CommandNotAllowed(
                "the server broke the protocol, so no reply can be matched to a command any more; the "
                "connection can only be closed (RFC 5321 §4.2, §3.8)",
                forceable=False,
            )
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
        return None

    def _must_not(self, verb: Verb) -> CommandNotAllowed | None:
        """The rules the client may not break even on purpose, in any state (never forceable)."""
        caps = self.session.capabilities
        if verb == Verb.STARTTLS and self.session.tls:
            # RFC 3207 §4.2: "A client MUST NOT attempt to start a TLS session if a TLS session is already
            # active." A second handshake inside TLS would leave client and server nothing to recover.
            return CommandNotAllowed("TLS is already on; a client must not start TLS again (RFC 3207 §4.2)",
                                     forceable=False)
        if verb in (Verb.BDAT, Verb.BDAT_LAST) and (caps is None or "CHUNKING" not in caps):
            # RFC 3030 §2: a server without CHUNKING would parse the chunk "as if it were a potentially very
            # long, ESMTP command line": the message would run as commands.
            return CommandNotAllowed("the server did not advertise CHUNKING, so it would read the chunk as "
                                     "commands; send BDAT only to a server that offers it (RFC 3030 §2)",
                                     forceable=False)
        return None

    def _verb_rules(self, verb: Verb, state: State, forceable: bool) -> CommandNotAllowed | None:
        """The rules on a verb that the state table cannot say: they depend on the session's facts."""
        session, caps = self.session, self.session.capabilities
        must_not = self._must_not(verb)
        if must_not is not None:
            return must_not
        if verb == Verb.STARTTLS:
            if caps is not None and "STARTTLS" not in caps:
                offered = "HELO gets no keyword list, so the server offered no STARTTLS" if not session.extended \
                    else "the server did not offer STARTTLS in its EHLO reply"
                return CommandNotAllowed(f"{offered}; the STARTTLS keyword says it can start TLS (RFC 3207 §3)",
                                         forceable=forceable)
        if verb == Verb.AUTH:
            if session.authenticated_as:
                return CommandNotAllowed("the client is already authenticated; after a successful AUTH no more "
                                         "AUTH commands may be issued in the same session (RFC 4954 §4)",
                                         forceable=forceable)
            if caps is not None and not caps.auth_mechanisms:
                offered = "HELO gets no keyword list, so the server offered no AUTH" if not session.extended \
                    else "the server's last EHLO reply offered no AUTH"
                return CommandNotAllowed(f"{offered}; the AUTH keyword lists the mechanisms it takes (RFC 4954 §3)",
                                         forceable=forceable)
        if verb == Verb.HELO and session.tls and session.before_tls is not None and session.hello_name is None \
                and not session.ehlo_refused:
            return CommandNotAllowed("after the TLS handshake the client should send EHLO first, to learn what "
                                     "the server offers under TLS (RFC 3207 §4.2)", forceable=forceable, advice=True)
        if verb in _BEFORE_HELLO and state == State.READY_FOR_HELLO:
            return CommandNotAllowed("clients should open the session with EHLO before NOOP, HELP, EXPN, VRFY or "
                                     "RSET (RFC 5321 §4.1.4)", forceable=forceable, advice=True)
        if self._refused is not None and verb in _SAME_LINE_ALWAYS and self._refused[0] == verb:
            return self._repeat_refusal(forceable)
        return None

    def _repeat_refusal(self, forceable: bool) -> CommandNotAllowed:
        assert self._refused is not None
        return CommandNotAllowed(
            f"the server refused this exact request with “{self._refused[2]}”; a client should not repeat it as is, "
            "and the server will likely refuse it again (RFC 5321 §4.2.1)", forceable=forceable, advice=True)

    def _command_refusal(self, command: Command, verb: Verb) -> CommandNotAllowed | None:
        """The rules on one command's details: its AUTH mechanism, MAIL parameters, a non-ASCII recipient,
        and whether it repeats the request the server just refused."""
        caps = self.session.capabilities
        if isinstance(command, Auth) and caps is not None and command.mechanism not in caps.auth_mechanisms:
            offered = " ".join(caps.auth_mechanisms)
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
        if self._refused is not None and self._refused[0] == verb and _same_request(command, self._refused[1]):
            return self._repeat_refusal(verb not in _HARD and self._next_line_is_a_command())
        return None

    def _next_line_is_a_command(self) -> bool:
        """Whether the server would read a line sent now as a command, so that forcing one means something.

        Forcing a line where the server reads something else would put the client out of step with it:
        before the greeting the greeting would be taken as the line's reply; after 334 or 354 the line
        is a SASL answer or message text, and no reply to it ever comes.
        """
        if self._pending:
            return self._effective(self._pending[-1]) not in _CHANGES_NEXT_LINE
        return self._settled in READS_COMMANDS

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

    @staticmethod
    def _effective(command: Command) -> Verb:
        return command.acts_as if isinstance(command, Raw) else command.verb

    def _may_pipeline(self) -> bool:
        caps = self.session.capabilities
        return caps is not None and "PIPELINING" in caps

    def _pop(self, verb: Verb) -> None:
        if self._pending and self._pending[0].verb == verb:
            self._pending.popleft()


_NOT_REPEATABLE = frozenset({Verb.CONNECT, Verb.GREETING, Verb.TLS_HANDSHAKE, Verb.MESSAGE, Verb.BDAT, Verb.BDAT_LAST,
                             Verb.AUTH_RESPONSE})
"""Steps that are not requests a client could repeat as is (no line of their own, or a chunk of the message)."""


def _same_request(command: Command, line: bytes) -> bool:
    """Whether ``command`` sends ``line`` again (SMTP verbs are case-insensitive, RFC 5321 §2.4)."""
    return command.render().data.upper() == line.upper()


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
