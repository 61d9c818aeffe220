"""What the built-in server accepts as a login: the demo user's password for AUTH PLAIN and LOGIN (the
``authenticate`` aiosmtpd calls), the user and bearer token in an XOAUTH2 or OAUTHBEARER response, and
the EHLO AUTH line without those token mechanisms outside the scenario that offers them.

Secrets are compared in constant time (``hmac.compare_digest``). Pure checks: no I/O, nothing logged.
"""

from __future__ import annotations

import hmac
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER

__all__ = ["authenticate", "token_credentials", "without_token_mechanisms"]

_TOKEN_MECHANISMS = frozenset({"XOAUTH2", "OAUTHBEARER"})


def without_token_mechanisms(line: str) -> str:
    """An EHLO line, without XOAUTH2 and OAUTHBEARER if it is the AUTH line: outside the modern-login scenario
    the server does not offer them."""
    if not line[4:].upper().startswith("AUTH "):
        return line
    return line[:4] + " ".join(word for word in line[4:].split() if word.upper() not in _TOKEN_MECHANISMS)


def token_credentials(mechanism: str, response: bytes) -> tuple[bytes, bytes]:
    """The user and the bearer token in an XOAUTH2 or OAUTHBEARER client response (b"" for what is missing).
    OAUTHBEARER (RFC 7628 §3.1): ``n,a=<saslname>,`` then pairs ended by 0x01; in the saslname "=2C" and
    "=3D" stand for "," and "=" (RFC 5801 §4). XOAUTH2: ``user=<user>`` and ``auth=Bearer <token>`` pairs."""
    user = b""
    pairs = response.split(b"\x01")
    if mechanism == "OAUTHBEARER":
        header = pairs.pop(0).split(b",")
        authzid = header[1] if len(header) >= 3 else b""
        if authzid.startswith(b"a="):
            user = authzid[2:].replace(b"=2C", b",").replace(b"=3D", b"=")
    token = b""
    for pair in pairs:
        key, _, value = pair.partition(b"=")
        if key == b"user" and mechanism == "XOAUTH2":
            user = value
        elif key == b"auth" and value[:7].lower() == b"bearer ":
            token = value[7:]
    return user, token


def authenticate(
    smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """aiosmtpd authenticator for AUTH PLAIN and LOGIN."""
    if isinstance(auth_data, LoginPassword):
        user_ok = hmac.compare_digest(auth_data.login, DEMO_USER.encode())
        password_ok = hmac.compare_digest(auth_data.password, DEMO_PASSWORD.encode())
        if user_ok & password_ok:
            return AuthResult(success=True, auth_data=DEMO_USER)
    # handled=False makes aiosmtpd send "535 5.7.8"; with True it sends nothing and the client hangs.
    return AuthResult(success=False, handled=False)
