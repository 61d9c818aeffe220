"""The record-layer reader against real OpenSSL conversations (two SSLObjects on memory BIOs), cut anywhere.

No sockets: a client and a server ``SSLObject`` talk through memory BIOs and the bytes between them are
what a wire would carry. The reader must give the same records whatever the cuts, read what TLS 1.2 leaves
plaintext, and say no more than it can of TLS 1.3 (RFC 8446 §5.2: the real type is inside the encryption).
"""

from __future__ import annotations

import random
import ssl

import pytest
import trustme

from smtpstep.protocol.transport.certificates import chain_from_certificate_message
from smtpstep.protocol.transport.memory_tls import MemoryTls
from smtpstep.protocol.transport.tls_records import TlsConversation, summarize

V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
CA = trustme.CA()
CERT = CA.issue_cert("localhost")


def conversation(version: ssl.TLSVersion, *, trusted: bool = True, curve: str | None = None):  # type: ignore[no-untyped-def]
    """A handshake, one EHLO and its reply, and the client's close_notify: [(direction, bytes)], client, error."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    CERT.configure_cert(server_ctx)
    if curve:
        server_ctx.set_ecdh_curve(curve)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    (CA if trusted else trustme.CA()).configure_trust(client_ctx)
    client_ctx.maximum_version = version
    ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(ci, co, server_hostname="localhost")
    server = server_ctx.wrap_bio(si, so, server_side=True)
    wire: list[tuple[str, bytes]] = []

    def pump() -> None:
        for source, sink, name in ((co, si, "client"), (so, ci, "server")):
            if source.pending:
                data = source.read()
                wire.append((name, data))
                sink.write(data)

    done = [False, False]
    for _ in range(10):
        for index, side in enumerate((client, server)):
            if not done[index]:
                try:
                    side.do_handshake()
                    done[index] = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as error:
                    pump()
                    return wire, client, error
            pump()
    client.write(b"EHLO client.test\r\n")
    pump()
    assert server.read(1000) == b"EHLO client.test\r\n"
    server.write(b"250 ok\r\n")
    pump()
    with pytest.raises(ssl.SSLWantReadError):
        while True:
            client.read(1000)
    with pytest.raises(ssl.SSLWantReadError):
        client.unwrap()
    pump()
    return wire, client, None


def read(wire, cut=None):  # type: ignore[no-untyped-def]
    conv, records = TlsConversation(), []
    for direction, data in wire:
        for piece in ([data] if cut is None else cut(data)):
            records += conv.feed(direction, piece)
    return conv, records


def random_cuts(seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)

    def cut(data: bytes) -> list[bytes]:
        points = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6)))) if len(data) > 1 else []
        return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    return cut


@pytest.mark.parametrize("version", [V12, V13])
def test_any_cut_of_the_bytes_gives_the_same_records_and_they_tile_each_direction(version) -> None:  # type: ignore[no-untyped-def]
    wire, _, _ = conversation(version)
    _, whole = read(wire)
    assert read(wire, lambda data: [data[i:i + 1] for i in range(len(data))])[1] == whole
    for seed in range(5):
        assert read(wire, random_cuts(seed))[1] == whole
    for direction in ("client", "server"):
        ours = [r for r in whole if r.direction == direction]
        assert [r.offset for r in ours] == [sum(x.wire_length for x in ours[:i]) for i in range(len(ours))]
        assert sum(r.wire_length for r in ours) == sum(len(d) for who, d in wire if who == direction)


def test_tls_1_2_shows_its_handshake_and_the_chain_can_be_read_from_the_wire() -> None:
    wire, client, _ = conversation(V12)
    conv, records = read(wire)
    assert conv.version == 0x0303 and conv.client_random is not None and len(conv.client_random) == 32
    names = [m.name for r in records for m in r.handshake]
    assert names[:6] == ["ClientHello", "ServerHello", "Certificate", "ServerKeyExchange", "ServerHelloDone",
                         "ClientKeyExchange"]
    finished = [r for r in records if r.content_type == 22 and r.encrypted]
    assert [r.direction for r in finished] == ["client", "server"]
    assert all(r.meaning == "encrypted handshake message (Finished)" for r in finished)
    der = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in client._sslobj.get_unverified_chain()]  # type: ignore[attr-defined]
    assert conv.certificate_message is not None
    assert chain_from_certificate_message(conv.certificate_message, False) == der


def test_tls_1_3_says_only_what_the_order_of_the_records_implies() -> None:
    wire, _, _ = conversation(V13)
    conv, records = read(wire)
    assert conv.version == 0x0304 and conv.certificate_message is None
    assert [m.name for r in records for m in r.handshake] == ["ClientHello", "ServerHello"]
    assert all("compatibility" in r.meaning for r in records if r.content_type == 20)
    server = [r for r in records if r.direction == "server" and r.content_type == 23]
    client = [r for r in records if r.direction == "client" and r.content_type == 23]
    assert server[0].meaning.startswith("encrypted handshake: EncryptedExtensions, Certificate")
    assert client[0].meaning == "encrypted handshake: the client's Finished"
    assert client[1].meaning.startswith("encrypted: application data or a post-handshake message")
    assert client[1].describe() == f"application_data record, {client[1].wire_length} bytes: {client[1].meaning}"
    assert summarize(client[1:2]) == f"one application_data record of {client[1].wire_length} bytes"


def test_a_hello_retry_request_keeps_the_second_client_hello_readable() -> None:
    wire, _, _ = conversation(V13, curve="secp384r1")
    conv, records = read(wire)
    assert conv.hello_retry and conv.version == 0x0304
    assert [m.name for r in records for m in r.handshake] == ["ClientHello", "ServerHello", "ClientHello", "ServerHello"]


@pytest.mark.parametrize("version", [V12, V13])
def test_a_refused_certificate_shows_the_clients_plaintext_alert(version) -> None:  # type: ignore[no-untyped-def]
    wire, _, error = conversation(version, trusted=False)
    assert isinstance(error, ssl.SSLCertVerificationError) and error.verify_code == 20
    last = [r for r in read(wire)[1] if r.direction == "client"][-1]
    assert last.alert == (2, 48) and last.describe() == "alert record, 7 bytes: fatal, unknown_ca"
    assert last.describe(sized=False) == "alert record: fatal, unknown_ca"


def test_plain_text_where_tls_was_expected_is_named_once() -> None:
    conv = TlsConversation()
    (record,) = conv.feed("server", b"220 mail.example.test ESMTP\r\n")
    assert record.describe() == "not a TLS record: the bytes read as plain text ('220 mail.example.test ESMTP..')"
    assert conv.feed("server", b"250 more\r\n") == [] and conv.not_tls


def test_a_certificate_message_spanning_records_is_reassembled() -> None:
    cert_a, cert_b = b"\x30" + b"a" * 19_999, b"\x30" + b"b" * 19_990
    chain = b"".join(len(c).to_bytes(3, "big") + c for c in (cert_a, cert_b))
    body = len(chain).to_bytes(3, "big") + chain
    message = b"\x0b" + len(body).to_bytes(3, "big") + body
    stream = b"".join(b"\x16\x03\x03" + len(message[s:s + 16384]).to_bytes(2, "big") + message[s:s + 16384]
                      for s in range(0, len(message), 16384))
    conv = TlsConversation()
    records = conv.feed("server", stream)
    assert [r.continued for r in records] == [False, True, True]
    assert records[0].describe() == "handshake record, 16389 bytes: Certificate (continues)"
    assert records[1].describe() == "handshake record, 16389 bytes: (rest of the previous message)"
    assert conv.certificate_message is not None
    assert chain_from_certificate_message(conv.certificate_message, False) == [cert_a, cert_b]


def test_the_memory_tls_client_refuses_to_run_without_a_name_to_check() -> None:
    # wrap_socket refuses this itself; wrap_bio would run the handshake and check no host name at all.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        MemoryTls(context, None)
    assert MemoryTls(context, "localhost").take_output() == b""  # nothing is sent before the handshake
