"""The SMTP client's states and its transition table, as data.

Three tables say everything the client knows about order (RFC 5321 §3.3, §4.1.4; RFC 3207; RFC 4954):
- ``ALLOWED``: in a settled state, which verbs the client may send next;
- ``AWAITS``: once a verb is sent, which state says what the client is waiting for;
- ``ON_REPLY``: given the verb and the reply's first digit, the settled state that follows.

Where the table's target depends on where the client was, it names a ``Relative`` member instead of a
``State``: ``SAME`` ("stay where the client was") or ``ENVELOPE_RESET`` ("back to READY_FOR_MAIL if a
transaction was open, else stay").

``PROTOCOL_ERROR`` is where a broken reply leaves the client (as h11's ERROR state): it allows no
command at all, not even QUIT, and the only way out is closing the connection, which is the
transport's act, not a command (see ``ALLOWED``).

No code here runs I/O or decides policy; ``client.py`` applies the tables.
"""

from __future__ import annotations

import enum

from smtpstep.protocol.commands import Verb


class State(enum.Enum):
    """What the client is waiting for, or what it may do next."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    AWAITING_TLS_HANDSHAKE = "awaiting TLS handshake"
    AWAITING_GREETING = "awaiting greeting"
    SERVER_REFUSED = "server refused service"
    READY_FOR_HELLO = "ready for EHLO"
    AWAITING_HELLO_REPLY = "awaiting EHLO reply"
    READY_FOR_MAIL = "ready for MAIL"
    AWAITING_STARTTLS_REPLY = "awaiting STARTTLS reply"
    AWAITING_AUTH_REPLY = "awaiting AUTH reply"
    AUTH_CHALLENGED = "AUTH challenge to answer"
    AWAITING_MAIL_REPLY = "awaiting MAIL reply"
    READY_FOR_RCPT = "ready for RCPT"
    AWAITING_RCPT_REPLY = "awaiting RCPT reply"
    READY_FOR_DATA = "ready for RCPT or DATA"
    AWAITING_DATA_GO_AHEAD = "awaiting DATA go-ahead"
    READY_FOR_MESSAGE = "ready for the message"
    AWAITING_MESSAGE_RESULT = "awaiting end-of-data reply"
    AWAITING_CHUNK_REPLY = "awaiting BDAT reply"
    READY_FOR_CHUNK = "ready for the next BDAT chunk"
    READY_FOR_RSET = "RSET needed after a failed BDAT"
    AWAITING_REPLY = "awaiting reply"
    AWAITING_QUIT_REPLY = "awaiting QUIT reply"
    PROTOCOL_ERROR = "out of step with the server after a protocol error"
    CLOSED = "closed"


class Relative(enum.Enum):
    """A target of ``ON_REPLY`` that depends on the settled state the reply found."""

    SAME = "stay where the client was"
    ENVELOPE_RESET = "back to READY_FOR_MAIL if a transaction was open, else stay"


SAME = Relative.SAME
ENVELOPE_RESET = Relative.ENVELOPE_RESET

_ANYTIME = {Verb.RSET, Verb.NOOP, Verb.VRFY, Verb.EXPN, Verb.HELP, Verb.QUIT, Verb.RAW}
"""RFC 5321 §4.1.4: NOOP, HELP, EXPN, VRFY and RSET may be used at any time; QUIT ends any session."""

_CHUNKS = {Verb.BDAT, Verb.BDAT_LAST}
"""RFC 3030 §2: BDAT may be used instead of DATA, once MAIL and RCPT have been answered."""

ALLOWED: dict[State, frozenset[Verb]] = {
    State.DISCONNECTED: frozenset({Verb.CONNECT}),
    State.AWAITING_TLS_HANDSHAKE: frozenset({Verb.TLS_HANDSHAKE}),
    State.AWAITING_GREETING: frozenset({Verb.GREETING}),
    State.SERVER_REFUSED: frozenset({Verb.QUIT}),
    State.READY_FOR_HELLO: frozenset({Verb.EHLO, Verb.HELO} | _ANYTIME),
    State.READY_FOR_MAIL: frozenset({Verb.EHLO, Verb.HELO, Verb.STARTTLS, Verb.AUTH, Verb.MAIL} | _ANYTIME),
    State.READY_FOR_RCPT: frozenset({Verb.EHLO, Verb.HELO, Verb.RCPT} | _ANYTIME),
    State.READY_FOR_DATA: frozenset({Verb.EHLO, Verb.HELO, Verb.RCPT, Verb.DATA} | _CHUNKS | _ANYTIME),
    # RFC 3030 §2: "DATA and BDAT commands cannot be used in the same transaction"; once a chunk is
    # accepted, more chunks follow until BDAT LAST (RSET or a new EHLO abandon the transaction).
    State.READY_FOR_CHUNK: frozenset({Verb.EHLO, Verb.HELO} | _CHUNKS | _ANYTIME),
    # RFC 3030 §2: "The resulting state from a failed BDAT command is indeterminate. A RSET command MUST
    # be issued to clear the transaction before additional commands may be sent." (QUIT ends any session.)
    State.READY_FOR_RSET: frozenset({Verb.RSET, Verb.QUIT}),
    State.READY_FOR_MESSAGE: frozenset({Verb.MESSAGE}),
    State.AUTH_CHALLENGED: frozenset({Verb.AUTH_RESPONSE}),
    # RFC 5321 §4.1.1.10 wants QUIT, and its reply awaited, before the client closes. But replies keep
    # client and server in step only because every command gets exactly one (§4.2), matched in order
    # (RFC 2920 §3.1); after a reply that breaks the protocol the client can no longer tell which reply
    # answers which command, so it could not recognise QUIT's 221, and a peer that answers in something
    # other than SMTP may be no SMTP server at all. Closing is all that is left; §3.8 has the client
    # treat such a failure, beyond its control, as a 451.
    State.PROTOCOL_ERROR: frozenset(),
    State.CLOSED: frozenset(),
}
"""Settled state -> verbs the client may send. States missing here wait for a reply and allow nothing."""

SETTLED = frozenset(ALLOWED)

AWAITS: dict[Verb, State] = {
    Verb.CONNECT: State.CONNECTING,
    Verb.TLS_HANDSHAKE: State.AWAITING_TLS_HANDSHAKE,
    Verb.GREETING: State.AWAITING_GREETING,
    Verb.EHLO: State.AWAITING_HELLO_REPLY,
    Verb.HELO: State.AWAITING_HELLO_REPLY,
    Verb.STARTTLS: State.AWAITING_STARTTLS_REPLY,
    Verb.AUTH: State.AWAITING_AUTH_REPLY,
    Verb.AUTH_RESPONSE: State.AWAITING_AUTH_REPLY,
    Verb.MAIL: State.AWAITING_MAIL_REPLY,
    Verb.RCPT: State.AWAITING_RCPT_REPLY,
    Verb.DATA: State.AWAITING_DATA_GO_AHEAD,
    Verb.MESSAGE: State.AWAITING_MESSAGE_RESULT,
    Verb.BDAT: State.AWAITING_CHUNK_REPLY,
    Verb.BDAT_LAST: State.AWAITING_CHUNK_REPLY,
    Verb.RSET: State.AWAITING_REPLY,
    Verb.NOOP: State.AWAITING_REPLY,
    Verb.VRFY: State.AWAITING_REPLY,
    Verb.EXPN: State.AWAITING_REPLY,
    Verb.HELP: State.AWAITING_REPLY,
    Verb.RAW: State.AWAITING_REPLY,
    Verb.QUIT: State.AWAITING_QUIT_REPLY,
}
"""Verb just sent -> the state that says what the client now waits for."""

ON_REPLY: dict[Verb, dict[int, State | Relative]] = {
    # RFC 5321 §3.1: 220 opens the session; 554 (or any failure) means no service: QUIT is all that is left.
    Verb.GREETING: {2: State.READY_FOR_HELLO, 3: State.SERVER_REFUSED, 4: State.SERVER_REFUSED, 5: State.SERVER_REFUSED},
    # RFC 5321 §4.1.1.1: a successful EHLO/HELO opens (or resets) the session; a failure leaves things as they were.
    Verb.EHLO: {2: State.READY_FOR_MAIL, 3: SAME, 4: SAME, 5: SAME},
    Verb.HELO: {2: State.READY_FOR_MAIL, 3: SAME, 4: SAME, 5: SAME},
    # RFC 3207 §4: 220 means "start the handshake now"; 454/501 leave the session in plain text.
    Verb.STARTTLS: {2: State.AWAITING_TLS_HANDSHAKE, 3: SAME, 4: SAME, 5: SAME},
    # RFC 4954 §4: 334 is a challenge to answer, 235 success, 4xx/5xx failure.
    Verb.AUTH: {2: SAME, 3: State.AUTH_CHALLENGED, 4: SAME, 5: SAME},
    Verb.AUTH_RESPONSE: {2: State.READY_FOR_MAIL, 3: State.AUTH_CHALLENGED, 4: State.READY_FOR_MAIL, 5: State.READY_FOR_MAIL},
    # RFC 5321 §4.1.1.2-4.1.1.4: the transaction advances only on success.
    Verb.MAIL: {2: State.READY_FOR_RCPT, 3: SAME, 4: SAME, 5: SAME},
    Verb.RCPT: {2: State.READY_FOR_DATA, 3: SAME, 4: SAME, 5: SAME},
    Verb.DATA: {2: SAME, 3: State.READY_FOR_MESSAGE, 4: SAME, 5: SAME},
    # RFC 5321 §4.1.1.4: whatever the reply to the final dot, the transaction is over.
    Verb.MESSAGE: {2: State.READY_FOR_MAIL, 3: State.READY_FOR_MAIL, 4: State.READY_FOR_MAIL, 5: State.READY_FOR_MAIL},
    # RFC 3030 §2: "Once the receiver-SMTP receives the specified number of octets, it will return a 250
    # reply code"; after BDAT LAST that 250 ends the transaction. "If a 5XX or 4XX code is received by the
    # sender-SMTP in response to a BDAT chunk, the transaction should be considered failed and the
    # sender-SMTP MUST NOT send any additional BDAT segments", and RSET must come next (a 3yz means
    # nothing after BDAT: it counts as a failure).
    Verb.BDAT: {2: State.READY_FOR_CHUNK, 3: State.READY_FOR_RSET, 4: State.READY_FOR_RSET, 5: State.READY_FOR_RSET},
    Verb.BDAT_LAST: {2: State.READY_FOR_MAIL, 3: State.READY_FOR_RSET, 4: State.READY_FOR_RSET,
                     5: State.READY_FOR_RSET},
    # RFC 5321 §4.1.1.5: RSET aborts the transaction but keeps the session.
    Verb.RSET: {2: ENVELOPE_RESET, 3: SAME, 4: SAME, 5: SAME},
    Verb.NOOP: {2: SAME, 3: SAME, 4: SAME, 5: SAME},
    Verb.VRFY: {2: SAME, 3: SAME, 4: SAME, 5: SAME},
    Verb.EXPN: {2: SAME, 3: SAME, 4: SAME, 5: SAME},
    Verb.HELP: {2: SAME, 3: SAME, 4: SAME, 5: SAME},
    Verb.RAW: {2: SAME, 3: SAME, 4: SAME, 5: SAME},
    # RFC 5321 §4.1.1.10: after QUIT's reply the server closes the connection.
    Verb.QUIT: {2: State.CLOSED, 3: State.CLOSED, 4: State.CLOSED, 5: State.CLOSED},
}
"""(verb answered, first digit of the reply) -> settled state; a 421 closes from anywhere (RFC 5321 §3.8)."""

NO_REPLY = frozenset({Verb.CONNECT, Verb.TLS_HANDSHAKE})
"""Steps that a transport event completes (``connection_made``, ``tls_established``), never a reply."""

READS_COMMANDS = frozenset({State.SERVER_REFUSED, State.READY_FOR_HELLO, State.READY_FOR_MAIL, State.READY_FOR_RCPT,
                            State.READY_FOR_DATA, State.READY_FOR_CHUNK, State.READY_FOR_RSET})
"""Settled states in which the server reads the client's next line as a command. Elsewhere a line is
not a command to the server: no connection yet, the greeting or a TLS handshake is due (RFC 3207 §4),
a 334 challenge takes it as its answer (RFC 4954 §4), or a 354 makes it message text (RFC 5321 §4.1.1.4)."""

PIPELINE_LAST = frozenset({Verb.EHLO, Verb.HELO, Verb.DATA, Verb.VRFY, Verb.EXPN, Verb.NOOP, Verb.QUIT, Verb.STARTTLS,
                           Verb.AUTH, Verb.AUTH_RESPONSE, Verb.MESSAGE, Verb.CONNECT, Verb.GREETING,
                           Verb.TLS_HANDSHAKE})
"""RFC 2920 §3.1 (and RFC 3207 §4, RFC 4954 §4): commands after which the client must wait for replies."""

IDLE = READS_COMMANDS | {State.AUTH_CHALLENGED, State.READY_FOR_MESSAGE}
"""Settled states in which the server owes the client nothing: every command has had its reply, and
the server waits for the client's next line. Whatever it sends now is unsolicited, either a 421
announcing that it closes the session (RFC 5321 §3.8) or a break of the protocol."""

IN_TRANSACTION = frozenset({State.READY_FOR_RCPT, State.READY_FOR_DATA, State.READY_FOR_CHUNK, State.READY_FOR_RSET})


def after_reply(verb: Verb, code: int, settled: State) -> State:
    """The settled state after ``verb`` got a reply with ``code``, starting from ``settled``."""
    if code == 421:
        return State.CLOSED
    match ON_REPLY[verb][code // 100]:
        case Relative.SAME:
            return settled
        case Relative.ENVELOPE_RESET:
            return State.READY_FOR_MAIL if settled in IN_TRANSACTION else settled
        case State() as target:
            return target
