"""SASL mechanisms for SMTP AUTH: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), and the OAuth 2.0 token
mechanisms OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's, non-standard), as RFC 4954 carries them. For the
token mechanisms the "password" is the access token.

Holds the pure computations: initial responses and answers to 334 challenges. No I/O. Every value
returned here carries a secret and must be redacted by whoever shows it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PASSWORD_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
"""Mechanisms that carry a password, best first for a server that offers several over TLS."""
TOKEN_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
"""Mechanisms that carry an OAuth 2.0 access token instead (RFC 6750 bearer tokens): used only when asked for."""
MECHANISMS = PASSWORD_MECHANISMS + TOKEN_MECHANISMS
"""What smtpstep can speak."""


class SaslError(ValueError):
    """A challenge could not be answered; ``str(error)`` says why in plain words."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_challenge(challenge: str) -> bytes:
    """The bytes of a 334 challenge's base64 text (RFC 4954 §4)."""
    try:
        return base64.b64decode(challenge.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise SaslError(f"the server's 334 challenge “{challenge[:40]}” is not valid base64") from error


def initial_response(mechanism: str, username: str, password: str) -> str | None:
    """The base64 initial response sent with AUTH itself, or None when the mechanism waits for a challenge."""
    if mechanism == "PLAIN":
        # RFC 4616 §2: [authzid] NUL authcid NUL passwd
        return b64(b"\0" + username.encode() + b"\0" + password.encode())
    if mechanism == "XOAUTH2":
        # Google's format: "user=" {User} "^Aauth=Bearer " {Access Token} "^A^A", ^A being 0x01.
        return b64(b"user=" + username.encode() + b"\x01auth=Bearer " + password.encode() + b"\x01\x01")
    if mechanism == "OAUTHBEARER":
        # RFC 7628 §3.1: gs2-header "n,a=" saslname "," then key=value pairs, each ended by 0x01, and a final
        # 0x01; in a saslname "," and "=" are written "=2C" and "=3D" (RFC 5801 §4).
        saslname = username.replace("=", "=3D").replace(",", "=2C")
        return b64(b"n,a=" + saslname.encode() + b",\x01auth=Bearer " + password.encode() + b"\x01\x01")
    return None


def carries_secret(mechanism: str, challenge: str) -> bool:
    """Whether the answer to this 334 challenge carries the secret: not the fixed acknowledgement of a token
    mechanism's error challenge (an empty line, or 0x01), which is shown as it is."""
    if mechanism not in TOKEN_MECHANISMS:
        return True
    try:
        return not decode_challenge(challenge)
    except SaslError:
        return True


def respond(mechanism: str, username: str, password: str, challenge: str) -> tuple[str, str]:
    """Answer a 334 challenge: (base64 response, what it carries in safe words)."""
    decoded = decode_challenge(challenge)
    if mechanism == "LOGIN":
        prompt = decoded.decode("utf-8", "replace").strip().lower()
        if prompt.startswith("user"):
            return b64(username.encode()), "the user name, base64"
        if prompt.startswith("pass"):
            return b64(password.encode()), "the password, base64"
        raise SaslError(f"AUTH LOGIN: the server asked “{prompt[:40]}”, neither user name nor password")
    if mechanism == "CRAM-MD5":
        digest = hmac.new(password.encode(), decoded, hashlib.md5).hexdigest()
        return b64(f"{username} {digest}".encode()), "the user name and an HMAC-MD5 of the challenge, base64"
    if mechanism == "PLAIN":
        # A server that ignores the initial response sends an empty challenge (RFC 4954 §4).
        return initial_response("PLAIN", username, password) or "", "the user name and password, base64"
    if mechanism in TOKEN_MECHANISMS:
        if not decoded:  # the empty challenge that asks for the initial response (RFC 4954 §4)
            return initial_response(mechanism, username, password) or "", "the user name and the token, base64"
        if mechanism == "OAUTHBEARER":
            # RFC 7628 §3.2.3: after an error challenge "The client MUST then send either an additional client
            # response consisting of a single %x01 (control A) character ... or a SASL abort message".
            return b64(b"\x01"), "a single 0x01: the client has read the error (RFC 7628 §3.2.3)"
        # XOAUTH2: the client answers the error challenge with an empty line, and the server then fails AUTH.
        return "", "an empty line: the client has read the error"
    raise SaslError(f"smtpstep does not speak AUTH {mechanism}")
