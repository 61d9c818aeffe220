"""The transport against servers that misbehave on purpose (``hostile.py``), driven by the planner.

Every session must end in a normal step result: the right ``Failure`` kind with a message in plain
words, or the planner's halt, never an exception and never a hang. Each runs with a 2 s timeout.
No assertion reads the clock: a server that stalls says nothing more until the client hangs up, so
a session that ends with a "timeout" failure saying "within 2 s" gave up on its own timeout, not on
the server; ``HANG`` only fails a test that would otherwise hang (speed belongs to ``benchmarks/``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

import pytest

from smtpstep.protocol.commands import (
    Connect,
    Data,
    Ehlo,
    MailFrom,
    Noop,
    RcptTo,
    ReadGreeting,
    StartTls,
    TlsHandshake,
    Verb,
)
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.replies import MAX_LINE
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.wire import READ_SIZE, Direction, Target, WireChunk
from tests.support.both_transports import use_both_transports
from tests.support.driver import Drive, drive, run_session
from tests.support.hostile_server import HUGE_LINE_BYTES, INJECTED, SCRIPTS, HostileServer, Peer, correct_session

transport_kind, pytest_generate_tests = use_both_transports(globals())
"""Every test here runs against the asyncio transport and the blocking one (``both_transports.py``)."""

TIMEOUT = 2.0
"""The transport's timeout for the connect and each step."""
HANG = 60.0
"""Seconds after which a session, or a wait for the server, fails the test: a guard, not a measure."""

MESSAGE = b"Subject: hostile\r\n\r\nHello.\r\n"
BIG_MESSAGE = b"Subject: big\r\n\r\n" + (b"x" * 900 + b"\r\n") * 5000
"""About 4.5 MB: still being written when the server hangs up."""

PYTHON_WORDS = ("Traceback", "Error", "Exception", "[Errno", "_ssl.c", "errno")


def assert_plain(message: str) -> None:
    """A failure message is a sentence for a student, not Python's exception text."""
    assert message and message[0].islower(), message
    for words in PYTHON_WORDS:
        assert words not in message, f"{words!r} in {message!r}"


def make_transport(server: HostileServer, security: str,
                   listener: Callable[[WireChunk], None] | None = None) -> AsyncioTransport:
    return AsyncioTransport(
        Target("127.0.0.1", server.port, security, server_hostname="localhost",
               ca_pem=server.ca_pem if security != "none" else None, timeout=TIMEOUT),
        listener=listener,
    )


def plan_for(security: str, message: bytes = MESSAGE) -> SessionPlan:
    return SessionPlan(security=security, rcpt_tos=("a@example.test", "b@example.test"), message=message)


def assert_closed(transport: AsyncioTransport) -> None:
    assert not transport.connected
    assert transport.client.settled == State.CLOSED


async def guarded_drive(transport: AsyncioTransport, plan: SessionPlan) -> Drive:
    """``drive``, failing the test if the session has not ended after ``HANG`` seconds."""
    try:
        return await asyncio.wait_for(drive(transport, plan), HANG)
    except TimeoutError:
        pytest.fail(f"the session did not end within {HANG:g} s")


# --- Failures -------------------------------------------------------------------------------------


FAILING = [
    # script, security, failure kind, words in its message, the message the plan sends
    ("close-on-accept", "none", "closed", "closed the connection", MESSAGE),
    ("garbage-greeting", "none", "protocol", "not an SMTP reply", MESSAGE),
    ("silent-after-greeting", "none", "timeout", "within 2 s", MESSAGE),
    ("disconnect-mid-multiline", "none", "closed", "closed the connection", MESSAGE),
    ("mixed-codes", "none", "protocol", "mixed codes 250 and 251", MESSAGE),
    ("starttls-then-plaintext", "starttls", "tls", "did not answer with TLS", MESSAGE),
    ("close-during-data", "none", "closed", "", BIG_MESSAGE),
    ("silent-after-starttls", "starttls", "timeout", "within 2 s", MESSAGE),
    ("endless-drip", "none", "timeout", "no complete reply", MESSAGE),
]


@pytest.mark.parametrize(
    ("script", "security", "kind", "words", "message"), [pytest.param(*case, id=case[0]) for case in FAILING]
)
async def test_a_misbehaving_server_ends_the_session_with_a_plain_failure(
    script: str, security: str, kind: str, words: str, message: bytes
) -> None:
    async with HostileServer(script) as server:
        transport = make_transport(server, security)
        driven = await guarded_drive(transport, plan_for(security, message))

        failure = driven.failure
        assert failure is not None, [a.reply.first_line for a in driven.answers]
        assert failure.kind == kind
        assert words in failure.message
        assert_plain(failure.message)
        assert_closed(transport)
        assert server.messages == []
        assert transport.record.chunks[-1].direction == Direction.ERROR
        assert transport.record.chunks[-1].note == failure.message


async def test_a_garbage_greeting_is_reported_with_the_bytes_at_fault() -> None:
    async with HostileServer("garbage-greeting") as server:
        results = await run_session(make_transport(server, "none"), plan_for("none"))

    failure = results[-1].failure
    assert failure is not None and failure.raw == b"HTTP/1.1 400 Bad Request\r\n"
    assert server.commands == []  # nothing was sent to a server that is not SMTP


async def test_plaintext_instead_of_a_handshake_sends_nothing_more() -> None:
    async with HostileServer("starttls-then-plaintext") as server:
        transport = make_transport(server, "starttls")
        await drive(transport, plan_for("starttls"))

    assert server.commands == [b"EHLO client.smtpstep.test\r\n", b"STARTTLS\r\n"]
    assert transport.tls is not None and not transport.tls.verified
    assert "← ServerHello" not in transport.tls.handshake


async def test_a_huge_line_is_refused_without_reading_it_all() -> None:
    feeds: list[tuple[int, int]] = []
    """(bytes buffered in the parser before a feed, bytes fed), for each receive_data call."""

    async with HostileServer("huge-line") as server:
        transport = make_transport(server, "none")
        receive = transport.client.receive_data

        def spy(data: bytes) -> list:  # type: ignore[type-arg]
            feeds.append((len(transport.client.unparsed), len(data)))
            return receive(data)

        transport.client.receive_data = spy  # type: ignore[method-assign]
        driven = await guarded_drive(transport, plan_for("none"))
        await asyncio.wait_for(server.closed.wait(), HANG)

    failure = driven.failure
    assert failure is not None and failure.kind == "protocol"
    assert f"longer than {MAX_LINE} octets" in failure.message
    assert_plain(failure.message)
    assert failure.raw.startswith(b"220 xxx") and len(failure.raw) <= 80
    # Between feeds the parser never holds more than one line's worth; a feed adds at most one read.
    assert all(buffered <= MAX_LINE for buffered, _ in feeds)
    assert all(size <= READ_SIZE for _, size in feeds)
    # The transport stopped reading right after the limit: a few reads, not the megabytes sent.
    read = sum(len(c.data) for c in transport.record.chunks if c.direction == Direction.SERVER)
    assert read <= MAX_LINE + READ_SIZE < HUGE_LINE_BYTES
    assert_closed(transport)
    assert transport.client.unparsed == b""


# --- Refusals the planner handles ----------------------------------------------------------------


async def test_a_554_greeting_halts_the_plan_and_quits() -> None:
    async with HostileServer("554-greeting") as server:
        transport = make_transport(server, "none")
        driven = await guarded_drive(transport, plan_for("none"))

    assert driven.failure is None
    assert driven.halt is not None and driven.halt.halt is not None
    assert "refused service" in driven.halt.halt and driven.halt.failed_phase == "greeting"
    assert [a.reply.code for a in driven.answers] == [554, 221]
    assert server.commands == [b"QUIT\r\n"]
    assert_closed(transport)


async def test_a_server_without_starttls_gets_nothing_but_quit() -> None:
    async with HostileServer("no-starttls") as server:
        transport = make_transport(server, "starttls")
        driven = await drive(transport, plan_for("starttls"))

    assert driven.failure is None
    assert driven.halt is not None and driven.halt.explanation_key == "starttls-missing"
    assert server.commands == [b"EHLO client.smtpstep.test\r\n", b"QUIT\r\n"]
    assert_closed(transport)


async def test_a_421_at_rcpt_closes_the_session_without_quit() -> None:
    async with HostileServer("421-at-rcpt") as server:
        transport = make_transport(server, "none")
        driven = await guarded_drive(transport, plan_for("none"))

    assert driven.failure is None
    assert driven.answers[-1].reply.code == 421
    assert driven.halt is not None and "closing the connection" in (driven.halt.halt or "")
    assert server.commands[-1].startswith(b"RCPT TO:")  # no QUIT after 421 (RFC 5321 §3.8)
    assert_closed(transport)


# --- Replies nobody asked for ----------------------------------------------------------------------


@pytest.mark.parametrize(("unasked", "kind", "message"), [
    pytest.param(b"421 4.3.2 hostile.test shutting down\r\n", "closed",
                 "the server closed the session: 421 4.3.2 hostile.test shutting down", id="421"),
    pytest.param(b"250 2.0.0 nobody asked\r\n", "protocol",
                 "the server sent a reply nobody asked for: “250 2.0.0 nobody asked”", id="250"),
])
async def test_a_reply_sent_while_the_client_is_idle_ends_the_next_step_before_it_writes(
    monkeypatch: pytest.MonkeyPatch, unasked: bytes, kind: str, message: str
) -> None:
    idle = asyncio.Event()
    """Set by the test once the client has its NOOP reply: only then does the server speak unasked."""

    async def noop_then_speak_unasked(peer: Peer, line: bytes) -> bool:
        await peer.write(b"250 2.0.0 OK\r\n")
        await idle.wait()
        await peer.write(unasked)  # RFC 5321 §3.8: a server may send 421 at any time, then close
        return False

    monkeypatch.setitem(SCRIPTS, "speaks-unasked-when-idle",
                        lambda peer: correct_session(peer, starttls=False, hooks={b"NOOP": noop_then_speak_unasked}))
    async with HostileServer("speaks-unasked-when-idle") as server:
        transport = make_transport(server, "none")
        for command in (Connect(), ReadGreeting(), Ehlo("client.smtpstep.test"), Noop()):
            assert (await transport.step(command)).ok
        idle.set()
        await asyncio.wait_for(server.closed.wait(), HANG)  # sent and hung up: the bytes wait at the client
        wire_before = len(transport.record)
        result = await transport.step(MailFrom("a@example.test"))

    assert result.failure is not None and result.failure.kind == kind
    assert result.failure.message == message and result.failure.raw == unasked
    assert_plain(result.failure.message)
    assert result.answers == ()
    chunks = transport.record.chunks[wire_before:]
    assert [c.data for c in chunks if c.direction == Direction.SERVER] == [unasked]
    assert not any(c.direction == Direction.CLIENT for c in chunks)  # MAIL FROM was never written
    assert chunks[-1].direction == Direction.ERROR and chunks[-1].note == message
    if kind == "closed":
        assert any("RFC 5321 §3.8" in c.note for c in chunks if c.direction == Direction.NOTE)
    assert server.commands[-1] == b"NOOP\r\n"
    assert_closed(transport)


async def test_a_protocol_error_mid_group_keeps_the_answers_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    async def mail_then_garbage(peer: Peer, line: bytes) -> bool:
        # MAIL's reply and a broken line in one segment: one read, one receive_data call.
        await peer.write(b"250 2.1.0 OK\r\nthis is not a reply\r\n")
        await peer.until_closed()
        return False

    monkeypatch.setitem(SCRIPTS, "garbage-after-mail", lambda peer: correct_session(
        peer, starttls=False, pipelining=True, hooks={b"MAIL": mail_then_garbage}))
    async with HostileServer("garbage-after-mail") as server:
        transport = make_transport(server, "none")
        for command in (Connect(), ReadGreeting(), Ehlo("client.smtpstep.test")):
            assert (await transport.step(command)).ok
        result = await transport.step((MailFrom("a@example.test"), RcptTo("b@example.test"), Data()))
        await asyncio.wait_for(server.closed.wait(), HANG)  # the client hung up

    failure = result.failure
    assert failure is not None and failure.kind == "protocol" and "not an SMTP reply" in failure.message
    assert failure.raw == b"this is not a reply\r\n"
    assert_plain(failure.message)
    ((verb, code),) = [(a.command.verb, a.reply.code) for a in result.answers]
    assert (verb, code) == (Verb.MAIL, 250)
    assert result.snapshot.last == result.answers[0]
    assert transport.record.chunks[-1].direction == Direction.ERROR
    assert "client closed the connection" in server.events
    assert server.messages == []
    assert_closed(transport)


# --- Servers that are odd but correct --------------------------------------------------------------


async def test_a_reply_dripped_one_byte_at_a_time_still_completes_over_starttls() -> None:
    async with HostileServer("drip") as server:
        transport = make_transport(server, "starttls")
        driven = await guarded_drive(transport, plan_for("starttls"))

    assert driven.failure is None and driven.halt is None
    assert [a.reply.code for a in driven.answers] == [220, 250, 220, 250, 250, 250, 250, 354, 250, 221]
    assert server.messages == [MESSAGE]
    assert server.sni == ["localhost"]  # the transport sent SNI
    assert transport.tls is not None and transport.tls.verified and transport.tls.mode == "starttls"
    dripped = [c for c in transport.record.chunks if c.direction == Direction.SERVER]
    assert len(dripped) > 100  # many one-byte reads, reassembled by the parser
    assert_closed(transport)


async def test_plaintext_injected_with_the_starttls_reply_is_discarded_unread() -> None:
    async with HostileServer("injection-after-starttls") as server:
        transport = make_transport(server, "starttls")
        driven = await drive(transport, plan_for("starttls"))

    assert driven.failure is None
    discarded = [(r.commands[0].label, d.data) for r in driven.results for d in r.discarded]
    assert discarded == [("STARTTLS", INJECTED)]
    assert all("injected" not in line for a in driven.answers for line in a.reply.lines)
    ehlo_after_tls = driven.answers[3]
    assert ehlo_after_tls.command == Ehlo("client.smtpstep.test") and "SIZE" in ehlo_after_tls.reply.text
    assert server.messages == [MESSAGE]
    assert any("thrown away unread" in c.note for c in transport.record.chunks)


async def test_plaintext_injected_after_the_starttls_reply_is_discarded_before_the_handshake() -> None:
    async with HostileServer("injection-after-starttls-delayed") as server:
        transport = make_transport(server, "starttls")
        for command in (Connect(), ReadGreeting(), Ehlo("client.smtpstep.test"), StartTls()):
            assert (await transport.step(command)).ok
        await asyncio.sleep(server.injection_delay + 0.15)  # the student pauses before the handshake
        handshake = await transport.step(TlsHandshake())
        rest = await drive(transport, plan_for("starttls"))

    assert handshake.ok and [d.data for d in handshake.discarded] == [INJECTED]
    assert rest.failure is None
    assert all("injected" not in line for a in rest.answers for line in a.reply.lines)
    assert rest.answers[0].command.verb == Verb.EHLO and "SIZE" in rest.answers[0].reply.text
    assert server.messages == [MESSAGE]
    # The discarded bytes are in the wire record, as plaintext from the server.
    chunk = next(c for c in transport.record.chunks if c.data == INJECTED)
    assert chunk.direction == Direction.SERVER and not chunk.tls


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=lambda v: v.name)
async def test_an_untrusted_chain_is_recorded_whatever_the_tls_version(version: ssl.TLSVersion) -> None:
    # The chain comes from the Certificate handshake message, whose layout differs in TLS 1.3 (RFC 8446 §4.4.2).
    async with HostileServer("correct", tls_max_version=version) as server:
        transport = AsyncioTransport(Target("127.0.0.1", server.port, "starttls", server_hostname="localhost",
                                     timeout=TIMEOUT))  # trusts the system's CAs only
        driven = await drive(transport, plan_for("starttls"))

    failure = driven.failure
    assert failure is not None and failure.kind == "tls" and failure.verify_code == 20
    assert_plain(failure.message)
    tls = transport.tls
    assert tls is not None and "localhost" in tls.chain[0].san and "hostile test CA" in tls.chain[0].issuer
    assert server.commands == [b"EHLO client.smtpstep.test\r\n", b"STARTTLS\r\n"]


# --- Connecting ------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_closed_port_is_refused() -> None:
    transport = AsyncioTransport(Target("127.0.0.1", closed_port(), "none", timeout=TIMEOUT))
    results = await run_session(transport, plan_for("none"))

    failure = results[-1].failure
    assert len(results) == 1 and failure is not None and failure.kind == "refused"
    assert_plain(failure.message)
    assert transport.client.settled == State.CLOSED


async def test_a_name_with_several_addresses_all_refusing_is_refused() -> None:
    # "localhost" is often ::1 and 127.0.0.1; asyncio folds their errors into one generic OSError.
    port = closed_port()
    loop = asyncio.get_running_loop()

    async def two_addresses(host, port, *, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))]

    loop.getaddrinfo = two_addresses  # type: ignore[method-assign]
    try:
        results = await run_session(AsyncioTransport(Target("localhost", port, "none", timeout=TIMEOUT)), plan_for("none"))
    finally:
        del loop.getaddrinfo

    failure = results[-1].failure
    assert failure is not None and failure.kind == "refused"
    assert_plain(failure.message)


async def test_an_unresolvable_host_name_is_a_resolve_failure() -> None:
    # RFC 2606 §2: .invalid never resolves; only the local resolver is asked.
    transport = AsyncioTransport(Target("no-such-host.invalid", 25, "none", timeout=TIMEOUT))
    results = (await guarded_drive(transport, plan_for("none"))).results

    failure = results[-1].failure
    assert failure is not None and failure.kind == "resolve"
    assert "no-such-host.invalid" in failure.message
    assert_plain(failure.message)
    assert transport.client.settled == State.CLOSED


# --- Cancelling ------------------------------------------------------------------------------------


@pytest.mark.asyncio_transport_only
async def test_cancelling_a_step_waiting_for_a_reply_hangs_up() -> None:
    wrote = asyncio.Event()

    def listener(chunk: WireChunk) -> None:
        if chunk.direction == Direction.CLIENT and chunk.data.startswith(b"EHLO"):
            wrote.set()

    async with HostileServer("silent-after-greeting") as server:
        transport = make_transport(server, "none", listener)
        for command in (Connect(), ReadGreeting()):
            assert (await transport.step(command)).ok
        task = asyncio.create_task(transport.step(Ehlo("client.smtpstep.test")))
        await asyncio.wait_for(wrote.wait(), HANG)  # EHLO is out: the step waits for a reply that never comes
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.closed.wait(), HANG)  # the server saw the hang-up

    assert_closed(transport)
    assert any("cancelled" in chunk.note for chunk in transport.record.chunks)
    after = await transport.step(Ehlo("client.smtpstep.test"))
    assert after.failure is not None and after.failure.kind == "not-allowed"
