"""One source of truth for what may be sent: ``SmtpClient.allowed()`` lists a verb if and only if
``check()`` accepts a command of it, in every state the client can reach and with every set of facts
(TLS on or not, authenticated, what the last EHLO advertised, HELO or EHLO, a transaction open, the
last 5yz). Hypothesis drives a real ``SmtpClient`` through sessions of sent commands, server replies
and transport events, sending out-of-order commands on purpose too, and checks the rule after each.

It also checks that no reply leaves the client stuck: while the connection is open and the server owes
nothing, something may always be sent (at worst QUIT), except after a broken protocol, where closing is
all that is left by design (``states.ALLOWED``).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from smtpstep.protocol.client import Answer, CommandNotAllowed, SmtpClient
from smtpstep.protocol.commands import (
    Auth,
    AuthResponse,
    Bdat,
    Command,
    Connect,
    Data,
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
    Verb,
    Vrfy,
)
from smtpstep.protocol.dsn_requests import DsnAsk
from smtpstep.protocol.planner import SECURITIES, SessionPlan, propose
from smtpstep.protocol.states import NO_REPLY, State

SAMPLES: dict[Verb, tuple[Command, ...]] = {
    Verb.CONNECT: (Connect(),),
    Verb.GREETING: (ReadGreeting(),),
    Verb.TLS_HANDSHAKE: (TlsHandshake(),),
    Verb.EHLO: (Ehlo("client.example.test"), Raw("ehlo other.example.test")),
    Verb.HELO: (Helo("client.example.test"), Helo("other.example.test")),
    Verb.STARTTLS: (StartTls(), Raw("starttls")),
    Verb.AUTH: (Auth("PLAIN", "student", "s3cret"), Auth("LOGIN", "student", "s3cret"), Raw("AUTH XOAUTH2 dG9rZW4="),
                 Raw("AUTH XOAUTH2 YW5vdGhlcg==")),
    Verb.AUTH_RESPONSE: (AuthResponse("c3R1ZGVudA=="), AuthResponse("*", secret=False)),
    Verb.MAIL: (MailFrom("student@client.example.test"), MailFrom("student@client.example.test", size=120),
                MailFrom("élève@client.example.test", smtputf8=True), Raw("MAIL FROM:<other@client.example.test>"),
                MailFrom("student@client.example.test", ret="HDRS", envid="id 1"),
                MailFrom("student@client.example.test", requiretls=True)),
    Verb.RCPT: (RcptTo("teacher@example.test"), RcptTo("nobody@example.test"), RcptTo("professeur@exemple.test"),
                RcptTo("lehrerin@bücher.example"),
                RcptTo("teacher@example.test", notify=("SUCCESS", "FAILURE"), orcpt="teacher@example.test")),
    Verb.DATA: (Data(), Raw("data")),
    Verb.MESSAGE: (MessageBody(b"Subject: hi\r\n\r\nhi\r\n"),),
    Verb.BDAT: (Bdat(b"Subject: hi\r\n\r\n"),),
    Verb.BDAT_LAST: (Bdat(b"hi\r\n", last=True), Bdat(b"", last=True)),
    Verb.RSET: (Rset(),),
    Verb.NOOP: (Noop(),),
    Verb.VRFY: (Vrfy("teacher"), Vrfy("student")),
    Verb.EXPN: (Expn("staff"), Expn("students")),
    Verb.HELP: (Help(), Help("MAIL")),
    Verb.QUIT: (Quit(),),
    Verb.RAW: (Raw("XCLIENT NAME=spike.example.test"), Raw("ETRN example.test")),
}
"""Commands of every verb, several where details matter (an AUTH mechanism, MAIL parameters, a non-ASCII
recipient) and two different ones for every verb that takes an argument: after a 5yz the exact request is
advised against (RFC 5321 §4.2.1) while the verb with another argument is not."""

ALL_COMMANDS = tuple(command for commands in SAMPLES.values() for command in commands)

KEYWORDS = ("PIPELINING", "SIZE 10240000", "STARTTLS", "AUTH PLAIN LOGIN", "AUTH XOAUTH2", "CHUNKING", "8BITMIME",
            "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "REQUIRETLS")

DSN_ASK = DsnAsk(ret="FULL", envid="lesson-1", notify=("FAILURE", "DELAY"), orcpt=True, requiretls=True)
"""Every DSN parameter and REQUIRETLS asked for: the planner adds each only where the server offers it."""

CODES: dict[Verb, tuple[int, ...]] = {
    Verb.GREETING: (220, 220, 220, 554, 421),
    Verb.EHLO: (250, 250, 250, 250, 500, 502, 421, 550),
    Verb.HELO: (250, 250, 501, 503),
    Verb.STARTTLS: (220, 220, 454, 501, 503, 554),
    Verb.AUTH: (235, 334, 334, 535, 503, 504, 530, 538),
    Verb.AUTH_RESPONSE: (235, 334, 535, 501),
    Verb.MAIL: (250, 250, 451, 503, 530, 550, 552, 555),
    Verb.RCPT: (250, 250, 450, 451, 452, 503, 550),
    Verb.DATA: (354, 354, 451, 503, 554),
    Verb.MESSAGE: (250, 250, 451, 552, 554),
    Verb.BDAT: (250, 250, 451, 503, 552),
    Verb.BDAT_LAST: (250, 250, 451, 503, 552),
    Verb.QUIT: (221, 221, 500),
}
"""Replies a server may send to each verb (the rest get 250, 252, 451, 500, 502, 503 or 550)."""
OTHER_CODES = (250, 252, 451, 500, 502, 503, 550)


def effective(command: Command) -> Verb:
    return command.acts_as if isinstance(command, Raw) else command.verb


def assert_one_source_of_truth(client: SmtpClient) -> None:
    """``allowed()`` lists exactly the verbs of the commands ``check()`` accepts, and the verbs advised
    against are exactly those refused only by a SHOULD."""
    allowed = client.allowed()
    advised = dict(client.advised_against())
    for verb, commands in SAMPLES.items():
        refusals = [client.check(command) for command in commands]
        accepted = [command for command, refusal in zip(commands, refusals, strict=True) if refusal is None]
        assert (verb in allowed) == bool(accepted), (client.state, verb, refusals)
        if verb in advised:
            assert verb not in allowed
            assert all(isinstance(r, CommandNotAllowed) and r.advice for r in refusals), (verb, refusals)
        for refusal in refusals:
            assert refusal is None or str(refusal)
    assert not set(advised) & allowed
    view = client.view()
    assert view.allowed == allowed and dict(view.advised_against) == advised


def assert_never_stuck(client: SmtpClient) -> None:
    """While the server owes nothing on an open connection, some command may always go out."""
    if client.settled in (State.CLOSED, State.PROTOCOL_ERROR, State.DISCONNECTED) or client.pending:
        return
    assert client.allowed(), client.state
    if client.settled not in (State.AWAITING_GREETING, State.AWAITING_TLS_HANDSHAKE, State.READY_FOR_MESSAGE,
                              State.AUTH_CHALLENGED):
        assert Verb.QUIT in client.allowed(), client.state  # RFC 5321 §4.1.1.10: QUIT may be sent at any time


def assert_the_plan_fits(plan: SessionPlan, client: SmtpClient, last: Answer | None) -> None:
    """Re-planning (key ``a``) proposes, as its next step, one the client accepts: after a 220 to STARTTLS
    the handshake, never MAIL (RFC 3207 §4); QUIT when the planned session cannot go on."""
    if client.pending or client.settled in (State.CLOSED, State.PROTOCOL_ERROR):
        return
    steps = propose(plan, client.view(), last).commands
    if steps and not (isinstance(steps[0], AuthResponse) and steps[0].placeholder):
        assert client.check(steps[0]) is None, (client.state, steps[0], client.check(steps[0]))


def ehlo_reply(keywords: tuple[str, ...]) -> bytes:
    lines = ["mail.example.test", *keywords]
    return "".join(f"250{'-' if i < len(lines) - 1 else ' '}{line}\r\n" for i, line in enumerate(lines)).encode()


def wire_reply(verb: Verb, code: int, keywords: tuple[str, ...]) -> bytes:
    if verb == Verb.EHLO and code == 250:
        return ehlo_reply(keywords)
    if code == 334:
        return b"334 VXNlcm5hbWU6\r\n"
    return f"{code} {'2.0.0 ' if code < 300 else ''}text\r\n".encode()


class ClientSessions(RuleBasedStateMachine):
    """Sessions against a server that answers anything, including what a correct server would not."""

    def __init__(self) -> None:
        super().__init__()
        self.client = SmtpClient()
        self.last: Answer | None = None
        """The last answer, which the planner reads to decide whether the session can go on."""

    @initialize(security=st.sampled_from(SECURITIES), bdat=st.sampled_from((None, 1, 4096)))
    def choose_a_plan(self, security: str, bdat: int | None) -> None:
        self.plan = SessionPlan(security=security, username="student", password="s3cret", bdat=bdat,
                                message=b"Subject: hi\r\n\r\nhi\r\n", rcpt_tos=("teacher@example.test", "a@example.test"),
                                dsn=DSN_ASK)

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """The server answers what is pending (now and then the client pipelines more first), else the
        client sends: mostly what the planner proposes, sometimes any command, sometimes one out of order."""
        pending = self.client.pending
        if pending and pending[0].verb not in NO_REPLY and data.draw(st.integers(0, 4)) > 0:
            self.reply(data)
        else:
            self.send(data)

    def send(self, data: st.DataObject) -> None:
        client = self.client
        planned = propose(self.plan, client.view(), self.last).commands
        fitting = [c for c in ALL_COMMANDS + planned[:1] if client.check(c) is None]
        forceable = [c for c in ALL_COMMANDS if (r := client.check(c)) is not None and r.forceable]
        how = data.draw(st.sampled_from(("plan", "plan", "plan", "any", "force")))
        if how == "plan" and planned and client.check(planned[0]) is None:
            command, force = planned[0], False
        elif how == "force" and forceable:
            command, force = data.draw(st.sampled_from(forceable)), True  # out of order, on purpose
        elif fitting:
            command, force = data.draw(st.sampled_from(fitting)), False
        else:
            return
        client.send(command, force=force)
        if command.verb == Verb.CONNECT:
            client.connection_made(implicit_tls=self.plan.security == "tls")
        elif command.verb == Verb.TLS_HANDSHAKE:
            client.tls_established()

    def reply(self, data: st.DataObject) -> None:
        verb = effective(self.client.pending[0])
        code = data.draw(st.sampled_from(CODES.get(verb, OTHER_CODES)))
        missing = data.draw(st.lists(st.sampled_from(KEYWORDS), unique=True)) if verb == Verb.EHLO else []
        events = self.client.receive_data(wire_reply(verb, code, tuple(k for k in KEYWORDS if k not in missing)))
        self.last = next((e for e in reversed(events) if isinstance(e, Answer)), self.last)

    @rule(chance=st.integers(0, 30))
    def connection_lost(self, chance: int) -> None:
        if chance == 0:
            self.client.connection_lost()

    @precondition(lambda self: self.client.settled in (State.CLOSED, State.PROTOCOL_ERROR))
    @rule()
    def new_connection(self) -> None:
        self.client, self.last = SmtpClient(), None  # as the stepper does on a restart

    @rule(chance=st.integers(0, 30))
    def broken_reply(self, chance: int) -> None:
        if chance == 0:
            self.client.receive_data(b"garbage\r\n")

    @invariant()
    def allowed_is_what_check_accepts(self) -> None:
        assert_one_source_of_truth(self.client)

    @invariant()
    def some_command_can_always_go_out(self) -> None:
        assert_never_stuck(self.client)

    @invariant()
    def the_plan_always_fits(self) -> None:
        assert_the_plan_fits(self.plan, self.client, self.last)


# Derandomized: the same sessions every run, so a red CI names a change, not a lucky draw (random runs found
# the two cases tested below; run with --hypothesis-seed=N to explore further).
ClientSessions.TestCase.settings = settings(max_examples=100, stateful_step_count=60, deadline=None,
                                            derandomize=True, suppress_health_check=[HealthCheck.too_slow])
test_allowed_lists_exactly_the_verbs_check_accepts_in_every_reachable_session = ClientSessions.TestCase


VARIANTS = [
    ("starttls", KEYWORDS, None, State.READY_FOR_MESSAGE),
    ("starttls", KEYWORDS, 4, State.READY_FOR_CHUNK),
    ("tls", KEYWORDS, None, State.READY_FOR_MESSAGE),
    ("tls", tuple(k for k in KEYWORDS if k != "PIPELINING"), 0, State.AWAITING_CHUNK_REPLY),
    ("none", tuple(k for k in KEYWORDS if not k.startswith("AUTH")), None, State.READY_FOR_MESSAGE),
    ("none", (), 4, State.READY_FOR_MESSAGE),  # no CHUNKING advertised: DATA after all
    ("starttls", tuple(k for k in KEYWORDS if k != "STARTTLS"), None, State.READY_FOR_MAIL),  # QUIT: no TLS
    ("starttls", tuple(k for k in KEYWORDS if k != "CHUNKING"), 4, State.READY_FOR_MESSAGE),
]
"""(security, what every EHLO advertises, BDAT chunk size, a state the planned path reaches): implicit TLS
or STARTTLS or none, with and without PIPELINING, AUTH, STARTTLS and CHUNKING, with DATA or BDAT."""


def planned_session(security: str, keywords: tuple[str, ...], bdat: int | None, deviate_at: int | None,
                    code: int | None):
    """Follow the planner with every reply a success, except that reply number ``deviate_at`` gets ``code``;
    yield the client after every event."""
    login = any(k.startswith("AUTH") for k in keywords)  # log in where the server offers it
    plan = SessionPlan(security=security, username="student" if login else None, password="s3cret", bdat=bdat,
                       allow_cleartext_auth=security == "none", message=b"Subject: hi\r\n\r\nhello\r\n",
                       rcpt_tos=("teacher@example.test", "nobody@example.test"), dsn=DSN_ASK)
    client, replies, last = SmtpClient(), 0, None
    for _ in range(60):
        if deviate_at is None or replies > deviate_at:  # the path before the deviation is the planned one
            yield plan, client, last
        if client.pending and client.pending[0].verb not in NO_REPLY:
            verb = effective(client.pending[0])
            success = {Verb.GREETING: 220, Verb.STARTTLS: 220, Verb.AUTH: 235, Verb.DATA: 354, Verb.QUIT: 221}
            chosen = code if replies == deviate_at else success.get(verb, 250)
            events = client.receive_data(wire_reply(verb, chosen, keywords))
            last = next((e for e in reversed(events) if isinstance(e, Answer)), last)
            replies += 1
            continue
        steps = propose(plan, client.view(), last).commands
        if not steps or client.settled in (State.CLOSED, State.PROTOCOL_ERROR):
            return
        client.send(steps[0])
        if steps[0].verb == Verb.CONNECT:
            client.connection_made(implicit_tls=security == "tls")
        elif steps[0].verb == Verb.TLS_HANDSHAKE:
            client.tls_established()


DEVIATIONS = [None, *((index, code) for index in range(16) for code in (334, 421, 451, 503, 554))]
"""The planned path, then for each of its replies: that reply replaced by a 334 (nonsense almost everywhere),
a 421, a 4yz, a 503 or a 554."""


@pytest.mark.parametrize(("security", "keywords", "bdat", "reached"), VARIANTS)
def test_on_every_planned_path_and_every_failure_from_it_allowed_is_what_check_accepts(security, keywords, bdat,
                                                                                        reached):
    states = set()
    for deviation in DEVIATIONS:
        index, code = deviation if deviation else (None, None)
        for plan, client, last in planned_session(security, keywords, bdat, index, code):
            states.add(client.state)
            assert_one_source_of_truth(client)
            assert_never_stuck(client)
            assert_the_plan_fits(plan, client, last)
    assert {State.READY_FOR_MAIL, reached, State.CLOSED} <= states


def test_after_a_server_took_a_forced_rcpt_without_mail_the_plan_starts_with_rset() -> None:
    """Found by the state machine: a RCPT forced before MAIL and accepted opens a transaction with no sender,
    where MAIL may not be sent (RFC 5321 §4.1.4); the plan ends that transaction with RSET first."""
    client = SmtpClient()
    plan = SessionPlan(security="none", message=b"Subject: hi\r\n\r\nhi\r\n", rcpt_tos=("teacher@example.test",))
    client.send(Connect())
    client.connection_made(implicit_tls=False)
    client.send(ReadGreeting())
    client.receive_data(b"220 ready\r\n")
    client.send(Ehlo("client.example.test"))
    client.receive_data(b"250 hello\r\n")
    client.send(RcptTo("teacher@example.test"), force=True)
    client.receive_data(b"250 ok\r\n")
    assert client.settled == State.READY_FOR_DATA and client.view().envelope.mail_from is None
    first = propose(plan, client.view(), None).commands[0]
    assert first.verb == Verb.RSET and client.check(first) is None


def test_bdat_cannot_be_forced_while_the_greeting_is_awaited_either() -> None:
    """Found by the state machine: with the greeting still due, BDAT was forceable (pipelined) although no
    EHLO had advertised CHUNKING, a rule the client may not break even on purpose (RFC 3030 §2)."""
    client = SmtpClient()
    client.send(Connect())
    client.connection_made(implicit_tls=False)
    client.send(ReadGreeting())
    refusal = client.check(Bdat(b"Subject: hi\r\n\r\n"))
    assert refusal is not None and not refusal.forceable
