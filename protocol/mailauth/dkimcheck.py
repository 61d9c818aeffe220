"""DKIM (RFC 6376) with dkimpy: loading a key, signing, and verifying at the receiving MX.

- Keys are read and checked with ``cryptography`` (already a dependency of smtpstep), then handed to dkimpy in the forms it wants: RSA as a PKCS#1 PEM
  ("BEGIN RSA PRIVATE KEY"; dkimpy cannot read PKCS#8), Ed25519 (RFC 8463) as the base64 of the
  32-byte seed. dkimpy needs PyNaCl for Ed25519 (the ``dkimpy[ed25519]`` extra).
- The public half goes into the zone as ``<selector>._domainkey.<domain> TXT "v=DKIM1; k=...; p=..."``
  (RFC 6376 §3.6.1; RFC 8463 §4.2 for k=ed25519, whose p= is the raw 32-byte key).
- Verification asks the zone through dkimpy's ``dnsfunc=`` hook. dkimpy itself answers only True or
  False and logs the reason; ``verify()`` here fetches the key first so that it can tell RFC 8601's
  results apart: pass, fail (with the reason), none (no signature), permerror (no key or a key
  that does not parse), temperror (DNS timeout).

No I/O: the key is given as text and DNS goes through the resolver given.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dkim
import dns.resolver
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from smtpstep.protocol.mailauth.zone import txt_strings

SIGNED_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version",
                  "Content-Type", "Reply-To")
"""Fields the submission server signs (RFC 6376 §5.4.1's list, less the trace fields)."""
MIN_RSA_BITS = 1024
"""RFC 8301 §3.2: verifiers must refuse smaller RSA keys (dkimpy's ``minkey``)."""


class DkimKeyError(ValueError):
    """A lesson's DKIM key that is not a usable key; ``str()`` is one sentence naming it."""


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    algorithm: str
    """"rsa-sha256" or "ed25519-sha256" (the a= tag)."""
    private: bytes
    """In dkimpy's form: PKCS#1 PEM for RSA, base64 seed for Ed25519."""
    dns_txt: str
    """The TXT record to publish."""

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


def _spki_b64(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _from_private(private_key, domain: str, selector: str) -> DkimKey:
    if isinstance(private_key, rsa.RSAPrivateKey):
        pem = private_key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
        txt = f"v=DKIM1; k=rsa; p={_spki_b64(private_key.public_key())}"
        return DkimKey(domain, selector, "rsa-sha256", pem, txt)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        seed = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
        raw_pub = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                        serialization.PublicFormat.Raw)
        txt = f"v=DKIM1; k=ed25519; p={base64.b64encode(raw_pub).decode()}"
        return DkimKey(domain, selector, "ed25519-sha256", base64.b64encode(seed), txt)
    raise DkimKeyError(f"the DKIM key for {selector}._domainkey.{domain} is a "
                       f"{type(private_key).__name__}; DKIM signs with RSA or Ed25519 keys")


def load(pem: str | bytes, domain: str, selector: str, *, source: str = "") -> DkimKey:
    """A lesson's private key (PEM, PKCS#1 or PKCS#8, RSA or Ed25519), checked."""
    where = f"{source}: " if source else ""
    name = f"{selector}._domainkey.{domain}"
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        private_key = serialization.load_pem_private_key(data.strip() + b"\n", password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        reason = str(error).split("\n")[0].split(". See ")[0].rstrip(".")
        raise DkimKeyError(f"{where}the DKIM private key for {name} is not a key: it should be "
                           f"a PEM block such as “-----BEGIN PRIVATE KEY-----” ({reason})") from None
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < MIN_RSA_BITS:
        raise DkimKeyError(f"{where}the DKIM RSA key for {name} has {private_key.key_size} bits; "
                           f"verifiers refuse keys under {MIN_RSA_BITS} (RFC 8301 §3.2)")
    return _from_private(private_key, domain, selector)


def sign(message: bytes, key: DkimKey, *, headers=SIGNED_HEADERS, canonicalize=("relaxed", "relaxed"),
         length: bool = False) -> bytes:
    """The ``DKIM-Signature: ...\\r\\n`` field to prepend to ``message`` (CRLF line ends)."""
    present = _present_headers(message)
    include = [h for h in headers if h.lower() in present]
    return dkim.DKIM(message, minkey=MIN_RSA_BITS).sign(
        key.selector.encode(), key.domain.encode(), key.private,
        signature_algorithm=key.algorithm.encode(),
        canonicalize=tuple(c.encode() for c in canonicalize),
        include_headers=[h.encode() for h in include],
        length=length,
    )


def _present_headers(message: bytes) -> set[str]:
    head = message.split(b"\r\n\r\n", 1)[0]
    return {line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
            for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")}


@dataclass(frozen=True)
class DkimResult:
    result: str
    """RFC 8601 §2.7.1: pass, fail, neutral, policy, temperror, permerror, none."""
    domain: str = ""
    """d= of the signature."""
    selector: str = ""
    reason: str = ""
    algorithm: str = ""
    header_b: str = ""
    """First 8 characters of b=, for the A-R header.b property (RFC 6008)."""


def verify(message: bytes, resolver: dns.resolver.Resolver, index: int = 0) -> DkimResult:
    """Verify the ``index``-th DKIM-Signature (0 is the topmost)."""
    d = dkim.DKIM(message, minkey=MIN_RSA_BITS)
    try:
        prep = d.verify_headerprep(index)
    except dkim.DKIMException as error:
        return DkimResult("permerror", reason=f"signature does not parse: {error}")
    if not prep:
        return DkimResult("none", reason="no DKIM-Signature field")
    sig = prep[0]
    domain, selector = sig[b"d"].decode(), sig[b"s"].decode()
    header_b = b"".join(sig.get(b"b", b"").split())[:8].decode()
    common = dict(domain=domain, selector=selector, algorithm=sig[b"a"].decode(), header_b=header_b)
    name = f"{selector}._domainkey.{domain}"
    try:
        records = txt_strings(resolver, name)
    except dns.exception.DNSException as error:
        return DkimResult("temperror", reason=f"key lookup failed: {error}", **common)
    if not records:
        return DkimResult("permerror", reason=f"no key for signature at {name}", **common)
    try:
        dkim.evaluate_pk(name.encode(), records[0])
    except dkim.DKIMException as error:
        return DkimResult("permerror", reason=f"key at {name} is unusable: {error}", **common)

    def dnsfunc(_name: bytes, timeout: float = 5) -> bytes:
        return records[0]

    try:
        ok = d.verify(idx=index, dnsfunc=dnsfunc)
    except dkim.ValidationError as error:
        text = str(error)
        reason = "body hash did not verify" if "body hash" in text else text
        return DkimResult("fail", reason=reason, **common)
    except dkim.DKIMException as error:
        return DkimResult("permerror", reason=str(error), **common)
    if ok:
        return DkimResult("pass", **common)
    return DkimResult("fail", reason="signature did not verify", **common)


def verify_all(message: bytes, resolver: dns.resolver.Resolver) -> list[DkimResult]:
    """Every signature's result, topmost first (a forwarded message may carry several)."""
    count = sum(1 for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                if line.lower().startswith(b"dkim-signature:"))
    return [verify(message, resolver, i) for i in range(count)] or [DkimResult("none")]
