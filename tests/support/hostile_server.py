"""A scripted asyncio SMTP server that plays the hostile (or merely broken) peer.

``HostileServer(script)`` listens on 127.0.0.1, port 0, and runs the named script for every
connection. Each script is a small coroutine taking a ``Peer`` (one connection). Most build on
``correct_session``, a minimal but correct SMTP server, and replace one reply with the misbehaviour
under test. The server records what it saw (command lines, messages, SNI, whether the client hung
up) so tests can check what the client did and did not send.

Reused by the transport tests here and, later, by CLI and app tests: it imports nothing from
``protocol`` and nothing but the standard library, trustme and (for the hostile certificate only)
cryptography. It must never print.

The hostile-text scripts put ``HOSTILE_TEXT`` (terminal control sequences, BEL, NUL, a bidirectional
override, Rich markup) into the greeting, the EHLO reply (with a line far over RFC 5321's 512 octets),
every reply to come and, for ``hostile-text-refuses-PHASE``, the refusal at that phase; with
``hostile_certificate=True`` the server's certificate carries the same in its CN, O and SAN.

    async with HostileServer("garbage-greeting") as server:
        Target("127.0.0.1", server.port, "none", timeout=2)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

GREETING = b"220 hostile.test ESMTP smtpstep scripted server\r\n"
"""The greeting of every script that greets normally (RFC 5321 §4.2)."""

HUGE_LINE_BYTES = 8 * 1024 * 1024
"""How much the "huge-line" script sends without a line end: several MB, far over any sane limit."""
HUGE_LINE_CHUNK = 64 * 1024
INJECTED = b"250 injected\r\n"
"""The plaintext line the STARTTLS-injection scripts smuggle in after their 220 (CVE-2011-0411)."""

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
"""OSC 52: put ``rm -rf ~`` (base64) into the terminal's clipboard."""
OSC0 = "\x1b]0;PWNED-TITLE\x07"
"""OSC 0: set the window title."""
HOSTILE_TEXT = f"{OSC52}{OSC0}\x1b[2J\x1b[?1049h\x07\x00\u202e[bold red]markup[/]\x9b31m\x7f end"
"""What a hostile peer puts into every piece of text it controls: OSC 52 (clipboard), OSC 0 (title), CSI 2J
(clear), CSI ?1049h (other screen), BEL, NUL, U+202E (right-to-left override), Rich markup, a C1 CSI
(U+009B) and DEL."""
HOSTILE_BYTES = HOSTILE_TEXT.encode("utf-8")
RAW_CONTROLS = ("\x1b", "\x07", "\x00", "\x9b", "\u202e", "\x7f")
"""Characters of ``HOSTILE_TEXT`` that must never reach a terminal, a log or a transcript raw."""
ESCAPED_OSC52 = "\\x1b]52;c;cm0gLXJmIH4=\\x07"
"""How ``OSC52`` looks once shown: the visible escape, as text."""
REFUSING_PHASES = ("greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "message")
"""``hostile-text-refuses-PHASE``: the phases whose refusal carries ``HOSTILE_TEXT``."""


Script = Callable[["Peer"], Awaitable[None]]
Hook = Callable[["Peer", bytes], Awaitable[bool]]
"""Replaces the normal handling of one verb; returns True to go on with the session, False to stop it."""


@dataclass
class Peer:
    """One client connection, seen from the scripted server."""

    server: HostileServer
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    drip: bool = False
    """Write every reply one byte at a time, with ``server.drip_delay`` before each byte."""
    tls: bool = False

    async def write(self, data: bytes) -> None:
        """Write ``data`` in one go (one segment on loopback, as far as the kernel allows)."""
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, data: bytes) -> None:
        """Write a reply, whole or dripped. The delay comes *before* each byte, so that a script can
        call ``start_tls`` right after the last byte without yielding to the client in between."""
        if not self.drip:
            await self.write(data)
            return
        for i in range(len(data)):
            await asyncio.sleep(self.server.drip_delay)
            await self.write(data[i : i + 1])

    async def command(self) -> bytes | None:
        """The next command line, or None when the client closed the connection."""
        try:
            line = await self.reader.readline()
        except (ConnectionError, ssl.SSLError, ValueError):
            line = b""
        if not line:
            self.server.note("client closed the connection")
            return None
        self.server.commands.append(line)
        return line

    async def message(self) -> bytes | None:
        """The DATA content up to the final dot, un-stuffed (RFC 5321 §4.5.2); None if the client left."""
        lines: list[bytes] = []
        while True:
            try:
                line = await self.reader.readline()
            except (ConnectionError, ssl.SSLError, ValueError):
                line = b""
            if not line:
                self.server.note("client closed the connection during DATA")
                return None
            if line == b".\r\n":
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b".") else line)

    async def until_closed(self) -> None:
        """Read and ignore everything until the client hangs up (the script's way to stall)."""
        while True:
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, ssl.SSLError):
                data = b""
            if not data:
                self.server.note("client closed the connection")
                return

    async def start_tls(self) -> None:
        """Server side of the TLS handshake, with the server's trustme certificate."""
        await self.writer.start_tls(self.server.tls_context())
        self.tls = True
        self.server.note("TLS established")


async def correct_session(
    peer: Peer,
    *,
    greeting: bytes = GREETING,
    starttls: bool = True,
    pipelining: bool = False,
    hooks: dict[bytes, Hook] | None = None,
) -> None:
    """A small, correct SMTP server (RFC 5321, RFC 3207); ``hooks`` replace single verbs."""
    hooks = hooks or {}
    await peer.reply(greeting)
    while (line := await peer.command()) is not None:
        verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
        hook = hooks.get(verb)
        if hook is not None:
            if not await hook(peer, line):
                return
            continue
        if verb == b"EHLO":
            lines = [b"hostile.test greets you", b"SIZE 1000000", b"8BITMIME"]
            if pipelining:
                lines.append(b"PIPELINING")
            if starttls and not peer.tls:
                lines.append(b"STARTTLS")
            lines.append(b"HELP")
            await peer.reply(b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + text + b"\r\n"
                                      for i, text in enumerate(lines)))
        elif verb == b"HELO":
            await peer.reply(b"250 hostile.test\r\n")
        elif verb == b"STARTTLS" and starttls and not peer.tls:
            await peer.reply(b"220 2.0.0 Ready to start TLS\r\n")
            await peer.start_tls()
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            await peer.reply(b"250 2.0.0 OK\r\n")
        elif verb == b"DATA":
            await peer.reply(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            content = await peer.message()
            if content is None:
                return
            peer.server.messages.append(content)
            await peer.reply(b"250 2.0.0 OK: queued\r\n")
        elif verb == b"QUIT":
            await peer.reply(b"221 2.0.0 Bye\r\n")
            return
        else:
            await peer.reply(b"502 5.5.2 Command not implemented\r\n")


# --- The scripts ---------------------------------------------------------------------------------


async def _close_on_accept(peer: Peer) -> None:
    pass  # the handler closes the connection as soon as the script returns


async def _garbage_greeting(peer: Peer) -> None:
    await peer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await peer.until_closed()


async def _refusing_greeting(peer: Peer) -> None:
    # RFC 5321 §3.1: after a 554 greeting the server answers every command but QUIT with 503.
    await peer.write(b"554 5.3.2 hostile.test no SMTP service here\r\n")
    while (line := await peer.command()) is not None:
        if line.upper().startswith(b"QUIT"):
            await peer.write(b"221 2.0.0 Bye\r\n")
            return
        await peer.write(b"503 5.5.1 No service, only QUIT\r\n")


async def _silent_after_greeting(peer: Peer) -> None:
    await peer.write(GREETING)
    await peer.until_closed()


async def _huge_line(peer: Peer) -> None:
    # A "greeting" of several MB with no CRLF: a client that buffers until the line ends runs out of memory.
    chunk = b"220 " + b"x" * (HUGE_LINE_CHUNK - 4)
    sent = 0
    try:
        while sent < HUGE_LINE_BYTES:
            await peer.write(chunk)
            sent += len(chunk)
            chunk = b"x" * HUGE_LINE_CHUNK
    except ConnectionError:
        peer.server.note(f"client closed the connection after {sent} bytes of the huge line")
        return
    peer.server.huge_line_sent = sent
    await peer.until_closed()


async def _disconnect_mid_multiline(peer: Peer) -> None:
    async def ehlo(peer: Peer, line: bytes) -> bool:
        await peer.write(b"250-hostile.test greets you\r\n250-PIPELINING\r\n250-SIZE 1000")
        return False  # hang up before the last line

    await correct_session(peer, hooks={b"EHLO": ehlo})


async def _mixed_codes(peer: Peer) -> None:
    async def ehlo(peer: Peer, line: bytes) -> bool:
        await peer.write(b"250-a\r\n251 b\r\n")
        await peer.until_closed()
        return False

    await correct_session(peer, hooks={b"EHLO": ehlo})


async def _starttls_then_plaintext(peer: Peer) -> None:
    async def starttls(peer: Peer, line: bytes) -> bool:
        await peer.write(b"220 2.0.0 Ready to start TLS\r\n")
        with contextlib.suppress(ConnectionError):
            hello = await peer.reader.read(65536)  # the client's ClientHello
            if hello:
                peer.server.note("got a ClientHello, answered in plain text")
                await peer.write(b"250 this is plain text, not a TLS handshake\r\n")
        await peer.until_closed()
        return False

    await correct_session(peer, hooks={b"STARTTLS": starttls})


async def _no_starttls(peer: Peer) -> None:
    await correct_session(peer, starttls=False)


async def _421_at_rcpt(peer: Peer) -> None:
    async def rcpt(peer: Peer, line: bytes) -> bool:
        # RFC 5321 §3.8: 421 then close, in the middle of a transaction.
        await peer.write(b"421 4.3.2 hostile.test shutting down\r\n")
        return False

    await correct_session(peer, starttls=False, hooks={b"RCPT": rcpt})


async def _close_during_data(peer: Peer) -> None:
    async def data(peer: Peer, line: bytes) -> bool:
        await peer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        with contextlib.suppress(ConnectionError):
            first = await peer.reader.read(4096)
            peer.server.note(f"read {len(first)} bytes of the message, then hung up")
        # abort(): a reset, not a polite FIN, so the client's writes fail while it is still sending.
        peer.writer.transport.abort()
        return False

    await correct_session(peer, starttls=False, hooks={b"DATA": data})


async def _drip(peer: Peer) -> None:
    peer.drip = True
    await correct_session(peer, starttls=True)


async def _injection_after_starttls(peer: Peer) -> None:
    async def starttls(peer: Peer, line: bytes) -> bool:
        # The 220 and the injected line in one write: a man in the middle's classic (CVE-2011-0411).
        await peer.write(b"220 2.0.0 Ready to start TLS\r\n" + INJECTED)
        await peer.start_tls()
        return True

    await correct_session(peer, hooks={b"STARTTLS": starttls})


async def _injection_after_starttls_delayed(peer: Peer) -> None:
    async def starttls(peer: Peer, line: bytes) -> bool:
        # The injected line in its own segment, after the client has read the 220 but before it
        # starts the handshake (a student pausing between steps gives it all the time it needs).
        await peer.write(b"220 2.0.0 Ready to start TLS\r\n")
        await asyncio.sleep(peer.server.injection_delay)
        await peer.write(INJECTED)
        await peer.start_tls()
        return True

    await correct_session(peer, hooks={b"STARTTLS": starttls})


async def _silent_after_starttls(peer: Peer) -> None:
    async def starttls(peer: Peer, line: bytes) -> bool:
        await peer.write(b"220 2.0.0 Ready to start TLS\r\n")
        await peer.start_tls()
        await asyncio.sleep(3600)  # stall under TLS: read nothing, answer nothing, send no close_notify
        return False

    await correct_session(peer, hooks={b"STARTTLS": starttls})


async def _endless_drip(peer: Peer) -> None:
    # Every byte comes just in time to reset a per-read timer, and the multi-line reply never ends.
    async def ehlo(peer: Peer, line: bytes) -> bool:
        with contextlib.suppress(ConnectionError):
            while True:
                for byte in b"250-still talking\r\n":
                    await asyncio.sleep(peer.server.drip_delay)
                    await peer.write(bytes([byte]))
        return False

    await correct_session(peer, hooks={b"EHLO": ehlo})


async def _endless_multiline(peer: Peer) -> None:
    # A multi-line EHLO reply of long (but legal-length) lines that never ends, as fast as the client
    # reads: a client that keeps every line until the last one runs out of memory.
    async def ehlo(peer: Peer, line: bytes) -> bool:
        continuation = b"250-" + b"x" * (peer.server.flood_line - 6) + b"\r\n"
        batch = continuation * 16
        with contextlib.suppress(ConnectionError):
            while True:
                await peer.write(batch)
                peer.server.flood_sent += len(batch)
        return False

    await correct_session(peer, hooks={b"EHLO": ehlo})


async def _unrequested_replies(peer: Peer) -> None:
    # Replies nobody asked for, as fast as the client reads, right after the greeting.
    await peer.write(GREETING)
    with contextlib.suppress(ConnectionError):
        while True:
            await peer.write(b"250 2.0.0 nobody asked\r\n" * 1024)
            peer.server.flood_sent += 24 * 1024


def _hostile_text(refuse: str | None) -> Script:
    """A session whose every reply carries ``HOSTILE_TEXT``; refused at phase ``refuse`` (or accepted to the end)."""
    evil = HOSTILE_BYTES
    long_line = b"X-LONG " + b"y" * 1500 + evil + b"z" * 1500  # far over 512 octets, under smtpstep's 4096

    def code(phase: str, good: bytes, bad: bytes) -> bytes:
        return bad if refuse == phase else good

    async def ehlo(peer: Peer, line: bytes) -> bool:
        if refuse == "ehlo":
            await peer.reply(b"550 5.7.1 " + evil + b"\r\n")
            return True
        lines = [b"hostile.test " + evil, b"SIZE 1000000", b"X-" + evil, long_line, b"AUTH PLAIN LOGIN"]
        if not peer.tls and peer.server.hostile_certificate or refuse == "starttls":
            lines.append(b"STARTTLS")
        lines.append(b"HELP " + evil)
        await peer.reply(b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + text + b"\r\n"
                                  for i, text in enumerate(lines)))
        return True

    async def helo(peer: Peer, line: bytes) -> bool:
        await peer.reply(code("ehlo", b"250 ", b"550 5.7.1 ") + evil + b"\r\n")
        return True

    async def starttls(peer: Peer, line: bytes) -> bool:
        if refuse == "starttls":
            await peer.reply(b"454 4.7.0 " + evil + b"\r\n")
            return True
        await peer.reply(b"220 2.0.0 " + evil + b"\r\n")
        await peer.start_tls()
        return True

    def reply(phase: str, good: bytes) -> Hook:
        async def hook(peer: Peer, line: bytes) -> bool:
            await peer.reply(code(phase, good, b"550 5.7.1 ") + evil + b"\r\n")
            return True
        return hook

    async def data(peer: Peer, line: bytes) -> bool:
        if refuse == "data":
            await peer.reply(b"554 5.7.1 " + evil + b"\r\n")
            return True
        await peer.reply(b"354 " + evil + b"\r\n")
        content = await peer.message()
        if content is None:
            return False
        peer.server.messages.append(content)
        await peer.reply(code("message", b"250 2.0.0 queued ", b"554 5.7.1 ") + evil + b"\r\n")
        return True

    async def quit_(peer: Peer, line: bytes) -> bool:
        await peer.reply(b"221 2.0.0 " + evil + b"\r\n")
        return False

    async def script(peer: Peer) -> None:
        if refuse == "greeting":
            await peer.write(b"554 5.3.2 " + evil + b"\r\n")
            while (line := await peer.command()) is not None:
                await peer.write((b"221 2.0.0 " if line.upper().startswith(b"QUIT") else b"503 5.5.1 ") + evil
                                 + b"\r\n")
                if line.upper().startswith(b"QUIT"):
                    return
            return
        hooks = {b"EHLO": ehlo, b"HELO": helo, b"STARTTLS": starttls, b"DATA": data, b"QUIT": quit_,
                 b"AUTH": reply("auth", b"235 2.7.0 "), b"MAIL": reply("mail", b"250 2.1.0 "),
                 b"RCPT": reply("rcpt", b"250 2.1.5 "), b"RSET": reply("rset", b"250 2.0.0 "),
                 b"NOOP": reply("noop", b"250 2.0.0 ")}
        await correct_session(peer, greeting=b"220 hostile.test " + evil + b"\r\n", hooks=hooks)

    return script


async def _hostile_too_long(peer: Peer) -> None:
    # A greeting line over smtpstep's 4096 octets, the hostile text at its start: the refusal quotes it.
    await peer.write(b"220 " + HOSTILE_BYTES + b"w" * 5000 + b"\r\n")
    await peer.until_closed()


SCRIPTS: dict[str, Script] = {
    "close-on-accept": _close_on_accept,
    "garbage-greeting": _garbage_greeting,
    "554-greeting": _refusing_greeting,
    "silent-after-greeting": _silent_after_greeting,
    "huge-line": _huge_line,
    "disconnect-mid-multiline": _disconnect_mid_multiline,
    "mixed-codes": _mixed_codes,
    "starttls-then-plaintext": _starttls_then_plaintext,
    "no-starttls": _no_starttls,
    "421-at-rcpt": _421_at_rcpt,
    "close-during-data": _close_during_data,
    "drip": _drip,
    "injection-after-starttls": _injection_after_starttls,
    "injection-after-starttls-delayed": _injection_after_starttls_delayed,
    "silent-after-starttls": _silent_after_starttls,
    "endless-drip": _endless_drip,
    "endless-multiline": _endless_multiline,
    "unrequested-replies": _unrequested_replies,
    "correct": correct_session,
    "correct-pipelining": lambda peer: correct_session(peer, pipelining=True),
    "hostile-text": _hostile_text(None),
    **{f"hostile-text-refuses-{phase}": _hostile_text(phase) for phase in REFUSING_PHASES},
    "hostile-text-too-long": _hostile_too_long,
}
"""Script name -> coroutine run for each connection."""


@dataclass
class HostileServer:
    """``async with HostileServer("drip") as server:`` then connect to ``127.0.0.1:server.port``."""

    script: str
    drip_delay: float = 0.001
    """Seconds before each dripped byte."""
    injection_delay: float = 0.05
    """Seconds between the 220 and the injected line, for "injection-after-starttls-delayed"."""
    port: int = 0
    commands: list[bytes] = field(default_factory=list)
    """Every command line received, in order, across connections."""
    messages: list[bytes] = field(default_factory=list)
    """Every message received after DATA, un-stuffed."""
    events: list[str] = field(default_factory=list)
    """What happened on the server's side, in words ("client closed the connection", ...)."""
    sni: list[str | None] = field(default_factory=list)
    """The server name each TLS client sent (None: no SNI)."""
    tls_max_version: ssl.TLSVersion | None = None
    """Cap the server's TLS version (e.g. TLSv1_2, whose Certificate message has another layout)."""
    huge_line_sent: int = 0
    flood_line: int = 4096
    """Octets per line, CRLF included, for "endless-multiline" (4096: the most smtpstep accepts)."""
    flood_sent: int = 0
    """Bytes the flooding scripts managed to write before the client hung up."""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a connection ended (the script returned or the client hung up)."""
    hostile_certificate: bool = False
    """Present ``hostile_certificate_pem`` (``HOSTILE_TEXT`` in its CN, O and SAN) instead of a trustme one."""

    def __post_init__(self) -> None:
        if self.script not in SCRIPTS:
            raise ValueError(f"unknown script {self.script!r}; known: {', '.join(SCRIPTS)}")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ca = None
        self._context: ssl.SSLContext | None = None

    # -- certificates (made only for scripts that start TLS) --------------------------------------

    def _authority(self):  # type: ignore[no-untyped-def]
        if self._ca is None:
            import trustme

            self._ca = trustme.CA(organization_name="smtpstep hostile test CA")
        return self._ca

    @property
    def ca_pem(self) -> bytes:
        """PEM of the CA that signed the server's certificate (for ``localhost`` and ``127.0.0.1``)."""
        return self._authority().cert_pem.bytes()

    def tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            if self.hostile_certificate:
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / "hostile.pem"
                    path.write_bytes(hostile_certificate_pem())
                    context.load_cert_chain(path)
            else:
                self._authority().issue_cert("localhost", "127.0.0.1").configure_cert(context)
            if self.tls_max_version is not None:
                context.maximum_version = self.tls_max_version

            def on_sni(ssl_object, name, ctx):  # type: ignore[no-untyped-def]
                self.sni.append(name)

            context.sni_callback = on_sni
            self._context = context
        return self._context

    # -- lifecycle --------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.events.append(text)

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(self, reader, writer)
        try:
            await SCRIPTS[self.script](peer)
        except (ConnectionError, ssl.SSLError) as error:
            self.note(f"connection ended: {error.__class__.__name__}")
        except asyncio.CancelledError:
            pass
        finally:
            # A polite close (FIN, or TLS close_notify first); "close-during-data" aborts on its own.
            peer.writer.close()
            try:
                async with asyncio.timeout(1):
                    await peer.writer.wait_closed()
            except (Exception, asyncio.CancelledError):
                # Never end cancelled: on 3.11 asyncio's start_server callback calls task.exception()
                # on the finished handler, which raises (and logs a traceback) for a cancelled task.
                pass
            self._tasks.discard(task)
            self.closed.set()


@cache
def hostile_certificate_pem() -> bytes:
    """A self-signed certificate and its key (PEM) with ``HOSTILE_TEXT`` pieces in its CN and O, and control
    sequences in its DNS, e-mail and URI names (which are ASCII by definition, so no U+202E there).
    Made with ``cryptography`` directly: trustme writes only sensible names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"{OSC52}{OSC0}\x1b[2J\x1b[?1049h\x00\u202e\x9b"),  # 64 at most
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "[bold red]markup[/]\x07\x7f"),
    ])
    names = x509.SubjectAlternativeName([
        x509.DNSName(f"evil{OSC52}.test"), x509.DNSName(f"{OSC0}x.test"), x509.DNSName("localhost"),
        x509.RFC822Name(f"a{OSC0}@x.test"), x509.UniformResourceIdentifier(f"http://x.test/{OSC52}"),
    ])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(names, critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def assert_no_raw_controls(text: str, where: str = "output") -> None:
    """No character of ``RAW_CONTROLS`` in ``text`` (a terminal's output, a transcript, a log)."""
    found = [repr(char) for char in RAW_CONTROLS if char in text]
    assert not found, f"{where} holds raw {', '.join(found)}: …{_around(text)}…"


def _around(text: str) -> str:
    index = min((text.find(c) for c in RAW_CONTROLS if c in text), default=0)
    return repr(text[max(0, index - 80): index + 80])


@contextlib.contextmanager
def hostile_server_in_thread(script: str, **options: object) -> Iterator[HostileServer]:
    """A ``HostileServer`` on an event loop of its own, in a thread: for a test that drives a subprocess
    synchronously (a pseudo-terminal) rather than on the test's loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"hostile-{script}", daemon=True)
    thread.start()
    server = HostileServer(script, **options)  # type: ignore[arg-type]
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
