"""Certificates and TLS facts as plain values, parsed with ``cryptography``.

Holds ``CertInfo`` and ``TlsInfo`` (what the TLS status pane and transcripts show), the parser for
the TLS Certificate handshake message (so that the chain can be shown even when verification fails),
and plain words for OpenSSL's verification errors. ``cryptography`` is imported only when a
certificate is parsed: it costs start-up time. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CertInfo:
    """One certificate of the peer's chain."""

    subject: str
    issuer: str
    san: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    key_type: str
    serial: str

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


@dataclass(frozen=True)
class TlsInfo:
    """What one TLS handshake established (or why it failed)."""

    mode: str
    """"starttls" (RFC 3207) or "tls" (implicit, RFC 8314)."""
    sni: str | None
    version: str | None = None
    cipher: str | None = None
    cipher_bits: int | None = None
    chain: tuple[CertInfo, ...] = ()
    verified: bool = False
    verification: str = ""
    """In plain words: trusted by which CA, or why not."""
    verify_code: int | None = None
    insecure: bool = False
    """True when the user chose to go on without verification (--insecure)."""
    handshake: tuple[str, ...] = field(default=())
    """Handshake messages in order, e.g. "→ ClientHello", "← ServerHello"."""


VERIFY_WORDS = {
    2: "the certificate of the issuer could not be found",
    9: "the certificate is not valid yet",
    10: "the certificate has expired",
    18: "the certificate is self-signed and not trusted",
    19: "the chain ends in a self-signed certificate that is not trusted",
    20: "it was issued by a certificate authority this client does not trust (unable to get the local issuer "
        "certificate)",
    21: "the server sent an incomplete chain (unable to verify the first certificate)",
    62: "the certificate is for another host name",
    64: "the certificate is for another IP address",
}
"""OpenSSL X509_V_ERR codes, in plain words (see `openssl verify` documentation)."""


def verify_words(code: int | None, message: str) -> str:
    """A plain sentence for a failed verification, with OpenSSL's own code and message."""
    words = VERIFY_WORDS.get(code or -1, message)
    return f"{words} (OpenSSL error {code}: {message})" if code is not None else words


def _name(name) -> str:  # type: ignore[no-untyped-def]
    try:
        return name.rfc4514_string()
    except Exception:  # noqa: BLE001 - odd names must not break the display
        return str(name)


def cert_info(der: bytes) -> CertInfo:
    """Parse one DER certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = tuple(str(v) for v in ext.get_values_for_type(x509.DNSName)) + tuple(
            str(v) for v in ext.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        san = ()
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type = f"EC {key.curve.name}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type = "Ed25519"
    else:
        key_type = type(key).__name__
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        san=san,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        key_type=key_type,
        serial=f"{cert.serial_number:X}",
    )


def chain_from_certificate_message(message: bytes, tls13: bool) -> list[bytes]:
    """DER certificates from a TLS Certificate handshake message (RFC 8446 §4.4.2, RFC 5246 §7.4.2).

    ``message`` includes the 4-byte handshake header. Malformed input gives what could be read.
    """
    certs: list[bytes] = []
    pos = 4
    try:
        if tls13:
            pos += 1 + message[pos]
        total = int.from_bytes(message[pos : pos + 3], "big")
        pos += 3
        end = min(len(message), pos + total)
        while pos + 3 <= end:
            length = int.from_bytes(message[pos : pos + 3], "big")
            pos += 3
            certs.append(message[pos : pos + length])
            pos += length
            if tls13:
                pos += 2 + int.from_bytes(message[pos : pos + 2], "big")
    except IndexError:
        pass
    return certs


def describe_chain(chain: tuple[CertInfo, ...]) -> str:
    """Which CA the chain ends in, for the "trusted by" line."""
    if not chain:
        return "no certificate"
    top = chain[-1]
    return top.issuer
