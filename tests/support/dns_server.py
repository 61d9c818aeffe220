"""A tiny authoritative DNS server on loopback UDP, for tests of ``--server mx`` (the real DNS code path).

It answers from the same ``ZoneSet`` as the in-process resolver, through dnspython's wire format:
``dns.message.from_wire`` on the request, ``ZoneSet.answer``, ``to_wire`` back. It binds to
127.0.0.1 with an ephemeral port; point a resolver at it with::

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = server.port

``mode="silent"`` reads and drops every query, to test timeouts. Tests only: the app never needs it.
"""

from __future__ import annotations

import socket
import threading

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from smtpstep.protocol.mailauth.zone import ZoneSet


class LoopbackDnsServer:
    def __init__(self, zones: ZoneSet | None = None, *, mode: str = "answer", host: str = "127.0.0.1") -> None:
        if mode not in ("answer", "silent", "servfail"):
            raise ValueError(f"mode must be answer, silent or servfail, not {mode!r}")
        self.zones = zones or ZoneSet()
        self.mode = mode
        self.queries: list[str] = []
        """Each query as "NAME TYPE", in arrival order."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="loopback-dns", daemon=True)

    def __enter__(self) -> LoopbackDnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                request = dns.message.from_wire(data)
            except dns.exception.DNSException:
                continue
            q = request.question[0] if request.question else None
            self.queries.append(f"{q.name} {dns.rdatatype.to_text(q.rdtype)}" if q is not None else "?")
            if self.mode == "silent":
                continue
            if self.mode == "servfail":
                response = dns.message.make_response(request)
                response.set_rcode(dns.rcode.SERVFAIL)
            else:
                response = self.zones.answer(request)
            self._sock.sendto(response.to_wire(), peer)
