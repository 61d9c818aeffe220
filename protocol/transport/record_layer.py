"""The bytes of a step below SMTP: each socket read and write recorded as it goes (the raw events a
.pcapng export frames), and, once TLS is on, the plaintext taken through the connection's ``MemoryTls``
record by record, so that the wire log can say which TLS records carried each line.

``RecordLayer`` is a part of ``engine.StepEngine`` (its base class): it works on the engine's record, its
TLS object and its record reader, and yields the engine's I/O requests. It does no I/O of its own.
"""

from __future__ import annotations

from smtpstep.protocol.transport.io_requests import Read, Steps, Write
from smtpstep.protocol.transport.memory_tls import MemoryTls
from smtpstep.protocol.transport.tls_records import TlsConversation, TlsRecord, summarize
from smtpstep.protocol.transport.wire import Direction, RawEvent, RawKind, WireChunk, WireRecord

__all__ = ["RecordLayer"]


class RecordLayer:
    """Raw bytes in and out, recorded; plaintext through TLS, record by record."""

    record: WireRecord
    steps: int
    _tls: MemoryTls | None
    _conv: TlsConversation | None
    _plain: bytes
    _server_pos: int

    def _now(self) -> float:
        raise NotImplementedError

    def _tls_on(self) -> bool:
        raise NotImplementedError

    def _raw(self, kind: str, direction: str = "", data: bytes = b"", secrets: tuple[tuple[int, int], ...] = ()) -> None:
        self.record.raw.append(RawEvent(kind, self._now(), direction, data, self.steps, secrets))

    def _closed(self) -> None:
        """The drivers call this when they close an open connection (the export's FIN)."""
        self._raw(RawKind.CLOSE)

    def _write_raw(self, data: bytes, timeout: float, secrets: tuple[tuple[int, int], ...] = ()) -> Steps:
        """Write socket bytes, recorded as they go (a reset on the way is recorded too)."""
        self._raw(RawKind.DATA, Direction.CLIENT, data, secrets)
        try:
            yield Write(data, timeout)
        except ConnectionResetError:
            self._raw(RawKind.RESET, Direction.SERVER)
            raise

    def _read_raw(self, deadline: float, since: float) -> Steps:
        """Socket bytes (b"" at the end of the stream), recorded."""
        try:
            data = yield Read(deadline, since)
        except ConnectionResetError:
            self._raw(RawKind.RESET, Direction.SERVER)
            raise
        self._raw(RawKind.DATA, Direction.SERVER, data) if data else self._raw(RawKind.EOF, Direction.SERVER)
        return data

    def _encrypt(self, data: bytes) -> tuple[list[bytes], str]:
        """What to write for ``data``: itself before TLS; after, its records in 256 KiB slices of plaintext
        (never the ciphertext of a 25 MB message in one piece), with the record layer in words."""
        if self._tls is None or self._conv is None:
            return [data], ""
        pieces = [cipher for _, cipher in self._tls.encrypt_slices(data)]
        records: list[TlsRecord] = []
        for piece in pieces:
            records += self._conv.feed(Direction.CLIENT, piece)
        return pieces, "went out as " + summarize(records)

    def _receive(self, deadline: float, since: float) -> Steps:
        """The next plaintext from the server and how it came (b"" at the end of the stream).

        Under TLS, raw bytes are fed to the TLS object record by record; a read that holds no
        application data (a TLS 1.3 ticket) is noted and the wait goes on under the same deadline.
        """
        if self._plain:
            data, self._plain = self._plain, b""
            return data, "came in with the handshake's last records"
        while True:
            raw = yield from self._read_raw(deadline, since)
            if self._tls is None:
                return raw, ""
            if not raw:
                return b"", ""  # the end of the stream without close_notify: "closed", as for plaintext
            plain, layer = self._absorb(self._split(raw))
            if plain or self._tls.eof:
                return plain, layer

    def _split(self, data: bytes) -> list[tuple[TlsRecord | None, bytes]]:
        """``data`` cut at record ends: (the record a piece completes, the piece); a partial record last."""
        assert self._conv is not None
        start = self._server_pos
        self._server_pos += len(data)
        records = self._conv.feed(Direction.SERVER, data)
        pieces: list[tuple[TlsRecord | None, bytes]] = []
        prev = 0
        for record in records:
            cut = len(data) if record.not_tls else record.offset + record.wire_length - start
            pieces.append((record, data[prev:cut]))
            prev = cut
        if prev < len(data):
            pieces.append((None, data[prev:]))
        return pieces

    def _absorb(self, pieces: list[tuple[TlsRecord | None, bytes]]) -> tuple[bytes, str]:
        """Feed records one at a time and decrypt after each, so that the records that carried application data
        are known exactly. Records without any (a TLS 1.3 NewSessionTicket, the server's close_notify) are in
        the raw bytes and a capture, not in the wire log: when they arrive against the next command is a
        matter of timing, and the log must read the same every time. Raises ``ssl.SSLError`` for a record
        that does not decrypt."""
        assert self._tls is not None
        plain_parts: list[bytes] = []
        carried: list[TlsRecord] = []
        for record, piece in pieces:
            self._tls.feed(piece)
            plain = self._tls.decrypt()
            if record is None:
                continue
            if plain:
                plain_parts.append(plain)
                carried.append(record)
        return b"".join(plain_parts), ("came in as " + summarize(carried)) if carried else ""

    def _tls_note(self, text: str) -> None:
        self.record.append(WireChunk(Direction.TLS, b"", False, self._now(), self.steps, note=text))

    def _server_chunk(self, data: bytes, layer: str) -> None:
        self.record.append(WireChunk(Direction.SERVER, data, self._tls_on(), self._now(), self.steps, layer=layer))
