"""What the SMTP client may send now, and why not: the rules behind ``SmtpClient.check``, ``allowed`` and
``advised_against``, as pure functions of what the client knows (``Facts``).

The rules apply in one order: the session is over or a reply is due (``_blocked``); what a client MUST NOT
do even on purpose (``_must_not``); the state table (``states.ALLOWED``); the session's facts (TLS on,
authenticated, what the last EHLO advertised, HELO or EHLO, a request just refused with 5yz); then one
command's details (its AUTH mechanism, MAIL and RCPT parameters, a non-ASCII recipient). A rule that is only a
SHOULD gives an ``advice`` refusal. Each rule cites the RFC sentence it rests on.
It must not do I/O, keep state or change the client: ``SmtpClient`` holds the facts and applies replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from smtpstep.protocol.commands import Auth, AuthResponse, Command, MailFrom, Raw, RcptTo, Verb, verb_list
from smtpstep.protocol.states import ALLOWED, AWAITS, PIPELINE_LAST, READS_COMMANDS, State, after_reply

if TYPE_CHECKING:
    from smtpstep.protocol.client_values import Envelope, Session


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

_HARD = frozenset({Verb.CONNECT, Verb.GREETING, Verb.TLS_HANDSHAKE, Verb.MESSAGE, Verb.AUTH_RESPONSE})
"""Steps that can never be forced out of order: they are not lines a server could judge."""

_CHANGES_NEXT_LINE = frozenset({Verb.CONNECT, Verb.TLS_HANDSHAKE, Verb.STARTTLS, Verb.AUTH, Verb.AUTH_RESPONSE,
                                Verb.DATA})
"""Pending steps whose reply may turn the next line into something other than a command: TLS bytes
(RFC 3207 §4), a SASL answer (RFC 4954 §4) or message text (RFC 5321 §4.1.1.4)."""


@dataclass(frozen=True)
class Facts:
    """What the client knows that the rules read: a snapshot, taken for each question."""

    settled: State
    """The state after every reply received so far."""
    pending: tuple[Command, ...]
    """Commands sent whose replies have not come, oldest first."""
    session: Session
    envelope: Envelope
    refused: tuple[Verb, bytes, str] | None
    """The request the server refused with 5yz in its last reply (verb, line, first line of the reply)."""


def effective(command: Command) -> Verb:
    """The verb a command acts as (a raw line typed by hand acts as the verb it starts with)."""
    return command.acts_as if isinstance(command, Raw) else command.verb


def awaited(facts: Facts) -> State:
    """What the client waits for now: the first pending command's awaited state, else the settled one."""
    if facts.pending:
        return AWAITS[effective(facts.pending[0])]
    return facts.settled


def projected(facts: Facts) -> State:
    """The settled state if every pending command succeeds: what a pipelined command must fit."""
    state = facts.settled
    for command in facts.pending:
        verb = effective(command)
        if verb == Verb.CONNECT:
            state = State.AWAITING_GREETING
        elif verb == Verb.TLS_HANDSHAKE:
            state = State.READY_FOR_HELLO if facts.session.greeting else State.AWAITING_GREETING
        else:
            state = after_reply(verb, {Verb.DATA: 354, Verb.GREETING: 220}.get(verb, 250), state)
    return state


def allowed(facts: Facts) -> frozenset[Verb]:
    """The verbs a command may be sent with now without a warning: exactly those for which ``check``
    accepts some command (one rule set, ``_refusal``; a command can still fail its own details, such
    as an AUTH mechanism or a MAIL parameter the server did not offer)."""
    if _blocked(facts, forceable=True) is not None:
        return frozenset()
    state = projected(facts)
    return frozenset(verb for verb in ALLOWED.get(state, ()) if _verb_rules(facts, verb, state, True) is None)


def advised_against(facts: Facts) -> tuple[tuple[Verb, str], ...]:
    """Verbs the state allows but an RFC advises against now (a SHOULD NOT), each with why."""
    if _blocked(facts, forceable=True) is not None:
        return ()
    state = projected(facts)
    found = []
    for verb in Verb:
        if verb in ALLOWED.get(state, ()):
            refusal = _verb_rules(facts, verb, state, True)
            if refusal is not None and refusal.advice:
                found.append((verb, str(refusal)))
    return tuple(found)


def check(facts: Facts, command: Command) -> CommandNotAllowed | None:
    """Why ``command`` does not fit now, or None if it does."""
    verb = effective(command)
    if isinstance(command, AuthResponse) and command.placeholder:
        return CommandNotAllowed("this AUTH answer is a preview: it is computed when the challenge comes",
                                 forceable=False)
    refusal = _refusal(facts, verb)
    if refusal is not None:
        if refusal.out_of_table:
            may = verb_list(allowed(facts))
            if may:
                refusal = CommandNotAllowed(f"{refusal}. Allowed now: {may}", forceable=refusal.forceable)
        return refusal
    return _command_refusal(facts, command, verb)


def _refusal(facts: Facts, verb: Verb) -> CommandNotAllowed | None:
    """Why no command of ``verb`` fits now, or None: the rules of state, order, TLS, AUTH, what the last
    EHLO advertised, HELO or EHLO, the open transaction and the last refused request."""
    # What the client may not do even on purpose stays unforceable while a reply is awaited, too.
    forceable = verb not in _HARD and _next_line_is_a_command(facts) and _must_not(facts, verb) is None
    blocked = _blocked(facts, forceable=forceable)
    if blocked is not None:
        return blocked
    must_not = _must_not(facts, verb)
    if must_not is not None:
        return must_not
    state = projected(facts)
    if verb not in ALLOWED.get(state, frozenset()):
        hint = _STATE_HINTS.get(state) or _ORDER_HINTS.get(verb, "")
        refusal = CommandNotAllowed(f"the session is {state.value}" + (f"; {hint}" if hint else ""),
                                    forceable=forceable)
        refusal.out_of_table = True  # check() adds what is allowed instead
        return refusal
    return _verb_rules(facts, verb, state, forceable)


def _blocked(facts: Facts, *, forceable: bool) -> CommandNotAllowed | None:
    """Why no command at all fits now (the session is over, or a reply is still due), or None."""
    if facts.settled == State.CLOSED:
        return CommandNotAllowed("the connection is closed; reconnect to start a new session", forceable=False)
    if facts.settled == State.PROTOCOL_ERROR:
        return CommandNotAllowed(
            "the server broke the protocol, so no reply can be matched to a command any more; the "
            "connection can only be closed (RFC 5321 §4.2, §3.8)",
            forceable=False,
        )
    if facts.pending:
        last = effective(facts.pending[-1])
        if not _may_pipeline(facts):
            return CommandNotAllowed(
                f"the reply to {facts.pending[0].label} has not arrived yet; without PIPELINING the client "
                "waits for each reply (RFC 5321 §4.3.1, RFC 2920)",
                forceable=forceable,
            )
        if last in PIPELINE_LAST:
            return CommandNotAllowed(
                f"{last.value} must be the last command of a pipelined group: wait for its reply (RFC 2920 §3.1)",
                forceable=forceable,
            )
    return None


def _must_not(facts: Facts, verb: Verb) -> CommandNotAllowed | None:
    """The rules the client may not break even on purpose, in any state (never forceable)."""
    caps = facts.session.capabilities
    if verb == Verb.STARTTLS and facts.session.tls:
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


def _verb_rules(facts: Facts, verb: Verb, state: State, forceable: bool) -> CommandNotAllowed | None:
    """The rules on a verb that the state table cannot say: they depend on the session's facts."""
    session, caps = facts.session, facts.session.capabilities
    must_not = _must_not(facts, verb)
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
    if facts.refused is not None and verb in _SAME_LINE_ALWAYS and facts.refused[0] == verb:
        return _repeat_refusal(facts, forceable)
    return None


def _repeat_refusal(facts: Facts, forceable: bool) -> CommandNotAllowed:
    assert facts.refused is not None
    return CommandNotAllowed(
        f"the server refused this exact request with “{facts.refused[2]}”; a client should not repeat it as is, "
        "and the server will likely refuse it again (RFC 5321 §4.2.1)", forceable=forceable, advice=True)


def _command_refusal(facts: Facts, command: Command, verb: Verb) -> CommandNotAllowed | None:
    """The rules on one command's details: its AUTH mechanism, MAIL parameters, a non-ASCII recipient,
    and whether it repeats the request the server just refused."""
    caps = facts.session.capabilities
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
        needs += [
            (command.dsn, "DSN", "RET= and ENVID= need the DSN extension (RFC 3461 §4)"),
            (command.requiretls, "REQUIRETLS", "REQUIRETLS needs the REQUIRETLS extension (RFC 8689 §2)"),
        ]
        for used, keyword, reason in needs:
            if used and (caps is None or keyword not in caps):
                return CommandNotAllowed(f"the server did not advertise {keyword}: {reason}")
        if command.requiretls and not facts.session.tls:
            return CommandNotAllowed("REQUIRETLS may only be sent in a session under TLS (RFC 8689 §2, §4.2.1)")
    if isinstance(command, RcptTo) and command.dsn and (caps is None or "DSN" not in caps):
        return CommandNotAllowed("the server did not advertise DSN: NOTIFY= and ORCPT= need the DSN extension "
                                 "(RFC 3461 §4)")
    smtputf8 = facts.envelope.smtputf8 or any(isinstance(c, MailFrom) and c.smtputf8 for c in facts.pending)
    if isinstance(command, RcptTo) and not command.address.isascii() and not smtputf8:
        return CommandNotAllowed(
            "the recipient has non-ASCII characters; MAIL FROM must carry SMTPUTF8 first (RFC 6531 §3.4)"
        )
    if facts.refused is not None and facts.refused[0] == verb and _same_request(command, facts.refused[1]):
        return _repeat_refusal(facts, verb not in _HARD and _next_line_is_a_command(facts))
    return None


def _next_line_is_a_command(facts: Facts) -> bool:
    """Whether the server would read a line sent now as a command, so that forcing one means something.

    Forcing a line where the server reads something else would put the client out of step with it:
    before the greeting the greeting would be taken as the line's reply; after 334 or 354 the line
    is a SASL answer or message text, and no reply to it ever comes.
    """
    if facts.pending:
        return effective(facts.pending[-1]) not in _CHANGES_NEXT_LINE
    return facts.settled in READS_COMMANDS


def _may_pipeline(facts: Facts) -> bool:
    caps = facts.session.capabilities
    return caps is not None and "PIPELINING" in caps


def _same_request(command: Command, line: bytes) -> bool:
    """Whether ``command`` sends ``line`` again (SMTP verbs are case-insensitive, RFC 5321 §2.4)."""
    return command.render().data.upper() == line.upper()


__all__ = ["CommandNotAllowed", "Facts", "advised_against", "allowed", "awaited", "check", "effective", "projected"]
