"""The built-in server's DSN parameters (RFC 3461 §4) and REQUIRETLS (RFC 8689 §2): advertised where the scenario
says, read and checked, and kept with the envelope for the reports."""

from __future__ import annotations

import asyncio
import ssl
from typing import ClassVar

from smtpstep.protocol.dsn_parameters import DsnRecipient, DsnRequest
from smtpstep.protocol.server.scenarios import MxTlsScenario, Scenario


class _Recording(Scenario):
    """A scenario that advertises DSN and keeps what the envelope held at the final dot."""

    name = "dsn-recording"
    dsn: ClassVar[bool] = True

    def __init__(self) -> None:
        self.seen: list[tuple[DsnRequest, list[DsnRecipient]]] = []

    def data(self, session, envelope):
        self.seen.append((envelope.dsn, list(envelope.dsn_recipients)))
        return None


async def _talk(reader, writer, line: bytes) -> bytes:
    writer.write(line)
    reply = b""
    while not (got := await reader.readline())[3:4] == b" ":
        reply += got
    return reply + got


async def _session(port: int, context: ssl.SSLContext | None = None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                   server_hostname="localhost" if context else None)
    await reader.readline()
    return reader, writer, await _talk(reader, writer, b"EHLO client.test\r\n")


async def test_dsn_parameters_are_read_checked_and_kept_with_the_envelope(local_server):
    recording = _Recording()
    local_server.hooks = recording
    reader, writer, ehlo = await _session(local_server.port_for("none"))
    assert b"250-DSN\r\n" in ehlo
    assert b"REQUIRETLS" not in ehlo
    talk = lambda line: _talk(reader, writer, line)  # noqa: E731
    assert (await talk(b"MAIL FROM:<a@client.test> RET=hdrs ENVID=Qq+2B1\r\n")).startswith(b"250 ")
    bad = await talk(b"RCPT TO:<b@example.test> NOTIFY=NEVER,SUCCESS\r\n")
    assert bad.startswith(b"501 5.5.4 ") and b"NOTIFY" in bad
    assert (await talk(b"RCPT TO:<b@example.test> NOTIFY=success,delay ORCPT=rfc822;B+2Bx@example.test\r\n")) \
        .startswith(b"250 ")
    assert (await talk(b"RCPT TO:<c@example.test>\r\n")).startswith(b"250 ")
    assert (await talk(b"RCPT TO:<d@example.test> ORCPT=rfc822;d+2\r\n")).startswith(b"501 5.5.4 ")
    assert (await talk(b"DATA\r\n")).startswith(b"354")
    assert (await talk(b"Subject: x\r\n\r\nhi\r\n.\r\n")).startswith(b"250 ")
    writer.close()
    request, recipients = recording.seen[0]
    assert request == DsnRequest(ret="HDRS", envid="Qq+1", requiretls=False)
    assert recipients == [DsnRecipient("b@example.test", ("SUCCESS", "DELAY"), ("rfc822", "B+x@example.test")),
                          DsnRecipient("c@example.test")]
    assert recipients[0].wants("DELAY") and not recipients[1].wants("SUCCESS") and recipients[1].wants("FAILURE")


async def test_without_dsn_advertised_its_parameters_are_not_recognized(local_server):
    reader, writer, ehlo = await _session(local_server.port_for("none"))
    assert b"DSN" not in ehlo
    reply = await _talk(reader, writer, b"MAIL FROM:<a@client.test> RET=FULL\r\n")
    writer.close()
    assert reply.startswith(b"555 ")  # RFC 5321 §4.1.1.11: parameters not recognized


async def test_requiretls_is_advertised_and_taken_only_under_tls(local_server):
    local_server.hooks = MxTlsScenario()
    reader, writer, ehlo = await _session(local_server.port_for("none"))
    assert b"STARTTLS" in ehlo and b"REQUIRETLS" not in ehlo
    assert (await _talk(reader, writer, b"MAIL FROM:<a@client.test> REQUIRETLS\r\n")).startswith(b"555 ")
    writer.close()
    context = ssl.create_default_context(cadata=local_server.ca_pem.decode())
    reader, writer, ehlo = await _session(local_server.port_for("tls"), context)
    assert b"250-REQUIRETLS\r\n" in ehlo
    assert (await _talk(reader, writer, b"MAIL FROM:<a@client.test> REQUIRETLS\r\n")).startswith(b"250 ")
    writer.close()
