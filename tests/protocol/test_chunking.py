"""BDAT and EXPN in the core: the command values, the client's states and facts, and the planner's chunks
(RFC 3030 §2, RFC 5321 §4.1.1.7). Byte-exact, no I/O; the built-in server and Postfix are tried elsewhere."""

from __future__ import annotations

import pytest

from smtpstep.protocol.command_parser import parse_command
from smtpstep.protocol.commands import Bdat, Data, Expn, InvalidCommand, MessageBody, Raw, Rset, Verb
from smtpstep.protocol.planner import SessionPlan, propose
from smtpstep.protocol.states import State
from tests.support.recorded_sessions import EHLO_NO_PIPELINING, STATE_SCRIPTS, Receive, Step, client_in, replay

MESSAGE = b"Subject: chunks\r\n\r\n.a leading dot\r\nbye\r\n"


def client_in_script(state: State) -> list[Step]:
    return list(STATE_SCRIPTS[state])


# -- the commands -------------------------------------------------------------------------------------------


def test_bdat_puts_its_size_and_then_the_chunk_exactly_on_the_wire() -> None:
    assert Bdat(b".hi\r\n").render().data == b"BDAT 5\r\n.hi\r\n"  # no dot-stuffing (RFC 3030 §2)
    assert Bdat(b"bye", last=True).render().data == b"BDAT 3 LAST\r\nbye"
    assert Bdat(b"", last=True).render().data == b"BDAT 0 LAST\r\n"  # "MAY have a byte-count of zero"
    assert (Bdat(b"x").verb, Bdat(b"x", last=True).verb) == (Verb.BDAT, Verb.BDAT_LAST)
    assert not Bdat(b"x").render().secrets and not Bdat(b"x").editable


def test_the_message_in_bdat_chunks_is_the_canonical_message_without_stuffing_or_end_dot() -> None:
    body = MessageBody(b"Subject: x\n\n.dot\nend")
    assert body.canonical == b"Subject: x\r\n\r\n.dot\r\nend\r\n"
    assert body.render().data == b"Subject: x\r\n\r\n..dot\r\nend\r\n.\r\n"


@pytest.mark.parametrize(("line", "chunk", "last"), [("BDAT 5", b"Subje", False), ("bdat 0 last", b"", True),
                                                      (f"BDAT {len(MESSAGE)} LAST", MESSAGE, True)])
def test_a_typed_bdat_takes_its_chunk_from_the_rest_of_the_message(line: str, chunk: bytes, last: bool) -> None:
    command = parse_command(line, message_rest=MESSAGE)
    assert isinstance(command, Bdat) and command.chunk == chunk and command.last is last


@pytest.mark.parametrize("line", ["BDAT", "BDAT LAST", "BDAT x", "BDAT 5 FIRST", "BDAT 5 LAST now", "BDAT 999"])
def test_a_typed_bdat_without_a_fitting_size_is_refused_in_one_sentence(line: str) -> None:
    with pytest.raises(InvalidCommand) as refused:
        parse_command(line, message_rest=MESSAGE)
    assert "\n" not in str(refused.value)


def test_a_bare_bdat_line_is_never_sent_as_raw_text() -> None:
    # Its chunk would be missing, and the server would read the next commands as the message (RFC 3030 §2).
    with pytest.raises(InvalidCommand):
        Raw("BDAT 12 LAST")
    with pytest.raises(InvalidCommand):
        parse_command("BDAT 12")  # no message to take the chunk from


def test_expn_names_a_list_and_acts_as_expn_when_typed() -> None:
    assert Expn("staff").render().data == b"EXPN staff\r\n"
    assert parse_command("expn staff") == Expn("staff")
    assert Raw("EXPN staff now").acts_as == Verb.EXPN
    with pytest.raises(InvalidCommand):
        Expn(" ")


# -- the client ---------------------------------------------------------------------------------------------


def test_chunks_move_the_transaction_on_and_bdat_last_ends_it() -> None:
    client = client_in(State.READY_FOR_DATA)
    client.send(Bdat(b"Subject: x\r\n"))
    assert client.state == State.AWAITING_CHUNK_REPLY
    client.receive_data(b"250 2.0.0 12 octets\r\n")
    assert client.state == State.READY_FOR_CHUNK and client.envelope.chunked == 12
    client.send(Bdat(b"\r\nhi\r\n", last=True))
    client.receive_data(b"250 2.0.0 queued\r\n")
    assert client.state == State.READY_FOR_MAIL and client.envelope.mail_from is None
    assert client.transactions[-1].reply.code == 250 and client.transactions[-1].envelope.chunked == 18


def test_data_may_not_follow_a_chunk_in_the_same_transaction() -> None:
    # RFC 3030 §2: "DATA and BDAT commands cannot be used in the same transaction."
    client = client_in(State.READY_FOR_CHUNK)
    refusal = client.check(Data())
    assert refusal is not None and "RFC 3030 §2" in str(refusal)
    assert Verb.DATA not in client.allowed() and {Verb.BDAT, Verb.BDAT_LAST} <= client.allowed()


def test_after_a_failed_chunk_only_rset_or_quit_may_follow_and_rset_clears_it() -> None:
    # RFC 3030 §2: "A RSET command MUST be issued to clear the transaction before additional commands may be sent."
    client = client_in(State.READY_FOR_RSET)
    assert client.allowed() == {Verb.RSET, Verb.QUIT}
    assert client.transactions[-1].reply.code == 552  # the message failed
    client.send(Rset())
    client.receive_data(b"250 2.0.0 OK\r\n")
    assert client.state == State.READY_FOR_MAIL and client.envelope.mail_from is None


def test_bdat_to_a_server_without_chunking_cannot_even_be_forced() -> None:
    without = EHLO_NO_PIPELINING.replace(b"250-CHUNKING\r\n", b"")
    script = [step if not (isinstance(step, Receive) and step.data == EHLO_NO_PIPELINING) else Receive(without)
              for step in client_in_script(State.READY_FOR_DATA)]
    client = replay(script).client
    refusal = client.check(Bdat(b"hi"))
    assert refusal is not None and not refusal.forceable and "CHUNKING" in str(refusal)
    assert Verb.BDAT not in client.allowed()


def test_a_data_refused_with_5yz_is_advised_against_not_offered_again() -> None:
    # RFC 5321 §4.2.1: "The SMTP client SHOULD NOT repeat the exact request (in the same sequence)."
    client = client_in(State.READY_FOR_DATA)
    client.send(Data())
    client.receive_data(b"554 5.5.1 Error: no valid recipients\r\n")
    assert client.state == State.READY_FOR_DATA
    assert Verb.DATA not in client.allowed()
    assert Verb.DATA in dict(client.advised_against())
    refusal = client.check(Data())
    assert refusal is not None and refusal.advice and refusal.forceable and "RFC 5321 §4.2.1" in str(refusal)


def test_a_data_refused_with_4yz_may_be_tried_again() -> None:
    # RFC 5321 §4.2.1 (4yz): "the error condition is temporary, and the action may be requested again".
    client = client_in(State.READY_FOR_DATA)
    client.send(Data())
    client.receive_data(b"451 4.3.0 try later\r\n")
    assert Verb.DATA in client.allowed()


# -- the planner --------------------------------------------------------------------------------------------


def test_the_planner_chunks_the_message_only_when_asked_and_advertised() -> None:
    view = client_in(State.READY_FOR_MAIL).view()
    plan = SessionPlan(security="none", rcpt_tos=("teacher@example.test",), message=MESSAGE, bdat=16)
    steps = propose(plan, view).commands
    chunks = [c for c in steps if isinstance(c, Bdat)]
    assert b"".join(c.chunk for c in chunks) == MessageBody(MESSAGE).canonical
    assert [c.size for c in chunks] == [16, 16, len(MESSAGE) - 32] and [c.last for c in chunks] == [False, False, True]
    assert not any(c.verb in (Verb.DATA, Verb.MESSAGE) for c in steps)
    assert not any(isinstance(c, Bdat) for c in propose(SessionPlan(security="none", message=MESSAGE), view).commands)


def test_without_chunking_advertised_the_planner_sends_data_after_all() -> None:
    without = EHLO_NO_PIPELINING.replace(b"250-CHUNKING\r\n", b"")
    script = [step if not (isinstance(step, Receive) and step.data == EHLO_NO_PIPELINING) else Receive(without)
              for step in client_in_script(State.READY_FOR_MAIL)]
    view = replay(script).client.view()
    steps = propose(SessionPlan(security="none", message=MESSAGE, bdat=0), view).commands
    assert any(c.verb == Verb.DATA for c in steps) and not any(isinstance(c, Bdat) for c in steps)


def test_the_planner_sends_the_rest_of_the_message_after_an_accepted_chunk() -> None:
    client = client_in(State.READY_FOR_DATA)
    canonical = MessageBody(MESSAGE).canonical
    client.send(Bdat(canonical[:10]))
    client.receive_data(b"250 ok\r\n")
    steps = propose(SessionPlan(security="none", message=MESSAGE, bdat=0), client.view()).commands
    assert isinstance(steps[0], Bdat) and steps[0].chunk == canonical[10:] and steps[0].last


def test_a_220_to_a_typed_starttls_puts_the_handshake_and_ehlo_first_whatever_the_plan() -> None:
    # After a 220 to STARTTLS the client MUST start the TLS negotiation before any other command (RFC 3207
    # §4), and should then say EHLO (§4.2): re-planning (key a) must not propose MAIL.
    client = client_in(State.AWAITING_TLS_HANDSHAKE)
    steps = propose(SessionPlan(security="none", message=MESSAGE), client.view()).commands
    assert [c.verb for c in steps[:2]] == [Verb.TLS_HANDSHAKE, Verb.EHLO]
    assert client.check(steps[0]) is None


def test_an_open_transaction_is_reset_before_starttls_and_a_refused_rset_is_not_repeated() -> None:
    # STARTTLS may not come inside a transaction (RFC 3207 §4): RSET first (RFC 5321 §4.1.1.5). If the
    # server refuses that RSET with 5yz, the plan does not send it again (§4.2.1 SHOULD NOT): QUIT.
    client = client_in(State.READY_FOR_RCPT)
    plan = SessionPlan(security="starttls", message=MESSAGE)
    first = propose(plan, client.view()).commands[0]
    assert first == Rset() and client.check(first) is None
    client.send(first)
    (answer,) = client.receive_data(b"500 5.5.1 no\r\n")
    proposal = propose(plan, client.view(), answer)
    assert proposal.commands[0].verb == Verb.QUIT and "RFC 5321 §4.2.1" in (proposal.halt or "")
