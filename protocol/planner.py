"""The planner: from a session plan and what the client knows now, the queue of next steps.

``propose(plan, view, last)`` returns the steps still to take on the happy path, and adapts to what
happened: EHLO again after TLS (RFC 3207 §4.2), HELO when EHLO gets 500/502 (RFC 5321 §4.1.1.1),
QUIT with the reason at a failure, "try again later" for a 4xx, and the security policy:
- with security ``starttls``, nothing after EHLO is sent unless STARTTLS is offered and TLS comes up
  (the defence against STARTTLS stripping, RFC 3207 §6);
- AUTH is never planned on a plaintext connection unless the plan allows it explicitly;
- BDAT chunks instead of DATA only when the plan asks for them and the server advertised CHUNKING
  (RFC 3030 §2);
- whatever the plan, a step the session requires now comes first: the TLS handshake after a 220 to
  STARTTLS (RFC 3207 §4), then EHLO (§4.2), the answer to a 334, the message after a 354, the rest of
  the chunks after an accepted BDAT.
Pure: no I/O. It proposes; the user and the transport decide what is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smtpstep.protocol import sasl
from smtpstep.protocol.client import Answer, ClientView, Envelope
from smtpstep.protocol.commands import (
    Auth,
    AuthResponse,
    Bdat,
    Command,
    Connect,
    Data,
    Ehlo,
    Helo,
    MailFrom,
    MessageBody,
    Quit,
    Raw,
    RcptTo,
    ReadGreeting,
    Rset,
    StartTls,
    TlsHandshake,
    Verb,
)
from smtpstep.protocol.dsn_requests import DsnAsk, dsn_mail_params, dsn_rcpt
from smtpstep.protocol.routing import DnsAnswer, route
from smtpstep.protocol.states import State

PHASES = ("connect", "greeting", "ehlo", "tls", "auth", "mail", "rcpt", "data")
"""The phases of a session, in order; ``--quit-after`` and exit codes use these names."""

SECURITIES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SessionPlan:
    """What the user wants the session to do."""

    security: str = "starttls"
    """"starttls" (upgrade after EHLO, required), "tls" (implicit TLS, RFC 8314), or "none"."""
    helo: str = "client.smtpstep.test"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mechanism: str | None = None
    """The AUTH mechanism to use; None picks the best offered that smtpstep speaks."""
    mail_from: str = "student@client.smtpstep.test"
    rcpt_tos: tuple[str, ...] = ("teacher@example.test",)
    message: bytes = field(default=b"", repr=False)
    quit_after: str | None = None
    """A phase name from PHASES: send QUIT once that phase is done."""
    allow_cleartext_auth: bool = False
    """Send AUTH over a connection without TLS (only with the user's explicit consent)."""
    pipelining: bool = False
    """Send MAIL, RCPT... and DATA as one group when the server offers PIPELINING (RFC 2920)."""
    size_param: bool = True
    """Declare SIZE= on MAIL FROM when the server offers SIZE (RFC 1870)."""
    smtputf8: bool = False
    """Ask for SMTPUTF8 on MAIL FROM (needed for non-ASCII addresses, RFC 6531)."""
    exact_message: bool = False
    """Send ``message`` byte for byte, not dot-stuffed (``MessageBody.exact``): the smuggling lesson only."""
    bdat: int | None = None
    """Send the message with BDAT in chunks of this many octets (0: in one chunk) when the server
    advertises CHUNKING (RFC 3030 §2); None sends it with DATA. A message sent ``exact`` always uses DATA."""
    mx_lookup: bool = False
    """Find the server in DNS first: the MX records of the first recipient's domain, then the chosen host's
    address, each a step of its own, before connecting (RFC 5321 §5.1)."""
    probes: tuple[Command, ...] = ()
    """Commands sent once the session is open (after EHLO, TLS and AUTH) and before MAIL FROM, in order: the
    VRFY and EXPN of a lesson on address probing (RFC 5321 §3.5)."""
    dsn: DsnAsk = field(default_factory=DsnAsk)
    """DSN parameters to send where the server advertises DSN (RFC 3461 §4), and REQUIRETLS where it advertises
    that under TLS (RFC 8689 §2)."""


@dataclass(frozen=True)
class Planned:
    """One proposed step and the phase it belongs to."""

    command: Command
    phase: str


@dataclass(frozen=True)
class Proposal:
    """The planner's answer: what to do next, and why it stops if it does."""

    steps: tuple[Planned, ...]
    halt: str | None = None
    """Why the planned session cannot go on (the queue then holds only QUIT), in plain words."""
    failed_phase: str | None = None
    explanation_key: str | None = None
    """A step key for the explanation catalog (e.g. "starttls-missing"), where one fits."""

    @property
    def commands(self) -> tuple[Command, ...]:
        return tuple(p.command for p in self.steps)


def _quit(reason: str, phase: str | None, key: str | None = None, *, closed: bool = False) -> Proposal:
    steps = () if closed else (Planned(Quit(), "quit"),)
    return Proposal(steps, reason, phase, key)


def choose_mechanism(offered: tuple[str, ...], wanted: str | None) -> str | None:
    if wanted:
        return wanted.upper() if wanted.upper() in offered else None
    for mech in sasl.PASSWORD_MECHANISMS:  # a token mechanism only when asked for: it needs a token
        if mech in offered:
            return mech
    return None


def propose(plan: SessionPlan, view: ClientView, last: Answer | None = None, *,
            dns: tuple[DnsAnswer, ...] = (), probes_sent: int = 0) -> Proposal:
    """The steps from here to the end of the planned session, or the reason to stop. ``dns`` holds the
    answers of the session's DNS steps so far; ``probes_sent`` how many of ``plan.probes`` went out."""
    lookup = None
    if plan.mx_lookup and view.settled == State.DISCONNECTED and not view.pending and plan.rcpt_tos:
        found = route(plan.rcpt_tos[0].rpartition("@")[2], dns)
        if found.halt is not None:
            # RFC 5321 §5.1: an unknown domain "MUST be reported as an error"; nothing is left to connect to.
            return _quit(found.halt, "connect", "dns-failed", closed=True)
        lookup = found.lookup
    proposal = _propose(plan, view, last, probes_sent)
    if lookup is not None and proposal.halt is None:
        return Proposal((Planned(lookup, "connect"), *proposal.steps))
    return proposal


def _propose(plan: SessionPlan, view: ClientView, last: Answer | None, probes_sent: int) -> Proposal:
    halted = _failure(plan, view, last)
    if halted is not None:
        stop = plan.quit_after in PHASES and halted.failed_phase in PHASES
        # A halt in a phase the user never asked for (after --quit-after) is no failure: just QUIT.
        if not (stop and PHASES.index(halted.failed_phase) > PHASES.index(plan.quit_after)):  # type: ignore[arg-type]
            return halted
    steps = _happy_path(plan, view, probes_sent)
    if plan.quit_after:
        steps = _cut(steps, plan.quit_after)
    if last is not None and last.reply.permanent and steps and steps[0].command.verb != Verb.QUIT and \
            steps[0].command.render().data.upper() == last.command.render().data.upper():
        return _quit(f"the server refused {last.command.label} with “{last.reply.first_line}”, and a client should "
                     "not repeat the exact request (RFC 5321 §4.2.1)", phase_of(last.command))
    return Proposal(tuple(steps))


def _failure(plan: SessionPlan, view: ClientView, last: Answer | None) -> Proposal | None:
    session, state = view.session, view.settled
    closed = state in (State.CLOSED, State.PROTOCOL_ERROR)
    if last is not None and last.reply.code == 421:
        return _quit(f"the server is closing the connection: “{last.reply.first_line}”", phase_of(last.command),
                     closed=True)
    if closed or view.pending:
        return None
    if last is not None and not last.reply.positive and not last.reply.intermediate:
        command, reply = last.command, last.reply
        verb = command.acts_as if isinstance(command, Raw) else command.verb  # a typed "MAIL FROM:..." counts
        later = " This is temporary: try again later (RFC 5321 §4.2.1)." if reply.transient else ""
        said = f"“{reply.first_line}”"
        if verb == Verb.GREETING:
            return _quit(f"the server refused service with {said}.{later}", "greeting")
        if verb == Verb.EHLO and reply.code in (500, 502):
            pass  # fall back to HELO (RFC 5321 §4.1.1.1); _happy_path handles it
        elif verb in (Verb.EHLO, Verb.HELO):
            return _quit(f"the server refused the greeting {verb.value} with {said}.{later}", "ehlo")
        elif verb == Verb.STARTTLS:
            return _quit(f"the server refused STARTTLS with {said}; smtpstep will not continue without TLS "
                         f"(RFC 3207 §4.1).{later}", "tls", "starttls-missing")
        elif verb in (Verb.AUTH, Verb.AUTH_RESPONSE):
            return _quit(f"authentication failed: {said}.{later}", "auth")
        elif verb == Verb.MAIL:
            return _quit(f"the server refused the sender: {said}.{later}", "mail")
        elif verb == Verb.RCPT:
            remaining = _remaining_rcpts(plan, view)
            if not remaining and not view.envelope.rcpt_tos:
                return _quit(f"the server refused every recipient; the last said {said}.{later}", "rcpt")
        elif verb == Verb.DATA:
            return _quit(f"the server refused DATA: {said}.{later}", "data")
        elif verb in (Verb.MESSAGE, Verb.BDAT, Verb.BDAT_LAST):
            return _quit(f"the server did not accept the message: {said}.{later}", "data")
    caps = session.capabilities
    ready = state in (State.READY_FOR_MAIL, *_OPEN)
    if plan.security == "starttls" and not session.tls and caps is not None and ready:
        if "STARTTLS" not in caps:
            return _quit("security is set to STARTTLS but the server did not offer it; smtpstep sends nothing "
                         "more in plain text (a man in the middle may have removed it, RFC 3207 §6)",
                         "tls", "starttls-missing")
    if plan.username and not session.authenticated_as and caps is not None and ready:
        if not session.tls and not plan.allow_cleartext_auth and not (plan.security == "starttls"):
            return _quit("the connection is not encrypted, so smtpstep will not send the password "
                         "(AUTH PLAIN and LOGIN are only base64); allow clear-text AUTH explicitly to do it anyway",
                         "auth", "cleartext-auth-refused")
        if (session.tls or plan.allow_cleartext_auth) and choose_mechanism(caps.auth_mechanisms, plan.mechanism) is None:
            offered = " ".join(caps.auth_mechanisms) or "none"
            return _quit(f"the server offers no AUTH mechanism smtpstep can use (offered: {offered}; "
                         f"smtpstep speaks {' '.join(sasl.PASSWORD_MECHANISMS)})", "auth")
    return None


def _remaining_rcpts(plan: SessionPlan, view: ClientView) -> list[str]:
    tried = set(view.envelope.rcpt_tos) | {addr for addr, _ in view.envelope.rejected}
    pending = {c.address for c in view.pending if isinstance(c, RcptTo)}
    return [r for r in plan.rcpt_tos if r not in tried and r not in pending]


def _happy_path(plan: SessionPlan, view: ClientView, probes_sent: int = 0) -> list[Planned]:
    """The rest of the session's script: every step whose work is not done yet, in order. What the state
    requires now comes first, whatever the plan (a typed or forced command may have led there)."""
    session, state, envelope = view.session, view.settled, view.envelope
    if state in (State.CLOSED, State.PROTOCOL_ERROR):
        return []  # after a protocol error only closing is left (states.ALLOWED)
    if state == State.SERVER_REFUSED or (view.transactions and state == State.READY_FOR_MAIL):
        return [Planned(Quit(), "quit")]
    body = MessageBody(plan.message, exact=plan.exact_message)
    quit_ = Planned(Quit(), "quit")
    if state == State.READY_FOR_MESSAGE:  # after 354 only the message may follow (RFC 5321 §4.1.1.4)
        return [Planned(body, "data"), quit_]
    if state == State.READY_FOR_CHUNK:  # the chunks go on until BDAT LAST (RFC 3030 §2)
        return [*_chunks(body, envelope.chunked, plan.bdat or 0), quit_]
    if state == State.READY_FOR_RSET:  # RFC 3030 §2: after a failed BDAT, RSET clears the transaction
        return [Planned(Rset(), "data"), quit_]
    steps: list[Planned] = []
    add = steps.append
    if state == State.AUTH_CHALLENGED:  # a 334 wants its answer before anything else (RFC 4954 §4)
        steps.extend(_answer_challenge(plan, view))
    opening = _opening(plan, view)
    login = state != State.AUTH_CHALLENGED and plan.username is not None and not session.authenticated_as and \
        (envelope.mail_from is None or state in _OPEN) and (plan.security != "none" or plan.allow_cleartext_auth)
    if state in _OPEN and (login or any(p.command.verb == Verb.STARTTLS for p in opening)
                           or envelope.mail_from is None):
        # A transaction is open (commands typed or forced out of order) but STARTTLS or AUTH is still due,
        # and neither may come inside one (RFC 3207 §4, RFC 4954 §4), or a server took a forced RCPT with no
        # MAIL before it, so MAIL may not be sent now (RFC 5321 §4.1.4): RSET ends it first (§4.1.1.5).
        add(Planned(Rset(), "mail"))
        envelope = Envelope()
    steps.extend(opening)
    if login:
        # never plan the password in plain text without consent (RFC 4954 §4, RFC 4616 §5)
        caps = session.capabilities if (session.tls or plan.security != "starttls") else None
        mech = (choose_mechanism(caps.auth_mechanisms, plan.mechanism) if caps else None) or plan.mechanism or "PLAIN"
        add(Planned(Auth(mech, plan.username or "", plan.password or ""), "auth"))
        for shown in _CHALLENGES.get(mech, ()):
            add(Planned(AuthResponse("", shown=shown, placeholder=True), "auth"))
    if envelope.mail_from is None:
        steps.extend(Planned(probe, "ehlo") for probe in plan.probes[probes_sent:])
        add(Planned(_mail_from(plan, view), "mail"))
        rcpts = list(plan.rcpt_tos)
    else:
        rcpts = _remaining_rcpts(plan, view)
    for rcpt in rcpts:
        add(Planned(dsn_rcpt(rcpt, plan.dsn, view), "rcpt"))
    if _chunking(plan, view):
        steps.extend(_chunks(body, 0, plan.bdat or 0))
    else:
        add(Planned(Data(), "data"))
        add(Planned(body, "data"))
    add(quit_)
    return steps


_OPEN = frozenset({State.READY_FOR_RCPT, State.READY_FOR_DATA})
"""Settled states with a mail transaction open (and no chunk sent yet)."""


def _opening(plan: SessionPlan, view: ClientView) -> list[Planned]:
    """The steps before any mail: connect, the TLS handshake, the greeting, EHLO, STARTTLS and EHLO again."""
    session, state = view.session, view.settled
    greeted = session.greeting is not None or session.before_tls is not None
    hello = Helo(plan.helo) if session.ehlo_refused else Ehlo(plan.helo)
    if state == State.AWAITING_TLS_HANDSHAKE:
        # The handshake is due (a 220 to STARTTLS, planned or typed, or an implicit TLS connection) and must
        # come before any other command (RFC 3207 §4); after STARTTLS the client should say EHLO first, as
        # everything learned before is gone (§4.2).
        if not greeted:  # implicit TLS: the handshake opens the connection (RFC 8314 §3.3)
            return [Planned(TlsHandshake(), "connect"), Planned(ReadGreeting(), "greeting"), Planned(hello, "ehlo")]
        return [Planned(TlsHandshake(), "tls"), Planned(Ehlo(plan.helo), "tls")]
    starttls = plan.security == "starttls"
    steps: list[Planned] = []
    add = steps.append
    if state == State.DISCONNECTED:
        add(Planned(Connect(), "connect"))
        if plan.security == "tls":
            add(Planned(TlsHandshake(), "connect"))
    if not greeted:
        add(Planned(ReadGreeting(), "greeting"))
    if session.hello_name is None and session.before_tls is None:
        add(Planned(hello, "ehlo"))
    if starttls and not session.tls:
        add(Planned(StartTls(), "tls"))
        add(Planned(TlsHandshake(), "tls"))
        add(Planned(Ehlo(plan.helo), "tls"))
    elif session.tls and session.before_tls is not None and session.hello_name is None:
        add(Planned(hello, "tls"))  # after STARTTLS, EHLO again (RFC 3207 §4.2)
    return steps


def _chunking(plan: SessionPlan, view: ClientView) -> bool:
    """Whether the message goes in BDAT chunks: asked for, and CHUNKING advertised by the server now (or
    not known yet: the queue shows the plan until the EHLO reply tells) (RFC 3030 §2)."""
    if plan.bdat is None or plan.exact_message:
        return False
    caps = view.session.capabilities
    return caps is None or "CHUNKING" in caps


def _chunks(body: MessageBody, offset: int, size: int) -> list[Planned]:
    """BDAT steps for the message from ``offset`` on, ``size`` octets each (0: the rest in one), the last
    one marked LAST; a zero-size BDAT LAST when nothing is left (RFC 3030 §2 allows a byte-count of zero)."""
    rest = body.canonical[offset:]
    size = size if size > 0 else max(len(rest), 1)
    pieces = [rest[start:start + size] for start in range(0, len(rest), size)] or [b""]
    return [Planned(Bdat(piece, last=index == len(pieces) - 1), "data") for index, piece in enumerate(pieces)]


_CHALLENGES = {
    "LOGIN": ("the user name, base64", "the password, base64"),
    "CRAM-MD5": ("the user name and an HMAC-MD5 of the challenge, base64",),
}
"""What each mechanism answers after AUTH, for the queue's preview (RFC 4954 §4)."""


def _mail_from(plan: SessionPlan, view: ClientView) -> MailFrom:
    caps = view.session.capabilities
    offered = caps.names if caps is not None else ()
    size = declared_size(MessageBody(plan.message, exact=plan.exact_message)) \
        if plan.size_param and "SIZE" in offered else None
    return MailFrom(
        plan.mail_from,
        size=size,
        body_8bit="8BITMIME" in offered and not plan.message.isascii(),
        smtputf8=plan.smtputf8,
        **dsn_mail_params(plan.dsn, view),  # type: ignore[arg-type]
    )


def declared_size(body: MessageBody) -> int:
    """The message size to declare with SIZE= (RFC 1870 §5, §6): the octets the client sends after 354,
    CRLFs included, but neither the dots doubled by dot-stuffing (RFC 5321 §4.5.2) nor the line that
    holds only the terminating dot. That is the message as the client holds it, every line ended by CRLF.
    """
    return len(body.render().data) - len(_END_OF_DATA) - body.stuffed_lines


_END_OF_DATA = b".\r\n"
"""The terminating dot line that follows the message's last CRLF (RFC 5321 §4.1.1.4)."""


_GROUPABLE = frozenset({Verb.MAIL, Verb.RCPT, Verb.DATA})
"""Commands the planner sends as one pipelined group; DATA must end it (RFC 2920 §3.1)."""


def next_group(plan: SessionPlan, view: ClientView, steps: tuple[Planned, ...]) -> tuple[Planned, ...]:
    """The steps to send as one step: the first alone, or with ``plan.pipelining`` and a server that
    offers PIPELINING, the run of MAIL, RCPT... and DATA that starts ``steps`` (RFC 2920 §3.1: DATA
    may only be the last command of a group). Replies come back in the same order and are matched to
    the commands one by one."""
    if not steps:
        return ()
    caps = view.session.capabilities
    first = steps[0]
    if not (plan.pipelining and caps is not None and "PIPELINING" in caps and first.command.verb in _GROUPABLE):
        return (first,)
    group = [first]
    for planned in steps[1:]:
        if group[-1].command.verb == Verb.DATA or planned.command.verb not in _GROUPABLE:
            break
        group.append(planned)
    return tuple(group)


def _answer_challenge(plan: SessionPlan, view: ClientView) -> list[Planned]:
    mech = view.auth_in_progress or plan.mechanism or "PLAIN"
    try:
        payload, shown = sasl.respond(mech, plan.username or "", plan.password or "", view.challenge or "")
    except sasl.SaslError as error:
        # RFC 4954 §4: "*" cancels the exchange.
        return [Planned(AuthResponse("*", secret=False, shown=f"cancel: {error}"), "auth")]
    secret = sasl.carries_secret(mech, view.challenge or "")
    steps = [Planned(AuthResponse(payload, secret=secret, shown=shown), "auth")]
    if mech == "LOGIN" and shown.startswith("the user"):
        steps.append(Planned(AuthResponse("", shown="the password, base64", placeholder=True), "auth"))
    return steps


def _cut(steps: list[Planned], phase: str) -> list[Planned]:
    """Keep steps up to the end of ``phase``, then QUIT."""
    if phase not in PHASES or not steps:
        return steps  # nothing left (the connection is closed): no QUIT to add
    limit = PHASES.index(phase)
    # The greeting is read whatever the phase: no command, QUIT included, may precede it (RFC 5321 §3.1).
    kept = [s for s in steps
            if s.phase in PHASES and (PHASES.index(s.phase) <= limit or s.command.verb == Verb.GREETING)]
    return kept + [Planned(Quit(), "quit")]


PHASE_OF_VERB = {
    Verb.CONNECT: "connect", Verb.GREETING: "greeting", Verb.EHLO: "ehlo", Verb.HELO: "ehlo",
    Verb.STARTTLS: "tls", Verb.TLS_HANDSHAKE: "tls", Verb.AUTH: "auth", Verb.AUTH_RESPONSE: "auth",
    Verb.MAIL: "mail", Verb.RCPT: "rcpt", Verb.DATA: "data", Verb.MESSAGE: "data", Verb.BDAT: "data",
    Verb.BDAT_LAST: "data", Verb.DNS: "connect",
}
"""The phase (``PHASES``) each kind of step belongs to; other steps (RSET, NOOP, QUIT...) belong to none."""


def phase_of(command: Command) -> str:
    """The phase of ``command``, or "quit" for a step outside the phases."""
    return PHASE_OF_VERB.get(command.verb, "quit")
