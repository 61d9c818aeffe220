"""The transport against the real built-in server (aiosmtpd with a trustme CA) on loopback.

Sessions are driven by the planner (``driver.py``), as the app's "play" does: plain, STARTTLS and
implicit TLS; AUTH PLAIN, LOGIN and CRAM-MD5; certificates that must be refused; the wire record;
the clear-text AUTH policy; the exact stored message; pipelining; cancellation.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import re

import pytest

from smtpstep.protocol.commands import (
    Auth,
    Connect,
    Data,
    Ehlo,
    MailFrom,
    MessageBody,
    RcptTo,
    ReadGreeting,
    TlsHandshake,
    Verb,
)
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.scenarios import SCENARIOS, Scenario
from smtpstep.protocol.server.server import LocalServer
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.wire import Direction, RawKind, StepResult, Target
from tests.support.both_transports import use_both_transports
from tests.support.driver import drive, run_session

transport_kind, pytest_generate_tests = use_both_transports(globals())
"""Every test here runs against the asyncio transport and the blocking one (``both_transports.py``)."""

TIMEOUT = 5.0
SENDER = "student@client.smtpstep.test"
MESSAGE = b"From: student@client.smtpstep.test\r\nTo: teacher@example.test\r\nSubject: hello\r\n\r\nHello.\r\n"


def target_for(server: LocalServer, security: str, **changes: object) -> Target:
    settings: dict[str, object] = {
        "server_hostname": "localhost", "ca_pem": server.ca_pem, "builtin": True, "timeout": TIMEOUT,
    }
    settings.update(changes)
    return Target("127.0.0.1", server.port_for(security), security, **settings)  # type: ignore[arg-type]


def plan_for(security: str, **changes: object) -> SessionPlan:
    settings: dict[str, object] = {"security": security, "mail_from": SENDER, "message": MESSAGE}
    settings.update(changes)
    return SessionPlan(**settings)  # type: ignore[arg-type]


def codes(results: list[StepResult]) -> list[int]:
    return [answer.reply.code for result in results for answer in result.answers]


def client_bytes(transport: AsyncioTransport) -> bytes:
    return b"".join(c.data for c in transport.record.chunks if c.direction == Direction.CLIENT)


# --- Whole sessions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("security", "listener", "tls_mode"),
    [("none", "plain", None), ("starttls", "submission", "starttls"), ("tls", "submissions", "tls")],
)
async def test_a_planned_session_delivers_the_message(
    local_server: LocalServer, security: str, listener: str, tls_mode: str | None
) -> None:
    transport = AsyncioTransport(target_for(local_server, security))
    results = await run_session(transport, plan_for(security))

    assert all(result.ok for result in results), [r.failure for r in results]
    assert codes(results)[-2:] == [250, 221]
    stored = local_server.received[-1]
    assert stored.original_content == MESSAGE
    assert (stored.listener, stored.tls) == (listener, tls_mode is not None)
    assert (transport.tls.mode if transport.tls else None) == tls_mode
    assert not transport.connected and transport.client.settled == State.CLOSED
    assert results[-1].snapshot.client.transactions[-1].reply.code == 250


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
async def test_no_step_waits_for_its_timeout_on_a_good_server(local_server: LocalServer, security: str) -> None:
    # The steps' timeout is a minute and the whole session gets 20 s: a step that sat out its timeout
    # (a read or a look for stray plaintext that waits when it should not) fails this test, not CI's clock.
    transport = AsyncioTransport(target_for(local_server, security, timeout=60.0))
    async with asyncio.timeout(20):
        results = await run_session(transport, plan_for(security))
    assert codes(results)[-2:] == [250, 221]


@pytest.mark.parametrize(("security", "mechanism"), itertools.product(("starttls", "tls"), ("PLAIN", "LOGIN", "CRAM-MD5")))
async def test_auth_succeeds_with_every_mechanism(local_server: LocalServer, security: str, mechanism: str) -> None:
    transport = AsyncioTransport(target_for(local_server, security))
    plan = plan_for(security, username=DEMO_USER, password=DEMO_PASSWORD, mechanism=mechanism)
    results = await run_session(transport, plan)

    assert all(result.ok for result in results)
    assert 235 in codes(results)
    session = transport.client.session
    assert (session.authenticated_as, session.auth_mechanism) == (DEMO_USER, mechanism)
    assert local_server.received[-1].auth_user == DEMO_USER
    assert DEMO_PASSWORD.encode() not in client_bytes(transport)  # never in clear, even in the record


async def test_a_wrong_password_gets_535_and_the_planner_stops(local_server: LocalServer) -> None:
    transport = AsyncioTransport(target_for(local_server, "starttls"))
    driven = await drive(transport, plan_for("starttls", username=DEMO_USER, password="wrong", mechanism="PLAIN"))

    assert driven.failure is None
    auth = next(a for a in driven.answers if a.command.verb == Verb.AUTH)
    assert auth.reply.code == 535
    assert driven.halt is not None and driven.halt.failed_phase == "auth"
    assert "authentication failed" in (driven.halt.halt or "")
    assert [a.command.verb for a in driven.answers][-1] == Verb.QUIT
    assert b"MAIL FROM" not in client_bytes(transport)
    assert local_server.received == []


# --- Certificates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("certificate", "security", "code"),
    [("untrusted", "starttls", 20), ("wrong-host", "tls", 62), ("expired", "starttls", 10), ("expired", "tls", 10)],
)
async def test_a_bad_certificate_stops_the_session(
    local_server_factory, certificate: str, security: str, code: int  # type: ignore[no-untyped-def]
) -> None:
    server = await local_server_factory(certificate=certificate)
    transport = AsyncioTransport(target_for(server, security))
    driven = await drive(transport, plan_for(security))

    failure = driven.failure
    assert failure is not None and failure.kind == "tls" and failure.verify_code == code
    assert f"OpenSSL error {code}" in failure.message
    tls = transport.tls
    assert tls is not None and not tls.verified and tls.verify_code == code
    # The chain is still shown: it is what the server sent, before verification failed.
    assert tls.chain and tls.chain[0].subject.startswith("CN=")
    # The handshake lines are the records: the server's flight that carried the certificate came in, and
    # the client's alert that refused it went out (plaintext, so its words can be read).
    assert any(line.startswith("← ") and "Certificate" in line for line in tls.handshake)
    assert tls.handshake[-1].startswith("→ alert record, 7 bytes: fatal, ")
    assert not transport.connected and transport.client.settled == State.CLOSED
    assert driven.results[-1].commands[0].verb == Verb.TLS_HANDSHAKE  # nothing was sent after it
    assert server.received == []


async def test_an_untrusted_certificate_shows_the_issuer_that_was_not_trusted(local_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = await local_server_factory(certificate="untrusted")
    transport = AsyncioTransport(target_for(server, "starttls"))
    await drive(transport, plan_for("starttls"))

    assert transport.tls is not None
    assert "untrusted CA" in transport.tls.chain[0].issuer
    assert transport.tls_history == (transport.tls,)


async def test_insecure_goes_on_past_an_untrusted_certificate_and_says_so(local_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = await local_server_factory(certificate="untrusted")
    transport = AsyncioTransport(target_for(server, "starttls", insecure=True))
    results = await run_session(transport, plan_for("starttls"))

    assert all(result.ok for result in results)
    tls = transport.tls
    assert tls is not None and tls.insecure and not tls.verified
    assert tls.verification.startswith("NOT VERIFIED")
    assert all(r.snapshot.tls is None or r.snapshot.tls.insecure for r in results)
    assert server.received[-1].original_content == MESSAGE


async def test_tls_info_records_version_cipher_sni_chain_and_handshake(local_server: LocalServer) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    transport = AsyncioTransport(target_for(local_server, "starttls"))
    await run_session(transport, plan_for("starttls"))

    tls = transport.tls
    assert tls is not None and tls.verified and not tls.insecure and tls.mode == "starttls"
    assert tls.version is not None and tls.version.startswith("TLSv1.")
    assert tls.cipher and tls.cipher_bits and tls.cipher_bits >= 128
    assert tls.sni == "localhost"
    leaf, root = tls.chain[0], tls.chain[-1]
    assert leaf.subject.startswith("CN=mail.smtpstep.test")
    assert "smtpstep local CA" in leaf.issuer and root.self_signed
    assert {"localhost", "127.0.0.1", "mail.smtpstep.test"} <= set(leaf.san)
    served = x509.load_pem_x509_certificate(local_server.server_cert_pem)
    assert leaf.fingerprint_sha256.replace(":", "") == served.fingerprint(hashes.SHA256()).hex().upper()
    assert leaf.key_type.startswith(("EC ", "RSA ", "Ed25519"))
    assert "trusted" in tls.verification and "localhost" in tls.verification
    # The handshake's records in the order they crossed the wire, each with what it carries.
    wanted = [("→ handshake record", "ClientHello"), ("← handshake record", "ServerHello"),
              ("← ", "Certificate"), ("← ", "Finished"), ("→ ", "Finished")]
    positions = [next(n for n, line in enumerate(tls.handshake) if line.startswith(start) and name in line)
                 for start, name in wanted]
    assert positions == sorted(positions)
    assert all(re.search(r" record, \d+ bytes", line) for line in tls.handshake)


async def test_implicit_tls_to_a_plain_port_fails_in_plain_words_and_discards_the_greeting(
    local_server: LocalServer,
) -> None:
    transport = AsyncioTransport(dataclasses.replace(target_for(local_server, "tls"), port=local_server.ports["plain"]))
    assert (await transport.step(Connect())).ok
    await asyncio.sleep(0.1)  # the plain server's 220 arrives while the student reads the screen
    result = await transport.step(TlsHandshake())

    assert result.failure is not None and result.failure.kind == "tls"
    assert "did not answer with TLS" in result.failure.message
    assert [d.data for d in result.discarded] == [b"220 mail.smtpstep.test ESMTP smtpstep local server\r\n"]
    assert "plain SMTP port" in result.discarded[0].reason
    assert transport.client.settled == State.CLOSED


# --- The wire record ------------------------------------------------------------------------------


async def test_every_wire_chunk_has_direction_bytes_tls_flag_and_time(local_server: LocalServer) -> None:
    seen = []
    transport = AsyncioTransport(target_for(local_server, "starttls"), listener=seen.append)
    results = await run_session(transport, plan_for("starttls", username=DEMO_USER, password=DEMO_PASSWORD))

    chunks = transport.record.chunks
    assert seen == chunks  # the live listener saw every chunk, in order
    directions = {Direction.CLIENT, Direction.SERVER, Direction.TLS, Direction.NOTE, Direction.ERROR}
    assert all(c.direction in directions and isinstance(c.data, bytes) and isinstance(c.tls, bool) for c in chunks)
    times = [c.time for c in chunks]
    assert times == sorted(times) and times[0] >= 0
    assert [c.step for c in chunks] == sorted(c.step for c in chunks)
    # Bytes carry data; notes carry words.
    assert all(c.data for c in chunks if c.direction in (Direction.CLIENT, Direction.SERVER))
    assert all(c.note for c in chunks if c.direction in (Direction.TLS, Direction.NOTE, Direction.ERROR))
    # Before the handshake every byte is plaintext, after it every byte is encrypted.
    established = next(i for i, c in enumerate(chunks) if c.note.startswith("TLS established"))
    data = [(i, c) for i, c in enumerate(chunks) if c.direction in (Direction.CLIENT, Direction.SERVER)]
    assert all(c.tls == (i > established) for i, c in data)
    assert b"STARTTLS\r\n" in b"".join(c.data for i, c in data if i < established)
    # Each step's result points at its own slice of the record.
    assert [r.wire_start for r in results[1:]] == [r.wire_end for r in results[:-1]]
    assert results[-1].wire_end == len(chunks)


async def test_a_target_with_a_label_is_named_by_it_in_the_connection_notes(local_server: LocalServer) -> None:
    # Screenshots that must not change with a free port name the server instead of showing host:port.
    transport = AsyncioTransport(target_for(local_server, "none", label="localhost"))
    assert (await transport.step(Connect())).ok
    notes = [c.note for c in transport.record.chunks if c.direction == Direction.NOTE]
    assert notes == ["connecting to localhost over TCP", "connected to localhost (TCP handshake done)"]
    await transport.close()

    unnamed = AsyncioTransport(target_for(local_server, "none"))
    assert (await unnamed.step(Connect())).ok
    address = f"127.0.0.1:{local_server.port_for('none')}"
    assert [c.note for c in unnamed.record.chunks if c.direction == Direction.NOTE] == [
        f"connecting to {address} over TCP", f"connected to {address} (TCP handshake done)"]
    await unnamed.close()


async def test_the_auth_payload_is_marked_secret_and_redacted(local_server: LocalServer) -> None:
    transport = AsyncioTransport(target_for(local_server, "starttls"))
    await run_session(transport, plan_for("starttls", username=DEMO_USER, password=DEMO_PASSWORD, mechanism="PLAIN"))

    payload = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode())
    chunk = next(c for c in transport.record.chunks if c.data.startswith(b"AUTH PLAIN "))
    assert [chunk.data[start:end] for start, end in chunk.secrets] == [payload]
    assert chunk.redacted() == b"AUTH PLAIN ********\r\n"
    assert all(payload not in c.redacted() for c in transport.record.chunks)


async def test_login_answers_are_each_marked_secret(local_server: LocalServer) -> None:
    transport = AsyncioTransport(target_for(local_server, "tls"))
    await run_session(transport, plan_for("tls", username=DEMO_USER, password=DEMO_PASSWORD, mechanism="LOGIN"))

    answers = [base64.b64encode(DEMO_USER.encode()), base64.b64encode(DEMO_PASSWORD.encode())]
    secret = [c for c in transport.record.chunks if c.secrets]
    assert [c.data for c in secret] == [a + b"\r\n" for a in answers]
    assert [c.redacted() for c in secret] == [b"********\r\n"] * 2


# --- Clear-text AUTH policy -----------------------------------------------------------------------


async def greeted(transport: AsyncioTransport) -> None:
    for command in (Connect(), ReadGreeting(), Ehlo("client.smtpstep.test")):
        assert (await transport.step(command)).ok


async def test_auth_is_not_written_in_clear_to_a_server_other_than_the_builtin_one(local_server: LocalServer) -> None:
    transport = AsyncioTransport(target_for(local_server, "none", builtin=False))
    await greeted(transport)
    before = client_bytes(transport)

    for force in (False, True):
        result = await transport.step(Auth("PLAIN", DEMO_USER, DEMO_PASSWORD), force=force)
        assert result.failure is not None and result.failure.kind == "policy"
        assert "not encrypted" in result.failure.message
        assert client_bytes(transport) == before  # nothing written
        assert transport.connected and transport.client.settled == State.READY_FOR_MAIL
        assert transport.client.pending == () and transport.client.auth_in_progress is None
    await transport.close()


@pytest.mark.parametrize("changes", [{"builtin": False, "allow_cleartext_auth": True}, {"builtin": True}])
async def test_auth_in_clear_is_written_when_allowed(local_server: LocalServer, changes: dict[str, bool]) -> None:
    transport = AsyncioTransport(target_for(local_server, "none", **changes))
    await greeted(transport)

    # The plain listener offers AUTH only after STARTTLS, so the client must force it; the server refuses.
    result = await transport.step(Auth("PLAIN", DEMO_USER, DEMO_PASSWORD), force=True)
    assert result.ok and result.answers[0].reply.code == 538
    assert result.snapshot.client.session.authenticated_as is None
    written = transport.record.chunks[result.wire_start]
    assert written.direction == Direction.CLIENT and written.data.startswith(b"AUTH PLAIN ") and written.secrets
    await transport.close()


# --- The message, byte for byte -------------------------------------------------------------------


async def test_the_stored_message_is_byte_for_byte_what_the_client_meant(local_server: LocalServer) -> None:
    content = (
        b"Subject: dots and line ends\r\n\r\n"
        b".a line that starts with a dot\r\n"
        b".\r\n"  # a lone dot inside the body: it must not end DATA
        b"..two dots\r\n"
        b"a bare LF ends this line\n"
        b"...and the last line has a bare LF too\n"
    )
    meant = content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # a bare LF is a line end (RFC 5321 §2.3.8)
    transport = AsyncioTransport(target_for(local_server, "starttls"))
    results = await run_session(transport, plan_for("starttls", message=content))

    assert all(result.ok for result in results)
    assert local_server.received[-1].original_content == meant
    sent = next(c.data for c in transport.record.chunks if c.data.startswith(b"Subject: dots"))
    assert b"\r\n..a line that starts" in sent and b"\r\n..\r\n" in sent and b"\r\n...two dots" in sent
    assert sent.endswith(b"\r\n....and the last line has a bare LF too\r\n.\r\n")
    assert b"\n" not in sent.replace(b"\r\n", b"")


# --- Pipelining -----------------------------------------------------------------------------------


class _Pipelining(Scenario):
    """aiosmtpd 1.4 reads pipelined commands correctly but does not advertise PIPELINING; add it."""

    name = "test-pipelining"

    def ehlo(self, lines: list[str]) -> list[str]:
        return [lines[0], "250-PIPELINING", *lines[1:]]  # after "250-mail.smtpstep.test"


@pytest.fixture
def pipelining_scenario(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(SCENARIOS, _Pipelining.name, _Pipelining)
    return _Pipelining.name


async def test_a_pipelined_group_goes_in_one_write_and_replies_match_in_order(
    local_server_factory, pipelining_scenario: str  # type: ignore[no-untyped-def]
) -> None:
    server = await local_server_factory(scenario=pipelining_scenario)
    transport = AsyncioTransport(target_for(server, "starttls"))
    plan = plan_for("starttls", pipelining=True, rcpt_tos=("teacher@example.test", "nobody@example.test"))
    results = await run_session(transport, plan)

    group = next(r for r in results if len(r.commands) > 1)
    assert [c.verb for c in group.commands] == [Verb.MAIL, Verb.RCPT, Verb.RCPT, Verb.DATA]
    written = [c for c in transport.record.chunks[group.wire_start : group.wire_end] if c.direction == Direction.CLIENT]
    assert len(written) == 1 and written[0].data == b"".join(c.render().data for c in group.commands)
    assert [a.command for a in group.answers] == list(group.commands)
    assert [a.reply.code for a in group.answers] == [250, 250, 550, 354]
    assert "nobody@example.test" in group.answers[2].reply.text
    assert group.snapshot.client.envelope.rcpt_tos == ("teacher@example.test",)
    assert all(result.ok for result in results)
    assert server.received[-1].rcpt_tos == ("teacher@example.test",)


async def test_a_group_is_refused_whole_without_pipelining(local_server: LocalServer) -> None:
    transport = AsyncioTransport(target_for(local_server, "none"))
    await greeted(transport)
    before = len(client_bytes(transport))

    group = [MailFrom(SENDER), RcptTo("teacher@example.test"), Data()]
    result = await transport.step(group)
    assert result.failure is not None and result.failure.kind == "not-allowed"
    assert "PIPELINING" in result.failure.message
    assert len(client_bytes(transport)) == before and transport.client.pending == ()
    await transport.close()


# --- Cancelling -----------------------------------------------------------------------------------


@pytest.mark.asyncio_transport_only
async def test_cancelling_a_step_closes_the_connection(local_server: LocalServer) -> None:
    transport = AsyncioTransport(target_for(local_server, "starttls"))
    await greeted(transport)

    task = asyncio.create_task(transport.step(MailFrom(SENDER)))
    await asyncio.sleep(0)  # the step is now waiting on the socket
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not transport.connected
    assert transport.client.settled == State.CLOSED and transport.client.pending == ()
    assert any("cancelled" in c.note for c in transport.record.chunks)
    after = await transport.step(MessageBody(MESSAGE))
    assert after.failure is not None and after.failure.kind == "not-allowed"


# --- TLS in the engine: records and raw bytes ------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_under_tls_each_chunk_names_its_records_and_the_raw_bytes_are_those_records(
    local_server: LocalServer, security: str
) -> None:
    transport = AsyncioTransport(target_for(local_server, security))
    await run_session(transport, plan_for(security))

    chunks, raw = transport.record.chunks, transport.record.raw
    ehlo = next(c for c in chunks if c.direction == Direction.CLIENT and c.tls and c.data.startswith(b"EHLO"))
    size = re.fullmatch(r"went out as one application_data record of (\d+) bytes", ehlo.layer)
    assert size is not None
    written = [e.data for e in raw if e.kind == RawKind.DATA and e.direction == Direction.CLIENT
               and e.step == ehlo.step]
    assert [len(data) for data in written] == [int(size[1])] and ehlo.data not in written[0]  # ciphertext
    assert all(c.layer.startswith("came in as ") for c in chunks if c.direction == Direction.SERVER and c.tls)
    assert all(not c.layer for c in chunks if c.direction in (Direction.CLIENT, Direction.SERVER) and not c.tls)
    # The plaintext part of the raw bytes is the wire log's own; the TCP story is whole.
    plain_sent = b"".join(c.data for c in chunks if c.direction == Direction.CLIENT and not c.tls)
    raw_sent = b"".join(e.data for e in raw if e.kind == RawKind.DATA and e.direction == Direction.CLIENT)
    assert raw_sent.startswith(plain_sent) and raw_sent[len(plain_sent):len(plain_sent) + 3] == b"\x16\x03\x01"
    assert raw[0].kind == RawKind.CONNECT and raw[0].server[1] == local_server.port_for(security)
    assert raw[-1].kind == RawKind.CLOSE and transport.client_randoms and len(transport.client_randoms[0]) == 32
    hello = next(c.note for c in chunks if c.direction == Direction.TLS and "ClientHello" in c.note)
    assert re.fullmatch(r"→ handshake record, \d+ bytes: ClientHello", hello)


async def test_tls_keys_are_logged_only_when_the_target_names_a_file(local_server: LocalServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys.txt"
    await run_session(AsyncioTransport(target_for(local_server, "starttls")), plan_for("starttls"))
    assert not keys.exists()

    transport = AsyncioTransport(target_for(local_server, "starttls", keylog=str(keys)))
    await run_session(transport, plan_for("starttls"))

    lines = [line for line in keys.read_text().splitlines() if not line.startswith("#")]
    random = transport.client_randoms[0].hex()
    assert {line.split()[0] for line in lines} >= {"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}
    assert all(line.split()[1] == random for line in lines), (random, lines)
    assert keys.stat().st_mode & 0o077 == 0  # the keys to the password: the owner's alone
