"""The STARTTLS stall, the EHLO round trip right after the TLS handshake.

Three parts, all on loopback, each client variant alternating with the others:

A. Real servers (``smtpstep serve`` and the loopback Postfix): raw asyncio clients (EHLO at once,
   after ``sleep(0)``, after a 1 ms pause, with ``TCP_QUICKACK`` set after the write, and that plus
   ``TCP_QUICKACK`` re-armed every 2 ms while the reply is awaited), a blocking client like smtplib,
   and smtpstep's own ``AsyncioTransport`` taking the handshake and EHLO steps back to back, before and
   after the proposed fix (both halves, patched into asyncio's streams for those rows only).
B. A scripted TLS 1.3 server that isolates the cause: it sends 0 or 1 NewSessionTicket, 1 ms after
   the client's Finished (as Postfix does after its session-cache round trip), with Nagle on or off.
C. ``smtpstep run`` as shipped: the "EHLO took" line after the handshake, against the built-in
   server (in process), ``smtpstep serve`` and Postfix.

    .venv/bin/python benchmarks/starttls_stall.py          # 15 samples per cell (about 40 s)
    .venv/bin/python benchmarks/starttls_stall.py --full   # 60 samples per cell
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import DEMO_PASSWORD, DEMO_USER, SMTPSTEP, BuiltinServer, Postfix, Stats, markdown, report, scratch_dir

from smtpstep.protocol.commands import Connect, Ehlo, Quit, ReadGreeting, StartTls, TlsHandshake
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.blocking_driver import BlockingTransport
from smtpstep.protocol.transport.wire import Target

HELO = "client.smtpstep.test"
QUICKACK = getattr(socket, "TCP_QUICKACK", None)


# --- clients ----------------------------------------------------------------------------------------


async def _reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] != b"-":
            return line


async def asyncio_client(host: str, port: int, ca: str, name: str, mode: str) -> float:
    """EHLO round trip after ``start_tls`` with asyncio streams (which set TCP_NODELAY), in seconds."""
    reader, writer = await asyncio.open_connection(host, port)
    await _reply(reader)
    for line in (f"EHLO {HELO}\r\n".encode(), b"STARTTLS\r\n"):
        writer.write(line)
        await _reply(reader)
    context = ssl.create_default_context(cafile=ca)
    await writer.start_tls(context, server_hostname=name)
    if mode == "sleep(0)":
        await asyncio.sleep(0)
    elif mode == "1 ms pause":
        await asyncio.sleep(0.001)
    start = time.perf_counter()
    writer.write(f"EHLO {HELO}\r\n".encode())
    rearm = None
    if mode.startswith("QUICKACK") and QUICKACK is not None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        if "re-armed" in mode:
            rearm = asyncio.ensure_future(_rearm_quickack(sock))
    try:
        await _reply(reader)
    finally:
        if rearm is not None:
            rearm.cancel()
    elapsed = time.perf_counter() - start
    writer.write(b"QUIT\r\n")
    await _reply(reader)
    writer.close()
    return elapsed


async def _rearm_quickack(sock, every: float = 0.002, times: int = 25) -> None:  # type: ignore[no-untyped-def]
    """While a reply is awaited, set TCP_QUICKACK again every few ms: each time, Linux sends at once an ACK
    it had delayed (the one for a NewSessionTicket that came in after the write)."""
    for _ in range(times):
        await asyncio.sleep(every)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        except OSError:
            return


def blocking_client(host: str, port: int, ca: str, name: str) -> float:
    """The same with a blocking socket, Nagle left on, as smtplib does."""
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, port)) as raw:
        stream = raw.makefile("rb")

        def reply(stream) -> bytes:  # type: ignore[no-untyped-def]
            while True:
                line = stream.readline()
                if not line:
                    raise ConnectionError("closed")
                if line[3:4] != b"-":
                    return line

        reply(stream)
        for line in (f"EHLO {HELO}\r\n".encode(), b"STARTTLS\r\n"):
            raw.sendall(line)
            reply(stream)
        with context.wrap_socket(raw, server_hostname=name) as tls:
            tls_stream = tls.makefile("rb")
            start = time.perf_counter()
            tls.sendall(f"EHLO {HELO}\r\n".encode())
            reply(tls_stream)
            elapsed = time.perf_counter() - start
            tls.sendall(b"QUIT\r\n")
            reply(tls_stream)
    return elapsed


_fix_enabled = False
_original_write = asyncio.StreamWriter.write


def _write_with_quickack(self: asyncio.StreamWriter, data: bytes) -> None:
    """The proposed fix, patched in for the "after" rows, first half: TCP_QUICKACK right after each write."""
    _original_write(self, data)
    if _fix_enabled and QUICKACK is not None:
        sock = self.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            except OSError:
                pass


_original_read = asyncio.StreamReader.read


async def _read_with_quickack(self: asyncio.StreamReader, n: int = -1) -> bytes:
    """The second half of the fix: while waiting for a reply, re-arm TCP_QUICKACK every 2 ms."""
    transport = getattr(self, "_transport", None)
    sock = transport.get_extra_info("socket") if (_fix_enabled and transport is not None) else None
    rearm = asyncio.ensure_future(_rearm_quickack(sock)) if sock is not None and QUICKACK is not None else None
    try:
        return await _original_read(self, n)
    finally:
        if rearm is not None:
            rearm.cancel()


asyncio.StreamWriter.write = _write_with_quickack  # type: ignore[method-assign]
asyncio.StreamReader.read = _read_with_quickack  # type: ignore[method-assign]


async def transport_client(host: str, port: int, ca_pem: bytes, name: str, fix: bool) -> float:
    """smtpstep's AsyncioTransport: the handshake step and the EHLO step back to back; the EHLO step's time."""
    global _fix_enabled
    _fix_enabled = fix
    try:
        transport = AsyncioTransport(Target(host=host, port=port, security="starttls", server_hostname=name, ca_pem=ca_pem,
                                     timeout=10))
        for command in (Connect(), ReadGreeting(), Ehlo(HELO), StartTls(), TlsHandshake()):
            result = await transport.step(command)
            if result.failure is not None:
                raise RuntimeError(f"{command}: {result.failure.message}")
        result = await transport.step(Ehlo(HELO))
        await transport.step(Quit())
        await transport.close()
        return result.elapsed
    finally:
        _fix_enabled = False


def blocking_transport_client(host: str, port: int, ca_pem: bytes, name: str) -> float:
    """smtpstep's BlockingTransport (what ``smtpstep run`` uses): handshake and EHLO steps back to back."""
    transport = BlockingTransport(Target(host=host, port=port, security="starttls", server_hostname=name,
                                         ca_pem=ca_pem, timeout=10))
    for command in (Connect(), ReadGreeting(), Ehlo(HELO), StartTls(), TlsHandshake()):
        result = transport.step(command)
        if result.failure is not None:
            raise RuntimeError(f"{command}: {result.failure.message}")
    result = transport.step(Ehlo(HELO))
    transport.step(Quit())
    transport.close()
    return result.elapsed


# --- the scripted server (part B) -------------------------------------------------------------------


class ScriptedTlsServer:
    """A TLS 1.3 STARTTLS server on memory BIOs, so that the moment of each record is under control.

    After the client's Finished it waits ``ticket_delay`` (Postfix spends about 1 ms on its session
    cache there) and sends ``tickets`` NewSessionTickets as their own segment. ``nagle`` leaves Nagle's
    algorithm on for the server socket (as Postfix does); off sets TCP_NODELAY (as asyncio does).
    """

    def __init__(self, cert_ctx: ssl.SSLContext, *, tickets: int, nagle: bool, ticket_delay: float = 0.001) -> None:
        self.context = cert_ctx
        self.tickets = tickets
        self.nagle = nagle
        self.ticket_delay = ticket_delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._thread.join(5)
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop:
            conn, _ = self.listener.accept()
            if self._stop:
                conn.close()
                return
            try:
                self._session(conn)
            except (OSError, ssl.SSLError, ConnectionError):
                pass
            finally:
                conn.close()

    def _session(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0 if self.nagle else 1)
        plain = conn.makefile("rb")
        conn.sendall(b"220 scripted.test ESMTP\r\n")
        if not plain.readline():
            return
        conn.sendall(b"250-scripted.test\r\n250 STARTTLS\r\n")
        plain.readline()
        conn.sendall(b"220 go ahead\r\n")
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.context.num_tickets = self.tickets
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        flights = 0
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    conn.sendall(outgoing.read())
                    flights += 1
                data = conn.recv(65536)
                if not data:
                    return
                if flights:  # this is the client's Finished
                    time.sleep(self.ticket_delay)
                incoming.write(data)
        if outgoing.pending:
            conn.sendall(outgoing.read())  # the tickets, one segment
        buffer = b""
        while True:
            while b"\n" not in buffer:
                try:  # the EHLO may have come with the Finished, already in the BIO
                    while True:
                        buffer += tls.read(65536)
                except ssl.SSLWantReadError:
                    pass
                if b"\n" in buffer:
                    break
                data = conn.recv(65536)
                if not data:
                    return
                incoming.write(data)
            line, _, buffer = buffer.partition(b"\n")
            answer = b"221 bye\r\n" if line.upper().startswith(b"QUIT") else b"250-scripted.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"
            tls.write(answer)
            conn.sendall(outgoing.read())
            if answer.startswith(b"221"):
                return


def scripted_contexts() -> tuple[ssl.SSLContext, str]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.minimum_version = ssl.TLSVersion.TLSv1_3
    cert.configure_cert(server)
    ca_file = scratch_dir() / "scripted-ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    return server, str(ca_file)


# --- part C: smtpstep run ---------------------------------------------------------------------------


def run_ehlo_after_tls(argv: list[str]) -> float | None:
    """The "EHLO took" line after the handshake in ``smtpstep run``'s transcript, in seconds."""
    out = subprocess.run(argv, env={"SMTPSTEP_PASSWORD": DEMO_PASSWORD, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60).stdout
    after = out.split("TLS established", 1)[-1]
    match = re.search(r"EHLO took ([\d.]+) ms", after)
    return float(match.group(1)) / 1000 if match else None


# --- main -------------------------------------------------------------------------------------------


def sample(cells: dict, n: int) -> dict[str, list[float]]:
    """Interleave the cells sample by sample."""
    out: dict[str, list[float]] = {name: [] for name in cells}
    for i in range(n + 1):
        for name, fn in cells.items():
            value = fn()
            if i and value is not None:  # the first pass warms up
                out[name].append(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="60 samples per cell instead of 15")
    parser.add_argument("--samples", type=int)
    args = parser.parse_args()
    n = args.samples or (60 if args.full else 15)
    loop = asyncio.new_event_loop()
    tmp = scratch_dir()
    tables, data = [], {}
    modes = ("EHLO at once", "sleep(0)", "1 ms pause", "QUICKACK after write",
             "QUICKACK after write, re-armed every 2 ms")

    # A. real servers
    rows = []
    with BuiltinServer(tmp / "maildir") as server:
        servers = {"smtpstep serve": ("127.0.0.1", server.ports["submission"], server.ca_path, "localhost")}
        postfix = Postfix.find()
        if postfix is not None:
            servers["Postfix"] = ("127.0.0.1", postfix.submission_port, postfix.ca, postfix.tls_name)
        for label, (host, port, ca, name) in servers.items():
            print(f"A. {label}", file=sys.stderr, flush=True)
            ca_pem = Path(ca).read_bytes()
            cells = {f"asyncio, {mode}": (lambda mode=mode: loop.run_until_complete(
                asyncio_client(host, port, ca, name, mode))) for mode in modes}
            cells["blocking socket (smtplib's way)"] = lambda: blocking_client(host, port, ca, name)
            # The QUICKACK fix is built into both transports now (step_engine.quickack); the patched
            # "+ fix" row of the first measurement would only apply it twice.
            cells["smtpstep AsyncioTransport (the TUI's), as shipped"] = lambda: loop.run_until_complete(
                transport_client(host, port, ca_pem, name, False))
            cells["smtpstep BlockingTransport (smtpstep run)"] = lambda: blocking_transport_client(host, port, ca_pem,
                                                                                                  name)
            for cell, values in sample(cells, n).items():
                stats = Stats.of(values)
                rows.append([label, cell, stats.ms(), f"{stats.p95 * 1000:.1f}",
                             f"{sum(v > 0.02 for v in values)}/{len(values)}"])
                data[f"A/{label}/{cell}"] = stats.as_dict()
        tables.append(markdown(["server", "client", "EHLO after TLS, ms median (min-max)", "p95 ms",
                                "stalled (> 20 ms)"], rows))

        # C. smtpstep run as shipped
        print("C. smtpstep run", file=sys.stderr, flush=True)
        runs = {"built-in (in process)": [SMTPSTEP, "run"],
                "smtpstep serve": [SMTPSTEP, "run", "--server", f"127.0.0.1:{server.ports['submission']}", "--ca",
                                   server.ca_path, "--user", DEMO_USER, "--to", "class@example.test"]}
        if postfix is not None:
            runs["Postfix"] = [SMTPSTEP, "run", "--server", f"127.0.0.1:{postfix.submission_port}", "--ca", postfix.ca,
                               "--user", postfix.user, "--to", postfix.rcpt]
        run_rows = []
        for label, values in sample({k: (lambda a=a: run_ehlo_after_tls(a)) for k, a in runs.items()},
                                    max(5, n // 2)).items():
            stats = Stats.of(values)
            run_rows.append([label, stats.ms(), f"{sum(v > 0.02 for v in values)}/{len(values)}"])
            data[f"C/{label}"] = stats.as_dict()

    # B. the scripted server
    print("B. scripted server", file=sys.stderr, flush=True)
    server_ctx, scripted_ca = scripted_contexts()
    rows = []
    for tickets in (1, 0):
        for nagle in (True, False):
            scripted = ScriptedTlsServer(server_ctx, tickets=tickets, nagle=nagle)
            try:
                cells = {f"asyncio, {mode}": (lambda mode=mode: loop.run_until_complete(
                    asyncio_client("127.0.0.1", scripted.port, scripted_ca, "localhost", mode)))
                         for mode in ("EHLO at once", "QUICKACK after write, re-armed every 2 ms")}
                cells["blocking socket, Nagle on"] = lambda: blocking_client("127.0.0.1", scripted.port,
                                                                              scripted_ca, "localhost")
                cells["smtpstep BlockingTransport"] = lambda: blocking_transport_client(
                    "127.0.0.1", scripted.port, Path(scripted_ca).read_bytes(), "localhost")
                for cell, values in sample(cells, n).items():
                    stats = Stats.of(values)
                    rows.append([tickets, "on" if nagle else "off (TCP_NODELAY)", cell, stats.ms(),
                                 f"{sum(v > 0.02 for v in values)}/{len(values)}"])
                    data[f"B/tickets={tickets}/nagle={nagle}/{cell}"] = stats.as_dict()
            finally:
                scripted.close()
    tables.append(markdown(["tickets", "server Nagle", "client", "EHLO after TLS, ms median (min-max)",
                            "stalled (> 20 ms)"], rows))
    tables.append(markdown(["smtpstep run against", "'EHLO took' after TLS, ms median (min-max)", "stalled (> 20 ms)"],
                           run_rows))
    loop.close()
    report("starttls_stall", "2. The STARTTLS stall: EHLO round trip right after the handshake", tables,
           {"samples": n, "results": data},
           ["A: real servers; B: scripted TLS 1.3 server, ticket sent 1 ms after the client's Finished; "
            "C: smtpstep run as shipped (its handshake step parses and prints the chain before EHLO goes)"])


if __name__ == "__main__":
    main()
