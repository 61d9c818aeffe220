"""A session's own bytes as a .pcapng file: one synthetic TCP connection that Wireshark reads as captured.

``write_pcapng`` frames the wire record's raw events (``wire.RawEvent``: the connect, every byte as it
crossed the socket, plaintext and then TLS records, the end of the stream, the close or a reset) as:

- a Section Header Block, one Interface Description Block (LINKTYPE_ETHERNET, locally administered
  MACs 02:00:00:00:00:01 client / :02 server, microsecond timestamps);
- a Decryption Secrets Block (type 0x0000000A, secrets type 0x544c534b "TLSK", NSS key log lines)
  before the first packet, only when key log lines are given (pcapng, draft-ietf-opsawg-pcapng §4.7;
  Wireshark 3.0 and later decrypt with it, no preference to set);
- Enhanced Packet Blocks: the three-way handshake between the session's real addresses and ports,
  each chunk in segments of at most ``mss`` bytes with PSH on its last one, an ACK from the receiver
  every second segment and after each chunk (never more than two segments in flight: no "window
  full"), the close (FIN from whoever closed first) or a RST. Sequence and acknowledgement numbers
  follow the bytes exactly; IPv4 header and TCP checksums are computed (IPv6 has none in its header).
  Each client write's first segment carries a packet comment ("step 7"); direction flags mark client
  packets outbound.

None of python-pcapng, dpkt or scapy writes a Decryption Secrets Block, and the four block types are
a few lines each: they are written here, with no dependency.

Rules: pure framing, no sockets and no TLS; the key log lines are given by the caller (only when the
user asked for keys); a plaintext session's secret spans are masked byte for byte (same length, so the
TCP numbers stay true) unless the caller shows secrets. Nothing here prints or decides what to say.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from collections.abc import Iterable, Mapping
from typing import BinaryIO

from smtpstep.protocol.transport.wire import Direction, RawEvent, RawKind

LINKTYPE_ETHERNET = 1
SECRETS_TLS_KEYLOG = 0x544C534B
BLOCK_SHB, BLOCK_IDB, BLOCK_EPB, BLOCK_DSB = 0x0A0D0D0A, 0x00000001, 0x00000006, 0x0000000A
CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
WINDOW = 65535
ACK_EVERY = 2
"""The receiver ACKs every second full segment, as Linux does (RFC 1122 §4.2.3.2)."""


# -- blocks ----------------------------------------------------------------------------------------


def _pad(n: int) -> int:
    return -n % 4


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * _pad(len(value))


def _options(*pairs: tuple[int, bytes]) -> bytes:
    body = b"".join(_option(c, v) for c, v in pairs if v is not None)
    return body + b"\0\0\0\0" if body else b""


def block(block_type: int, body: bytes) -> bytes:
    """A whole block: type, total length, body (padded to 32 bits), total length again."""
    body = body + b"\0" * _pad(len(body))
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def section_header(application: str) -> bytes:
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _options((4, application.encode()))  # shb_userappl
    return block(BLOCK_SHB, body)


def interface_description(name: str, description: str) -> bytes:
    body = struct.pack("<HHI", LINKTYPE_ETHERNET, 0, 0) + _options(
        (2, name.encode()), (3, description.encode()), (9, b"\x06"))  # if_name, if_description, if_tsresol µs
    return block(BLOCK_IDB, body)


def decryption_secrets(secrets: bytes, secrets_type: int = SECRETS_TLS_KEYLOG) -> bytes:
    """A Decryption Secrets Block (pcapng draft §4.7): secrets type, length, data padded to 32 bits."""
    return block(BLOCK_DSB, struct.pack("<II", secrets_type, len(secrets)) + secrets)


def enhanced_packet_parts(timestamp_us: int, headers: bytes, payload: bytes | memoryview, *,
                          comment: str = "", outbound: bool | None = None) -> list[bytes | memoryview]:
    """An EPB as pieces to write one after the other (the payload is not copied into a new bytes)."""
    length = len(headers) + len(payload)
    options = []
    if comment:
        options.append((1, comment.encode()))  # opt_comment
    if outbound is not None:
        options.append((2, struct.pack("<I", 2 if outbound else 1)))  # epb_flags: direction bits
    opts = _options(*options)
    pad = _pad(length)
    total = 12 + 20 + length + pad + len(opts)
    head = struct.pack("<IIIIIII", BLOCK_EPB, total, 0, timestamp_us >> 32, timestamp_us & 0xFFFFFFFF,
                       length, length)
    return [head + headers, payload, b"\0" * pad + opts + struct.pack("<I", total)]


# -- TCP/IP framing ----------------------------------------------------------------------------------


def _sum16(data: bytes | memoryview) -> int:
    """The 16-bit one's complement sum of ``data`` modulo 0xFFFF (RFC 1071): 2^16 ≡ 1 (mod 0xFFFF),
    so a big-endian integer of the bytes has the same residue as the sum of its 16-bit words.
    One C-level conversion per segment instead of a Python loop over words."""
    value = int.from_bytes(data, "big")
    if len(data) % 2:
        value <<= 8
    return value % 0xFFFF


def _checksum(*sums: int) -> int:
    return 0xFFFF - (sum(sums) % 0xFFFF)


class _Side:
    def __init__(self, ip: str, port: int, mac: bytes, isn: int) -> None:
        self.ip = ipaddress.ip_address(ip)
        self.packed = self.ip.packed
        self.port = port
        self.mac = mac
        self.seq = isn
        self.ip_id = isn & 0xFFFF
        self.fin = False


class PcapngWriter:
    """Writes one TCP connection's packets. Use ``write(events)`` or the methods one by one."""

    def __init__(self, out: BinaryIO, client: tuple[str, int], server: tuple[str, int], *, start_wall: float,
                 keylog: bytes | None = None, mss: int | None = None, application: str = "smtpstep") -> None:
        self.out = out
        self.start_us = int(start_wall * 1_000_000)
        self.last_us = 0
        seed = hashlib.sha256(f"{client}{server}{start_wall}".encode()).digest()
        self.client = _Side(client[0], client[1], CLIENT_MAC, int.from_bytes(seed[:4], "big"))
        self.server = _Side(server[0], server[1], SERVER_MAC, int.from_bytes(seed[4:8], "big"))
        if self.client.ip.version != self.server.ip.version:
            raise ValueError("client and server addresses must be of one family")
        self.v6 = self.client.ip.version == 6
        self.mss = mss or (1440 if self.v6 else 1460)
        self.packets = 0
        out.write(section_header(application))
        out.write(interface_description(
            "smtpstep", "synthetic Ethernet/IP/TCP framing of the bytes smtpstep sent and received"))
        if keylog:
            out.write(decryption_secrets(keylog))

    # -- events --

    def connect(self, started: float, done: float) -> None:
        c, s = self.client, self.server
        mss_option = struct.pack("!BBH", 2, 4, self.mss)
        self._packet(c, s, SYN, b"", started, options=mss_option, ack=False)
        c.seq += 1
        self._packet(s, c, SYN | ACK, b"", done, options=mss_option)
        s.seq += 1
        self._packet(c, s, ACK, b"", done)

    def data(self, direction: str, data: bytes | memoryview, time: float, comment: str = "") -> None:
        sender, receiver = (self.client, self.server) if direction == "client" else (self.server, self.client)
        view = memoryview(data)
        size = len(view)
        for n, start in enumerate(range(0, size, self.mss), 1):
            piece = view[start:start + self.mss]
            last = start + self.mss >= size
            self._packet(sender, receiver, ACK | (PSH if last else 0), piece, time,
                         comment=comment if n == 1 else "")
            sender.seq = (sender.seq + len(piece)) & 0xFFFFFFFF
            if last or n % ACK_EVERY == 0:
                self._packet(receiver, sender, ACK, b"", time)

    def eof(self, direction: str, time: float) -> None:
        closer, other = (self.client, self.server) if direction == "client" else (self.server, self.client)
        if closer.fin:
            return
        self._fin(closer, other, time)

    def close(self, time: float) -> None:
        c, s = self.client, self.server
        if not c.fin:
            self._fin(c, s, time)
        if not s.fin:
            self._fin(s, c, time)

    def reset(self, direction: str, time: float) -> None:
        sender, receiver = (self.client, self.server) if direction == "client" else (self.server, self.client)
        self._packet(sender, receiver, RST | ACK, b"", time)
        sender.fin = receiver.fin = True

    def _fin(self, closer: _Side, other: _Side, time: float) -> None:
        self._packet(closer, other, FIN | ACK, b"", time)
        closer.seq = (closer.seq + 1) & 0xFFFFFFFF
        closer.fin = True
        self._packet(other, closer, ACK, b"", time)

    # -- packets --

    def _packet(self, src: _Side, dst: _Side, flags: int, payload: bytes | memoryview, time: float, *,
                options: bytes = b"", ack: bool = True, comment: str = "") -> None:
        offset_words = 5 + len(options) // 4
        tcp = struct.pack("!HHIIBBHHH", src.port, dst.port, src.seq, dst.seq if ack else 0, offset_words << 4,
                          flags, WINDOW, 0, 0) + options
        tcp_length = len(tcp) + len(payload)
        if self.v6:
            pseudo = src.packed + dst.packed + struct.pack("!IxxxB", tcp_length, 6)
        else:
            pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, tcp_length)
        checksum = _checksum(_sum16(pseudo), _sum16(tcp), _sum16(payload))
        tcp = tcp[:16] + struct.pack("!H", checksum) + tcp[18:]
        if self.v6:
            ip = struct.pack("!IHBB", 6 << 28, tcp_length, 6, 64) + src.packed + dst.packed
            ethertype = 0x86DD
        else:
            header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + tcp_length, src.ip_id, 0x4000, 64, 6, 0) \
                + src.packed + dst.packed
            src.ip_id = (src.ip_id + 1) & 0xFFFF
            ip = header[:10] + struct.pack("!H", _checksum(_sum16(header))) + header[12:]
            ethertype = 0x0800
        ethernet = dst.mac + src.mac + struct.pack("!H", ethertype)
        stamp = max(self.start_us + int(time * 1_000_000), self.last_us)
        self.last_us = stamp
        for part in enhanced_packet_parts(stamp, ethernet + ip + tcp, payload, comment=comment,
                                          outbound=src is self.client):
            self.out.write(part)
        self.packets += 1


def _masked(event: RawEvent, show_secrets: bool) -> bytes:
    """The event's bytes with its secret spans masked by as many ``*`` (TCP numbers stay true)."""
    if show_secrets or not event.secrets:
        return event.data
    data = bytearray(event.data)
    for start, end in event.secrets:
        data[start:end] = b"*" * (end - start)
    return bytes(data)


def write_pcapng(out: BinaryIO, events: Iterable[RawEvent], *, started: float, keylog: bytes | None = None,
                 show_secrets: bool = False, mss: int | None = None, server_port: int | None = None,
                 labels: Mapping[int, str] | None = None) -> int:
    """Write the raw events of one connection to ``out``; returns the number of packets.

    ``started``: the wall-clock time (``time.time()``) the event times count from. ``server_port``: the
    port to show for the server instead of its own (the built-in server's free port → the standard one,
    so that Wireshark decodes SMTP without "Decode As"). ``labels``: step number → what the step sent,
    for the packet comments. ``ValueError`` when the events hold no connection (nothing to frame)."""
    events = list(events)
    connect = next((e for e in events if e.kind == RawKind.CONNECT), None)
    if connect is None:
        raise ValueError("the session has no connection to export")
    server = (connect.server[0], server_port) if server_port else connect.server
    writer = PcapngWriter(out, connect.client, server, start_wall=started, keylog=keylog, mss=mss)
    labels = labels or {}
    for event in events[events.index(connect):]:
        if event.kind == RawKind.CONNECT:
            if event is not connect:
                break  # one connection per file: a reconnect starts another session
            writer.connect(event.started, event.time)
        elif event.kind == RawKind.DATA:
            label = labels.get(event.step)
            comment = (f"step {event.step}: {label}" if label else f"step {event.step}") \
                if event.direction == Direction.CLIENT else ""
            writer.data(event.direction, _masked(event, show_secrets), event.time, comment)
        elif event.kind == RawKind.EOF:
            writer.eof(Direction.SERVER, event.time)
        elif event.kind == RawKind.CLOSE:
            writer.close(event.time)
        elif event.kind == RawKind.RESET:
            writer.reset(event.direction or Direction.SERVER, event.time)
    return writer.packets


def client_randoms(events: Iterable[RawEvent]) -> list[bytes]:
    """The client random of every ClientHello the client sent (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2): what
    picks this session's lines out of a key log that may hold other programs' connections too."""
    randoms = []
    for event in events:
        data = event.data
        # A record header (handshake, 3.x), then the ClientHello's header (type 1) and its version.
        if (event.kind == RawKind.DATA and event.direction == Direction.CLIENT and len(data) >= 43
                and data[0] == 22 and data[1] == 3 and data[5] == 1):
            randoms.append(bytes(data[11:43]))
    return randoms


def keylog_lines(keylog: bytes, randoms: Iterable[bytes]) -> bytes:
    """The lines of an NSS key log (``LABEL <client random hex> <secret hex>``) that belong to ``randoms``."""
    wanted = {random.hex().encode() for random in randoms}
    out = []
    for line in keylog.splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith(b"#") and parts[1].lower() in wanted:
            out.append(line + b"\n")
    return b"".join(out)
