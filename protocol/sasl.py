"""SASL mechanisms for SMTP AUTH: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), as RFC 4954 carries them.

Holds the pure computations: initial responses and answers to 334 challenges. No I/O. Every value
returned here carries a secret and must be redacted by whoever shows it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
"""What smtpstep can speak, best first for a server that offers several over TLS."""


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
    return None


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
    raise SaslError(f"smtpstep does not speak AUTH {mechanism}")
