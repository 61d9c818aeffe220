"""AUTH XOAUTH2 and OAUTHBEARER on the built-in server: offered and taken only in the modern-login scenario, the
demo token accepted, a wrong one refused with a JSON error challenge and then 535 5.7.8 (RFC 7628 §3.2.2)."""

from __future__ import annotations

import asyncio
import base64
import json
import smtplib
import ssl

from smtpstep.protocol import sasl
from smtpstep.protocol.server.facts import DEMO_TOKEN, DEMO_USER
from smtpstep.protocol.server.smtp_session import token_credentials


def login(server, mechanism: str, token: str) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    """EHLO, STARTTLS, EHLO, then AUTH with the token: every reply from AUTH on."""
    context = ssl.create_default_context(cafile=str(server.ca_path))
    with smtplib.SMTP("127.0.0.1", server.port_for("starttls"), timeout=10) as client:
        client.starttls(context=context)
        client.ehlo("client.smtpstep.test")
        offered = client.esmtp_features.get("auth", "").split()
        replies = [(0, " ".join(offered).encode())]
        replies.append(client.docmd("AUTH", f"{mechanism} {sasl.initial_response(mechanism, DEMO_USER, token)}"))
        if replies[-1][0] == 334:
            challenge = replies[-1][1].decode()
            replies.append(client.docmd(sasl.respond(mechanism, DEMO_USER, token, challenge)[0]))
        return replies


async def test_the_modern_login_scenario_takes_the_demo_token_with_both_mechanisms(local_server_factory):
    server = await local_server_factory(scenario="modern-login")
    for mechanism in ("OAUTHBEARER", "XOAUTH2"):
        replies = await asyncio.to_thread(login, server, mechanism, DEMO_TOKEN)
        assert {"XOAUTH2", "OAUTHBEARER", "PLAIN"} <= set(replies[0][1].decode().split())
        assert replies[1] == (235, b"2.7.0 Authentication successful")


async def test_a_wrong_token_gets_a_json_error_challenge_then_535(local_server_factory):
    server = await local_server_factory(scenario="modern-login")
    replies = await asyncio.to_thread(login, server, "OAUTHBEARER", "an-expired-token")
    assert replies[1][0] == 334
    assert json.loads(base64.b64decode(replies[1][1])) == {"status": "invalid_token"}
    assert replies[2] == (535, b"5.7.8 Authentication credentials invalid")


async def test_outside_the_scenario_token_mechanisms_are_neither_offered_nor_taken(local_server):
    replies = await asyncio.to_thread(login, local_server, "XOAUTH2", DEMO_TOKEN)
    assert "XOAUTH2" not in replies[0][1].decode().split() and "PLAIN" in replies[0][1].decode().split()
    assert replies[1] == (504, b"5.5.4 Unrecognized authentication type")


def test_token_credentials_reads_user_and_token_from_both_formats():
    xoauth2 = base64.b64decode(sasl.initial_response("XOAUTH2", "student", "tok") or "")
    oauthbearer = base64.b64decode(sasl.initial_response("OAUTHBEARER", "a,b", "tok") or "")
    assert token_credentials("XOAUTH2", xoauth2) == (b"student", b"tok")
    assert token_credentials("OAUTHBEARER", oauthbearer) == (b"a,b", b"tok")
    assert token_credentials("OAUTHBEARER", b"garbage") == (b"", b"")
