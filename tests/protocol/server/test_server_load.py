"""The built-in server under a class's load, at CI size; ``benchmarks/load_server.py`` runs the
same code at full size against ``smtpstep serve``.

- 20 concurrent sessions x 5 messages, half plain, half STARTTLS + AUTH: every accepted message is in
  the Maildir once, byte-identical; memory stays bounded (``tracemalloc``, not timing).
- A client that hangs up in the middle of DATA leaves no message and no file in ``tmp/``; one that
  hangs up right after the final dot still gets its message stored, once (RFC 5321 §6.1).
- The size limit is enforced with 552 (RFC 1870), at MAIL and after the final dot.
- Loopback only, no relaying (not even after AUTH), AUTH only after TLS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import ipaddress
import sys
import tracemalloc
from pathlib import Path

import pytest

import smtpstep.protocol.server.delivery as delivery
from benchmarks.load_server import Client, make_message, run_load, stuffed, tls_context, verify_maildir
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.server import LocalServer

MB = 1024 * 1024


async def greeted(server: LocalServer, listener: str = "plain") -> Client:
    client = await Client.connect("127.0.0.1", server.ports[listener])
    code, _ = await client.reply()
    assert code == 220
    return client


# --- Load ------------------------------------------------------------------------------------------------


def test_twenty_sessions_of_five_messages_all_arrive_byte_identical_in_bounded_memory(
    threaded_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server keeps recent messages in memory for the UI (MAX_RECEIVED_BYTES, 128 MB); cap that
    # here, so that what is left after the run shows whether anything else is kept.
    cap = 256 * 1024
    monkeypatch.setattr(delivery, "MAX_RECEIVED_BYTES", cap)
    sessions, size = 20, 32 * 1024

    def traced_load(messages: int, tag: str):  # type: ignore[no-untyped-def]
        """Run the load under tracemalloc: its result, its peak, and what is still held after it."""
        gc.collect()
        tracemalloc.start()
        try:
            result = asyncio.run(run_load("127.0.0.1", threaded_server.ports, threaded_server.ca_pem,
                                          sessions=sessions, messages=messages, size=size, tag=tag))
            _, peak = tracemalloc.get_traced_memory()
            gc.collect()
            kept, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return result, peak, kept

    warm, warm_peak, _ = traced_load(1, "warm-")  # the same concurrency, a fifth of the messages
    result, peak, kept = traced_load(5, "load-")

    assert warm.errors == [] and result.errors == [] and result.refused == {}
    assert len(result.accepted) == sessions * 5
    assert verify_maildir(threaded_server.maildir_path, result) == []  # checks result's messages only
    assert len(list((threaded_server.maildir_path / "new").iterdir())) == sessions * 6
    assert result.auth_before_tls == [] and result.auth_after_tls == sessions // 2
    # Memory follows what is in flight (one message per session, in a few copies), not what was sent:
    # five times the messages, about the same peak; and nothing is kept beyond the capped records.
    assert result.octets > 5 * warm.octets - 1
    assert peak < 1.5 * warm_peak + MB, f"peak {peak / MB:.1f} MB vs {warm_peak / MB:.1f} MB for a fifth"
    assert kept < cap + 2 * MB, f"{kept / MB:.1f} MB kept after sending {result.octets / MB:.1f} MB"
    received = threaded_server.received
    assert sum(len(r.original_content) + len(r.stored) for r in received[:-1]) <= cap


# --- Hanging up ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["after 354", "half the message", "all but the final dot", "a dot without CRLF"])
async def test_a_client_hanging_up_during_data_leaves_no_message(where: str, local_server: LocalServer) -> None:
    message = make_message(f"abort-{where.replace(' ', '-')}", 32 * 1024)
    wire = stuffed(message)
    cut = {"after 354": 0, "half the message": len(wire) // 2, "all but the final dot": len(wire) - 3,
           "a dot without CRLF": len(wire) - 2}[where]
    client = await greeted(local_server)
    await client.ehlo()
    await client.command("MAIL FROM:<student@client.smtpstep.test>", 250)
    await client.command("RCPT TO:<teacher@example.test>", 250)
    await client.command("DATA", 354)
    client.writer.write(wire[:cut])
    await client.writer.drain()
    await asyncio.sleep(0.05)  # let the server read what was sent
    client.abort()

    # The server is still fine, and the next message is the only one stored.
    after = await greeted(local_server)
    await after.ehlo()
    code, _ = await after.send("student@client.smtpstep.test", "teacher@example.test", b"Subject: next\r\n\r\nok\r\n")
    await after.quit()
    assert code == 250
    await local_server.stop()  # every session over and every delivery done: nothing more can be stored
    stored = list((local_server.maildir_path / "new").iterdir())
    assert [path.read_bytes().endswith(b"Subject: next\r\n\r\nok\r\n") for path in stored] == [True]
    assert list((local_server.maildir_path / "tmp").iterdir()) == []
    assert len(local_server.received) == 1


async def test_a_client_hanging_up_right_after_the_final_dot_still_gets_its_message_stored_once(
    local_server: LocalServer,
) -> None:
    message = make_message("abort-after-dot", 16 * 1024)
    client = await greeted(local_server)
    await client.ehlo()
    await client.command("MAIL FROM:<student@client.smtpstep.test>", 250)
    await client.command("RCPT TO:<teacher@example.test>", 250)
    await client.command("DATA", 354)
    delivered = asyncio.Event()
    local_server.on_received = lambda record: delivered.set()
    client.writer.write(stuffed(message))
    await client.writer.drain()
    client.abort()  # before the 250: the server owns the message once it has it all (RFC 5321 §6.1)

    await asyncio.wait_for(delivered.wait(), 30)  # the server stored it (a hang fails the test)
    assert len(local_server.received) == 1
    (stored,) = (local_server.maildir_path / "new").iterdir()
    assert stored.read_bytes().endswith(message)
    assert list((local_server.maildir_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("phase", ["command", "data"])
async def test_a_line_that_never_ends_is_cut_off_in_bounded_memory(phase: str, local_server: LocalServer) -> None:
    # aiosmtpd refuses a line over 1000 octets with 500 (RFC 5321 §4.5.3.1.6), but only once its CRLF
    # comes, and in DATA it keeps every byte until then: one endless line could fill the machine.
    client = await greeted(local_server)
    if phase == "data":
        await client.ehlo()
        await client.command("MAIL FROM:<student@client.smtpstep.test>", 250)
        await client.command("RCPT TO:<teacher@example.test>", 250)
        await client.command("DATA", 354)
    chunk, sent = b"x" * 65536, 0
    tracemalloc.start()
    try:
        with contextlib.suppress(ConnectionError):
            while sent < 32 * MB:
                client.writer.write(chunk)
                await client.writer.drain()
                sent += len(chunk)
        try:
            async with asyncio.timeout(5):
                code, _ = await client.reply()
        except ConnectionError:
            code = None  # the reset came before the reply could be read
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.abort()

    assert sent < 32 * MB, "the server read the whole endless line"
    assert code in (421, None)
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MB for a line of {sent / MB:.0f} MB"
    assert local_server.received == []


# --- Size limit ------------------------------------------------------------------------------------------


async def test_the_size_limit_is_enforced_with_552_at_mail_and_after_the_dot(
    local_server_factory,  # type: ignore[no-untyped-def]
) -> None:
    limit = 50_000
    server = await local_server_factory(size_limit=limit)
    client = await greeted(server)
    keywords = await client.ehlo()
    assert f"SIZE {limit}" in keywords  # advertised (RFC 1870 §4)

    code, said = await client.command(f"MAIL FROM:<student@client.smtpstep.test> SIZE={limit + 1}")
    assert code == 552, said  # refused before any data (RFC 1870 §6)

    too_big = make_message("too-big", 2 * limit)
    await client.command("MAIL FROM:<student@client.smtpstep.test>", 250)  # no SIZE declared
    await client.command("RCPT TO:<teacher@example.test>", 250)
    await client.command("DATA", 354)
    client.writer.write(stuffed(too_big))
    await client.writer.drain()
    code, said = await client.reply()
    assert code == 552, said

    fits = make_message("fits", limit // 2)
    code, said = await client.send("student@client.smtpstep.test", "teacher@example.test", fits)
    assert code == 250, said  # the session goes on after a refusal
    await client.quit()
    (stored,) = (server.maildir_path / "new").iterdir()
    assert stored.read_bytes().endswith(fits)
    assert [r.original_content for r in server.received] == [fits]


# --- Where the server listens, what it relays, when it takes a password ----------------------------------


def listening_addresses(ports: set[int]) -> list[str]:
    """The local addresses of the TCP sockets listening on ``ports``, as the kernel lists them (Linux)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, port = fields[1].split(":")
                if fields[3] == "0A" and int(port, 16) in ports:  # 0A: LISTEN
                    raw = bytes.fromhex(address)  # 32-bit words, each in the host's byte order
                    words = [raw[i:i + 4] for i in range(0, len(raw), 4)]
                    found.append(str(ipaddress.ip_address(b"".join(
                        word[::-1] if sys.byteorder == "little" else word for word in words))))
    return found


async def test_every_listener_is_on_loopback_by_default(local_server: LocalServer) -> None:
    from smtpstep.app.commands.serve import listen_address

    bound = listening_addresses(set(local_server.ports.values()))
    assert len(bound) == 3 and all(ipaddress.ip_address(address).is_loopback for address in bound)
    assert listen_address(None) == ("127.0.0.1", True)  # `smtpstep serve` without --listen


@pytest.mark.parametrize("rcpt", ["victim@gmail.com", "someone@example.test.evil.com", "a@localhost.evil.net",
                                  "boss@[192.0.2.1]"])
async def test_nothing_is_relayed_not_even_after_auth(rcpt: str, local_server: LocalServer) -> None:
    client = await greeted(local_server, "submission")
    await client.ehlo()
    await client.starttls(tls_context(local_server.ca_pem))
    await client.ehlo()
    token = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()
    await client.command(f"AUTH PLAIN {token}", 235)
    await client.command("MAIL FROM:<student@client.smtpstep.test>", 250)
    code, lines = await client.command(f"RCPT TO:<{rcpt}>")
    await client.quit()
    assert code == 550 and lines[0].startswith("5.7.1"), (code, lines)
    assert local_server.received == []


@pytest.mark.parametrize("listener", ["plain", "submission"])
async def test_auth_is_offered_and_taken_only_after_tls(listener: str, local_server: LocalServer) -> None:
    client = await greeted(local_server, listener)
    keywords = await client.ehlo()
    assert not any(k.startswith("AUTH") for k in keywords)
    token = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()
    code, lines = await client.command(f"AUTH PLAIN {token}")
    assert code == 538 or code == 530, (code, lines)  # RFC 4954 §4 / RFC 3207 §4: encryption first
    await client.starttls(tls_context(local_server.ca_pem))
    keywords = await client.ehlo()
    assert any(k.startswith("AUTH") and "PLAIN" in k for k in keywords)
    await client.command(f"AUTH PLAIN {token}", 235)
    await client.quit()


async def test_implicit_tls_offers_auth_at_once(local_server: LocalServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", local_server.ports["submissions"],
                                                   ssl=tls_context(local_server.ca_pem), server_hostname="localhost")
    client = Client(reader, writer)
    assert (await client.reply())[0] == 220
    assert any(k.startswith("AUTH") for k in await client.ehlo())  # TLS from the first byte (RFC 8314 §3.3)
    await client.quit()
