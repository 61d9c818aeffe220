"""Certificate facts: the standard-library reading (``cert_info_of``) gives what ``cryptography`` gives.

``smtpstep run`` reads the peer's chain with ``ssl`` and ``hashlib`` to avoid importing
``cryptography``; the TUI and failed handshakes use ``cert_info`` (``cryptography``). Both must say the
same thing about the same certificate. Each case makes a CA and a server certificate with
``cryptography``, runs a real TLS handshake between two ``ssl`` objects over memory BIOs, and compares
both readings of every certificate in the verified chain.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from smtpstep.protocol.transport.certificates import _openssl_time, _quick_info, cert_info, cert_info_of

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(hours=1)
"""Whole seconds: a certificate keeps no more."""


def _key(kind: str):  # type: ignore[no-untyped-def]
    if kind == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def _sign(builder: x509.CertificateBuilder, key) -> x509.Certificate:  # type: ignore[no-untyped-def]
    return builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_chain(key_kind: str, subject: list[x509.NameAttribute], *, serial: int = 0x0ABC_DEF0_1234,
               names: tuple[x509.GeneralName, ...] = (x509.DNSName("localhost"),)):  # type: ignore[no-untyped-def]
    ca_key = _key(key_kind)
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smtpstep tests"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"Test CA {key_kind}")])
    ca = _sign(x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True), ca_key)
    leaf_key = _key(key_kind)
    leaf = _sign(x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(ca_name)
                 .public_key(leaf_key.public_key()).serial_number(serial)
                 .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=90, seconds=17))
                 .add_extension(x509.SubjectAlternativeName(list(names)), critical=False), ca_key)
    key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    return ca, leaf, key_pem


def verified_chain(ca: x509.Certificate, leaf: x509.Certificate, key_pem: bytes, tmp_path, server_name="localhost"):  # type: ignore[no-untyped-def]
    """The client's verified chain after a real TLS handshake over memory BIOs (``_ssl.Certificate``s)."""
    cert_file, key_file = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    cert_file.write_bytes(_pem(leaf))
    key_file.write_bytes(key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(cadata=_pem(ca).decode())
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values()), "the in-memory handshake did not finish"
    return client._sslobj.get_verified_chain()  # type: ignore[attr-defined]


def quick_path_taken(cert) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``cert_info_of`` read this certificate without ``cryptography``."""
    return _quick_info(cert.get_info(), cert.public_bytes(ssl._ssl.ENCODING_DER)) is not None  # type: ignore[attr-defined]


def both_readings(chain) -> list[tuple[object, object]]:  # type: ignore[no-untyped-def]
    return [(cert_info_of(cert), cert_info(cert.public_bytes(ssl._ssl.ENCODING_DER))) for cert in chain]  # type: ignore[attr-defined]


@pytest.mark.parametrize("key_kind", ["rsa-2048", "rsa-3072", "ec-p256", "ec-p384", "ed25519"])
def test_the_stdlib_reading_equals_cryptography_for_every_key_type(key_kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    subject = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mail"),
               x509.NameAttribute(NameOID.COMMON_NAME, "mail.smtpstep.test")]
    chain = verified_chain(*make_chain(key_kind, subject), tmp_path)
    assert len(chain) == 2 and all(quick_path_taken(cert) for cert in chain)
    for quick, full in both_readings(chain):
        assert quick == full
    leaf = cert_info_of(chain[0])
    assert leaf.subject == "CN=mail.smtpstep.test,O=Mail,C=DE"
    assert leaf.key_type.split()[0] == {"rsa": "RSA", "ec": "EC", "ed25519": "Ed25519"}[key_kind.split("-")[0]]
    assert leaf.serial == "ABCDEF01234"
    assert leaf.not_after == NOW + datetime.timedelta(days=90, seconds=17)


@pytest.mark.parametrize("value", ["Smith, Jones + Co", 'say "hi"; <now>', "#hash", " lead", "trail ", "back\\slash",
                                   "Zoë 名前"])
def test_names_that_need_escaping_read_the_same(value: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    subject = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, value),
               x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]
    chain = verified_chain(*make_chain("ec-p256", subject), tmp_path)
    assert quick_path_taken(chain[0])
    for quick, full in both_readings(chain):
        assert quick == full


def test_ip_addresses_and_names_in_the_san_read_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    names = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.DNSName("mail.smtpstep.test"), x509.IPAddress(ipaddress.ip_address("2001:db8::1")))
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]
    chain = verified_chain(*make_chain("rsa-2048", subject, names=names), tmp_path)
    assert quick_path_taken(chain[0])
    quick, full = both_readings(chain)[0]
    assert quick == full
    assert quick.san == ("localhost", "mail.smtpstep.test", "127.0.0.1", "2001:db8::1")


def test_an_attribute_without_a_short_name_falls_back_to_cryptography(tmp_path) -> None:  # type: ignore[no-untyped-def]
    subject = [x509.NameAttribute(NameOID.EMAIL_ADDRESS, "postmaster@smtpstep.test"),
               x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]
    chain = verified_chain(*make_chain("ec-p256", subject), tmp_path)
    assert not quick_path_taken(chain[0])
    quick, full = both_readings(chain)[0]
    assert quick == full
    assert quick.subject.startswith("CN=localhost,1.2.840.113549.1.9.1=")


@pytest.mark.parametrize("text", ["Dec  5 02:33:23 2026 GMT", "Jan 31 23:59:59 1999 GMT", "Feb 29 00:00:00 2028 GMT",
                                  "Jun 10 12:00:00 9999 GMT"])
def test_a_validity_date_reads_as_the_ssl_module_reads_it(text: str) -> None:
    moment = _openssl_time(text)
    assert moment is not None and moment.timestamp() == ssl.cert_time_to_seconds(text)
    assert moment.tzinfo == datetime.timezone.utc


@pytest.mark.parametrize("text", ["Dec 31 23:59:60 2016 GMT", "Dec  5 02:33:23.5 2026 GMT", "Dez  5 02:33:23 2026 GMT",
                                  "Dec  5 02:33:23 2026 UTC", "Feb 30 00:00:00 2026 GMT", "Dec  5 2026 GMT", ""])
def test_a_validity_date_in_another_form_is_left_to_cryptography(text: str) -> None:
    assert _openssl_time(text) is None
