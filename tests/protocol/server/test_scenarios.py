"""The server scenarios the lessons added: each a deterministic switch, also for `smtpstep serve --scenario`."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from smtpstep.protocol.lessons.loader import catalog


async def _ehlo(port: int, context: ssl.SSLContext | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                   server_hostname="localhost" if context else None)
    await reader.readline()
    writer.write(b"EHLO client.test\r\n")
    reply = b""
    while not (line := await reader.readline()).startswith(b"250 "):
        reply += line
    return reader, writer, reply + line


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, ssl.SSLError):
        pass


def test_every_lesson_scenario_can_be_served_alone():
    from smtpstep.app.cli import build_parser
    from smtpstep.protocol.server.scenarios import SCENARIOS

    assert {"normal", "greylisting", "size-limit", "pipelining", "must-starttls", "tls-failures"} <= set(SCENARIOS)
    for lesson in catalog():
        args = build_parser().parse_args(["serve", "--scenario", lesson.scenario])
        assert args.scenario in SCENARIOS


async def test_pipelining_is_advertised_before_the_last_line(local_server_factory):
    server = await local_server_factory(scenario="pipelining")
    _, writer, reply = await _ehlo(server.port_for("none"))
    await _close(writer)
    assert b"250-PIPELINING\r\n250 HELP\r\n" in reply


async def test_must_starttls_refuses_plain_mail_but_not_implicit_tls(local_server_factory):
    server = await local_server_factory(scenario="must-starttls")
    reader, writer, _ = await _ehlo(server.port_for("none"))
    writer.write(b"MAIL FROM:<a@client.test>\r\n")
    assert await reader.readline() == b"530 5.7.0 Must issue a STARTTLS command first\r\n"
    await _close(writer)
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    reader, writer, _ = await _ehlo(server.port_for("tls"), context)
    writer.write(b"MAIL FROM:<a@client.test>\r\n")
    assert (await reader.readline()).startswith(b"250 ")  # implicit TLS counts as TLS
    await _close(writer)


@pytest.mark.parametrize(("name", "verify_code"), [("untrusted.smtpstep.test", 20), ("expired.smtpstep.test", 10),
                                                    ("wrong-host.smtpstep.test", 62), ("localhost", None)])
async def test_tls_failures_picks_the_certificate_by_the_name_asked_for(local_server_factory, name, verify_code):
    server = await local_server_factory(scenario="tls-failures")
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port_for("tls"), ssl=context,
                                                  server_hostname=name)
    except ssl.SSLCertVerificationError as error:
        assert error.verify_code == verify_code
    else:
        assert verify_code is None
        await _close(writer)


async def test_the_normal_scenario_ignores_the_name_asked_for(local_server):
    context = ssl.create_default_context(cadata=local_server.ca_pem.decode())
    context.check_hostname = False
    _, writer = await asyncio.open_connection("127.0.0.1", local_server.port_for("tls"), ssl=context,
                                              server_hostname="expired.smtpstep.test")
    peer = writer.get_extra_info("ssl_object").getpeercert()
    await _close(writer)
    assert ("DNS", "mail.smtpstep.test") in peer["subjectAltName"]
