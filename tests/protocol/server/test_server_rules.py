"""The built-in server behaves as the lessons teach: each rule an RFC sets for the order of commands, tried
on the real server over loopback sockets (real TLS, the server's own CA), one test per rule, named after it.

aiosmtpd 1.4.6 breaks three of them on its own (a second STARTTLS, AUTH inside a transaction, DATA after
BDAT) and has no CHUNKING; ``smtp_session.SmtpSession`` mends that. The client here is
``test_server.Wire``: it sends exactly the bytes a test gives it.
"""

from __future__ import annotations

import base64

from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.server import LocalServer
from tests.protocol.server.test_server import Wire, submission_session, trusting_context

TOKEN = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()


async def plain_session(server: LocalServer) -> Wire:
    """A session on the plain listener after EHLO."""
    wire, _ = await Wire.connect(server.ports["plain"])
    assert (await wire.send("EHLO client.example"))[0] == 250
    return wire


async def envelope(wire: Wire) -> None:
    assert (await wire.send("MAIL FROM:<alice@example.org>"))[0] == 250
    assert (await wire.send("RCPT TO:<bob@example.com>"))[0] == 250


# --- RFC 3207 §4.2: no STARTTLS inside TLS ----------------------------------------------------------------


async def test_a_second_starttls_inside_tls_gets_503_and_the_session_goes_on(local_server: LocalServer) -> None:
    # RFC 3207 §4.2: "A client MUST NOT attempt to start a TLS session if a TLS session is already active."
    wire = await submission_session(local_server)
    code, lines = await wire.send("STARTTLS")
    assert code == 503 and lines == ["5.5.1 TLS is already active"]
    assert (await wire.send("NOOP"))[0] == 250  # still in step, still under the same TLS
    assert wire.writer.get_extra_info("ssl_object") is not None
    await wire.close()


async def test_starttls_on_an_implicit_tls_connection_gets_503(local_server: LocalServer) -> None:
    wire, _ = await Wire.connect(local_server.ports["submissions"], ssl_context=trusting_context(local_server),
                                 server_hostname="localhost")
    code, lines = await wire.send("EHLO client.example")
    assert code == 250 and "STARTTLS" not in lines
    assert (await wire.send("STARTTLS"))[0] == 503
    assert (await wire.send("NOOP"))[0] == 250
    await wire.close()


async def test_ehlo_after_starttls_does_not_offer_starttls_again(local_server: LocalServer) -> None:
    # RFC 3207 §4.2: "A server MUST NOT return the STARTTLS extension in response to an EHLO command
    # received after a TLS handshake has completed."
    wire, _ = await Wire.connect(local_server.ports["plain"])
    assert "STARTTLS" in (await wire.send("EHLO client.example"))[1]
    await wire.starttls(trusting_context(local_server))
    assert "STARTTLS" not in (await wire.send("EHLO client.example"))[1]
    await wire.close()


# --- RFC 4954 §4: one AUTH, never inside a transaction ----------------------------------------------------


async def test_auth_after_a_successful_auth_gets_503(local_server: LocalServer) -> None:
    # RFC 4954 §4: "After a successful AUTH command completes, a server MUST reject any further AUTH
    # commands with a 503 reply."
    wire = await submission_session(local_server, login=True)
    assert (await wire.send(f"AUTH PLAIN {TOKEN}"))[0] == 503
    await wire.close()


async def test_auth_during_a_mail_transaction_gets_503(local_server: LocalServer) -> None:
    # RFC 4954 §4: "An AUTH command issued during a mail transaction MUST be rejected with a 503 reply."
    wire = await submission_session(local_server)
    assert (await wire.send("MAIL FROM:<alice@example.org>"))[0] == 250
    code, lines = await wire.send(f"AUTH PLAIN {TOKEN}")
    assert code == 503 and "mail transaction" in lines[0]
    assert (await wire.send("RSET"))[0] == 250
    assert (await wire.send(f"AUTH PLAIN {TOKEN}"))[0] == 235  # once the transaction is over it may come
    await wire.close()


# --- RFC 5321 §3.3, §4.1.4: the transaction's order ---------------------------------------------------------


async def test_mail_before_ehlo_gets_503(local_server: LocalServer) -> None:
    # RFC 5321 §4.1.1.1: "a client MUST issue HELO or EHLO before starting a mail transaction"; out of order
    # means 503 (§4.1.4).
    wire, _ = await Wire.connect(local_server.ports["plain"])
    assert (await wire.send("MAIL FROM:<alice@example.org>"))[0] == 503
    await wire.close()


async def test_mail_after_starttls_before_the_new_ehlo_gets_503(local_server: LocalServer) -> None:
    # RFC 3207 §4.2: after the handshake "the SMTP protocol is reset to the initial state"; EHLO again first.
    wire, _ = await Wire.connect(local_server.ports["plain"])
    await wire.send("EHLO client.example")
    await wire.starttls(trusting_context(local_server))
    assert (await wire.send("MAIL FROM:<alice@example.org>"))[0] == 503
    await wire.close()


async def test_rcpt_before_mail_gets_503(local_server: LocalServer) -> None:
    # RFC 5321 §3.3: "If a RCPT command appears without a previous MAIL command, the server MUST return a
    # 503 "Bad sequence of commands" response."
    wire = await plain_session(local_server)
    assert (await wire.send("RCPT TO:<bob@example.com>"))[0] == 503
    await wire.close()


async def test_data_before_rcpt_gets_503(local_server: LocalServer) -> None:
    # RFC 5321 §3.3: with no accepted RCPT the server MAY return 503 (or 554) to DATA; this one says 503.
    wire = await plain_session(local_server)
    assert (await wire.send("MAIL FROM:<alice@example.org>"))[0] == 250
    assert (await wire.send("DATA"))[0] == 503
    await wire.close()


# --- RFC 3030 §2: CHUNKING --------------------------------------------------------------------------------


async def test_chunking_is_advertised_where_bdat_is_read(local_server: LocalServer) -> None:
    wire = await plain_session(local_server)
    assert "CHUNKING" in (await wire.send("EHLO client.example"))[1]
    await wire.close()
    wire = await submission_session(local_server)  # after STARTTLS
    assert "CHUNKING" in (await wire.send("EHLO client.example"))[1]
    await wire.close()


async def test_chunking_is_not_advertised_where_starttls_must_come_first(local_server: LocalServer) -> None:
    # aiosmtpd answers 530 before any command method runs there, so a BDAT's chunk would be read as commands.
    wire, _ = await Wire.connect(local_server.ports["submission"])
    assert "CHUNKING" not in (await wire.send("EHLO client.example"))[1]
    await wire.close()


async def test_bdat_chunks_are_stored_exactly_as_sent_with_a_250_to_each(local_server: LocalServer) -> None:
    # RFC 3030 §2: "A 250 response MUST be sent to each successful BDAT data block within a mail
    # transaction"; the octets are taken exactly: no dot-stuffing is undone, no end-of-data line.
    wire = await plain_session(local_server)
    await envelope(wire)
    first, last = b"Subject: chunks\r\n\r\n.a leading dot stays\r\n", b".\r\nand a dot line too\r\n"
    assert (await wire.send(b"BDAT %d\r\n" % len(first) + first))[0] == 250
    code, _ = await wire.send(b"BDAT %d LAST\r\n" % len(last) + last)
    assert code == 250
    assert local_server.received[-1].original_content == first + last
    await wire.close()


async def test_bdat_0_last_ends_a_message(local_server: LocalServer) -> None:
    # RFC 3030 §2: "The last BDAT command MAY have a byte-count of zero".
    wire = await plain_session(local_server)
    await envelope(wire)
    body = b"Subject: zero\r\n\r\nhi\r\n"
    assert (await wire.send(b"BDAT %d\r\n" % len(body) + body))[0] == 250
    assert (await wire.send("BDAT 0 LAST"))[0] == 250
    assert local_server.received[-1].original_content == body
    await wire.close()


async def test_a_refused_bdat_still_consumes_its_chunk(local_server: LocalServer) -> None:
    # RFC 3030 §2: "If a failure occurs after a BDAT command is received, the receiver-SMTP MUST accept and
    # discard the associated message data before sending the appropriate 5XX or 4XX code." Two NOOPs in
    # the chunk must not run as commands: one reply, then the next command's.
    wire = await plain_session(local_server)
    assert (await wire.send(b"BDAT 12 LAST\r\nNOOP\r\nNOOP\r\n"))[0] == 503
    code, lines = await wire.send("HELP")
    assert code == 250 and "BDAT" in lines[0]
    await wire.close()


async def test_data_after_bdat_in_the_same_transaction_gets_503(local_server: LocalServer) -> None:
    # RFC 3030 §2: "If a DATA statement is issued after a BDAT for the current transaction, a 503 "Bad
    # sequence of commands" MUST be issued."
    wire = await plain_session(local_server)
    await envelope(wire)
    assert (await wire.send(b"BDAT 2\r\nhi"))[0] == 250
    assert (await wire.send("DATA"))[0] == 503
    await wire.close()


async def test_after_a_failed_bdat_only_rset_clears_the_transaction(local_server_factory) -> None:
    # RFC 3030 §2: "The resulting state from a failed BDAT command is indeterminate. A RSET command MUST be
    # issued to clear the transaction before additional commands may be sent."
    server = await local_server_factory(size_limit=2000)
    chunk = b"x" * 98 + b"\r\n"
    wire = await plain_session(server)
    await envelope(wire)
    code, _ = await wire.send(b"BDAT %d\r\n" % (len(chunk) * 30) + chunk * 30)
    assert code == 552  # read and thrown away: the session is still in step
    assert (await wire.send(b"BDAT 2 LAST\r\nhi"))[0] == 503
    assert (await wire.send("RSET"))[0] == 250
    await envelope(wire)
    assert (await wire.send(b"BDAT 4 LAST\r\nhi\r\n"))[0] == 250
    await wire.close()


async def test_any_bdat_after_bdat_last_gets_503(local_server: LocalServer) -> None:
    # RFC 3030 §2: "Any BDAT command sent after the BDAT LAST is illegal and MUST be replied to with a 503".
    wire = await plain_session(local_server)
    await envelope(wire)
    assert (await wire.send(b"BDAT 4 LAST\r\nhi\r\n"))[0] == 250
    assert (await wire.send(b"BDAT 4 LAST\r\nhi\r\n"))[0] == 503
    assert (await wire.send("NOOP"))[0] == 250
    await wire.close()


async def test_bdat_without_a_size_gets_501(local_server: LocalServer) -> None:
    wire = await plain_session(local_server)
    await envelope(wire)
    assert (await wire.send("BDAT LAST"))[0] == 501
    await wire.close()
