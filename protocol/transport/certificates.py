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


def cert_info_of(cert) -> CertInfo:  # type: ignore[no-untyped-def]
    """One certificate as the ``ssl`` module hands it over (``_ssl.Certificate``, from the peer's chain).

    The usual certificate (names of common attributes, an RSA, EC or Ed25519 key) is read with the
    standard library: ``ssl``'s own decoding, ``hashlib`` for the fingerprint and the key's
    algorithm from the SubjectPublicKeyInfo, so that ``smtpstep run`` does not import ``cryptography``
    (20-30 ms of a ~60 ms session, benchmarks/results/headless_session.md). Anything else goes
    to ``cert_info``; tests/protocol/test_certificates.py checks that both give the same values.
    """
    import ssl

    der = cert.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
    try:
        quick = _quick_info(cert.get_info(), der)
    except (ValueError, KeyError, IndexError, TypeError):
        quick = None
    return quick if quick is not None else cert_info(der)


_SHORT_NAMES = {
    "commonName": "CN", "localityName": "L", "stateOrProvinceName": "ST", "organizationName": "O",
    "organizationalUnitName": "OU", "countryName": "C", "streetAddress": "STREET", "domainComponent": "DC",
    "userId": "UID",
}
"""``ssl``'s attribute names → the RFC 4514 short names ``cryptography`` writes (its ``_NAMEOID_TO_NAME``)."""

_KEY_ALGORITHMS = {
    bytes.fromhex("2a864886f70d010101"): "RSA",  # rsaEncryption, 1.2.840.113549.1.1.1
    bytes.fromhex("2a8648ce3d0201"): "EC",  # id-ecPublicKey, 1.2.840.10045.2.1
    bytes.fromhex("2b6570"): "Ed25519",  # 1.3.101.112
}
_CURVES = {
    bytes.fromhex("2a8648ce3d030107"): "secp256r1",
    bytes.fromhex("2b81040022"): "secp384r1",
    bytes.fromhex("2b81040023"): "secp521r1",
}


def _quick_info(info: dict, der: bytes) -> CertInfo | None:  # type: ignore[type-arg]
    subject, issuer = _rfc4514(info["subject"]), _rfc4514(info["issuer"])
    key_type = _key_type(der)
    if subject is None or issuer is None or key_type is None:
        return None
    import hashlib
    import ipaddress

    not_before, not_after = _openssl_time(info["notBefore"]), _openssl_time(info["notAfter"])
    if not_before is None or not_after is None:
        return None
    names = info.get("subjectAltName", ())
    san = tuple(value for kind, value in names if kind == "DNS") + tuple(
        str(ipaddress.ip_address(value.strip())) for kind, value in names if kind == "IP Address")
    digest = hashlib.sha256(der).hexdigest().upper()
    return CertInfo(
        subject=subject,
        issuer=issuer,
        san=san,
        not_before=not_before,
        not_after=not_after,
        fingerprint_sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        key_type=key_type,
        serial=f"{int(info['serialNumber'], 16):X}",
    )


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _openssl_time(text: str) -> datetime | None:
    """A validity date as ``getpeercert`` gives it ("Dec  5 02:33:23 2026 GMT"), or None for another form.

    What ``ssl.cert_time_to_seconds`` reads, without ``time.strptime``: its first call loads ``_strptime``
    and builds its locale tables (~4 ms of every ``smtpstep run`` with TLS).
    """
    from datetime import timezone

    parts = text.split()
    if len(parts) != 5 or parts[0] not in _MONTHS or parts[4] != "GMT" or parts[2].count(":") != 2:
        return None
    try:
        hour, minute, second = (int(part) for part in parts[2].split(":"))
        return datetime(int(parts[3]), _MONTHS.index(parts[0]) + 1, int(parts[1]), hour, minute, second,
                        tzinfo=timezone.utc)
    except ValueError:  # a leap second, or digits out of range: cryptography reads it
        return None


def _rfc4514(name: tuple) -> str | None:  # type: ignore[type-arg]
    """A name as RFC 4514 writes it (last RDN first), or None for what only ``cryptography`` spells right."""
    parts = []
    for rdn in reversed(name):
        if len(rdn) != 1 or rdn[0][0] not in _SHORT_NAMES:
            return None
        key, value = rdn[0]
        parts.append(f"{_SHORT_NAMES[key]}={_escape(value)}")
    return ",".join(parts)


def _escape(value: str) -> str:
    """RFC 4514 §2.4 escaping, as ``cryptography``'s ``_escape_dn_value`` does it."""
    if not value:
        return ""
    for char in '\\"+,;<>':
        value = value.replace(char, "\\" + char)
    value = value.replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def _key_type(der: bytes) -> str | None:
    """"RSA 2048", "EC secp256r1" or "Ed25519" from the certificate's SubjectPublicKeyInfo; None otherwise."""
    _, start, _ = _tlv(der, 0)  # Certificate
    _, pos, end = _tlv(der, start)  # TBSCertificate
    fields = []
    while pos < end and len(fields) < 7:
        tag, body, pos = _tlv(der, pos)
        fields.append((tag, body, pos))
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    _, spki, _ = fields[5]  # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    _, algorithm, key_at = _tlv(der, spki)  # AlgorithmIdentifier
    _, oid_at, params_at = _tlv(der, algorithm)
    kind = _KEY_ALGORITHMS.get(der[oid_at:params_at])
    if kind == "EC":
        tag, curve_at, curve_end = _tlv(der, params_at)
        curve = _CURVES.get(der[curve_at:curve_end]) if tag == 0x06 else None
        return f"EC {curve}" if curve else None
    if kind == "RSA":
        _, bits, _ = _tlv(der, key_at)  # BIT STRING: unused-bits byte, then RSAPublicKey
        _, key, _ = _tlv(der, bits + 1)
        _, modulus, modulus_end = _tlv(der, key)
        return f"RSA {int.from_bytes(der[modulus:modulus_end], 'big').bit_length()}"
    return kind


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """One DER element at ``pos``: its tag, where its content starts, and where it ends."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise IndexError("a DER element runs past the end")
    return tag, pos, pos + length
