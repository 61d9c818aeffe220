"""The built-in server under a classroom's load, and the proof that it lost nothing.

Many concurrent sessions, each sending several messages over one connection, half on the plain
listener (port-25 style, no TLS, no AUTH) and half on the submission listener (STARTTLS, then AUTH
PLAIN). Afterwards every accepted message must be in the Maildir exactly once, byte for byte as it
was meant (dot-unstuffed, after the server's Return-Path and Received fields), and nothing may be
left in ``tmp/``. The server's memory is sampled from ``/proc`` while it runs.

The client is a deliberately small raw asyncio SMTP client (stdlib only), independent of smtpstep's
own client, so that the server is measured as a black box. ``tests/protocol/server/test_server_load.py``
runs the same code at CI size (``run_load``, ``verify_maildir``) against a ``LocalServer`` in a
thread; this script runs the full size against ``smtpstep serve`` in a child process:

    .venv/bin/python benchmarks/load_server.py                      # 100 sessions x 20 messages
    .venv/bin/python benchmarks/load_server.py --sessions 20 --messages 5 --size 65536

Rules: loopback only (the server binds 127.0.0.1, the clients connect there); recipients are in
reserved test domains (RFC 2606); the demo login is the public one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEMO_USER, DEMO_PASSWORD = "student", "classroom"
SECURITIES = ("plain", "starttls")
"""plain: the port-25 style listener without TLS; starttls: the submission listener, STARTTLS and AUTH."""
LISTENER = {"plain": "plain", "starttls": "submission"}
READ_LIMIT = 64 * 1024


# --- Messages -------------------------------------------------------------------------------------------


def make_message(ident: str, size: int) -> bytes:
    """A message of about ``size`` octets with CRLF line ends whose bytes a careless server would change:
    lines that start with a dot (RFC 5321 §4.5.2), a lone dot, 8-bit UTF-8, a 998-octet line
    (RFC 5322 §2.1.1), trailing spaces and a tab."""
    head = (f"From: load@client.smtpstep.test\r\nTo: class@example.test\r\nSubject: load {ident}\r\n"
            f"Message-ID: <{ident}@client.smtpstep.test>\r\nX-Load-Id: {ident}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode()
    tricky = [b".", b"..", b".starts with a dot", b"...three", "Grüße, élèves ✉".encode(), b"x" * 998,
              b"trailing spaces   ", b"\ttab first", b"", b"end of the tricky part"]
    body = bytearray(b"\r\n".join(tricky) + b"\r\n")
    n = 0
    while len(head) + len(body) < size:
        line = f"{ident} line {n:06d} " + "abcdefghijklmnopqrstuvwxyz" * 2
        body += (("." + line) if n % 17 == 3 else line).encode() + b"\r\n"
        n += 1
    return head + bytes(body)


def stuffed(message: bytes) -> bytes:
    """The message as DATA carries it: a leading dot doubled, then CRLF.CRLF (RFC 5321 §4.5.2)."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


# --- The client -----------------------------------------------------------------------------------------


class SmtpFailure(Exception):
    """A reply the session did not expect; ``str`` holds it."""


@dataclass
class LoadResult:
    """What a load run sent and what the server said."""

    sent: dict[str, int] = field(default_factory=dict)
    """Message id -> the ``size`` it was made with: ``make_message(id, size)`` is what the Maildir must hold
    after the trace fields (made again to check, so that the client keeps no copy in memory)."""
    octets: int = 0
    """Octets of all messages sent (as meant, before dot-stuffing)."""
    accepted: set[str] = field(default_factory=set)
    """Ids the server accepted with 250 after the final dot."""
    refused: dict[str, str] = field(default_factory=dict)
    """Ids the server refused, with its reply."""
    errors: list[str] = field(default_factory=list)
    """Sessions that broke (connection errors, unexpected replies)."""
    auth_before_tls: list[str] = field(default_factory=list)
    """Sessions whose server offered AUTH before TLS (it must not)."""
    auth_after_tls: int = 0
    """STARTTLS sessions that saw AUTH offered after TLS and logged in."""
    seconds: float = 0.0
    sessions: int = 0


class Client:
    """One SMTP connection: write a line, read a whole (multi-line) reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> Client:
        reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
        return cls(reader, writer)

    async def reply(self) -> tuple[int, list[str]]:
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text[4:])
            if text[3:4] != "-":
                return int(text[:3]), lines

    async def command(self, line: str | bytes, expect: int | None = None) -> tuple[int, list[str]]:
        self.writer.write((line.encode() if isinstance(line, str) else line) + b"\r\n")
        await self.writer.drain()
        code, lines = await self.reply()
        if expect is not None and code != expect:
            shown = line if isinstance(line, str) else line[:40].decode("ascii", "replace")
            raise SmtpFailure(f"{shown.split(' ')[0]}: {code} {' '.join(lines)[:120]}")
        return code, lines

    async def ehlo(self) -> list[str]:
        _, lines = await self.command("EHLO load.client.smtpstep.test", 250)
        return [line.upper() for line in lines[1:]]

    async def starttls(self, context: ssl.SSLContext) -> None:
        await self.command("STARTTLS", 220)
        await self.writer.start_tls(context, server_hostname="localhost")

    async def send(self, sender: str, rcpt: str, message: bytes) -> tuple[int, str]:
        """MAIL, RCPT, DATA, the message; the reply to the final dot."""
        await self.command(f"MAIL FROM:<{sender}> BODY=8BITMIME SIZE={len(message)}", 250)
        await self.command(f"RCPT TO:<{rcpt}>", 250)
        await self.command("DATA", 354)
        self.writer.write(stuffed(message))
        await self.writer.drain()
        code, lines = await self.reply()
        return code, " ".join(lines)

    async def quit(self) -> None:
        try:
            await self.command("QUIT")
        finally:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    def abort(self) -> None:
        """Hang up at once, without QUIT (a reset, not a polite close)."""
        self.writer.transport.abort()


def tls_context(ca_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    return context


async def session(host: str, ports: dict[str, int], security: str, ca_pem: bytes, index: int,
                  messages: int, size: int, result: LoadResult, tag: str = "") -> None:
    """One client: connect, (STARTTLS, AUTH), send ``messages`` messages, QUIT."""
    name = f"{tag}{security}-{index}"
    try:
        client = await Client.connect(host, ports[LISTENER[security]])
        code, _ = await client.reply()
        if code != 220:
            raise SmtpFailure(f"greeting {code}")
        keywords = await client.ehlo()
        if any(k.startswith("AUTH") for k in keywords):
            result.auth_before_tls.append(name)
        if security == "starttls":
            await client.starttls(tls_context(ca_pem))
            keywords = await client.ehlo()
            if not any(k.startswith("AUTH") and "PLAIN" in k for k in keywords):
                raise SmtpFailure("AUTH PLAIN not offered after STARTTLS")
            token = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()
            await client.command(f"AUTH PLAIN {token}", 235)
            result.auth_after_tls += 1
        for m in range(messages):
            ident = f"{name}-{m}"
            message = make_message(ident, size)
            result.sent[ident] = size
            result.octets += len(message)
            code, said = await client.send(f"load-{index}@client.smtpstep.test", f"class{index}@example.test", message)
            if code == 250:
                result.accepted.add(ident)
            else:
                result.refused[ident] = f"{code} {said}"
        await client.quit()
    except (OSError, ssl.SSLError, SmtpFailure, asyncio.IncompleteReadError, ValueError) as error:
        result.errors.append(f"{name}: {type(error).__name__}: {error}")


async def run_load(host: str, ports: dict[str, int], ca_pem: bytes, *, sessions: int, messages: int, size: int,
                   securities: Sequence[str] = SECURITIES, tag: str = "") -> LoadResult:
    """``sessions`` concurrent clients, alternating between ``securities``, each sending ``messages``;
    ``tag`` starts every message id (runs against one Maildir need different tags)."""
    result = LoadResult(sessions=sessions)
    start = time.monotonic()
    await asyncio.gather(*(
        session(host, ports, securities[i % len(securities)], ca_pem, i, messages, size, result, tag)
        for i in range(sessions)
    ))
    result.seconds = time.monotonic() - start
    return result


# --- Checking the Maildir -------------------------------------------------------------------------------

_TRACE = re.compile(rb"\A(Return-Path: <[^\r\n]*>\r\n)(Received: [^\r\n]*\r\n(\t[^\r\n]*\r\n)*)\Z")
_LOAD_ID = re.compile(rb"^X-Load-Id: (\S+)\r$", re.M)


def verify_maildir(maildir: Path, result: LoadResult) -> list[str]:
    """Problems found: every message ``result`` accepted is in ``new/`` exactly once, byte-identical after
    the trace fields; none it sent but saw refused is there; no file lacks an X-Load-Id; ``tmp/`` is
    empty. Messages of other runs (other tags) in the same Maildir are only counted."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for path in sorted((maildir / "new").iterdir()) if (maildir / "new").is_dir() else []:
        data = path.read_bytes()
        match = _LOAD_ID.search(data)
        if match is None:
            problems.append(f"{path.name}: no X-Load-Id (not from a load run)")
            continue
        ident = match.group(1).decode()
        seen[ident] = seen.get(ident, 0) + 1
        size = result.sent.get(ident)
        sent = make_message(ident, size) if size is not None else None
        if sent is None:
            continue  # another run's message
        if not data.endswith(sent):
            problems.append(f"{path.name}: {ident} differs from what was sent")
        elif not _TRACE.match(data[: len(data) - len(sent)]):
            problems.append(f"{path.name}: {ident} has more than the trace fields before the message")
    for ident in sorted(result.accepted):
        if seen.get(ident, 0) != 1:
            problems.append(f"{ident}: accepted, stored {seen.get(ident, 0)} times")
    for ident in sorted(set(seen) - result.accepted):
        if ident in result.sent:  # ids of other runs into the same Maildir are not this run's business
            problems.append(f"{ident}: stored but not accepted")
    leftovers = list((maildir / "tmp").iterdir()) if (maildir / "tmp").is_dir() else []
    if leftovers:
        problems.append(f"tmp/ holds {len(leftovers)} files")
    return problems


# --- The full-size run against `smtpstep serve` ---------------------------------------------------------


class RssSampler:
    """Samples a process's resident set size every ``every`` seconds (its peak, from VmHWM, at the end)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from harness import rss_kib

        while not self._stop.is_set():
            try:
                self.samples.append(rss_kib(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import BuiltinServer, markdown, peak_rss_kib, report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20, help="messages per session")
    parser.add_argument("--size", type=int, default=4096, help="octets per message (about)")
    parser.add_argument("--rounds", type=int, default=1, help="run the whole load this many times")
    args = parser.parse_args(argv)

    rows, runs = [], []
    with tempfile.TemporaryDirectory(prefix="smtpstep-load-") as tmp:
        maildir = Path(tmp) / "maildir"
        with BuiltinServer(maildir) as server:
            ca_pem = Path(server.ca_path).read_bytes()
            idle_kib = peak_rss_kib(server.pid)
            problems: list[str] = []
            for round_ in range(1, args.rounds + 1):
                with RssSampler(server.pid) as sampler:
                    result = asyncio.run(run_load("127.0.0.1", server.ports, ca_pem, sessions=args.sessions,
                                                  messages=args.messages, size=args.size, tag=f"r{round_}-"))
                total = args.sessions * args.messages
                deliveries = len(result.accepted)
                mb = result.octets / 1e6
                rows.append([round_, args.sessions, args.messages, total, deliveries, len(result.refused),
                             len(result.errors), f"{result.seconds:.1f}", f"{deliveries / result.seconds:.0f}",
                             f"{mb / result.seconds:.2f}", f"{max(sampler.samples, default=0) / 1024:.1f}"])
                runs.append({"round": round_, "accepted": deliveries, "refused": result.refused,
                             "errors": result.errors, "auth_before_tls": result.auth_before_tls,
                             "seconds": result.seconds, "rss_samples_kib": sampler.samples})
                problems += [f"round {round_}: {p}" for p in verify_maildir(maildir, result)]
                problems += [f"round {round_}: AUTH offered before TLS to {s}" for s in result.auth_before_tls]
                problems += [f"round {round_}: {e}" for e in result.errors[:10]]
            peak_kib = peak_rss_kib(server.pid)
    table = markdown(
        ["round", "sessions", "msgs/session", "sent", "accepted", "refused", "broken sessions", "seconds",
         "msgs/s", "MB/s", "server RSS max (MiB)"], rows)
    notes = [f"server RSS: {idle_kib / 1024:.1f} MiB idle after start, {peak_kib / 1024:.1f} MiB peak (VmHWM)",
             f"half the sessions plain (no TLS, no AUTH), half STARTTLS + AUTH PLAIN; {args.size} octets per "
             "message; every delivery is fsynced before the 250 (RFC 5321 §6.1)",
             "Maildir check: " + ("every accepted message stored once, byte-identical; tmp/ empty"
                                  if not problems else f"{len(problems)} problems: " + "; ".join(problems[:5]))]
    report("load_server", f"Built-in server under load ({args.sessions} sessions x {args.messages} messages)",
           [table], {"args": vars(args), "runs": runs, "idle_rss_kib": idle_kib, "peak_rss_kib": peak_kib,
                     "problems": problems}, notes)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
