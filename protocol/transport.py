"""The transport: the one place in ``protocol`` that does I/O (asyncio sockets, TLS, timeouts).

It writes what ``SmtpClient.send`` returns, feeds what it reads to ``SmtpClient.receive_data``, and
records every chunk in a ``WireRecord`` (direction, bytes, TLS on/off, monotonic time, secret spans).
Each ``step`` returns a ``StepResult``: an immutable ``Snapshot`` of the session and, when something
went wrong, a ``Failure`` in plain words with the raw bytes. It never raises for what a server or the
network does: refused connections, unknown hosts, timeouts, TLS failures, garbage and closed sockets
are all normal results. Policy it enforces (because only it knows the target):
- TLS verification is on unless the user chose ``insecure`` (then every snapshot says so);
- ``server_hostname`` is always passed, so the host name is checked and SNI is sent;
- AUTH is never written on a plaintext connection to a server other than the built-in one, unless
  the target allows it explicitly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .certificates import CertInfo, TlsInfo, cert_info, chain_from_certificate_message, verify_words
from .client import Answer, ClientView, CommandNotAllowed, Discarded, SmtpClient
from .commands import Command, Connect, Outgoing, Raw, Verb
from .replies import ProtocolError

# Timeouts use ``asyncio.timeout``, never ``asyncio.wait_for``: on Python 3.11, ``wait_for`` swallows a
# cancellation that arrives in the same loop iteration as the awaited result (CPython gh-86296), so
# cancelling a step could be ignored and the step would carry on as if nothing had happened.

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
"""Submission with STARTTLS (RFC 6409), submissions with implicit TLS (RFC 8314 §3.3), relay (RFC 5321)."""

STEP_TIMEOUTS = {
    Verb.GREETING: 300.0,
    Verb.MAIL: 300.0,
    Verb.RCPT: 300.0,
    Verb.DATA: 120.0,
    Verb.MESSAGE: 600.0,
}
"""RFC 5321 §4.5.3.2: greeting 5 min, MAIL 5, RCPT 5, DATA 2, after the final dot 10; others 5."""

DEFAULT_STEP_TIMEOUT = 300.0
CONNECT_TIMEOUT = 30.0
READ_SIZE = 65536


@dataclass(frozen=True)
class Target:
    """Where and how to connect."""

    host: str
    port: int
    security: str = "starttls"
    server_hostname: str | None = None
    """The name to verify the certificate against and to send as SNI; defaults to ``host``."""
    ca_file: Path | None = None
    ca_pem: bytes | None = field(default=None, repr=False)
    """Extra trusted CA certificates (the built-in server's CA)."""
    insecure: bool = False
    timeout: float | None = None
    """One timeout for every step and the connect; None uses RFC 5321's per-command values."""
    builtin: bool = False
    """True for smtpstep's own local server."""
    allow_cleartext_auth: bool = False

    @property
    def sni(self) -> str:
        return self.server_hostname or self.host

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Direction:
    CLIENT = "client"
    SERVER = "server"
    TLS = "tls"
    """A TLS handshake message or a TLS boundary."""
    NOTE = "note"
    """Something that happened without bytes: connected, closed."""
    ERROR = "error"
    """A failure, in plain words."""


@dataclass(frozen=True)
class WireChunk:
    """One chunk that crossed the wire, or a note about the connection."""

    direction: str
    data: bytes
    tls: bool
    time: float
    """Seconds since the session started (monotonic)."""
    step: int
    secrets: tuple[tuple[int, int], ...] = ()
    note: str = ""

    def redacted(self, mask: bytes = b"********") -> bytes:
        return Outgoing(self.data, self.secrets).redacted(mask)


class WireRecord:
    """Every chunk of a session, append-only, with an optional listener for live display."""

    def __init__(self, listener: Callable[[WireChunk], None] | None = None) -> None:
        self.chunks: list[WireChunk] = []
        self.listener = listener

    def append(self, chunk: WireChunk) -> None:
        self.chunks.append(chunk)
        if self.listener is not None:
            self.listener(chunk)

    def __len__(self) -> int:
        return len(self.chunks)


@dataclass(frozen=True)
class Failure:
    """Why a step did not complete, in one plain sentence, with the bytes at fault."""

    kind: str
    """One of: resolve, refused, connect, timeout, closed, tls, protocol, not-allowed, policy."""
    message: str
    raw: bytes = b""
    verify_code: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """The whole session as of one step: immutable, safe to hand to a renderer."""

    target: Target
    client: ClientView
    tls: TlsInfo | None
    tls_history: tuple[TlsInfo, ...]
    step: int
    wire_count: int
    last: Answer | None
    failure: Failure | None
    connected: bool


@dataclass(frozen=True)
class StepResult:
    commands: tuple[Command, ...]
    answers: tuple[Answer, ...]
    discarded: tuple[Discarded, ...]
    failure: Failure | None
    snapshot: Snapshot
    elapsed: float
    wire_start: int
    wire_end: int

    @property
    def ok(self) -> bool:
        return self.failure is None


_HANDSHAKE_NAMES = {
    1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 5: "EndOfEarlyData", 8: "EncryptedExtensions",
    11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone",
    15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished", 24: "KeyUpdate",
}


def _resolve_words(host: str, error: BaseException) -> str:
    # strerror, not str(error): "[Errno -2] Name or service not known" is Python's text, not plain words.
    said = getattr(error, "strerror", None) or str(error)
    return f"the host name “{host}” could not be resolved; check its spelling ({said})"


_SOCKET_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionResetError, "the server reset the connection"),
    (BrokenPipeError, "the server had already closed the connection"),
    (ConnectionAbortedError, "the connection was aborted"),
)


def _socket_words(error: BaseException) -> str:
    """An ``OSError`` or ``ssl.SSLError`` in plain words, without Python's class names and errno
    brackets (the Failure message is shown to a student as is; the style guide wants no Python text)."""
    if isinstance(error, ssl.SSLError):
        return f"TLS error {error.reason}" if error.reason else "a TLS error"
    for kind, words in _SOCKET_WORDS:
        if isinstance(error, kind):
            return words
    said = getattr(error, "strerror", None) or str(error)
    return said[:1].lower() + said[1:] if said else "an error of the operating system"


class Transport:
    """Runs an ``SmtpClient`` over a real connection, one step at a time."""

    def __init__(self, target: Target, *, listener: Callable[[WireChunk], None] | None = None) -> None:
        self.target = target
        self.client = SmtpClient()
        self.record = WireRecord(listener)
        self.tls: TlsInfo | None = None
        self.tls_history: tuple[TlsInfo, ...] = ()
        self.steps = 0
        self.last: Answer | None = None
        self.failure: Failure | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._t0 = time.monotonic()

    # -- public ----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._writer is not None

    def snapshot(self) -> Snapshot:
        return Snapshot(
            target=self.target,
            client=self.client.view(),
            tls=self.tls,
            tls_history=self.tls_history,
            step=self.steps,
            wire_count=len(self.record),
            last=self.last,
            failure=self.failure,
            connected=self.connected,
        )

    async def step(self, commands: Command | Sequence[Command], *, force: bool = False) -> StepResult:
        """Take one step: a command and its reply, a group of pipelined commands, the greeting, a handshake."""
        group = (commands,) if isinstance(commands, Command) else tuple(commands)
        start, wire_start = time.monotonic(), len(self.record)
        self.steps += 1
        self.failure = None
        answers: list[Answer] = []
        discarded: list[Discarded] = []
        try:
            failure = await self._run(group, force, answers, discarded)
        except asyncio.CancelledError:
            self._note("the step was cancelled; the connection is closed because its state is unknown")
            await self.close()
            raise
        if failure is not None:
            self.failure = failure
            self._note(failure.message, Direction.ERROR)
        return StepResult(
            commands=group,
            answers=tuple(answers),
            discarded=tuple(discarded),
            failure=failure,
            snapshot=self.snapshot(),
            elapsed=time.monotonic() - start,
            wire_start=wire_start,
            wire_end=len(self.record),
        )

    async def close(self) -> None:
        """Close the connection without QUIT (used at exit and after errors)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                async with asyncio.timeout(2):
                    await writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass
        if self.client.settled.name != "DISCONNECTED":
            self.client.connection_lost()

    # -- internals -------------------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _note(self, text: str, direction: str = Direction.NOTE) -> None:
        self.record.append(WireChunk(direction, b"", self._tls_on(), self._now(), self.steps, note=text))

    def _tls_on(self) -> bool:
        return self.client.session.tls

    def _timeout(self, verb: Verb) -> float:
        if self.target.timeout is not None:
            return self.target.timeout
        return STEP_TIMEOUTS.get(verb, DEFAULT_STEP_TIMEOUT)

    def _policy(self, command: Command) -> Failure | None:
        verb = command.acts_as if isinstance(command, Raw) else command.verb
        if verb in (Verb.AUTH, Verb.AUTH_RESPONSE) and not self.client.session.tls:
            if not (self.target.builtin or self.target.allow_cleartext_auth):
                return Failure(
                    "policy",
                    "AUTH was not sent: the connection is not encrypted, and AUTH PLAIN/LOGIN put the password "
                    "on the wire in base64 that anyone can decode; allow clear-text AUTH explicitly to send it",
                )
        return None

    async def _run(
        self, group: tuple[Command, ...], force: bool, answers: list[Answer], discarded: list[Discarded]
    ) -> Failure | None:
        first = group[0]
        if isinstance(first, Connect):
            try:
                self.client.send(first, force=force)
            except CommandNotAllowed as refusal:
                return Failure("not-allowed", str(refusal))
            return await self._connect()
        if first.verb == Verb.TLS_HANDSHAKE:
            try:
                self.client.send(first, force=force)
            except CommandNotAllowed as refusal:
                return Failure("not-allowed", str(refusal))
            return await self._handshake(discarded)
        # Build the whole group first: nothing is written unless every command may go.
        outgoing = bytearray()
        secrets: list[tuple[int, int]] = []
        sent: list[Command] = []
        for command in group:
            blocked = self._policy(command)
            if blocked is not None:
                self.client.withdraw(len(sent))
                return blocked
            try:
                out = self.client.send(command, force=force)
            except CommandNotAllowed as refusal:
                self.client.withdraw(len(sent))
                return Failure("not-allowed", str(refusal))
            secrets.extend((s + len(outgoing), e + len(outgoing)) for s, e in out.secrets)
            outgoing += out.data
            sent.append(command)
        if self._writer is None or self._reader is None:
            self.client.connection_lost()
            return Failure("closed", "there is no connection; reconnect to start a new session")
        if outgoing:
            self.record.append(
                WireChunk(Direction.CLIENT, bytes(outgoing), self._tls_on(), self._now(), self.steps, tuple(secrets))
            )
            try:
                self._writer.write(bytes(outgoing))
                async with asyncio.timeout(self._timeout(group[-1].verb)):
                    await self._writer.drain()
            except (OSError, ssl.SSLError) as error:
                await self._lost()
                return Failure("closed", f"the connection broke while sending ({_socket_words(error)})")
            except TimeoutError:
                await self._lost()
                return Failure("timeout", f"the server did not take the data within {self._timeout(group[-1].verb):g} s")
        return await self._read_replies(answers, discarded, group[-1].verb)

    async def _read_replies(self, answers: list[Answer], discarded: list[Discarded], verb: Verb) -> Failure | None:
        assert self._reader is not None
        timeout = self._timeout(verb)
        # One deadline for the whole reply, not a fresh timeout per read: a server that drips one
        # byte just before each timeout (or an endless multi-line reply) would otherwise hold the
        # step forever. RFC 5321 §4.5.3.2 times the wait for the reply, not for each segment.
        deadline = asyncio.get_running_loop().time() + timeout
        rearm = asyncio.create_task(self._keep_acks_quick())
        try:
            return await self._read_until_answered(answers, discarded, deadline, timeout)
        finally:
            rearm.cancel()

    def _quickack(self) -> None:
        """Ask Linux to ACK at once instead of delaying the ACK (no-op elsewhere).

        Why: a TLS 1.3 server sends its session ticket just after the handshake; if EHLO crosses it,
        the kernel delays the ACK for the ticket by ~40 ms, and a server with Nagle on (Postfix) holds
        its reply until that ACK comes: a 40 ms stall on every EHLO after STARTTLS
        (benchmarks/results/starttls_stall.md). QUICKACK is not sticky, hence re-armed while waiting.
        """
        sock = self._writer.get_extra_info("socket") if self._writer is not None else None
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass

    async def _keep_acks_quick(self) -> None:
        for _ in range(50):  # the first 100 ms of a wait: where a delayed ACK would stall the reply
            self._quickack()
            await asyncio.sleep(0.002)

    async def _read_until_answered(self, answers: list[Answer], discarded: list[Discarded], deadline: float,
                                   timeout: float) -> Failure | None:
        assert self._reader is not None
        while self.client.pending:
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self._reader.read(READ_SIZE)
            except TimeoutError:
                waited = _awaited(self.client.pending[0])
                await self._lost()
                return Failure(
                    "timeout",
                    f"no complete {waited} within {timeout:g} s; the server may be stalled "
                    "(RFC 5321 §4.5.3.2 sets the client's timeouts)",
                )
            except (OSError, ssl.SSLError) as error:
                await self._lost()
                return Failure("closed", f"the connection broke ({_socket_words(error)})")
            if not data:
                waiting = _awaited(self.client.pending[0]) if self.client.pending else "reply"
                await self._lost()
                return Failure("closed", f"the server closed the connection while the client waited for the "
                                         f"{waiting}")
            self.record.append(WireChunk(Direction.SERVER, data, self._tls_on(), self._now(), self.steps))
            try:
                events = self.client.receive_data(data)
            except ProtocolError as error:
                await self._lost()
                return Failure("protocol", str(error), error.raw)
            for event in events:
                if isinstance(event, Answer):
                    answers.append(event)
                    self.last = event
                else:
                    discarded.append(event)
                    self._note(event.reason)
        if self.client.settled.name == "CLOSED":
            await self._lost(note="the connection is closed")
        return None

    async def _lost(self, note: str | None = None) -> None:
        if note:
            self._note(note)
        await self.close()

    async def _connect(self) -> Failure | None:
        target = self.target
        timeout = target.timeout if target.timeout is not None else CONNECT_TIMEOUT
        self._note(f"connecting to {target.address} over TCP")
        try:
            async with asyncio.timeout(timeout):
                self._reader, self._writer = await _open(target.host, target.port)
        except socket.gaierror as error:
            self.client.connection_lost()
            return Failure("resolve", _resolve_words(target.host, error))
        except ConnectionRefusedError:
            self.client.connection_lost()
            return Failure("refused", f"nothing is listening on {target.address} (connection refused)")
        except TimeoutError:
            self.client.connection_lost()
            return Failure("timeout", f"no answer from {target.address} within {timeout:g} s")
        except OSError as error:
            self.client.connection_lost()
            return Failure("connect", f"could not connect to {target.address}: {_socket_words(error)}")
        peer = self._writer.get_extra_info("peername")
        self.client.connection_made(implicit_tls=target.security == "tls")
        shown = f"[{peer[0]}]" if ":" in str(peer[0]) else peer[0]
        self._note(f"connected to {shown}:{peer[1]} (TCP handshake done)")
        return None

    def _context(self, handshake: list[str], certificates: list[bytes]) -> ssl.SSLContext:
        # The built-in server is trusted through its own CA only: skipping the system bundle saves
        # 20-40 ms per handshake (benchmarks/results/headless_session.md) and trusts nothing else.
        if self.target.builtin and self.target.ca_pem and self.target.ca_file is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
        else:
            ctx = ssl.create_default_context()
        if self.target.ca_file is not None:
            ctx.load_verify_locations(cafile=str(self.target.ca_file))
        if self.target.ca_pem:
            ctx.load_verify_locations(cadata=self.target.ca_pem.decode("ascii"))
        if self.target.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE

        def on_message(conn, direction, version, content_type, msg_type, data):  # type: ignore[no-untyped-def]
            if int(content_type) != 22:  # handshake messages only; skip record headers
                return
            name = _HANDSHAKE_NAMES.get(int(msg_type), f"handshake message {int(msg_type)}")
            handshake.append(("→ " if direction == "write" else "← ") + name)
            if int(msg_type) == 11 and direction == "read":
                certificates[:] = chain_from_certificate_message(bytes(data), int(version) >= 0x0304)

        try:
            ctx._msg_callback = on_message  # type: ignore[attr-defined]  # documented in its docstring
        except (AttributeError, TypeError):
            pass
        return ctx

    async def _handshake(self, discarded: list[Discarded]) -> Failure | None:
        target, writer = self.target, self._writer
        mode = "tls" if self.client.session.implicit_tls and self.client.session.greeting is None else "starttls"
        if writer is None:
            self.client.connection_lost()
            return Failure("closed", "there is no connection to start TLS on")
        self._discard_plaintext(discarded, mode)
        handshake: list[str] = []
        certificates: list[bytes] = []
        ctx = self._context(handshake, certificates)
        self.record.append(WireChunk(Direction.TLS, b"", False, self._now(), self.steps, note="TLS handshake starts"))
        timeout = target.timeout if target.timeout is not None else CONNECT_TIMEOUT
        try:
            async with asyncio.timeout(timeout):
                await writer.start_tls(ctx, server_hostname=target.sni)
        except ssl.SSLCertVerificationError as error:
            chain = _parse_chain(certificates)
            words = verify_words(error.verify_code, error.verify_message)
            self._tls_failed(mode, handshake, chain, words, error.verify_code)
            await self._lost()
            return Failure("tls", f"the server's certificate was not accepted: {words}", verify_code=error.verify_code)
        except ssl.SSLError as error:
            reason = error.reason or str(error)
            hint = (
                "; the server did not answer with TLS (it may have sent plain text)"
                if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                              "HTTP_REQUEST", "UNEXPECTED_RECORD")
                else ""
            )
            self._tls_failed(mode, handshake, _parse_chain(certificates), f"handshake failed: {reason}{hint}", None)
            await self._lost()
            return Failure("tls", f"the TLS handshake failed ({reason}){hint}")
        except TimeoutError:
            self._tls_failed(mode, handshake, (), "the handshake timed out", None)
            await self._lost()
            return Failure("timeout", f"the TLS handshake did not finish within {timeout:g} s")
        except (OSError, ConnectionError) as error:
            self._tls_failed(mode, handshake, (), f"the connection broke: {_socket_words(error)}", None)
            await self._lost()
            return Failure("closed", f"the connection broke during the TLS handshake ({_socket_words(error)})")
        ssl_object = writer.get_extra_info("ssl_object")
        chain = self._peer_chain(ssl_object) or _parse_chain(certificates)
        cipher = ssl_object.cipher() if ssl_object else None
        if target.insecure:
            verification = "NOT VERIFIED: verification was switched off on purpose (--insecure)"
        else:
            issuer = chain[-1].issuer if chain else "a trusted authority"
            verification = f"trusted: the chain ends at {issuer}, and the name {target.sni} matches"
        info = TlsInfo(
            mode=mode,
            sni=_sni_sent(target.sni),
            version=ssl_object.version() if ssl_object else None,
            cipher=cipher[0] if cipher else None,
            cipher_bits=cipher[2] if cipher else None,
            chain=chain,
            verified=not target.insecure,
            verification=verification,
            insecure=target.insecure,
            handshake=tuple(handshake),
        )
        self.tls = info
        self.tls_history += (info,)
        self.client.tls_established()
        for name in handshake:
            self.record.append(WireChunk(Direction.TLS, b"", True, self._now(), self.steps, note=name))
        self.record.append(
            WireChunk(Direction.TLS, b"", True, self._now(), self.steps,
                      note=f"TLS established: {info.version}, {info.cipher}")
        )
        return None

    def _discard_plaintext(self, discarded: list[Discarded], mode: str) -> None:
        """Throw away plaintext that arrived before the TLS handshake but was never read.

        ``SmtpClient`` discards what came in the same read as the 220. Bytes that came later (say,
        while a student paused before the handshake step) wait in the StreamReader's buffer, and
        ``StreamWriter.start_tls`` leaves that buffer alone: the first read after the handshake
        would return them as if they had come under TLS, and an attacker's "250" would answer the
        next EHLO (RFC 3207 §4.2; CVE-2011-0411). StreamReader has no public way to peek at its
        buffer without waiting, hence the private ``_buffer``, guarded.
        """
        buffer = getattr(self._reader, "_buffer", None)
        if not isinstance(buffer, bytearray) or not buffer:
            return
        data = bytes(buffer)
        buffer.clear()
        self.record.append(WireChunk(Direction.SERVER, data, False, self._now(), self.steps))
        if mode == "starttls":
            reason = ("the server sent more plaintext after its 220 to STARTTLS; it could come from an attacker, "
                      "so it is thrown away unread (RFC 3207 §4.2; the client side of CVE-2011-0411)")
        else:
            reason = ("the server sent plaintext before the TLS handshake, where implicit TLS expects none "
                      "(RFC 8314 §3.3; is this a plain SMTP port?); it is thrown away unread")
        event = Discarded(data, reason)
        discarded.append(event)
        self._note(event.reason)

    def _tls_failed(self, mode: str, handshake: list[str], chain: tuple[CertInfo, ...], words: str,
                    code: int | None) -> None:
        info = TlsInfo(mode=mode, sni=_sni_sent(self.target.sni), chain=chain, verified=False, verification=words,
                       verify_code=code, handshake=tuple(handshake))
        self.tls = info
        self.tls_history += (info,)
        for name in handshake:
            self.record.append(WireChunk(Direction.TLS, b"", False, self._now(), self.steps, note=name))

    @staticmethod
    def _peer_chain(ssl_object: ssl.SSLObject | None) -> tuple[CertInfo, ...]:
        if ssl_object is None:
            return ()
        ders: list[bytes] = []
        try:  # the verified chain: public from Python 3.13, private on 3.11
            getter = getattr(ssl_object, "get_verified_chain", None) or ssl_object._sslobj.get_verified_chain  # type: ignore[attr-defined]
            for cert in getter() or ():
                ders.append(cert.public_bytes(ssl._ssl.ENCODING_DER) if hasattr(cert, "public_bytes") else cert)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - fall back to the leaf alone
            ders = []
        if not ders:
            leaf = ssl_object.getpeercert(binary_form=True)
            ders = [leaf] if leaf else []
        return _parse_chain(ders)


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Resolve ``host`` and try each address in turn, as ``open_connection`` does, keeping each error.

    asyncio folds the failures of several addresses into one ``OSError("Multiple exceptions: ...")``
    that is no longer a ``ConnectionRefusedError``: "localhost" (::1 and 127.0.0.1) with nothing
    listening would be reported as an odd connect error in Python's words, not as "refused".
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    errors: list[OSError] = []
    for family, _, _, _, address in infos:
        scoped = family == socket.AF_INET6 and len(address) > 3 and address[3]
        ip = f"{address[0]}%{address[3]}" if scoped else address[0]
        try:
            return await asyncio.open_connection(ip, address[1], family=family, limit=READ_SIZE * 4)
        except OSError as error:
            errors.append(error)
    refused = [error for error in errors if isinstance(error, ConnectionRefusedError)]
    raise (refused or errors or [OSError(f"no address found for {host}")])[0]


def _awaited(command: Command) -> str:
    """What the client waits for, in words: "reply to EHLO client.test", "220 greeting".

    Pseudo-steps have labels in parentheses ("(wait for the 220 greeting)"), which read badly after
    "the reply to" in a failure sentence (issue 6: one plain sentence on stderr).
    """
    if command.verb == Verb.GREETING:
        return "220 greeting"
    if command.verb == Verb.MESSAGE:
        return "reply to the final dot of the message"
    return f"reply to {command.label}"


def _sni_sent(name: str) -> str | None:
    """The SNI actually sent: none for an IP address (RFC 6066 §3), which is still checked against the certificate."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    return None


def _parse_chain(ders: list[bytes]) -> tuple[CertInfo, ...]:
    chain = []
    for der in ders:
        try:
            chain.append(cert_info(der))
        except Exception:  # noqa: BLE001 - a certificate we cannot parse is shown as missing, not a crash
            continue
    return tuple(chain)
