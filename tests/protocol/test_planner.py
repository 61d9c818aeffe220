"""The planner, driven against a scripted server without I/O: proposals at every stage, the security
policy, and what it does after each kind of failure."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from smtpstep.protocol.client import Answer, CommandNotAllowed, SmtpClient
from smtpstep.protocol.commands import (
    Auth,
    AuthResponse,
    Command,
    Ehlo,
    MailFrom,
    MessageBody,
    Quit,
    Raw,
    RcptTo,
    TlsHandshake,
    Verb,
)
from smtpstep.protocol.planner import PHASES, Proposal, SessionPlan, declared_size, propose
from smtpstep.protocol.states import State

MESSAGE = b"Subject: hi\r\n\r\nhello\r\n"
OK, BAD = "teacher@example.test", "nobody@example.test"


@dataclass
class Server:
    """Answers each command the way a submission server would; fields change one answer."""

    starttls: bool = True
    auth: str = "PLAIN LOGIN CRAM-MD5"
    auth_before_tls: bool = False
    greeting: bytes = b"220 mail.example.test ESMTP\r\n"
    ehlo: bytes | None = None
    starttls_reply: bytes = b"220 2.0.0 Ready to start TLS\r\n"
    auth_reply: bytes = b"235 2.7.0 Authentication successful\r\n"
    mail: bytes = b"250 2.1.0 Ok\r\n"
    rejected: dict[str, bytes] = field(default_factory=lambda: {BAD: b"550 5.1.1 <nobody@example.test>: unknown\r\n"})
    data: bytes = b"354 End data with <CR><LF>.<CR><LF>\r\n"
    _login: int = 0

    def reply(self, command: Command, client: SmtpClient) -> bytes:
        verb = command.acts_as if isinstance(command, Raw) else command.verb
        tls = client.session.tls
        if verb == Verb.GREETING:
            return self.greeting
        if verb == Verb.EHLO:
            if self.ehlo is not None:
                return self.ehlo
            lines = ["mail.example.test", "PIPELINING", "SIZE 10240000", "8BITMIME"]
            if self.starttls and not tls:
                lines.append("STARTTLS")
            if self.auth and (tls or self.auth_before_tls):
                lines.append(f"AUTH {self.auth}")
            lines.append("ENHANCEDSTATUSCODES")
            return b"".join(f"250{'-' if i < len(lines) - 1 else ' '}{line}\r\n".encode()
                            for i, line in enumerate(lines))
        if verb == Verb.HELO:
            return b"250 mail.example.test\r\n"
        if verb == Verb.STARTTLS:
            return self.starttls_reply
        if verb == Verb.AUTH:
            if isinstance(command, Auth) and command.mechanism == "LOGIN":
                return b"334 VXNlcm5hbWU6\r\n"
            if isinstance(command, Auth) and command.mechanism == "CRAM-MD5":
                return b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"
            return self.auth_reply
        if verb == Verb.AUTH_RESPONSE:
            self._login += 1
            return b"334 UGFzc3dvcmQ6\r\n" if client.auth_in_progress.mechanism == "LOGIN" and self._login == 1 \
                else self.auth_reply
        if verb == Verb.MAIL:
            return self.mail
        if verb == Verb.RCPT:
            return self.rejected.get(command.address, b"250 2.1.5 Ok\r\n")
        if verb == Verb.DATA:
            return self.data
        if verb == Verb.MESSAGE:
            return b"250 2.0.0 Ok: queued as 12345\r\n"
        if verb == Verb.QUIT:
            return b"221 2.0.0 Bye\r\n"
        return b"250 Ok\r\n"


@dataclass
class Run:
    client: SmtpClient
    taken: list[Command] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    @property
    def verbs(self) -> list[Verb]:
        return [c.verb for c in self.taken]

    @property
    def halts(self) -> list[str]:
        return [p.halt for p in self.proposals if p.halt]


def drive(plan: SessionPlan, server: Server | None = None, *, until: State | None = None, limit: int = 40) -> Run:
    """Take the planner's first step again and again, as the app's "play" does, until it has none
    (or until the client reaches the state ``until``)."""
    server = server or Server()
    run = Run(SmtpClient())
    client, last = run.client, None
    for _ in range(limit):
        if client.state == until:
            return run
        proposal = propose(plan, client.view(), last)
        run.proposals.append(proposal)
        if not proposal.steps:
            return run
        command = proposal.steps[0].command
        run.taken.append(command)
        client.send(command)
        if command.verb == Verb.CONNECT:
            client.connection_made(implicit_tls=plan.security == "tls")
        elif command.verb == Verb.TLS_HANDSHAKE:
            client.tls_established()
        else:
            events = client.receive_data(server.reply(command, client))
            last = [e for e in events if isinstance(e, Answer)][-1]
    raise AssertionError(f"the planner never finished: {[c.label for c in run.taken]}")


def plan(**overrides) -> SessionPlan:
    values = dict(rcpt_tos=(OK,), message=MESSAGE)
    values.update(overrides)
    return SessionPlan(**values)


V = Verb
STARTTLS_SESSION = [V.CONNECT, V.GREETING, V.EHLO, V.STARTTLS, V.TLS_HANDSHAKE, V.EHLO, V.AUTH, V.MAIL, V.RCPT,
                    V.DATA, V.MESSAGE, V.QUIT]
TLS_SESSION = [V.CONNECT, V.TLS_HANDSHAKE, V.GREETING, V.EHLO, V.AUTH, V.MAIL, V.RCPT, V.DATA, V.MESSAGE, V.QUIT]
PLAIN_SESSION = [V.CONNECT, V.GREETING, V.EHLO, V.MAIL, V.RCPT, V.DATA, V.MESSAGE, V.QUIT]


@pytest.mark.parametrize(
    ("security", "expected"),
    [("starttls", STARTTLS_SESSION), ("tls", TLS_SESSION), ("none", PLAIN_SESSION)],
)
def test_each_security_plan_is_proposed_whole_at_the_start_and_followed_to_the_end(security, expected):
    username = None if security == "none" else "student"
    run = drive(plan(security=security, username=username, password="s3cret"))
    assert run.verbs == expected
    first = run.proposals[0]
    assert [c.verb for c in first.commands] == expected
    assert first.halt is None and not run.halts
    for taken, proposal in zip(run.taken, run.proposals):
        # Each stage proposes the rest of the session: its head is what was taken, the tail what follows.
        assert proposal.commands[0] == taken
        assert [c.verb for c in proposal.commands][-1] == V.QUIT
    assert run.client.state == State.CLOSED
    assert run.proposals[-1].steps == ()
    assert len(run.client.transactions) == 1


def test_after_starttls_the_planner_says_ehlo_again():
    run = drive(plan(username="student", password="s3cret"))
    after_tls = run.proposals[run.verbs.index(V.TLS_HANDSHAKE) + 1]
    assert after_tls.steps[0].command == Ehlo("client.smtpstep.test")
    assert after_tls.steps[0].phase == "tls"


def test_starttls_missing_from_ehlo_means_quit_and_nothing_more_in_plain_text():
    run = drive(plan(username="student", password="s3cret"), Server(starttls=False, auth_before_tls=True))
    assert run.verbs == [V.CONNECT, V.GREETING, V.EHLO, V.QUIT]
    stripped = run.proposals[3]
    assert stripped.commands == (Quit(),)
    assert "RFC 3207 §6" in stripped.halt and "STARTTLS" in stripped.halt
    assert stripped.explanation_key == "starttls-missing" and stripped.failed_phase == "tls"


def test_auth_is_never_planned_on_plain_text_without_consent():
    run = drive(plan(security="none", username="student", password="s3cret"), Server(auth_before_tls=True))
    assert all(not isinstance(c, Auth) for p in run.proposals for c in p.commands)
    assert run.verbs == [V.CONNECT, V.GREETING, V.EHLO, V.QUIT]
    assert "not encrypted" in run.halts[0]
    assert run.proposals[3].explanation_key == "cleartext-auth-refused"


def test_auth_on_plain_text_is_planned_when_allowed_explicitly():
    run = drive(plan(security="none", username="student", password="s3cret", allow_cleartext_auth=True),
                Server(auth_before_tls=True))
    assert run.verbs == [V.CONNECT, V.GREETING, V.EHLO, V.AUTH, V.MAIL, V.RCPT, V.DATA, V.MESSAGE, V.QUIT]
    assert run.client.session.authenticated_as == "student" and not run.client.session.tls


def test_with_starttls_auth_is_planned_only_after_the_handshake():
    first = propose(plan(username="student", password="s3cret"), SmtpClient().view())
    verbs = [c.verb for c in first.commands]
    assert verbs.index(V.AUTH) > verbs.index(V.TLS_HANDSHAKE)


def test_no_common_auth_mechanism_means_quit():
    run = drive(plan(username="student", password="s3cret"), Server(auth="XOAUTH2 GSSAPI"))
    assert run.verbs[-1] == V.QUIT and V.AUTH not in run.verbs
    assert "XOAUTH2" in run.halts[0]


@pytest.mark.parametrize("code", [500, 502])
def test_ehlo_refused_with_500_or_502_falls_back_to_helo(code):
    run = drive(plan(security="none"), Server(ehlo=f"{code} 5.5.1 unrecognized\r\n".encode()))
    assert run.verbs == [V.CONNECT, V.GREETING, V.EHLO, V.HELO, V.MAIL, V.RCPT, V.DATA, V.MESSAGE, V.QUIT]
    assert not run.halts


def test_helo_fallback_with_starttls_required_stops_for_lack_of_starttls():
    run = drive(plan(), Server(ehlo=b"502 5.5.1 no EHLO here\r\n"))
    assert run.verbs == [V.CONNECT, V.GREETING, V.EHLO, V.HELO, V.QUIT]
    assert "STARTTLS" in run.halts[0]


def test_a_rejected_recipient_is_followed_by_the_next_one():
    run = drive(plan(security="none", rcpt_tos=(BAD, OK)))
    rcpts = [c.address for c in run.taken if isinstance(c, RcptTo)]
    assert rcpts == [BAD, OK]
    assert run.verbs[-3:] == [V.DATA, V.MESSAGE, V.QUIT]
    assert run.client.transactions[0].envelope.rcpt_tos == (OK,)
    assert not run.halts


def test_a_rejected_last_recipient_still_sends_to_the_accepted_ones():
    run = drive(plan(security="none", rcpt_tos=(OK, BAD)))
    assert run.verbs[-3:] == [V.DATA, V.MESSAGE, V.QUIT]


def test_every_recipient_rejected_means_quit():
    other = "ghost@example.test"
    server = Server(rejected={BAD: b"550 5.1.1 unknown\r\n", other: b"550 5.1.1 unknown too\r\n"})
    run = drive(plan(security="none", rcpt_tos=(BAD, other)), server)
    assert run.verbs == [V.CONNECT, V.GREETING, V.EHLO, V.MAIL, V.RCPT, V.RCPT, V.QUIT]
    assert "every recipient" in run.halts[0] and "550 5.1.1 unknown too" in run.halts[0]
    assert run.proposals[-2].failed_phase == "rcpt"


def test_a_permanent_failure_at_mail_means_quit_with_the_reply_in_the_reason():
    run = drive(plan(security="none"), Server(mail=b"553 5.7.1 <student@client.smtpstep.test>: Sender rejected\r\n"))
    assert run.verbs[-2:] == [V.MAIL, V.QUIT]
    halt = run.halts[0]
    assert "553 5.7.1 <student@client.smtpstep.test>: Sender rejected" in halt
    assert "try again later" not in halt


def test_a_transient_failure_says_try_again_later():
    run = drive(plan(security="none"), Server(mail=b"451 4.3.0 Temporary lookup failure\r\n"))
    assert run.verbs[-2:] == [V.MAIL, V.QUIT]
    assert "451 4.3.0" in run.halts[0] and "try again later" in run.halts[0]


@pytest.mark.parametrize(
    ("server", "words", "phase"),
    [
        (Server(greeting=b"554 5.3.2 No SMTP service here\r\n"), "refused service", "greeting"),
        (Server(ehlo=b"550 5.7.1 go away\r\n"), "refused the greeting EHLO", "ehlo"),
        (Server(starttls_reply=b"454 4.7.0 TLS not available due to local problem\r\n"), "refused STARTTLS", "tls"),
        (Server(auth_reply=b"535 5.7.8 Error: authentication failed\r\n"), "authentication failed", "auth"),
        (Server(data=b"554 5.5.1 Error: no valid recipients\r\n"), "refused DATA", "data"),
    ],
)
def test_a_failure_at_each_phase_means_quit_with_a_reason(server, words, phase):
    run = drive(plan(username="student", password="s3cret"), server)
    assert run.verbs[-1] == V.QUIT
    halted = next(p for p in run.proposals if p.halt)
    assert words in halted.halt and halted.failed_phase == phase
    assert halted.commands == (Quit(),)


def test_a_421_means_the_connection_is_gone_and_nothing_is_proposed():
    run = drive(plan(security="none"), Server(mail=b"421 4.3.2 Service shutting down\r\n"))
    assert run.verbs[-1] == V.MAIL
    assert run.proposals[-1].steps == () and "closing" in run.proposals[-1].halt
    assert run.client.state == State.CLOSED


def test_a_typed_mail_from_that_fails_stops_the_plan_like_a_planned_one():
    client = drive(plan(security="none"), until=State.READY_FOR_MAIL).client
    client.send(Raw("MAIL FROM:<a@b.test> SIZE=1"))
    (answer,) = client.receive_data(b"552 5.3.4 Message size exceeds fixed limit\r\n")
    proposal = propose(plan(security="none"), client.view(), answer)
    assert proposal.commands == (Quit(),) and "552 5.3.4" in proposal.halt


STEP_PHASES = ["connect", "greeting", "ehlo", "tls", "tls", "tls", "auth", "mail", "rcpt", "data", "data", "quit"]
"""The phase of each step of ``STARTTLS_SESSION``."""


def test_each_step_is_labelled_with_its_phase():
    run = drive(plan(username="student", password="s3cret"))
    assert [p.phase for p in run.proposals[0].steps] == STEP_PHASES


@pytest.mark.parametrize("phase", PHASES)
def test_quit_after_cuts_the_plan_after_that_phase(phase):
    run = drive(plan(username="student", password="s3cret", quit_after=phase))
    kept = PHASES.index(phase)
    # The greeting is always read: QUIT may not come before it (RFC 5321 §3.1).
    expected = [v for v, p in zip(STARTTLS_SESSION, STEP_PHASES)
                if p != "quit" and (PHASES.index(p) <= kept or v == V.GREETING)] + [V.QUIT]
    assert run.verbs == expected
    assert [c.verb for c in run.proposals[0].commands] == expected
    assert run.proposals[-1].steps == ()  # after QUIT's reply nothing more is proposed
    assert run.client.state == State.CLOSED and not run.halts


def test_quit_after_ehlo_stops_before_starttls():
    run = drive(plan(username="student", password="s3cret", quit_after="ehlo"))
    assert run.verbs == [V.CONNECT, V.GREETING, V.EHLO, V.QUIT]


def test_auth_login_previews_its_answers_as_placeholders_and_fills_them_in_when_challenged():
    login = plan(username="student", password="s3cret", mechanism="LOGIN")
    run = drive(login)
    auth_stage = run.proposals[run.verbs.index(V.AUTH)]
    previews = [c for c in auth_stage.commands if isinstance(c, AuthResponse)]
    assert [p.placeholder for p in previews] == [True, True]
    assert [p.label for p in previews] == ["(the user name, base64)", "(the password, base64)"]
    sent = [c for c in run.taken if isinstance(c, AuthResponse)]
    assert [c.placeholder for c in sent] == [False, False]
    assert [c.payload for c in sent] == ["c3R1ZGVudA==", "czNjcmV0"]
    assert all("s3cret" not in c.label and c.payload not in c.label for c in sent)
    assert run.client.session.authenticated_as == "student"


def test_a_placeholder_auth_answer_can_never_be_sent_even_when_an_answer_is_due():
    login = plan(username="student", password="s3cret", mechanism="LOGIN")
    client = drive(login, until=State.AUTH_CHALLENGED).client
    answer, preview = propose(login, client.view()).commands[:2]
    assert not answer.placeholder and preview.placeholder
    assert client.check(answer) is None
    refusal = client.check(preview)
    assert refusal is not None and not refusal.forceable
    with pytest.raises(CommandNotAllowed):
        client.send(preview, force=True)
    assert client.state == State.AUTH_CHALLENGED and client.pending == ()


def test_cram_md5_answers_the_challenge_with_an_hmac():
    run = drive(plan(username="tim", password="tanstaaftanstaaf", mechanism="CRAM-MD5"))
    (answer,) = [c for c in run.taken if isinstance(c, AuthResponse)]
    assert answer.payload == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"


def test_mail_from_declares_the_message_size_when_the_server_offers_size():
    run = drive(plan(security="none"))
    (mail,) = [c for c in run.taken if isinstance(c, MailFrom)]
    assert mail.size == len(MESSAGE)  # every line already ends in CRLF: the message is its own size
    assert not mail.body_8bit


@pytest.mark.parametrize(
    ("content", "exact", "size"),
    [
        (b"Subject: hi\r\n\r\nhello\r\n", False, 22),
        (b"Subject: hi\n\nhello", False, 22),  # bare LFs go out as CRLF, and a CRLF ends the last line
        (b".a\r\n..b\r\n.\r\nend\r\n", False, 17),  # three stuffing dots on the wire, none counted
        (b"", False, 0),
        (b"a\r\n.\r\n", True, 3),  # sent exactly as given: only the terminating dot line is left out
    ],
)
def test_the_declared_size_counts_crlfs_but_not_stuffing_dots_nor_the_final_dot(
    content: bytes, exact: bool, size: int
) -> None:
    body = MessageBody(content, exact=exact)
    assert declared_size(body) == size
    wire = len(body.render().data)
    assert wire - size == 3 + body.stuffed_lines  # RFC 1870 §5: "not ... terminating dot or doubled quoting dots"


async def test_the_declared_size_is_the_size_of_the_message_the_server_stores(local_server) -> None:
    from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
    from smtpstep.protocol.transport.wire import Direction, Target
    from tests.support.driver import run_session

    message = b"Subject: dots\r\n\r\n.one\r\n..two\r\n.\r\nlast line without its line end"
    target = Target("127.0.0.1", local_server.port_for("none"), "none", builtin=True, timeout=10.0)
    transport = AsyncioTransport(target)
    results = await run_session(transport, SessionPlan(security="none", message=message))
    assert results[-1].ok
    sent = b"".join(c.data for c in transport.record.chunks if c.direction == Direction.CLIENT)
    (declared,) = [line for line in sent.split(b"\r\n") if line.startswith(b"MAIL FROM:")]
    stored = local_server.received[-1].original_content  # as the server holds it, dots removed again
    assert declared.endswith(b" SIZE=%d" % len(stored))
    assert stored.endswith(b"without its line end\r\n")


def test_the_planned_message_is_the_plans_message():
    run = drive(plan(security="none"))
    (body,) = [c for c in run.taken if isinstance(c, MessageBody)]
    assert body.content == MESSAGE


def test_implicit_tls_shakes_hands_before_the_greeting():
    first = propose(plan(security="tls"), SmtpClient().view())
    assert [c.verb for c in first.commands][:3] == [V.CONNECT, V.TLS_HANDSHAKE, V.GREETING]
    assert isinstance(first.commands[1], TlsHandshake)


def test_quit_after_ehlo_ends_cleanly_even_when_starttls_is_missing() -> None:
    from smtpstep.protocol.client import SmtpClient
    from smtpstep.protocol.commands import Connect, Ehlo, ReadGreeting
    from smtpstep.protocol.planner import SessionPlan, propose

    client = SmtpClient()
    client.send(Connect())
    client.connection_made()
    client.send(ReadGreeting())
    client.receive_data(b"220 mx.test ESMTP\r\n")
    client.send(Ehlo("client.test"))
    (answer,) = client.receive_data(b"250-mx.test\r\n250 8BITMIME\r\n")
    plan = SessionPlan(security="starttls", quit_after="ehlo", message=b"x\r\n")
    proposal = propose(plan, client.view(), answer)
    assert proposal.halt is None
    assert [s.command.label for s in proposal.steps] == ["QUIT"]
    without_cut = propose(SessionPlan(security="starttls", message=b"x\r\n"), client.view(), answer)
    assert without_cut.failed_phase == "tls"
