"""The STARTTLS-stripping relay: its byte editing (pure), and a live relay in front of the built-in server."""

from __future__ import annotations

import asyncio

from smtpstep.protocol.server.relay import StartTlsStripper, _Link

EHLO_REPLY = (b"250-mail.smtpstep.test\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-STARTTLS\r\n"
              b"250 HELP\r\n")


def _link() -> tuple[_Link, list[str]]:
    notes: list[str] = []
    return _Link(notes.append), notes


def test_the_starttls_line_is_deleted_from_an_ehlo_reply_even_when_it_arrives_in_pieces():
    link, notes = _link()
    out = b"".join(link.from_server(EHLO_REPLY[i:i + 7], False) for i in range(0, len(EHLO_REPLY), 7))
    assert out == EHLO_REPLY.replace(b"250-STARTTLS\r\n", b"")
    assert len(notes) == 1 and "250-STARTTLS" in notes[0]


def test_when_starttls_was_the_last_line_the_line_before_it_ends_the_reply():
    link, _ = _link()
    out = link.from_server(b"250-mail.smtpstep.test\r\n250-SIZE 100\r\n250 STARTTLS\r\n", False)
    assert out == b"250-mail.smtpstep.test\r\n250 SIZE 100\r\n"


def test_other_replies_and_the_greeting_pass_unchanged():
    link, notes = _link()
    data = b"220 mail.smtpstep.test ESMTP\r\n250 2.1.0 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    assert link.from_server(data, False) == data and not notes


def test_a_starttls_command_is_rewritten_so_the_server_refuses_it():
    link, notes = _link()
    assert link.from_client(b"EHLO x\r\nSTART", False) == b"EHLO x\r\n"  # held back: it may become STARTTLS
    assert link.from_client(b"TLS\r\n", False) == b"XXXXXXXX\r\n"
    assert "XXXXXXXX" in notes[0]
    assert link.from_client(b"MAIL FROM:<a@b.test>\r\n", False) == b"MAIL FROM:<a@b.test>\r\n"


def test_a_connection_that_starts_with_tls_is_passed_through_untouched():
    link, notes = _link()
    hello = bytes([0x16, 0x03, 0x01, 0x00, 0x10]) + b"\r\n250-STARTTLS\r\n"
    assert link.from_client(hello, False) == hello
    assert link.from_server(b"\x16\x03\x03250-STARTTLS\r\n", False) == b"\x16\x03\x03250-STARTTLS\r\n"
    assert "implicit TLS" in notes[0]


async def test_a_live_relay_strips_starttls_from_the_built_in_servers_ehlo_reply(local_server):
    relay = StartTlsStripper("127.0.0.1", local_server.port_for("none"))
    await relay.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        greeting = await reader.readline()
        writer.write(b"EHLO client.test\r\n")
        lines = []
        while not (line := await reader.readline()).startswith(b"250 "):
            lines.append(line)
        writer.write(b"STARTTLS\r\n")
        refused = await reader.readline()
        writer.write(b"QUIT\r\n")
        await reader.readline()
        writer.close()
        await writer.wait_closed()
    finally:
        await relay.stop()
    assert greeting.startswith(b"220 ")
    assert b"250-STARTTLS\r\n" not in lines and b"250-8BITMIME\r\n" in lines
    assert refused.startswith(b"500 ")  # the server never saw STARTTLS, only XXXXXXXX
    assert len(relay.tampering) == 2
