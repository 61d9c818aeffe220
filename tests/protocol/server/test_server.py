"""The built-in server, exercised over real loopback sockets.

The project's own client is tested elsewhere; here the clients are smtplib (in the threaded
server's tests) and a minimal asyncio line client (``Wire``) that sends exactly the bytes a test
gives it, so dot-stuffing and disconnects are under the test's control.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import mailbox
import re
import smtplib
import socket
import ssl
import threading
from pathlib import Path

import pytest

from smtpstep.protocol.server import delivery
from smtpstep.protocol.server.facts import BANNER_NAME, DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.policy import is_test_domain, with_protocol
from smtpstep.protocol.server.server import LocalServer, serve_forever

HOST = "127.0.0.1"


# --- Helpers ------------------------------------------------------------------------------------


def trusting_context(server: LocalServer) -> ssl.SSLContext:
    """A client context that trusts only the server's CA file (and checks host names)."""
    return ssl.create_default_context(cafile=str(server.ca_path))


class Wire:
    """A tiny SMTP line client: send bytes, read one complete (possibly multiline) reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, *, ssl_context: ssl.SSLContext | None = None,
                      server_hostname: str | None = None) -> tuple[Wire, tuple[int, list[str]]]:
        reader, writer = await asyncio.open_connection(
            HOST, port, ssl=ssl_context, server_hostname=server_hostname if ssl_context else None
        )
        wire = cls(reader, writer)
        return wire, await wire.reply()

    async def reply(self) -> tuple[int, list[str]]:
        lines = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), 5)
            assert raw.endswith(b"\r\n"), f"incomplete reply line {raw!r}"
            line = raw[:-2].decode("utf-8")
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    async def send(self, data: bytes | str) -> tuple[int, list[str]]:
        if isinstance(data, str):
            data = data.encode() + b"\r\n"
        self.writer.write(data)
        await self.writer.drain()
        return await self.reply()

    async def starttls(self, context: ssl.SSLContext, server_hostname: str = "localhost") -> None:
        code, _ = await self.send("STARTTLS")
        assert code == 220
        await self.writer.start_tls(context, server_hostname=server_hostname)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def submission_session(server: LocalServer, *, login: bool = False) -> Wire:
    """A session on the submission listener after EHLO, STARTTLS, EHLO (and AUTH PLAIN)."""
    wire, _ = await Wire.connect(server.ports["submission"])
    await wire.send("EHLO client.example")
    await wire.starttls(trusting_context(server))
    await wire.send("EHLO client.example")
    if login:
        token = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()
        assert (await wire.send(f"AUTH PLAIN {token}"))[0] == 235
    return wire


async def send_message(wire: Wire, data_lines: bytes, *, rcpt: str = "bob@example.com",
                       sender: str = "alice@example.org") -> tuple[int, list[str]]:
    """MAIL, RCPT, DATA, then ``data_lines`` (already dot-stuffed) and the final dot."""
    assert (await wire.send(f"MAIL FROM:<{sender}>"))[0] == 250
    assert (await wire.send(f"RCPT TO:<{rcpt}>"))[0] == 250
    assert (await wire.send("DATA"))[0] == 354
    return await wire.send(data_lines + b".\r\n")


def queued_key(reply: tuple[int, list[str]]) -> str:
    code, lines = reply
    assert code == 250, reply
    match = re.fullmatch(r"2\.0\.0 OK: queued as (\S+)", lines[-1])
    assert match, reply
    return match.group(1)


def split_trace_fields(stored: bytes) -> tuple[list[bytes], bytes]:
    """The Return-Path/Received lines the server prepended, and everything after them."""
    fields = []
    rest = stored
    while rest.startswith((b"Return-Path:", b"Received:", b"\t")):
        line, _, rest = rest.partition(b"\r\n")
        fields.append(line)
    return fields, rest


MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Subject: exact bytes\r\n"
    b"\r\n"
    b"Line one\r\n"
    b"  leading spaces, trailing spaces  \r\n"
    b"\r\n"
    b"caf\xc3\xa9 in UTF-8, a bare \n line feed, and a tab\t.\r\n"
)


# --- Greeting, ports, facts ---------------------------------------------------------------------


async def test_greeting_names_the_server_and_its_software(local_server: LocalServer) -> None:
    for name in ("plain", "submission"):
        wire, greeting = await Wire.connect(local_server.ports[name])
        assert greeting == (220, [f"{BANNER_NAME} ESMTP smtpstep local server"])
        await wire.close()


async def test_three_listeners_get_three_different_free_ports(local_server: LocalServer) -> None:
    ports = local_server.ports
    assert set(ports) == {"plain", "submission", "submissions"}
    assert all(port > 0 for port in ports.values())
    assert len(set(ports.values())) == 3


async def test_port_for_maps_connection_security_to_its_listener(local_server: LocalServer) -> None:
    assert local_server.port_for("none") == local_server.ports["plain"]
    assert local_server.port_for("starttls") == local_server.ports["submission"]
    assert local_server.port_for("tls") == local_server.ports["submissions"]
    with pytest.raises(ValueError):
        local_server.port_for("ssl")


async def test_a_requested_port_is_used(local_server_factory, unused_port: int) -> None:
    server = await local_server_factory(plain_port=unused_port)
    assert server.ports["plain"] == unused_port


async def test_ca_file_holds_the_ca_certificate(local_server: LocalServer) -> None:
    assert local_server.ca_path.read_bytes() == local_server.ca_pem
    assert local_server.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")


async def test_a_temporary_state_dir_is_removed_on_stop(tmp_path: Path) -> None:
    server = LocalServer(maildir=tmp_path / "maildir")
    async with server:
        ca_path = server.ca_path
        assert ca_path.exists()
    assert not ca_path.exists()
    assert not ca_path.parent.exists()


async def test_describe_lists_ports_ca_credentials_and_maildir(local_server: LocalServer) -> None:
    text = "\n".join(local_server.describe())
    for port in local_server.ports.values():
        assert f"{HOST}:{port}" in text
    assert str(local_server.ca_path) in text
    assert f"{DEMO_USER} / {DEMO_PASSWORD}" in text
    assert str(local_server.maildir_path) in text
    assert local_server.credentials == (DEMO_USER, DEMO_PASSWORD)


def test_an_unknown_certificate_variant_or_scenario_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalServer(maildir=tmp_path, certificate="self-signed")
    with pytest.raises(ValueError):
        LocalServer(maildir=tmp_path, scenario="chaos")


def test_default_maildir_follows_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert LocalServer().maildir_path == tmp_path / "smtpstep" / "maildir"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert LocalServer().maildir_path == tmp_path / "home" / ".local" / "share" / "smtpstep" / "maildir"


# --- Each listener with smtplib -----------------------------------------------------------------


def test_plain_listener_delivers_without_tls_or_auth(threaded_server: LocalServer) -> None:
    with smtplib.SMTP(HOST, threaded_server.ports["plain"], timeout=5) as client:
        refused = client.sendmail("alice@example.org", ["bob@example.com"], MESSAGE)
    assert refused == {}
    [record] = threaded_server.received
    assert (record.listener, record.tls, record.auth_user) == ("plain", False, None)


def test_plain_listener_also_delivers_after_starttls(threaded_server: LocalServer) -> None:
    with smtplib.SMTP(HOST, threaded_server.ports["plain"], timeout=5) as client:
        client.starttls(context=trusting_context(threaded_server))
        client.sendmail("alice@example.org", ["bob@example.com"], MESSAGE)
    [record] = threaded_server.received
    assert (record.listener, record.tls) == ("plain", True)


def test_submission_listener_delivers_after_starttls_and_login(threaded_server: LocalServer) -> None:
    with smtplib.SMTP(HOST, threaded_server.ports["submission"], timeout=5) as client:
        client.starttls(context=trusting_context(threaded_server))
        client.login(DEMO_USER, DEMO_PASSWORD)
        client.sendmail("alice@example.org", ["bob@example.com"], MESSAGE)
    [record] = threaded_server.received
    assert (record.listener, record.tls, record.auth_user) == ("submission", True, DEMO_USER)


def test_submission_listener_delivers_after_starttls_without_login(threaded_server: LocalServer) -> None:
    with smtplib.SMTP(HOST, threaded_server.ports["submission"], timeout=5) as client:
        client.starttls(context=trusting_context(threaded_server))
        client.sendmail("alice@example.org", ["bob@example.com"], MESSAGE)
    [record] = threaded_server.received
    assert (record.listener, record.tls, record.auth_user) == ("submission", True, None)


def test_submissions_listener_delivers_over_implicit_tls(threaded_server: LocalServer) -> None:
    context = trusting_context(threaded_server)
    with smtplib.SMTP_SSL(HOST, threaded_server.ports["submissions"], context=context, timeout=5) as client:
        client.login(DEMO_USER, DEMO_PASSWORD)
        client.sendmail("alice@example.org", ["bob@example.com"], MESSAGE)
    [record] = threaded_server.received
    assert (record.listener, record.tls, record.auth_user) == ("submissions", True, DEMO_USER)
    assert record.original_content == MESSAGE


def test_smtplib_dot_stuffing_is_undone_in_the_stored_message(threaded_server: LocalServer) -> None:
    body = b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nend\r\n"
    with smtplib.SMTP(HOST, threaded_server.ports["plain"], timeout=5) as client:
        client.sendmail("alice@example.org", ["bob@example.com"], body)
    [record] = threaded_server.received
    assert record.original_content == body


# --- STARTTLS and AUTH rules --------------------------------------------------------------------


async def test_mail_before_starttls_is_refused_with_530(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["submission"])
    code, lines = await wire.send("EHLO client.example")
    assert "STARTTLS" in lines
    assert (await wire.send("MAIL FROM:<alice@example.org>"))[0] == 530
    await wire.starttls(trusting_context(local_server))
    await wire.send("EHLO client.example")
    assert await wire.send("MAIL FROM:<alice@example.org>") == (250, ["2.1.0 OK"])
    await wire.close()


async def test_auth_is_not_offered_before_tls(local_server: LocalServer) -> None:
    for name in ("plain", "submission"):
        wire, _ = await Wire.connect(local_server.ports[name])
        code, lines = await wire.send("EHLO client.example")
        assert code == 250
        assert not any(line.startswith("AUTH") for line in lines)
        await wire.close()


async def test_auth_before_tls_is_refused_on_the_plain_listener_with_538(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    code, lines = await wire.send("AUTH PLAIN AHN0dWRlbnQAY2xhc3Nyb29t")
    assert code == 538
    assert lines[0].startswith("5.7.11")
    await wire.close()


async def test_auth_before_starttls_is_refused_on_the_submission_listener_with_530(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["submission"])
    await wire.send("EHLO client.example")
    assert (await wire.send("AUTH PLAIN AHN0dWRlbnQAY2xhc3Nyb29t"))[0] == 530
    await wire.close()


async def test_auth_is_offered_after_starttls_and_on_implicit_tls(local_server: LocalServer) -> None:
    wire = await submission_session(local_server)
    code, lines = await wire.send("EHLO client.example")
    assert "AUTH CRAM-MD5 LOGIN PLAIN" in lines
    await wire.close()

    wire, _ = await Wire.connect(
        local_server.ports["submissions"], ssl_context=trusting_context(local_server), server_hostname="localhost"
    )
    code, lines = await wire.send("EHLO client.example")
    assert "AUTH CRAM-MD5 LOGIN PLAIN" in lines
    assert "STARTTLS" not in lines
    await wire.close()


async def auth_plain(wire: Wire, user: str, password: str) -> tuple[int, list[str]]:
    return await wire.send("AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode())


async def auth_login(wire: Wire, user: str, password: str) -> tuple[int, list[str]]:
    assert (await wire.send("AUTH LOGIN"))[0] == 334
    assert (await wire.send(base64.b64encode(user.encode()).decode()))[0] == 334
    return await wire.send(base64.b64encode(password.encode()).decode())


async def auth_cram_md5(wire: Wire, user: str, password: str) -> tuple[int, list[str]]:
    code, [challenge] = await wire.send("AUTH CRAM-MD5")
    assert code == 334
    digest = hmac.new(password.encode(), base64.b64decode(challenge), "md5").hexdigest()
    return await wire.send(base64.b64encode(f"{user} {digest}".encode()).decode())


MECHANISMS = [auth_plain, auth_login, auth_cram_md5]


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=["PLAIN", "LOGIN", "CRAM-MD5"])
async def test_the_demo_credentials_get_235(local_server: LocalServer, mechanism) -> None:
    wire = await submission_session(local_server)
    assert await mechanism(wire, DEMO_USER, DEMO_PASSWORD) == (235, ["2.7.0 Authentication successful"])
    await wire.close()


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=["PLAIN", "LOGIN", "CRAM-MD5"])
async def test_a_wrong_password_gets_535(local_server: LocalServer, mechanism) -> None:
    wire = await submission_session(local_server)
    code, lines = await mechanism(wire, DEMO_USER, "wrong")
    assert code == 535
    assert lines[0].startswith("5.7.8")
    # The session goes on: the client may try again.
    assert (await auth_plain(wire, DEMO_USER, DEMO_PASSWORD))[0] == 235
    await wire.close()


async def test_successful_auth_logs_no_login_data_deprecation(
    local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = await submission_session(local_server, login=True)
    await wire.close()
    assert not [r for r in caplog.records if "login_data is deprecated" in r.getMessage()]


# --- Recipients ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain, accepted",
    [
        ("mail.smtpstep.test", True),
        ("x.test", True),
        ("localhost", True),
        ("host.localhost", True),
        ("example.com", True),
        ("EXAMPLE.ORG", True),
        ("sub.example.net", True),
        ("example.com.", True),
        ("test", False),
        ("example.co", False),
        ("notexample.com", False),
        ("example.com.evil.org", False),
        ("gmail.com", False),
        ("", False),
    ],
)
def test_only_reserved_test_domains_are_local(domain: str, accepted: bool) -> None:
    assert is_test_domain(domain) is accepted


async def test_relaying_to_another_domain_is_refused_with_550_5_7_1(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.send("MAIL FROM:<alice@example.org>")
    assert await wire.send("RCPT TO:<someone@gmail.com>") == (
        550,
        ["5.7.1 Relaying denied: smtpstep's built-in server only delivers to test domains"],
    )
    await wire.close()


async def test_authenticated_clients_may_not_relay_either(local_server: LocalServer) -> None:
    wire = await submission_session(local_server, login=True)
    await wire.send("MAIL FROM:<alice@example.org>")
    assert (await wire.send("RCPT TO:<someone@gmail.com>"))[0] == 550
    await wire.close()


@pytest.mark.parametrize("local_part", ["nobody", "unknown", "Nobody"])
async def test_an_unknown_mailbox_is_refused_with_550_5_1_1(local_server: LocalServer, local_part: str) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.send("MAIL FROM:<alice@example.org>")
    address = f"{local_part}@example.com"
    assert await wire.send(f"RCPT TO:<{address}>") == (550, [f"5.1.1 <{address}>: no such mailbox here"])
    await wire.close()


async def test_mail_and_rcpt_replies_carry_enhanced_status_codes(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    assert await wire.send("MAIL FROM:<alice@example.org>") == (250, ["2.1.0 OK"])
    assert await wire.send("RCPT TO:<bob@example.com>") == (250, ["2.1.5 OK"])
    assert await wire.send("RSET") == (250, ["2.0.0 OK"])
    assert await wire.send("NOOP") == (250, ["2.0.0 OK"])
    assert await wire.send("QUIT") == (221, ["2.0.0 Bye"])
    await wire.close()


async def test_postmaster_without_a_domain_is_accepted(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.send("MAIL FROM:<alice@example.org>")
    assert (await wire.send("RCPT TO:<Postmaster>"))[0] == 250
    assert (await wire.send("RCPT TO:<bob>"))[0] == 550
    await wire.close()


# --- Storage ------------------------------------------------------------------------------------


async def test_stored_message_is_byte_for_byte_what_was_sent_after_the_trace_fields(
    local_server: LocalServer,
) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    key = queued_key(await send_message(wire, MESSAGE))
    await wire.close()

    on_disk = (local_server.maildir_path / "new" / key).read_bytes()
    fields, rest = split_trace_fields(on_disk)
    assert rest == MESSAGE
    assert fields[0] == b"Return-Path: <alice@example.org>"
    assert fields[1] == b"Received: from client.example ([127.0.0.1])"
    assert b"\tby mail.smtpstep.test (smtpstep local server) with ESMTP" in fields
    assert fields[-1].startswith(b"\tfor <bob@example.com>; ")
    assert mailbox.Maildir(local_server.maildir_path).get_bytes(key) == on_disk

    [record] = local_server.received
    assert record.key == key
    assert record.original_content == MESSAGE
    assert record.stored == on_disk
    assert (record.mail_from, record.rcpt_tos) == ("alice@example.org", ("bob@example.com",))


async def test_lines_with_leading_dots_are_stored_unstuffed(local_server: LocalServer) -> None:
    stuffed = b"Subject: dots\r\n\r\n..one dot\r\n...two dots\r\n..\r\n. space\r\nend\r\n"
    meant = b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\n space\r\nend\r\n"
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    key = queued_key(await send_message(wire, stuffed))
    await wire.close()
    _, rest = split_trace_fields((local_server.maildir_path / "new" / key).read_bytes())
    assert rest == meant


async def test_a_client_hanging_up_during_data_leaves_nothing_in_the_maildir(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.send("MAIL FROM:<alice@example.org>")
    await wire.send("RCPT TO:<bob@example.com>")
    assert (await wire.send("DATA"))[0] == 354
    wire.writer.write(b"Subject: cut short\r\n\r\nhalf a messa")
    await wire.writer.drain()
    await wire.close()

    # A later, complete message proves the server has moved on.
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    key = queued_key(await send_message(wire, b"Subject: whole\r\n\r\nall of it\r\n"))
    await wire.close()

    assert sorted(p.name for p in (local_server.maildir_path / "new").iterdir()) == [key]
    assert list((local_server.maildir_path / "tmp").iterdir()) == []
    assert list((local_server.maildir_path / "cur").iterdir()) == []
    assert [r.key for r in local_server.received] == [key]


async def test_a_failed_write_is_answered_451_and_nothing_is_kept(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(message: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local_server._store, "add", full_disk)
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    code, lines = await send_message(wire, b"Subject: lost?\r\n\r\nno\r\n")
    assert code == 451
    assert lines[0].startswith("4.3.0 ")
    # The session is still usable: the envelope was reset and the client may retry.
    assert (await wire.send("MAIL FROM:<alice@example.org>"))[0] == 250
    await wire.close()
    assert local_server.received == []


async def test_a_message_to_several_recipients_is_stored_once_without_a_for_clause(
    local_server: LocalServer,
) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.send("MAIL FROM:<alice@example.org>")
    await wire.send("RCPT TO:<bob@example.com>")
    await wire.send("RCPT TO:<carol@x.test>")
    await wire.send("DATA")
    key = queued_key(await wire.send(MESSAGE + b".\r\n"))
    await wire.close()
    [record] = local_server.received
    assert record.rcpt_tos == ("bob@example.com", "carol@x.test")
    fields, _ = split_trace_fields(record.stored)
    assert not any(b"for <" in field for field in fields)
    assert [p.name for p in (local_server.maildir_path / "new").iterdir()] == [key]


async def test_a_null_sender_gets_an_empty_return_path(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    queued_key(await send_message(wire, b"Subject: bounce\r\n\r\nx\r\n", sender=""))
    await wire.close()
    [record] = local_server.received
    assert record.stored.startswith(b"Return-Path: <>\r\n")


@pytest.mark.parametrize(
    "listener, greet, login, expected",
    [
        ("plain", "HELO", False, b"with SMTP"),
        ("plain", "EHLO", False, b"with ESMTP"),
        ("submission", "EHLO", False, b"with ESMTPS"),
        ("submission", "EHLO", True, b"with ESMTPSA"),
        ("submissions", "EHLO", True, b"with ESMTPSA"),
    ],
)
async def test_received_field_names_the_protocol_used(
    local_server: LocalServer, listener: str, greet: str, login: bool, expected: bytes
) -> None:
    context = trusting_context(local_server)
    if listener == "submission":
        wire = await submission_session(local_server, login=login)
    else:
        wire, _ = await Wire.connect(
            local_server.ports[listener],
            ssl_context=context if listener == "submissions" else None,
            server_hostname="localhost",
        )
        await wire.send(f"{greet} client.example")
        if login:
            await auth_plain(wire, DEMO_USER, DEMO_PASSWORD)
    queued_key(await send_message(wire, MESSAGE))
    await wire.close()
    [record] = local_server.received
    fields, _ = split_trace_fields(record.stored)
    by_line = next(f for f in fields if f.startswith(b"\tby "))
    assert by_line.split(b" with ")[1].split(b";")[0] == expected.split(b" ")[1]
    assert any(b"using TLS" in f for f in fields) is record.tls


def test_with_protocol_follows_rfc_3848_and_rfc_6531() -> None:
    assert with_protocol(esmtp=False, tls=False, authenticated=False) == "SMTP"
    assert with_protocol(esmtp=True, tls=True, authenticated=False) == "ESMTPS"
    assert with_protocol(esmtp=True, tls=False, authenticated=True) == "ESMTPA"
    assert with_protocol(esmtp=True, tls=True, authenticated=True, smtputf8=True) == "UTF8SMTPSA"


async def test_an_smtputf8_message_is_accepted_and_marked_utf8smtp(local_server: LocalServer) -> None:
    wire = await submission_session(local_server)
    assert (await wire.send("MAIL FROM:<jos\u00e9@example.org> SMTPUTF8"))[0] == 250
    assert (await wire.send("RCPT TO:<b\u00fccher@x.test>"))[0] == 250
    await wire.send("DATA")
    queued_key(await wire.send(MESSAGE + b".\r\n"))
    await wire.close()
    [record] = local_server.received
    assert record.stored.startswith("Return-Path: <jos\u00e9@example.org>\r\n".encode())
    assert b"with UTF8SMTPS" in record.stored


async def test_received_keeps_only_the_latest_messages(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "MAX_RECEIVED", 3)
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    keys = [queued_key(await send_message(wire, b"Subject: %d\r\n\r\nx\r\n" % i)) for i in range(5)]
    await wire.close()
    assert [r.key for r in local_server.received] == keys[-3:]
    assert len(list((local_server.maildir_path / "new").iterdir())) == 5


async def test_on_received_is_called_with_each_record(local_server: LocalServer) -> None:
    seen = []
    local_server.on_received = seen.append
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    key = queued_key(await send_message(wire, MESSAGE))
    await wire.close()
    assert [r.key for r in seen] == [key]


# --- Certificates -------------------------------------------------------------------------------


async def test_the_valid_certificate_verifies_for_every_name_it_lists(local_server: LocalServer) -> None:
    for name in ("localhost", "127.0.0.1", BANNER_NAME):
        wire, greeting = await Wire.connect(
            local_server.ports["submissions"], ssl_context=trusting_context(local_server), server_hostname=name
        )
        assert greeting[0] == 220
        await wire.close()


@pytest.mark.parametrize(
    "variant, verify_code",
    [("untrusted", 20), ("wrong-host", 62), ("expired", 10)],
)
@pytest.mark.parametrize("listener", ["submissions", "submission"])
async def test_each_certificate_variant_fails_verification_with_its_code(
    local_server_factory, variant: str, verify_code: int, listener: str
) -> None:
    server = await local_server_factory(certificate=variant)
    context = trusting_context(server)
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        if listener == "submissions":
            await Wire.connect(server.ports["submissions"], ssl_context=context, server_hostname="localhost")
        else:
            wire, _ = await Wire.connect(server.ports["submission"])
            await wire.send("EHLO client.example")
            try:
                await wire.starttls(context, server_hostname="localhost")
            finally:
                await wire.close()
    assert failure.value.verify_code == verify_code

    # A rejected handshake does not hurt the server: the next client still gets a greeting.
    wire, greeting = await Wire.connect(server.ports["plain"])
    assert greeting[0] == 220
    await wire.close()


async def test_a_client_that_skips_verification_can_still_use_a_bad_certificate(local_server_factory) -> None:
    server = await local_server_factory(certificate="expired")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    wire, greeting = await Wire.connect(server.ports["submissions"], ssl_context=context, server_hostname="localhost")
    assert greeting[0] == 220
    await wire.close()


# --- Scenarios ----------------------------------------------------------------------------------


async def test_greylisting_refuses_the_first_rcpt_and_accepts_the_retry(local_server_factory) -> None:
    server = await local_server_factory(scenario="greylisting")
    wire, _ = await Wire.connect(server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.send("MAIL FROM:<alice@example.org>")
    code, lines = await wire.send("RCPT TO:<bob@example.com>")
    assert code == 451
    assert lines[0].startswith("4.7.1 ")
    assert await wire.send("RCPT TO:<bob@example.com>") == (250, ["2.1.5 OK"])
    # Relaying is still refused outright, not greylisted.
    assert (await wire.send("RCPT TO:<someone@gmail.com>"))[0] == 550
    await wire.close()


async def test_size_limit_scenario_advertises_10000_and_refuses_more_with_552(local_server_factory) -> None:
    server = await local_server_factory(scenario="size-limit")
    wire, _ = await Wire.connect(server.ports["plain"])
    code, lines = await wire.send("EHLO client.example")
    assert "SIZE 10000" in lines
    code, lines = await wire.send("MAIL FROM:<alice@example.org> SIZE=20000")
    assert code == 552
    assert lines[0].startswith("5.3.4 ")
    big = b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n"
    code, lines = await send_message(wire, big * 200)
    assert code == 552
    assert lines[0].startswith("5.3.4 ")
    queued_key(await send_message(wire, b"Subject: small\r\n\r\nok\r\n"))
    await wire.close()
    assert len(server.received) == 1


async def test_set_scenario_switches_behaviour_without_a_restart(local_server: LocalServer) -> None:
    local_server.set_scenario("greylisting")
    assert local_server.scenario == "greylisting"
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.send("MAIL FROM:<alice@example.org>")
    assert (await wire.send("RCPT TO:<bob@example.com>"))[0] == 451
    local_server.set_scenario("normal")
    assert (await wire.send("RCPT TO:<carol@example.com>"))[0] == 250
    await wire.close()


# --- Lifecycle ----------------------------------------------------------------------------------


def test_start_in_thread_and_stop_thread_leave_no_thread_running(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    server = LocalServer(maildir=tmp_path / "maildir")
    server.start_in_thread()
    with smtplib.SMTP(HOST, server.ports["plain"], timeout=5) as client:
        client.sendmail("alice@example.org", ["bob@example.com"], MESSAGE)
    # A client still connected when the server stops must not keep it alive.
    lingering = socket.create_connection((HOST, server.ports["submission"]))
    server.stop_thread()
    lingering.close()
    assert set(threading.enumerate()) == before
    assert not server.is_running
    with pytest.raises(OSError):
        socket.create_connection((HOST, server.ports["plain"]), timeout=1)


def test_start_in_thread_reports_a_port_already_in_use(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalServer(maildir=tmp_path / "maildir", submission_port=port)
        with pytest.raises(OSError):
            server.start_in_thread()
    assert set(threading.enumerate()) == before
    assert not server.is_running


async def test_stop_hangs_up_on_a_client_still_connected(local_server_factory) -> None:
    server = await local_server_factory()
    wire, _ = await Wire.connect(server.ports["plain"])
    await wire.send("EHLO client.example")
    await asyncio.wait_for(server.stop(), 5)
    assert await wire.reader.read() == b""
    await wire.close()
    await server.stop()  # a second stop is harmless


async def test_async_with_starts_and_stops_the_server(tmp_path: Path) -> None:
    async with LocalServer(maildir=tmp_path / "maildir", state_dir=tmp_path / "state") as server:
        assert server.is_running
        wire, greeting = await Wire.connect(server.ports["plain"])
        assert greeting[0] == 220
        await wire.close()
    assert not server.is_running


async def test_serve_forever_runs_until_cancelled_then_stops(tmp_path: Path) -> None:
    server = LocalServer(maildir=tmp_path / "maildir", state_dir=tmp_path / "state")
    serving = asyncio.create_task(serve_forever(server))
    while not server.is_running:
        await asyncio.sleep(0.01)
    wire, greeting = await Wire.connect(server.ports["plain"])
    assert greeting[0] == 220
    await wire.close()
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert not server.is_running


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
