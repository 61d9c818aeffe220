"""A small TLS record-layer reader: what can honestly be said about the bytes of a TLS connection.

Pure: no ssl, no sockets, no time. Feed each direction's raw bytes as they cross the wire (a chunk
may end anywhere, even inside a record header); get ``TlsRecord`` values back for the records that
chunk completed. Both directions share one ``TlsConversation``, because what a client record means
depends on what the server said before it (the ServerHello picks the version).

What can be read, and what cannot:

- Every record header is plaintext: content type, legacy version, length (RFC 8446 §5.1, RFC 5246 §6.2).
- Handshake records before encryption are plaintext: ClientHello, ServerHello (and in TLS 1.2 the
  Certificate, ServerKeyExchange, ServerHelloDone, ClientKeyExchange, NewSessionTicket). Handshake
  messages may share a record or span several; they are reassembled here.
- TLS 1.2: each side's ChangeCipherSpec switches that side to encryption; its Finished is the one
  encrypted handshake record that follows ("Encrypted Handshake Message", as Wireshark says).
- TLS 1.3 (the ServerHello's supported_versions says 0x0304): everything after the ServerHello is
  an opaque record of type 23 (application_data), the handshake too: its real type is inside the
  encryption (RFC 8446 §5.2). The server's Certificate is therefore encrypted: the chain must come
  from the TLS library (``SSLObject.get_unverified_chain``), not from the wire. What can still be
  said comes from the protocol's order: the server's first encrypted records carry
  EncryptedExtensions ... Finished; the client's first carries its Finished; later ones are
  application data or post-handshake messages (NewSessionTicket, KeyUpdate), which look the same.
  ChangeCipherSpec records in TLS 1.3 are the "middlebox compatibility" dummies (RFC 8446 §D.4).
- An alert of 2 bytes before encryption is plaintext (level, description); later ones are hidden.
- A stream that does not start like a record (a server answering in plaintext, "220 ...") is
  reported once as ``not_tls`` and not parsed further.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data", 24: "heartbeat"}

HANDSHAKE_TYPES = {
    0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 5: "EndOfEarlyData",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
    14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished",
    21: "CertificateURL", 22: "CertificateStatus", 24: "KeyUpdate", 254: "message_hash",
}

ALERT_DESCRIPTIONS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    30: "decompression_failure", 40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter",
    48: "unknown_ca", 49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}

HELLO_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
"""A ServerHello with this random is a HelloRetryRequest (RFC 8446 §4.1.3): the handshake stays plaintext."""

MAX_RECORD = 2**14 + 2048
"""The largest TLSCiphertext fragment allowed (RFC 5246 §6.2.3; TLS 1.3 allows 2^14 + 256)."""

SERVER_FLIGHT_13 = "EncryptedExtensions, Certificate … Finished (types hidden)"
"""What the server's first encrypted records carry, by the protocol's order (RFC 8446 §2): EncryptedExtensions,
Certificate, CertificateVerify, Finished."""


@dataclass(frozen=True, slots=True)
class HandshakeMessage:
    msg_type: int
    length: int
    """The body's length, without the 4-byte header."""
    complete_here: bool
    """False when the message goes on in the next record(s)."""

    @property
    def name(self) -> str:
        return HANDSHAKE_TYPES.get(self.msg_type, f"handshake message {self.msg_type}")


class TlsRecord(NamedTuple):
    """One record as seen on the wire, with what can honestly be said about it.

    A NamedTuple, not a frozen dataclass: a 25 MB message is 1600 records, and a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field) cost 7 µs each, a tuple's well under 1 µs."""

    direction: str
    """"client" or "server": who sent it."""
    content_type: int
    version: int
    """legacy_record_version: 0x0303 on nearly every record, whatever the negotiated version."""
    length: int
    """The fragment's length; the record is ``length + 5`` bytes on the wire."""
    offset: int
    """Where the record starts in this direction's byte stream (counted from the first byte fed)."""
    encrypted: bool
    handshake: tuple[HandshakeMessage, ...] = ()
    """Plaintext handshake messages whose header starts in this record."""
    continued: bool = False
    """The record starts with the rest of a handshake message begun in an earlier record."""
    alert: tuple[int, int] | None = None
    """(level, description) of a plaintext alert."""
    meaning: str = ""
    """What the record carries, as far as it can be known from outside (see ``describe``)."""
    not_tls: bytes = b""
    """Set (to the first bytes) when the stream is not TLS at this point; nothing after it is parsed."""

    @property
    def wire_length(self) -> int:
        return self.length + 5

    @property
    def type_name(self) -> str:
        return CONTENT_TYPES.get(self.content_type, f"content type {self.content_type}")

    def describe(self, sized: bool = True) -> str:
        """One line for the wire log, e.g. "handshake record, 517 bytes: ClientHello" (without the size when
        not ``sized``: a picture that must not change, where a fresh certificate changes the server's)."""
        if self.not_tls:
            text = self.not_tls[:40].decode("latin-1")
            shown = "".join(c if 32 <= ord(c) < 127 else "." for c in text)
            return f"not a TLS record: the bytes read as plain text ({shown!r})"
        size = f", {self.wire_length} bytes" if sized else ""
        if self.handshake or self.continued:
            names = ["(rest of the previous message)"] if self.continued else []
            names += [m.name + ("" if m.complete_here else " (continues)") for m in self.handshake]
            return f"handshake record{size}: {', '.join(names)}"
        if self.alert is not None:
            level = {1: "warning", 2: "fatal"}.get(self.alert[0], f"level {self.alert[0]}")
            desc = ALERT_DESCRIPTIONS.get(self.alert[1], f"alert {self.alert[1]}")
            return f"alert record{size}: {level}, {desc}"
        return f"{self.type_name} record{size}" + (f": {self.meaning}" if self.meaning else "")


class _Direction:
    """One direction's incremental parser state."""

    def __init__(self, conversation: TlsConversation, name: str) -> None:
        self.conversation = conversation
        self.name = name
        self.offset = 0
        """Bytes consumed so far in this direction."""
        self.header = bytearray()
        self.body: bytearray | None = None
        """Collected body of a record we read (plaintext handshake, alert, CCS); None when skipping."""
        self.remaining = 0
        """Body bytes still to come for the current record."""
        self.current: tuple[int, int, int, int] | None = None
        """(content type, version, length, offset) of the record being read."""
        self.encrypted = False
        self.handshake_buffer = bytearray()
        """Handshake bytes not yet forming a whole message (a message may span records)."""
        self.dead = False
        self.app_records = 0
        """Encrypted records of type 23 seen so far in this direction."""

    def feed(self, data: bytes | memoryview) -> Iterator[TlsRecord]:
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end and not self.dead:
            if self.current is None:
                if not self.header and end - pos >= 5:  # the usual case: a whole header in this chunk
                    content_type = view[pos]
                    version = (view[pos + 1] << 8) | view[pos + 2]
                    length = (view[pos + 3] << 8) | view[pos + 4]
                    self.header += view[pos:pos + 5]
                    pos += 5
                else:
                    need = 5 - len(self.header)
                    self.header += view[pos:pos + need]
                    pos += min(need, end - pos)
                    if len(self.header) < 5:
                        break
                    content_type, version, length = self.header[0], int.from_bytes(self.header[1:3], "big"), \
                        int.from_bytes(self.header[3:5], "big")
                if content_type not in CONTENT_TYPES or version >> 8 != 3 or length > MAX_RECORD:
                    self.dead = True
                    start = bytes(self.header) + bytes(view[pos:pos + 60])
                    yield TlsRecord(self.name, content_type, version, length, self.offset, False, not_tls=start)
                    return
                self.current = (content_type, version, length, self.offset)
                self.header.clear()
                self.remaining = length
                keep = not (content_type == 23 or (self.encrypted and content_type != 20))
                self.body = bytearray() if keep else None
            take = min(self.remaining, end - pos)
            if self.body is not None:
                self.body += view[pos:pos + take]
            pos += take
            self.remaining -= take
            if self.remaining == 0:
                record = self._finish()
                self.offset += record.wire_length
                yield record
        # self.offset counts whole records; bytes of a partial record are in header/body meanwhile

    def _finish(self) -> TlsRecord:
        content_type, version, length, offset = self.current  # type: ignore[misc]
        body, self.current, self.body = self.body, None, None
        conv = self.conversation
        if content_type == 20:
            tls13 = conv.version == 0x0304 or conv.hello_retry
            if not tls13:
                self.encrypted = True  # TLS 1.2: from the next record on, this side is encrypted
            meaning = ("compatibility record, means nothing in TLS 1.3 (RFC 8446 §D.4)" if tls13
                       else "from the next record on, this side encrypts")
            return TlsRecord(self.name, 20, version, length, offset, False, meaning=meaning)
        if body is None:  # encrypted
            return TlsRecord(self.name, content_type, version, length, offset, True,
                             meaning=self._encrypted_meaning(content_type))
        if content_type == 21:
            if length == 2:
                return TlsRecord(self.name, 21, version, length, offset, False, alert=(body[0], body[1]))
            return TlsRecord(self.name, 21, version, length, offset, True, meaning="encrypted alert")
        if content_type == 22:
            messages, continued = self._handshake(bytes(body))
            return TlsRecord(self.name, 22, version, length, offset, False, handshake=messages, continued=continued)
        return TlsRecord(self.name, content_type, version, length, offset, False)

    def _encrypted_meaning(self, content_type: int) -> str:
        conv = self.conversation
        if conv.version == 0x0304 and content_type == 23:
            self.app_records += 1
            other = conv.server if self.name == "client" else conv.client
            if self.name == "server" and other.app_records == 0:
                if self.app_records > 1:
                    return "encrypted handshake, continued"
                return f"encrypted handshake: {SERVER_FLIGHT_13}"
            if self.name == "client" and self.app_records == 1:
                return "encrypted handshake: the client's Finished"
            return "encrypted: application data or a post-handshake message (TLS 1.3 hides which)"
        if content_type == 22:
            return "encrypted handshake message (Finished)"
        if content_type == 21:
            return "encrypted alert"
        return "encrypted application data"

    def _handshake(self, body: bytes) -> tuple[tuple[HandshakeMessage, ...], bool]:
        buffer = self.handshake_buffer
        continued = len(buffer) > 0  # this record starts with the rest of an earlier message
        start_len = len(buffer)
        buffer += body
        messages = []
        pos = 0
        while len(buffer) - pos >= 4:
            msg_type = buffer[pos]
            length = int.from_bytes(buffer[pos + 1:pos + 4], "big")
            whole = len(buffer) - pos >= 4 + length
            if pos >= start_len:  # its header starts in this record
                messages.append(HandshakeMessage(msg_type, length, whole))
            if not whole:
                break
            self.conversation._message(self.name, msg_type, bytes(buffer[pos:pos + 4 + length]))
            pos += 4 + length
        del buffer[:pos]
        return tuple(messages), continued


class TlsConversation:
    """The record layer of one TLS connection, both directions.

    ``feed(direction, data)`` returns the records completed by ``data``. Facts read on the way:
    ``version`` (from the ServerHello), ``client_random`` (to pick this connection's lines out of an
    NSS key log), ``cipher_suite``, ``certificate_message`` (TLS 1.2 only: in TLS 1.3 it is encrypted).
    """

    def __init__(self) -> None:
        self.client = _Direction(self, "client")
        self.server = _Direction(self, "server")
        self.version: int | None = None
        self.client_random: bytes | None = None
        self.server_random: bytes | None = None
        self.cipher_suite: int | None = None
        self.hello_retry = False
        self.certificate_message: bytes | None = None
        """The server's whole Certificate handshake message (with its 4-byte header), when plaintext."""

    def feed(self, direction: str, data: bytes | memoryview) -> list[TlsRecord]:
        side = self.client if direction == "client" else self.server
        return list(side.feed(data))

    @property
    def not_tls(self) -> bool:
        return self.client.dead or self.server.dead

    def _message(self, direction: str, msg_type: int, message: bytes) -> None:
        if direction == "client" and msg_type == 1 and len(message) >= 38 and self.client_random is None:
            self.client_random = message[6:38]
        elif direction == "server" and msg_type == 2:
            self._server_hello(message)
        elif direction == "server" and msg_type == 11 and self.version != 0x0304:
            self.certificate_message = message

    def _server_hello(self, message: bytes) -> None:
        body = message[4:]
        try:
            legacy = int.from_bytes(body[0:2], "big")
            random = body[2:34]
            pos = 34
            pos += 1 + body[pos]  # legacy_session_id_echo
            suite = int.from_bytes(body[pos:pos + 2], "big")
            pos += 3  # cipher suite, compression method
            version = legacy
            if pos + 2 <= len(body):
                ext_end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
                pos += 2
                while pos + 4 <= ext_end:
                    ext_type = int.from_bytes(body[pos:pos + 2], "big")
                    ext_len = int.from_bytes(body[pos + 2:pos + 4], "big")
                    if ext_type == 43 and ext_len == 2:  # supported_versions
                        version = int.from_bytes(body[pos + 4:pos + 6], "big")
                    pos += 4 + ext_len
        except IndexError:
            return
        if random == HELLO_RETRY_RANDOM:
            self.hello_retry = True  # the next ClientHello and ServerHello are plaintext again
            return
        self.server_random, self.cipher_suite, self.version = random, suite, version
        if version == 0x0304:
            self.server.encrypted = True  # everything after the ServerHello


def summarize(records: list[TlsRecord]) -> str:
    """"one application_data record of 58 bytes" / "3 application_data records, 16 413 bytes in all"."""
    if not records:
        return "no complete record"
    kinds = {r.type_name for r in records}
    total = sum(r.wire_length for r in records)
    kind = kinds.pop() if len(kinds) == 1 else "TLS"
    if len(records) == 1:
        return f"one {kind} record of {total} bytes"
    return f"{len(records)} {kind} records, {total} bytes in all"
