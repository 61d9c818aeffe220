"""BDAT steps typed into the stepper's queue take their octets from the message, in order, so that the
message arrives whole however the user cuts it (RFC 3030 §2); against the built-in server's CHUNKING."""

from __future__ import annotations

from smtpstep.app.session.stepper import Stepper
from smtpstep.protocol.commands import Bdat, MessageBody, Verb
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.blocking_driver import BlockingTransport
from smtpstep.protocol.transport.wire import Target

MESSAGE = b"Subject: typed chunks\r\n\r\n.a dot BDAT does not double\r\nthe end\r\n"


def _stepper(server, bdat: int | None = None) -> Stepper:  # type: ignore[no-untyped-def]
    target = Target(host="127.0.0.1", port=server.ports["plain"], security="none", builtin=True,
                    ca_pem=server.ca_pem, timeout=10)
    plan = SessionPlan(security="none", rcpt_tos=("teacher@example.test",), message=MESSAGE, bdat=bdat)
    return Stepper(target, plan, transport=BlockingTransport)


def _step_until(stepper: Stepper, state: State) -> None:
    for _ in range(20):
        if stepper.transport.client.state == state:
            return
        result = stepper.step_now()
        assert result is not None and result.failure is None, result
    raise AssertionError(f"never reached {state}")


def test_bdat_steps_typed_in_place_of_data_send_the_whole_message(threaded_server) -> None:  # type: ignore[no-untyped-def]
    stepper = _stepper(threaded_server)
    _step_until(stepper, State.READY_FOR_DATA)
    assert [p.command.verb for p in stepper.queue[:2]] == [Verb.DATA, Verb.MESSAGE]
    stepper.delete(0)
    stepper.delete(0)
    stepper.insert(0, "BDAT 20")
    stepper.insert(1, "BDAT 9")
    rest = len(MessageBody(MESSAGE).canonical) - 29
    stepper.insert(2, f"BDAT {rest} LAST")
    chunks = [p.command for p in stepper.queue[:3]]
    assert all(isinstance(c, Bdat) for c in chunks)
    assert b"".join(c.chunk for c in chunks) == MessageBody(MESSAGE).canonical  # type: ignore[union-attr]
    while stepper.queue:
        result = stepper.step_now()
        assert result is not None and result.failure is None
    assert [a.reply.code for r in stepper.history[-4:] for a in r.answers] == [250, 250, 250, 221]
    assert threaded_server.received[-1].original_content == MessageBody(MESSAGE).canonical


def test_a_chunk_typed_before_the_planned_ones_moves_them_on(threaded_server) -> None:  # type: ignore[no-untyped-def]
    stepper = _stepper(threaded_server, bdat=0)  # the plan: the message in one BDAT LAST
    _step_until(stepper, State.READY_FOR_DATA)
    assert isinstance(stepper.queue[0].command, Bdat) and stepper.queue[0].command.last
    stepper.insert(0, "BDAT 10")
    first, planned = stepper.queue[0].command, stepper.queue[1].command
    assert isinstance(first, Bdat) and isinstance(planned, Bdat)
    assert first.chunk == MESSAGE[:10] and planned.chunk == MessageBody(MESSAGE).canonical[10:]
    while stepper.queue:
        assert stepper.step_now().failure is None  # type: ignore[union-attr]
    assert threaded_server.received[-1].original_content == MessageBody(MESSAGE).canonical
