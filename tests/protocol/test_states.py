"""The state table: every state x every verb, driven through a real ``SmtpClient`` (after h2's
``tests/test_state_machines.py``), and the shape of the tables themselves."""

from __future__ import annotations

import pytest

from smtpstep.protocol.client import CommandNotAllowed
from smtpstep.protocol.commands import Verb
from smtpstep.protocol.states import (
    ALLOWED,
    AWAITS,
    IDLE,
    NO_REPLY,
    ON_REPLY,
    PIPELINE_LAST,
    SETTLED,
    Relative,
    State,
    after_reply,
)
from tests.support.recorded_sessions import SAMPLE_COMMANDS, STATE_SCRIPTS, Receive, replay

SCRIPTS = {
    State.PROTOCOL_ERROR: STATE_SCRIPTS[State.AWAITING_REPLY] + [Receive(b"250 ok\r\n250 unasked\r\n")],
    **STATE_SCRIPTS,
}
"""A script per state; a NOOP answered twice (the second reply unasked) leaves the client in PROTOCOL_ERROR."""


def client_in(state: State):  # type: ignore[no-untyped-def]
    client = replay(SCRIPTS[state]).client
    assert client.state == state, (client.state, state)
    return client


PAIRS = [(state, verb) for state in State for verb in Verb]


def test_every_state_and_every_verb_has_a_sample():
    assert set(SCRIPTS) == set(State)
    assert set(SAMPLE_COMMANDS) == {verb.value for verb in Verb}
    assert all(SAMPLE_COMMANDS[verb.value].verb == verb for verb in Verb)


@pytest.mark.parametrize(("state", "verb"), PAIRS, ids=[f"{s.name}-{v.name}" for s, v in PAIRS])
def test_an_allowed_verb_reaches_the_awaited_state_and_a_forbidden_one_changes_nothing(state, verb):
    client = client_in(state)
    command = SAMPLE_COMMANDS[verb.value]
    allowed = verb in client.allowed()
    before = (client.state, client.settled, client.pending, client.session, client.envelope)
    assert not allowed or (verb in ALLOWED.get(state, frozenset()) and not client.pending)  # the table comes first
    if allowed:
        assert client.check(command) is None
        out = client.send(command)
        assert out.data == command.render().data
        assert client.state == AWAITS[verb]
        assert client.pending[-1] is command
    else:
        assert isinstance(client.check(command), CommandNotAllowed)
        with pytest.raises(CommandNotAllowed) as refused:
            client.send(command)
        assert str(refused.value)
        assert (client.state, client.settled, client.pending, client.session, client.envelope) == before
        if state in (State.PROTOCOL_ERROR, State.CLOSED):  # nothing may be forced either: only closing is left
            assert not refused.value.forceable
            with pytest.raises(CommandNotAllowed):
                client.send(command, force=True)
            assert (client.state, client.settled, client.pending, client.session, client.envelope) == before


ANYTIME = {"RSET", "NOOP", "VRFY", "EXPN", "HELP", "QUIT", "raw"}
CHUNKS = {"BDAT", "BDAT LAST"}
EXPECTED_ALLOWED = {
    State.DISCONNECTED: {"connect"},
    State.AWAITING_TLS_HANDSHAKE: {"TLS handshake"},
    State.AWAITING_GREETING: {"greeting"},
    State.SERVER_REFUSED: {"QUIT"},  # RFC 5321 §3.1: after a 554 greeting only QUIT makes sense
    State.READY_FOR_HELLO: {"EHLO", "HELO"} | ANYTIME,
    State.READY_FOR_MAIL: {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL"} | ANYTIME,
    State.READY_FOR_RCPT: {"EHLO", "HELO", "RCPT"} | ANYTIME,  # DATA needs an accepted RCPT (§4.1.1.4)
    State.READY_FOR_DATA: {"EHLO", "HELO", "RCPT", "DATA"} | CHUNKS | ANYTIME,  # BDAT instead of DATA (RFC 3030 §2)
    State.READY_FOR_CHUNK: {"EHLO", "HELO"} | CHUNKS | ANYTIME,  # no DATA in a BDAT transaction (RFC 3030 §2)
    State.READY_FOR_RSET: {"RSET", "QUIT"},  # RFC 3030 §2: after a failed BDAT, RSET before anything else
    State.READY_FOR_MESSAGE: {"message"},  # after 354 every line is message text
    State.AUTH_CHALLENGED: {"AUTH response"},  # RFC 4954 §4: a 334 wants an answer (or "*")
    State.PROTOCOL_ERROR: set(),  # replies no longer match commands (RFC 5321 §4.2): only closing is left
    State.CLOSED: set(),
}
"""The order RFC 5321 §3.3 and §4.1.4, RFC 3207 §4, RFC 4954 §4 and RFC 3030 §2 impose, written out
independently of ``ALLOWED`` so that a wrong entry in the table fails here and not only in the app."""

CLIENT_ALLOWED = {
    **{state: set() for state in State},
    **{state: verbs for state, verbs in EXPECTED_ALLOWED.items() if state not in (State.READY_FOR_HELLO,)},
    # RFC 5321 §4.1.4: NOOP, HELP, EXPN, VRFY and RSET may come before EHLO, but "clients SHOULD open a
    # session with EHLO before sending these commands": advised against, so not in allowed().
    State.READY_FOR_HELLO: {"EHLO", "HELO", "QUIT", "raw"},
}
"""What ``SmtpClient.allowed()`` lists in each scripted state (no PIPELINING: a pending command allows nothing)."""


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_the_client_lists_as_allowed_what_the_table_and_the_session_facts_allow(state):
    assert {verb.value for verb in client_in(state).allowed()} == CLIENT_ALLOWED[state]


def test_the_allowed_table_says_what_the_rfcs_allow():
    assert {state: {verb.value for verb in verbs} for state, verbs in ALLOWED.items()} == EXPECTED_ALLOWED


EXPECTED_AWAITS = {
    "connect": State.CONNECTING,
    "TLS handshake": State.AWAITING_TLS_HANDSHAKE,
    "greeting": State.AWAITING_GREETING,
    "EHLO": State.AWAITING_HELLO_REPLY,
    "HELO": State.AWAITING_HELLO_REPLY,
    "STARTTLS": State.AWAITING_STARTTLS_REPLY,
    "AUTH": State.AWAITING_AUTH_REPLY,
    "AUTH response": State.AWAITING_AUTH_REPLY,
    "MAIL": State.AWAITING_MAIL_REPLY,
    "RCPT": State.AWAITING_RCPT_REPLY,
    "DATA": State.AWAITING_DATA_GO_AHEAD,
    "message": State.AWAITING_MESSAGE_RESULT,
    "BDAT": State.AWAITING_CHUNK_REPLY,
    "BDAT LAST": State.AWAITING_CHUNK_REPLY,
    "RSET": State.AWAITING_REPLY,
    "NOOP": State.AWAITING_REPLY,
    "VRFY": State.AWAITING_REPLY,
    "EXPN": State.AWAITING_REPLY,
    "HELP": State.AWAITING_REPLY,
    "raw": State.AWAITING_REPLY,
    "QUIT": State.AWAITING_QUIT_REPLY,
}


def test_each_verb_waits_for_the_reply_that_answers_it():
    assert {verb.value: state for verb, state in AWAITS.items()} == EXPECTED_AWAITS


def test_rcpt_before_mail_is_rejected():
    client = client_in(State.READY_FOR_MAIL)
    with pytest.raises(CommandNotAllowed, match="MAIL FROM"):
        client.send(SAMPLE_COMMANDS["RCPT"])
    assert client.state == State.READY_FOR_MAIL


def test_states_that_wait_for_a_reply_allow_nothing():
    waiting = set(State) - SETTLED
    assert waiting == set(AWAITS.values()) - SETTLED
    assert not waiting & set(ALLOWED)


def test_on_reply_covers_every_verb_that_awaits_a_reply_for_every_first_digit():
    assert set(ON_REPLY) == set(AWAITS) - NO_REPLY
    for verb, table in ON_REPLY.items():
        assert set(table) == {2, 3, 4, 5}, verb
        for target in table.values():
            assert target in SETTLED or isinstance(target, Relative), (verb, target)
        assert State.PROTOCOL_ERROR not in table.values()  # only a broken reply leads there, never a reply code


@pytest.mark.parametrize("verb", list(ON_REPLY), ids=lambda v: v.name)
@pytest.mark.parametrize("settled", sorted(SETTLED, key=lambda s: s.name), ids=lambda s: s.name)
def test_421_closes_whatever_was_asked_from_any_state(verb, settled):
    assert after_reply(verb, 421, settled) == State.CLOSED


def test_a_positive_reply_moves_the_transaction_forward_and_a_failure_leaves_it():
    assert after_reply(Verb.MAIL, 250, State.READY_FOR_MAIL) == State.READY_FOR_RCPT
    assert after_reply(Verb.MAIL, 550, State.READY_FOR_MAIL) == State.READY_FOR_MAIL
    assert after_reply(Verb.RCPT, 250, State.READY_FOR_RCPT) == State.READY_FOR_DATA
    assert after_reply(Verb.RCPT, 550, State.READY_FOR_RCPT) == State.READY_FOR_RCPT
    assert after_reply(Verb.RCPT, 550, State.READY_FOR_DATA) == State.READY_FOR_DATA
    assert after_reply(Verb.DATA, 354, State.READY_FOR_DATA) == State.READY_FOR_MESSAGE
    assert after_reply(Verb.DATA, 554, State.READY_FOR_DATA) == State.READY_FOR_DATA
    for code in (250, 451, 552):
        assert after_reply(Verb.MESSAGE, code, State.READY_FOR_MESSAGE) == State.READY_FOR_MAIL


def test_rset_ends_an_open_transaction_but_not_a_session_without_one():
    assert after_reply(Verb.RSET, 250, State.READY_FOR_DATA) == State.READY_FOR_MAIL
    assert after_reply(Verb.RSET, 250, State.READY_FOR_RCPT) == State.READY_FOR_MAIL
    assert after_reply(Verb.RSET, 250, State.READY_FOR_HELLO) == State.READY_FOR_HELLO


def test_starttls_220_waits_for_the_handshake_and_a_refusal_stays_in_plain_text():
    assert after_reply(Verb.STARTTLS, 220, State.READY_FOR_MAIL) == State.AWAITING_TLS_HANDSHAKE
    assert after_reply(Verb.STARTTLS, 454, State.READY_FOR_MAIL) == State.READY_FOR_MAIL


def test_a_greeting_other_than_220_leaves_only_quit():
    for code in (554, 521, 450):
        state = after_reply(Verb.GREETING, code, State.AWAITING_GREETING)
        assert state == State.SERVER_REFUSED
    assert ALLOWED[State.SERVER_REFUSED] == {Verb.QUIT}


def test_commands_that_must_end_a_pipelined_group_include_rfc_2920s_list():
    # RFC 2920 §3.1: EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP may only be last; STARTTLS and AUTH too.
    assert {Verb.EHLO, Verb.HELO, Verb.DATA, Verb.VRFY, Verb.EXPN, Verb.NOOP, Verb.QUIT, Verb.STARTTLS,
            Verb.AUTH} <= PIPELINE_LAST
    assert not {Verb.MAIL, Verb.RCPT, Verb.RSET} & PIPELINE_LAST


def test_the_server_owes_nothing_only_in_settled_states_that_wait_for_the_client():
    assert IDLE <= SETTLED
    assert not IDLE & {State.DISCONNECTED, State.AWAITING_GREETING, State.AWAITING_TLS_HANDSHAKE,
                       State.PROTOCOL_ERROR, State.CLOSED}
    assert {State.READY_FOR_MAIL, State.AUTH_CHALLENGED, State.READY_FOR_MESSAGE} <= IDLE


@pytest.mark.parametrize("state", sorted(SETTLED, key=lambda s: s.name), ids=lambda s: s.name)
def test_the_client_is_idle_exactly_in_the_idle_states(state):
    assert client_in(state).idle == (state in IDLE)
