"""The sans-I/O client: whole recorded sessions, split reads, the two lifetimes, pipelining, forcing."""

from __future__ import annotations

import pytest

from smtpstep.protocol import sasl
from smtpstep.protocol.client import (
    Answer,
    CommandNotAllowed,
    Discarded,
    ProtocolViolation,
    ServerClosing,
    SmtpClient,
)
from smtpstep.protocol.commands import (
    Auth,
    AuthResponse,
    Connect,
    Data,
    Ehlo,
    Helo,
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
)
from smtpstep.protocol.replies import Reply
from smtpstep.protocol.states import State
from tests.support.recorded_sessions import (
    CLIENT_NAME,
    EHLO_PLAIN,
    GREETING,
    MESSAGE,
    PASSWORD,
    RCPT_BAD,
    RCPT_OK,
    SENDER,
    STATE_SCRIPTS,
    SUBMISSION,
    SUBMISSION_WIRE,
    USER,
    Connected,
    Receive,
    Send,
    TlsUp,
    byte_by_byte,
    client_in,
    receives,
    replay,
    split_at,
)

# -- the recorded submission session ----------------------------------------------------------------


def summary(events):
    return [(type(e).__name__, e.command.verb, e.reply, e.state) if isinstance(e, Answer) else e for e in events]


EXPECTED_ANSWERS = [
    (Verb.GREETING, 220, State.READY_FOR_HELLO),
    (Verb.EHLO, 250, State.READY_FOR_MAIL),
    (Verb.STARTTLS, 220, State.AWAITING_TLS_HANDSHAKE),
    (Verb.EHLO, 250, State.READY_FOR_MAIL),
    (Verb.AUTH, 235, State.READY_FOR_MAIL),
    (Verb.MAIL, 250, State.READY_FOR_RCPT),
    (Verb.RCPT, 250, State.READY_FOR_DATA),
    (Verb.RCPT, 550, State.READY_FOR_DATA),
    (Verb.DATA, 354, State.READY_FOR_MESSAGE),
    (Verb.MESSAGE, 250, State.READY_FOR_MAIL),
    (Verb.QUIT, 221, State.CLOSED),
]


def test_a_recorded_submission_session_sends_exact_bytes_and_ends_closed():
    run = replay(SUBMISSION)
    assert run.wire == SUBMISSION_WIRE
    assert [(a.command.verb, a.reply.code, a.state) for a in run.answers] == EXPECTED_ANSWERS
    assert all(isinstance(e, Answer) for e in run.events)
    client = run.client
    assert client.state == client.settled == State.CLOSED
    assert client.pending == ()
    assert client.session.tls and client.session.authenticated_as == USER
    assert client.session.auth_mechanism == "PLAIN"
    (transaction,) = client.transactions
    assert transaction.envelope.mail_from == SENDER
    assert transaction.envelope.rcpt_tos == (RCPT_OK,)
    ((refused, reply),) = transaction.envelope.rejected
    assert refused == RCPT_BAD and reply.enhanced == "5.1.1"
    assert transaction.reply.code == 250
    assert client.envelope.mail_from is None


def _longest_read() -> int:
    return max(len(data) for data in receives(SUBMISSION))


@pytest.mark.parametrize("offset", range(1, _longest_read()))
def test_the_recorded_session_split_at_every_byte_offset_gives_the_same_events(offset):
    expected = replay(SUBMISSION)
    run = replay(SUBMISSION, chunks=split_at(offset))
    assert run.wire == SUBMISSION_WIRE
    assert summary(run.events) == summary(expected.events)
    assert run.client.view() == expected.client.view()


def test_the_recorded_session_fed_one_byte_at_a_time_gives_the_same_events():
    expected = replay(SUBMISSION)
    run = replay(SUBMISSION, chunks=byte_by_byte)
    assert summary(run.events) == summary(expected.events)
    assert run.client.view() == expected.client.view()


def test_the_view_is_an_immutable_copy_that_never_holds_the_password():
    run = replay(SUBMISSION[:13])  # up to AUTH PLAIN sent
    view = run.client.view()
    assert view.state == State.AWAITING_AUTH_REPLY
    assert view.auth_in_progress == "PLAIN"
    assert PASSWORD not in repr(view)


# -- STARTTLS ---------------------------------------------------------------------------------------------

def _until_starttls_220(extra: bytes = b""):
    script = SUBMISSION[:7] + [Receive(b"220 2.0.0 Ready to start TLS\r\n" + extra)]
    return replay(script)


def test_starttls_clears_the_session_facts_and_keeps_them_in_before_tls():
    run = _until_starttls_220()
    before = run.client.session
    assert before.capabilities is not None and "STARTTLS" in before.capabilities
    run.client.send(TlsHandshake())
    run.client.tls_established()
    session = run.client.session
    assert session.tls and not session.implicit_tls
    assert session.greeting is None and session.capabilities is None and session.hello_name is None
    assert session.before_tls == before
    assert session.before_tls.greeting is not None
    assert run.client.state == State.READY_FOR_HELLO
    assert Verb.EHLO in run.client.allowed()
    # RFC 3207 §4.2: "The client SHOULD send an EHLO command as the first command after a successful TLS
    # negotiation": HELO is advised against, not forbidden.
    assert Verb.HELO not in run.client.allowed()
    assert Verb.HELO in dict(run.client.advised_against())
    refusal = run.client.check(Helo(CLIENT_NAME))
    assert refusal is not None and refusal.advice and refusal.forceable and "RFC 3207 §4.2" in str(refusal)
    assert Verb.MAIL not in run.client.allowed()


def test_plaintext_after_220_to_starttls_is_discarded_unread():
    injected = b"250-PIPELINING\r\n250 AUTH PLAIN\r\nnot even a reply"
    run = _until_starttls_220(injected)
    starttls, discarded = run.events[-2:]
    assert isinstance(starttls, Answer) and starttls.reply.code == 220
    assert discarded == Discarded(injected, discarded.reason)
    assert "RFC 3207" in discarded.reason
    client = run.client
    assert client.state == State.AWAITING_TLS_HANDSHAKE
    # Nothing of it is parsed later either: the first reply under TLS starts clean.
    client.send(TlsHandshake())
    client.tls_established()
    client.send(Ehlo(CLIENT_NAME))
    (answer,) = client.receive_data(b"250 mail.example.test\r\n")
    assert answer.reply.lines == ("mail.example.test",)


def test_plaintext_arriving_later_but_before_the_handshake_is_discarded_too():
    run = _until_starttls_220()
    client = run.client
    (event,) = client.receive_data(b"250 injected\r\n")
    assert isinstance(event, Discarded) and event.data == b"250 injected\r\n"
    client.send(TlsHandshake())
    (event,) = client.receive_data(b"250 injected\r\n")
    assert isinstance(event, Discarded)
    assert client.state == State.AWAITING_TLS_HANDSHAKE


def test_starttls_cannot_be_repeated_once_tls_is_on():
    run = replay(SUBMISSION[:12])  # EHLO under TLS answered
    refusal = run.client.check(StartTls())
    assert refusal is not None and "already" in str(refusal)


def test_implicit_tls_reads_the_greeting_after_the_handshake_and_keeps_it():
    script = [
        Send(Connect(), b""),
        Connected(implicit_tls=True),
        Send(TlsHandshake(), b""),
        TlsUp(),
        Send(ReadGreeting(), b""),
        Receive(GREETING),
    ]
    client = replay(script).client
    assert client.state == State.READY_FOR_HELLO
    assert client.session.tls and client.session.implicit_tls
    assert client.session.greeting is not None and client.session.before_tls is None


# -- protocol errors (h11's ERROR state), replies nobody asked for, 421 ----------------------------------------

UNASKED = b"250 ok\r\n250 unasked\r\n"
"""A NOOP's reply, then a second reply that no command asked for."""


def _assert_only_closing_is_left(client: SmtpClient) -> None:
    assert client.state == client.settled == State.PROTOCOL_ERROR
    assert client.pending == () and client.allowed() == frozenset()
    for command in (Noop(), Quit(), Rset(), Ehlo(CLIENT_NAME)):
        with pytest.raises(CommandNotAllowed) as refused:
            client.send(command, force=True)
        assert not refused.value.forceable and "protocol" in str(refused.value)
    assert client.pending == ()


@pytest.mark.parametrize("offset", range(len(UNASKED) + 1))
def test_a_reply_nobody_asked_for_returns_the_answer_before_it_then_the_violation(offset):
    client = client_in(State.AWAITING_REPLY)  # NOOP sent
    events = client.receive_data(UNASKED[:offset]) + client.receive_data(UNASKED[offset:])
    answer, violation = events
    assert isinstance(answer, Answer)
    assert answer.command == Noop() and answer.reply.lines == ("ok",) and answer.state == State.READY_FOR_MAIL
    assert violation == ProtocolViolation("the server sent a reply nobody asked for: “250 unasked”",
                                          b"250 unasked\r\n")
    _assert_only_closing_is_left(client)


def test_a_malformed_reply_after_good_ones_keeps_them_and_moves_to_the_error_state():
    client = _pipelining_client()
    for command in (MailFrom(SENDER), RcptTo(RCPT_OK), Data()):
        client.send(command)
    events = client.receive_data(b"250 2.1.0 Ok\r\nHTTP/1.1 400 Bad Request\r\n354 go ahead\r\n")
    answer, violation = events
    assert isinstance(answer, Answer) and answer.command.verb == Verb.MAIL
    assert client.envelope.mail_from == SENDER  # the answer before the fault was applied
    assert isinstance(violation, ProtocolViolation) and "not an SMTP reply" in violation.message
    assert violation.raw == b"HTTP/1.1 400 Bad Request\r\n"
    _assert_only_closing_is_left(client)


def test_after_a_protocol_error_bytes_are_thrown_away_unread():
    client = client_in(State.READY_FOR_MAIL)
    (violation,) = client.receive_data(b"250 surprise\r\n")
    assert isinstance(violation, ProtocolViolation) and "nobody asked for" in violation.message
    (discarded,) = client.receive_data(b"250 more\r\n")
    assert isinstance(discarded, Discarded) and discarded.data == b"250 more\r\n"
    assert client.receive_data(b"") == []
    _assert_only_closing_is_left(client)


def test_a_violation_escapes_control_characters_and_is_bounded():
    client = client_in(State.READY_FOR_MAIL)
    (violation,) = client.receive_data(b"250 \x1b[2Jcleared " + b"x" * 200 + b"\r\n")
    assert "\x1b" not in violation.message and "\\x1b[2J" in violation.message
    assert len(violation.message) < 120 and violation.message.endswith("…”")


def test_closing_the_connection_after_a_protocol_error_closes_the_client():
    client = client_in(State.READY_FOR_MAIL)
    client.receive_data(b"250 surprise\r\n")
    client.connection_lost()
    assert client.state == State.CLOSED


def test_a_malformed_reply_is_a_protocol_violation():
    client = client_in(State.AWAITING_REPLY)
    (violation,) = client.receive_data(b"HTTP/1.1 400 Bad Request\r\n")
    assert isinstance(violation, ProtocolViolation) and "not an SMTP reply" in violation.message
    _assert_only_closing_is_left(client)


CLOSING = b"421 4.4.2 mail.example.test Error: timeout exceeded\r\n"


@pytest.mark.parametrize("offset", range(len(CLOSING) + 1))
def test_an_unsolicited_421_is_an_event_and_closes_the_session(offset):
    client = client_in(State.READY_FOR_MAIL)
    events = client.receive_data(CLOSING[:offset]) + client.receive_data(CLOSING[offset:])
    assert events == [ServerClosing(Reply(421, ("4.4.2 mail.example.test Error: timeout exceeded",), "4.4.2"))]
    assert client.state == State.CLOSED
    refusal = client.check(Noop())
    assert refusal is not None and not refusal.forceable


def test_a_421_after_the_answer_it_follows_is_an_event_after_that_answer():
    client = client_in(State.AWAITING_REPLY)  # NOOP sent
    answer, closing = client.receive_data(b"250 ok\r\n" + CLOSING + b"250 never read\r\n")
    assert isinstance(answer, Answer) and answer.reply.code == 250
    assert isinstance(closing, ServerClosing) and closing.reply.code == 421
    assert client.state == State.CLOSED


WAITING = [s for s in STATE_SCRIPTS if STATE_SCRIPTS[s] and isinstance(STATE_SCRIPTS[s][-1], Send)
           and s not in (State.CONNECTING,)]


@pytest.mark.parametrize("state", WAITING, ids=lambda s: s.name)
def test_421_closes_from_any_awaiting_state(state):
    client = client_in(state)
    (answer,) = client.receive_data(b"421 4.3.2 Service shutting down\r\n")
    assert answer.state == State.CLOSED
    assert client.state == State.CLOSED and client.pending == ()
    assert isinstance(client.check(Noop()), CommandNotAllowed)


def test_421_in_a_pipelined_group_closes_and_drops_the_rest_of_the_group():
    client = _pipelining_client()
    for command in (MailFrom(SENDER), RcptTo(RCPT_OK), Data()):
        client.send(command)
    (answer,) = client.receive_data(b"421 4.3.2 Shutting down\r\n")
    assert answer.command.verb == Verb.MAIL
    assert client.state == State.CLOSED and client.pending == ()


# -- EHLO refused, HELO --------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [500, 502])
def test_ehlo_500_or_502_sets_ehlo_refused_and_helo_opens_a_session_without_extensions(code):
    client = client_in(State.READY_FOR_HELLO)
    client.send(Ehlo(CLIENT_NAME))
    client.receive_data(f"{code} 5.5.1 Command unrecognized\r\n".encode())
    assert client.session.ehlo_refused
    assert client.state == State.READY_FOR_HELLO
    assert client.send(Helo(CLIENT_NAME)).data == b"HELO client.example.test\r\n"
    client.receive_data(b"250 mail.example.test\r\n")
    assert client.state == State.READY_FOR_MAIL
    assert client.session.hello_name == CLIENT_NAME and not client.session.extended
    assert client.session.capabilities.names == ()
    assert isinstance(client.check(StartTls()), CommandNotAllowed)


def test_ehlo_554_is_not_taken_as_a_request_for_helo():
    client = client_in(State.READY_FOR_HELLO)
    client.send(Ehlo(CLIENT_NAME))
    client.receive_data(b"554 5.7.1 go away\r\n")
    assert not client.session.ehlo_refused


def test_a_new_ehlo_clears_an_open_transaction():
    client = client_in(State.READY_FOR_DATA)
    assert client.envelope.rcpt_tos == (RCPT_OK,)
    client.send(Ehlo(CLIENT_NAME))
    client.receive_data(b"250 mail.example.test\r\n")
    assert client.state == State.READY_FOR_MAIL
    assert client.envelope.mail_from is None and client.envelope.rcpt_tos == ()


def test_rset_clears_the_envelope_but_keeps_the_session():
    client = client_in(State.READY_FOR_DATA)
    session = client.session
    client.send(Rset())
    client.receive_data(b"250 2.0.0 Ok\r\n")
    assert client.state == State.READY_FOR_MAIL
    assert client.envelope.mail_from is None
    assert client.session == session


# -- PIPELINING ------------------------------------------------------------------------------------------------

def _pipelining_client() -> SmtpClient:
    script = [Send(Connect(), b""), Connected(), Send(ReadGreeting(), b""), Receive(GREETING),
              Send(Ehlo(CLIENT_NAME), b"EHLO client.example.test\r\n"), Receive(EHLO_PLAIN)]
    return replay(script).client


def test_a_mail_rcpt_data_group_is_refused_without_pipelining():
    client = client_in(State.READY_FOR_MAIL)
    client.send(MailFrom(SENDER))
    refusal = client.check(RcptTo(RCPT_OK))
    assert refusal is not None and "PIPELINING" in str(refusal) and refusal.forceable
    assert client.allowed() == frozenset()
    with pytest.raises(CommandNotAllowed):
        client.send(RcptTo(RCPT_OK))
    assert client.pending == (MailFrom(SENDER),)


def test_a_pipelined_group_is_sent_when_advertised_and_replies_match_in_order():
    client = _pipelining_client()
    wire = b"".join(client.send(c).data for c in (MailFrom(SENDER), RcptTo(RCPT_OK), RcptTo(RCPT_BAD), Data()))
    assert wire == (b"MAIL FROM:<student@client.example.test>\r\nRCPT TO:<teacher@example.test>\r\n"
                    b"RCPT TO:<nobody@example.test>\r\nDATA\r\n")
    assert client.state == State.AWAITING_MAIL_REPLY
    assert client.allowed() == frozenset()  # DATA ends the group (RFC 2920 §3.1)
    refusal = client.check(MessageBody(MESSAGE))
    assert refusal is not None and not refusal.forceable
    answers = client.receive_data(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n")
    assert [(a.command.verb, a.reply.code, a.state) for a in answers] == [
        (Verb.MAIL, 250, State.READY_FOR_RCPT),
        (Verb.RCPT, 250, State.READY_FOR_DATA),
        (Verb.RCPT, 550, State.READY_FOR_DATA),
        (Verb.DATA, 354, State.READY_FOR_MESSAGE),
    ]
    assert client.envelope.rcpt_tos == (RCPT_OK,)
    assert [a for a, _ in client.envelope.rejected] == [RCPT_BAD]


def test_a_pipelined_group_split_across_reads_matches_the_same_way():
    replies = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"
    for offset in range(1, len(replies)):
        client = _pipelining_client()
        for command in (MailFrom(SENDER), RcptTo(RCPT_OK), Data()):
            client.send(command)
        answers = client.receive_data(replies[:offset]) + client.receive_data(replies[offset:])
        assert [a.command.verb for a in answers] == [Verb.MAIL, Verb.RCPT, Verb.DATA]
        assert client.state == State.READY_FOR_MESSAGE


def test_a_failed_mail_in_a_group_leaves_the_client_ready_for_mail():
    client = _pipelining_client()
    for command in (MailFrom(SENDER), RcptTo(RCPT_OK), Data()):
        client.send(command)
    answers = client.receive_data(
        b"550 5.7.1 sender rejected\r\n503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command\r\n"
    )
    assert [a.state for a in answers] == [State.READY_FOR_MAIL] * 3
    assert client.state == State.READY_FOR_MAIL and client.pending == ()
    assert client.envelope.mail_from is None and client.envelope.rcpt_tos == ()
    assert client.check(MailFrom(SENDER)) is None


def test_a_command_that_must_end_a_group_blocks_the_next_one():
    client = _pipelining_client()
    client.send(Noop())
    refusal = client.check(MailFrom(SENDER))
    assert refusal is not None and "last command of a pipelined group" in str(refusal)


def test_a_pipelined_non_ascii_recipient_follows_a_mail_from_with_smtputf8():
    client = _pipelining_client()
    client.send(MailFrom("élève@client.example.test", smtputf8=True))
    assert client.check(RcptTo("prof@example.test")) is None
    assert client.check(RcptTo("professeur@école.example")) is None


def test_a_non_ascii_recipient_without_smtputf8_is_refused():
    client = client_in(State.READY_FOR_RCPT)
    refusal = client.check(RcptTo("professeur@école.example"))
    assert refusal is not None and "SMTPUTF8" in str(refusal)


def test_mail_from_parameters_need_their_extension():
    client = client_in(State.READY_FOR_MAIL)  # offers SIZE, 8BITMIME, SMTPUTF8, no DSN
    assert client.check(MailFrom(SENDER, size=10, body_8bit=True, smtputf8=True)) is None
    helo = client_in(State.READY_FOR_HELLO)
    helo.send(Helo(CLIENT_NAME))
    helo.receive_data(b"250 mail.example.test\r\n")
    refusal = helo.check(MailFrom(SENDER, size=10))
    assert refusal is not None and "SIZE" in str(refusal)


# -- AUTH ------------------------------------------------------------------------------------------------------

def test_auth_login_answers_each_challenge_and_ends_authenticated():
    client = client_in(State.READY_FOR_MAIL)
    auth = Auth("LOGIN", USER, PASSWORD)
    assert client.send(auth).data == b"AUTH LOGIN\r\n"
    (answer,) = client.receive_data(b"334 VXNlcm5hbWU6\r\n")
    assert answer.state == client.state == State.AUTH_CHALLENGED
    assert client.challenge == "VXNlcm5hbWU6"
    assert client.auth_in_progress is auth
    assert client.allowed() == {Verb.AUTH_RESPONSE}

    payload, shown = sasl.respond("LOGIN", USER, PASSWORD, client.challenge)
    out = client.send(AuthResponse(payload, shown=shown))
    assert out.data == b"c3R1ZGVudA==\r\n" and out.redacted() == b"********\r\n"
    assert client.state == State.AWAITING_AUTH_REPLY
    client.receive_data(b"334 UGFzc3dvcmQ6\r\n")
    payload, shown = sasl.respond("LOGIN", USER, PASSWORD, client.challenge)
    assert client.send(AuthResponse(payload, shown=shown)).data == b"czNjcmV0\r\n"
    client.receive_data(b"235 2.7.0 Authentication successful\r\n")
    assert client.state == State.READY_FOR_MAIL
    assert client.session.authenticated_as == USER and client.session.auth_mechanism == "LOGIN"
    assert client.challenge is None and client.auth_in_progress is None
    refusal = client.check(Auth("PLAIN", USER, PASSWORD))
    assert refusal is not None and "already authenticated" in str(refusal)


def test_a_failed_auth_leaves_the_client_unauthenticated_and_ready_for_mail():
    client = client_in(State.AUTH_CHALLENGED)
    client.send(AuthResponse("*", secret=False))
    client.receive_data(b"501 5.7.0 Authentication aborted\r\n")
    assert client.state == State.READY_FOR_MAIL
    assert client.session.authenticated_as is None and client.auth_in_progress is None


def test_auth_with_a_mechanism_the_server_did_not_offer_is_flagged():
    client = client_in(State.READY_FOR_MAIL)  # offers PLAIN LOGIN
    refusal = client.check(Auth("CRAM-MD5", USER, PASSWORD))
    assert refusal is not None and "CRAM-MD5" in str(refusal) and refusal.forceable


def test_a_placeholder_auth_response_can_never_be_sent():
    client = client_in(State.AUTH_CHALLENGED)
    placeholder = AuthResponse("", shown="the password, base64", placeholder=True)
    with pytest.raises(CommandNotAllowed) as refused:
        client.send(placeholder, force=True)
    assert not refused.value.forceable
    assert client.state == State.AUTH_CHALLENGED and client.pending == ()


# -- forcing ------------------------------------------------------------------------------------------------------

def test_a_forced_out_of_order_command_is_sent_and_check_gives_the_reason():
    client = client_in(State.READY_FOR_MAIL)
    rcpt = RcptTo(RCPT_OK)
    reason = client.check(rcpt)
    assert reason is not None and reason.forceable
    assert "RFC 5321 §4.1.1.3" in str(reason)
    with pytest.raises(CommandNotAllowed):
        client.send(rcpt)
    assert client.send(rcpt, force=True).data == b"RCPT TO:<teacher@example.test>\r\n"
    assert client.state == State.AWAITING_RCPT_REPLY
    (answer,) = client.receive_data(b"503 5.5.1 Error: need MAIL command\r\n")
    assert answer.state == client.state == State.READY_FOR_MAIL


def test_a_typed_line_is_checked_as_the_verb_it_acts_as():
    client = client_in(State.READY_FOR_MAIL)
    assert client.check(Raw("mail from:<a@b.test> SIZE=10")) is None
    assert isinstance(client.check(Raw("DATA now")), CommandNotAllowed)
    client.send(Raw("mail from:<a@b.test> SIZE=10"))
    assert client.state == State.AWAITING_MAIL_REPLY
    client.receive_data(b"250 ok\r\n")
    assert client.state == State.READY_FOR_RCPT and client.envelope.mail_from == "a@b.test"


def test_the_message_before_354_cannot_be_forced():
    client = client_in(State.READY_FOR_DATA)
    with pytest.raises(CommandNotAllowed) as refused:
        client.send(MessageBody(MESSAGE), force=True)
    assert not refused.value.forceable
    assert "354" in str(refused.value)
    assert client.state == State.READY_FOR_DATA and client.pending == ()


@pytest.mark.parametrize(
    ("state", "command"),
    [
        (State.DISCONNECTED, Quit()),
        (State.AWAITING_GREETING, Ehlo(CLIENT_NAME)),
        (State.AWAITING_TLS_HANDSHAKE, Ehlo(CLIENT_NAME)),
        (State.READY_FOR_MESSAGE, Quit()),
        (State.AUTH_CHALLENGED, MailFrom(SENDER)),
        (State.AWAITING_DATA_GO_AHEAD, Quit()),
        (State.CLOSED, Noop()),
    ],
    ids=lambda v: getattr(v, "name", None) or type(v).__name__,
)
def test_a_line_the_server_would_not_read_as_a_command_cannot_be_forced(state, command):
    # Before the greeting it would take the greeting as its reply; after 334 or 354 it is a SASL
    # answer or message text, and no reply ever comes: the client would be out of step for good.
    client = client_in(state)
    before = client.view()
    with pytest.raises(CommandNotAllowed) as refused:
        client.send(command, force=True)
    assert not refused.value.forceable
    assert client.view() == before


def test_a_command_forced_behind_one_awaiting_its_reply_is_answered_in_order():
    client = client_in(State.AWAITING_MAIL_REPLY)
    refusal = client.check(RcptTo(RCPT_OK))
    assert refusal is not None and refusal.forceable
    client.send(RcptTo(RCPT_OK), force=True)
    answers = client.receive_data(b"250 sender ok\r\n250 recipient ok\r\n")
    assert [a.command.verb for a in answers] == [Verb.MAIL, Verb.RCPT]
    assert client.state == State.READY_FOR_DATA


def test_withdraw_forgets_commands_that_were_never_written():
    client = client_in(State.READY_FOR_MAIL)
    client.send(Auth("PLAIN", USER, PASSWORD))
    client.withdraw(1)
    assert client.pending == () and client.auth_in_progress is None
    assert client.state == State.READY_FOR_MAIL


def test_connection_lost_closes_and_forgets_what_was_pending():
    client = client_in(State.AWAITING_RCPT_REPLY)
    client.connection_lost()
    assert client.state == State.CLOSED and client.pending == ()
    assert isinstance(client.check(Quit()), CommandNotAllowed)


def test_after_data_the_next_transaction_can_start():
    client = client_in(State.READY_FOR_MESSAGE)
    assert client.send(MessageBody(b"Subject: x\r\n\r\nhi")).data == b"Subject: x\r\n\r\nhi\r\n.\r\n"
    (answer,) = client.receive_data(b"250 2.0.0 Ok: queued\r\n")
    assert answer.state == State.READY_FOR_MAIL
    assert client.transactions[-1].envelope.rcpt_tos == (RCPT_OK,)
    assert client.envelope.rcpt_tos == ()
    assert client.check(MailFrom(SENDER)) is None


def test_a_session_script_may_be_replayed_on_a_client_already_in_use():
    client = replay(STATE_SCRIPTS[State.READY_FOR_MAIL]).client
    run = replay([Send(Quit(), b"QUIT\r\n"), Receive(b"221 Bye\r\n")], client=client)
    assert run.client is client and client.state == State.CLOSED
