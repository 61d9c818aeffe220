"""What both transports do between their reads and writes: one step, as a generator of I/O requests.

``StepEngine`` holds the session's ``SmtpClient``, its ``WireRecord`` and TLS facts, and takes a step
(a command and its reply, a pipelined group, the greeting, a handshake) as a generator that yields
I/O requests (``io_requests``: ``OpenConnection``, ``Write``, ``Read``, ``Unread``, ``Close``) and
is sent what each request produced, or has the I/O error thrown into it at the ``yield``. The
requests move raw bytes: TLS lives here, in a ``memory_tls.MemoryTls`` (``ssl.MemoryBIO`` and
``SSLObject``), so every byte on the socket, plaintext and then TLS records, passes through the
engine and is recorded twice: as SMTP in the wire record's chunks (with the records that carried
them), and as the socket's own bytes in its ``raw`` events (what a .pcapng export frames). The TLS
lines of the wire log are the records themselves (``tls_records``), never a private ``ssl`` hook. The two drivers differ only in how they carry the requests out:
``asyncio_driver.AsyncioTransport`` awaits them on asyncio (the TUI), ``blocking_driver.BlockingTransport``
runs them on a plain socket (``smtpstep run``, which then never imports asyncio). So policy,
plain-words failures, the record and the TLS facts are written once. The generator never raises for
what a server or the network does: the client's events (``client.Event``) become the step's answers,
its discarded bytes, or its ``Failure`` (a protocol violation, or the server closing the session).

Policy enforced here (because only the transport knows the target):
- TLS verification is on unless the user chose ``insecure`` (then every snapshot says so);
- ``server_hostname`` is always passed, so the host name is checked and SNI is sent (``wrap_bio``, unlike
  ``wrap_socket``, would accept none and then check no name at all: ``MemoryTls`` refuses that);
- TLS secrets are written to a key log only when the target names one (``--tls-keys``, SSLKEYLOGFILE);
- AUTH is never written on a plaintext connection to a server other than the built-in one, unless
  the target allows it explicitly.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Generator, Sequence
from typing import Any

from smtpstep.protocol.client import (
    Answer,
    CommandNotAllowed,
    Discarded,
    Event,
    ProtocolViolation,
    ServerClosing,
    SmtpClient,
)
from smtpstep.protocol.commands import Command, Connect, Raw, Verb
from smtpstep.protocol.replies import printable
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.certificates import (
    CertInfo,
    TlsInfo,
    cert_info,
    cert_info_of,
    chain_from_certificate_message,
    verify_words,
)
from smtpstep.protocol.transport.io_requests import Close, IoRequest, OpenConnection, Read, Unread, Write
from smtpstep.protocol.transport.memory_tls import MemoryTls, prepare_keylog
from smtpstep.protocol.transport.tls_records import TlsConversation, TlsRecord, summarize
from smtpstep.protocol.transport.wire import (
    CONNECT_TIMEOUT,
    DEFAULT_STEP_TIMEOUT,
    READ_SIZE,
    STEP_TIMEOUTS,
    Direction,
    Failure,
    RawEvent,
    RawKind,
    Snapshot,
    StepResult,
    Target,
    WireChunk,
    WireRecord,
)

QUICKACK_WINDOW = 0.1
"""Seconds at the start of each wait for a reply during which the driver keeps ACKs quick (see ``quickack``)."""

Steps = Generator[IoRequest, Any, Any]
"""A step: yields ``IoRequest`` values (``io_requests``), is sent what each produced, returns its result."""

CLOSE_NOTIFY_TIMEOUT = 1.0
"""Seconds the close_notify alert may take to write at the end of a TLS session (it is never waited for)."""

_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
            "UNEXPECTED_RECORD")
"""OpenSSL's reasons for bytes that are not a TLS record at all."""


def quickack(sock: socket.socket | None) -> None:
    """Ask Linux to ACK at once instead of delaying the ACK (no-op elsewhere).

    Why: a TLS 1.3 server sends its session ticket just after the handshake; if EHLO crosses it,
    the kernel delays the ACK for the ticket by ~40 ms, and a server with Nagle on (Postfix) holds
    its reply until that ACK comes: a 40 ms stall on every EHLO after STARTTLS
    (benchmarks/results/starttls_stall.md). QUICKACK is not sticky, hence re-armed while waiting
    (the first ``QUICKACK_WINDOW`` of every wait for a reply).
    """
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


def resolve_words(host: str, error: BaseException) -> str:
    # strerror, not str(error): "[Errno -2] Name or service not known" is Python's text, not plain words.
    said = getattr(error, "strerror", None) or str(error)
    return f"the host name “{host}” could not be resolved; check its spelling ({said})"


_SOCKET_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionResetError, "the server reset the connection"),
    (BrokenPipeError, "the server had already closed the connection"),
    (ConnectionAbortedError, "the connection was aborted"),
)


def socket_words(error: BaseException) -> str:
    """An ``OSError`` or ``ssl.SSLError`` in plain words, without Python's class names and errno
    brackets (the Failure message is shown to a student as is; the style guide wants no Python text)."""
    if isinstance(error, ssl.SSLError):
        return f"TLS error {error.reason}" if error.reason else "a TLS error"
    for kind, words in _SOCKET_WORDS:
        if isinstance(error, kind):
            return words
    said = getattr(error, "strerror", None) or str(error)
    return said[:1].lower() + said[1:] if said else "an error of the operating system"


class StepEngine:
    """The session a transport runs: the client, the record, the TLS facts, and the steps themselves."""

    def __init__(self, target: Target, *, listener=None) -> None:  # type: ignore[no-untyped-def]
        self.target = target
        self.client = SmtpClient()
        self.record = WireRecord(listener)
        self.tls: TlsInfo | None = None
        self.tls_history: tuple[TlsInfo, ...] = ()
        self.steps = 0
        self.last: Answer | None = None
        self.failure: Failure | None = None
        self.client_randoms: tuple[bytes, ...] = ()
        """Each TLS connection's client random (from our own ClientHello): its lines in a key log."""
        self._t0 = time.monotonic()
        self.record.started = time.time()
        self._tls: MemoryTls | None = None
        self._conv: TlsConversation | None = None
        self._plain = b""
        """Plaintext decrypted but not yet handed to the client (records that came with the handshake's last)."""
        self._server_pos = 0
        """Server bytes fed to the record reader since the handshake began."""

    @property
    def connected(self) -> bool:
        raise NotImplementedError

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

    # -- the step, as requests to the driver -------------------------------------------------------

    def _step(self, commands: Command | Sequence[Command], force: bool) -> Steps:
        """One step; returns its ``StepResult``."""
        group = (commands,) if isinstance(commands, Command) else tuple(commands)
        start, wire_start = time.monotonic(), len(self.record)
        self.steps += 1
        self.failure = None
        answers: list[Answer] = []
        discarded: list[Discarded] = []
        failure = yield from self._run(group, force, answers, discarded)
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

    def _run(self, group: tuple[Command, ...], force: bool, answers: list[Answer],
             discarded: list[Discarded]) -> Steps:
        first = group[0]
        if isinstance(first, Connect):
            try:
                self.client.send(first, force=force)
            except CommandNotAllowed as refusal:
                return Failure("not-allowed", str(refusal))
            return (yield from self._connect())
        if first.verb == Verb.TLS_HANDSHAKE:
            try:
                self.client.send(first, force=force)
            except CommandNotAllowed as refusal:
                return Failure("not-allowed", str(refusal))
            return (yield from self._handshake(discarded))
        if self.connected and self.client.idle:
            failure = yield from self._read_unsolicited(answers, discarded)
            if failure is not None:
                return failure
        # Build the whole group first: nothing is written unless every command may go.
        parts: list[bytes] = []
        size = 0
        secrets: list[tuple[int, int]] = []
        for command in group:
            blocked = self._policy(command)
            if blocked is not None:
                self.client.withdraw(len(parts))
                return blocked
            try:
                out = self.client.send(command, force=force)
            except CommandNotAllowed as refusal:
                self.client.withdraw(len(parts))
                return Failure("not-allowed", str(refusal))
            secrets.extend((s + size, e + size) for s, e in out.secrets)
            parts.append(bytes(out.data))
            size += len(out.data)
        if not self.connected:
            self.client.connection_lost()
            return Failure("closed", "there is no connection; reconnect to start a new session")
        # One bytes object for the record and the write: a 25 MB message is not copied again.
        outgoing = parts[0] if len(parts) == 1 else b"".join(parts)
        del parts
        if outgoing:
            timeout = self._timeout(group[-1].verb)
            pieces, layer = self._encrypt(outgoing)
            self.record.append(
                WireChunk(Direction.CLIENT, outgoing, self._tls_on(), self._now(), self.steps, tuple(secrets),
                          layer=layer)
            )
            try:
                for piece in pieces:
                    yield from self._write_raw(piece, timeout, () if self._tls else tuple(secrets))
            except TimeoutError:
                yield from self._lost()
                return Failure("timeout", f"the server did not take the data within {timeout:g} s")
            except OSError as error:
                yield from self._lost()
                return Failure("closed", f"the connection broke while sending ({socket_words(error)})")
        return (yield from self._read_replies(answers, discarded, group[-1].verb))

    def _read_replies(self, answers: list[Answer], discarded: list[Discarded], verb: Verb) -> Steps:
        timeout = self._timeout(verb)
        # One deadline for the whole reply, not a fresh timeout per read: a server that drips one
        # byte just before each timeout (or an endless multi-line reply) would otherwise hold the
        # step forever. RFC 5321 §4.5.3.2 times the wait for the reply, not for each segment.
        since = time.monotonic()
        deadline = since + timeout
        while self.client.pending:
            try:
                data, layer = yield from self._receive(deadline, since)
            except TimeoutError:
                waited = _awaited(self.client.pending[0])
                yield from self._lost()
                return Failure(
                    "timeout",
                    f"no complete {waited} within {timeout:g} s; the server may be stalled "
                    "(RFC 5321 §4.5.3.2 sets the client's timeouts)",
                )
            except OSError as error:
                yield from self._lost(abort=True)
                return Failure("closed", f"the connection broke ({socket_words(error)})")
            if not data:
                waiting = _awaited(self.client.pending[0]) if self.client.pending else "reply"
                yield from self._lost()
                return Failure("closed", f"the server closed the connection while the client waited for the "
                                         f"{waiting}")
            self._server_chunk(data, layer)
            failure = self._apply(self.client.receive_data(data), answers, discarded)
            if failure is not None:
                yield from self._lost()
                return failure
        if self.client.settled is State.CLOSED:
            yield from self._lost(note="the connection is closed")
        return None

    def _read_unsolicited(self, answers: list[Answer], discarded: list[Discarded]) -> Steps:
        """Before writing to a server that owes nothing, read what it sent meanwhile (without waiting).

        RFC 5321 §3.8 lets a server announce at any time that it closes the session (421). Unread, that
        421 would be taken as the reply to the next command; read now, it ends the step before anything
        is written. Anything else a server sends unasked is a protocol error. One read's worth at most:
        the first reply decides.
        """
        if self._plain:
            data, layer, self._plain = self._plain, "came in with the handshake's last records", b""
        else:
            try:
                raw = yield Unread(READ_SIZE)
            except OSError:
                return None  # a broken connection shows itself on the write and read that follow
            if not raw:
                return None
            self._raw(RawKind.DATA, Direction.SERVER, raw)
            if self._tls is None:
                data, layer = raw, ""
            else:
                try:
                    data, layer = self._absorb(self._split(raw))
                except ssl.SSLError as error:
                    yield from self._lost(abort=True)
                    return Failure("closed", f"the connection broke ({socket_words(error)})")
            if not data:
                return None
        self._server_chunk(data, layer)
        failure = self._apply(self.client.receive_data(data), answers, discarded)
        if failure is not None:
            yield from self._lost()
        return failure

    def _apply(self, events: list[Event], answers: list[Answer], discarded: list[Discarded]) -> Failure | None:
        """Keep the client's events in the step; the failure that ends the step, if one does.

        Answers that came before a protocol error or a 421 are kept: they were complete replies.
        """
        failure = None
        for event in events:
            match event:
                case Answer():
                    answers.append(event)
                    self.last = event
                case Discarded(reason=reason):
                    discarded.append(event)
                    self._note(reason)
                case ServerClosing(reply=reply):
                    self._note("the server announced that it closes the session: a 421 no command asked for "
                               "(RFC 5321 §3.8)")
                    failure = Failure("closed", f"the server closed the session: {printable(reply.first_line)}",
                                      reply.to_bytes())
                case ProtocolViolation(message=message, raw=raw):
                    failure = Failure("protocol", message, raw)
        return failure

    def _lost(self, note: str | None = None, *, abort: bool = False) -> Steps:
        """Close the connection: under TLS, our close_notify alert first (RFC 8446 §6.1), never waiting for
        the server's; ``abort`` (the connection broke) skips it."""
        if note:
            self._note(note)
        tls, self._tls, self._conv, self._plain = self._tls, None, None, b""
        if tls is not None and not abort and self.connected:
            notify = tls.close_notify()
            if notify:
                try:
                    yield from self._write_raw(notify, CLOSE_NOTIFY_TIMEOUT)
                except OSError:
                    pass
        yield Close()

    # -- raw bytes through the TLS object ----------------------------------------------------------

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

    # -- connecting and TLS --------------------------------------------------------------------------

    def _connect(self) -> Steps:
        target = self.target
        timeout = target.timeout if target.timeout is not None else CONNECT_TIMEOUT
        self._note(f"connecting to {target.shown} over TCP")
        started = self._now()
        try:
            peer, local = yield OpenConnection(target.host, target.port, timeout)
        except socket.gaierror as error:
            self.client.connection_lost()
            return Failure("resolve", resolve_words(target.host, error))
        except ConnectionRefusedError:
            self.client.connection_lost()
            return Failure("refused", f"nothing is listening on {target.address} (connection refused)")
        except TimeoutError:
            self.client.connection_lost()
            return Failure("timeout", f"no answer from {target.address} within {timeout:g} s")
        except OSError as error:
            self.client.connection_lost()
            return Failure("connect", f"could not connect to {target.address}: {socket_words(error)}")
        self.record.raw.append(RawEvent(RawKind.CONNECT, self._now(), step=self.steps, started=started,
                                        client=(str(local[0]), int(local[1])), server=(str(peer[0]), int(peer[1]))))
        self.client.connection_made(implicit_tls=target.security == "tls")
        shown = f"[{peer[0]}]" if ":" in str(peer[0]) else peer[0]
        self._note(f"connected to {target.label or f'{shown}:{peer[1]}'} (TCP handshake done)")
        return None

    def _context(self) -> ssl.SSLContext:
        # The system's roots are looked up lazily by hash in their directory: create_default_context()
        # reads the whole bundle (~140 roots, 20-40 ms) on every handshake (benchmarks/results/
        # headless_session.md). The built-in server is trusted through its own CA only.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
        if not (self.target.builtin and self.target.ca_pem and self.target.ca_file is None):
            _load_system_roots(ctx)
        if self.target.ca_file is not None:
            ctx.load_verify_locations(cafile=str(self.target.ca_file))
        if self.target.ca_pem:
            ctx.load_verify_locations(cadata=self.target.ca_pem.decode("ascii"))
        if self.target.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.target.keylog:
            # Only on request: PROTOCOL_TLS_CLIENT contexts never read SSLKEYLOGFILE by themselves.
            prepare_keylog(self.target.keylog)
            ctx.keylog_filename = self.target.keylog
        return ctx

    def _handshake(self, discarded: list[Discarded]) -> Steps:
        target = self.target
        mode = "tls" if self.client.session.implicit_tls and self.client.session.greeting is None else "starttls"
        if not self.connected:
            self.client.connection_lost()
            return Failure("closed", "there is no connection to start TLS on")
        unread = yield Unread()
        if unread:
            self._raw(RawKind.DATA, Direction.SERVER, unread)
        self._discard_plaintext(unread, discarded, mode)
        lines: list[str] = []
        conv = self._conv = TlsConversation()
        self._server_pos = 0
        try:
            tls = MemoryTls(self._context(), target.sni)
        except (OSError, ValueError) as error:  # an unreadable key log file, say
            yield from self._lost(abort=True)
            return Failure("tls", f"TLS could not be set up ({socket_words(error) if isinstance(error, OSError) else error})")
        self.record.append(WireChunk(Direction.TLS, b"", False, self._now(), self.steps, note="TLS handshake starts"))
        if target.keylog:
            self._tls_note(f"this connection's TLS keys go to {target.keylog} (asked for): that file decrypts the "
                           "session, AUTH and its password included")
        timeout = target.timeout if target.timeout is not None else CONNECT_TIMEOUT
        since = time.monotonic()
        deadline = since + timeout  # one deadline for the whole handshake, as for a reply
        rest: list[tuple[TlsRecord | None, bytes]] = []
        try:
            done = tls.handshake()
            while True:
                out = tls.take_output()
                if out:
                    yield from self._handshake_write(out, timeout, lines)
                if done:
                    break
                raw = yield from self._read_raw(deadline, since)
                if not raw:
                    tls.feed(b"")  # OpenSSL names the end of the stream in the handshake
                    done = tls.handshake()
                    continue
                pieces = self._split(raw)
                # Record by record: what follows the record that completes the handshake (an implicit-TLS
                # greeting can share the read) is decrypted afterwards, as application data.
                for n, (record, piece) in enumerate(pieces):
                    if record is not None:
                        self._handshake_line("← " + record.describe(not target.steady), lines)
                    tls.feed(piece)
                    if record is not None and not done:
                        done = tls.handshake()
                        if done:
                            rest = pieces[n + 1:]
                            break
        except ssl.SSLCertVerificationError as error:
            yield from self._flush_alert(tls, lines)
            chain = _peer_chain(tls.obj, verified=False)
            words = verify_words(error.verify_code, error.verify_message)
            self._tls_failed(mode, lines, chain, words, error.verify_code)
            yield from self._lost(abort=True)
            return Failure("tls", f"the server's certificate was not accepted: {words}", verify_code=error.verify_code)
        except ssl.SSLError as error:
            yield from self._flush_alert(tls, lines)
            reason = error.reason or str(error)
            hint = "; the server did not answer with TLS (it may have sent plain text)" if reason in _NOT_TLS else ""
            self._tls_failed(mode, lines, _peer_chain(tls.obj, verified=False), f"handshake failed: {reason}{hint}",
                             None)
            yield from self._lost(abort=True)
            return Failure("tls", f"the TLS handshake failed ({reason}){hint}")
        except TimeoutError:
            self._tls_failed(mode, lines, (), "the handshake timed out", None)
            yield from self._lost(abort=True)
            return Failure("timeout", f"the TLS handshake did not finish within {timeout:g} s")
        except OSError as error:
            self._tls_failed(mode, lines, (), f"the connection broke: {socket_words(error)}", None)
            yield from self._lost(abort=True)
            return Failure("closed", f"the connection broke during the TLS handshake ({socket_words(error)})")
        self._tls = tls
        if conv.client_random is not None:
            self.client_randoms += (conv.client_random,)
        chain = _peer_chain(tls.obj) or _parse_chain(
            chain_from_certificate_message(conv.certificate_message, False) if conv.certificate_message else [])
        cipher = tls.obj.cipher()
        if target.insecure:
            verification = "NOT VERIFIED: verification was switched off on purpose (--insecure)"
        else:
            issuer = chain[-1].issuer if chain else "a trusted authority"
            verification = f"trusted: the chain ends at {issuer}, and the name {target.sni} matches"
        info = TlsInfo(
            mode=mode,
            sni=_sni_sent(target.sni),
            version=tls.obj.version(),
            cipher=cipher[0] if cipher else None,
            cipher_bits=cipher[2] if cipher else None,
            chain=chain,
            verified=not target.insecure,
            verification=verification,
            insecure=target.insecure,
            handshake=tuple(lines),
        )
        self.tls = info
        self.tls_history += (info,)
        self.client.tls_established()
        self.record.append(
            WireChunk(Direction.TLS, b"", True, self._now(), self.steps,
                      note=f"TLS established: {info.version}, {info.cipher}")
        )
        if rest:
            try:
                self._plain, _ = self._absorb(rest)
            except ssl.SSLError as error:
                yield from self._lost(abort=True)
                return Failure("closed", f"the connection broke ({socket_words(error)})")
        return None

    def _handshake_line(self, line: str, lines: list[str]) -> None:
        lines.append(line)
        self.record.append(WireChunk(Direction.TLS, b"", False, self._now(), self.steps, note=line))

    def _handshake_write(self, data: bytes, timeout: float, lines: list[str]) -> Steps:
        assert self._conv is not None
        for record in self._conv.feed(Direction.CLIENT, data):
            self._handshake_line("→ " + record.describe(), lines)
        yield from self._write_raw(data, timeout)

    def _flush_alert(self, tls: MemoryTls, lines: list[str]) -> Steps:
        """Write the alert OpenSSL queued for a failed handshake, so that the server (and a capture) see why."""
        out = tls.take_output()
        if out and self.connected:
            try:
                yield from self._handshake_write(out, CLOSE_NOTIFY_TIMEOUT, lines)
            except OSError:
                pass

    def _discard_plaintext(self, data: bytes, discarded: list[Discarded], mode: str) -> None:
        """Throw away plaintext that arrived before the TLS handshake but was never read.

        ``SmtpClient`` discards what came in the same read as the 220. Bytes that came later (say,
        while a student paused before the handshake step) wait in the driver's buffer or the
        socket's, and the handshake would leave them there: the first read after the handshake
        would return them as if they had come under TLS, and an attacker's "250" would answer the
        next EHLO (RFC 3207 §4.2; CVE-2011-0411). The driver's ``unread`` request takes them out.
        """
        if not data:
            return
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

    def _tls_failed(self, mode: str, lines: list[str], chain: tuple[CertInfo, ...], words: str,
                    code: int | None) -> None:
        info = TlsInfo(mode=mode, sni=_sni_sent(self.target.sni), chain=chain, verified=False, verification=words,
                       verify_code=code, handshake=tuple(lines))
        self.tls = info
        self.tls_history += (info,)


def _load_system_roots(ctx: ssl.SSLContext) -> None:
    """Trust the system's roots as ``create_default_context`` does, but through the hashed directory
    when there is one: OpenSSL then reads a root only when a chain needs it, where a bundle file is
    parsed whole at once (20-40 ms). A bundle named in ``SSL_CERT_FILE`` is read as well, unless it
    is the system's own bundle, which holds the same roots as the directory."""
    paths = ssl.get_default_verify_paths()
    named = os.environ.get(paths.openssl_cafile_env)
    own_bundle = not named or os.path.realpath(named) == os.path.realpath(paths.openssl_cafile)
    if own_bundle and paths.capath and _has_hashed_roots(paths.capath):
        ctx.load_verify_locations(capath=paths.capath)
    else:
        ctx.load_default_certs()


def _has_hashed_roots(capath: str) -> bool:
    """Whether the directory holds OpenSSL's hash links (``5ad8a5d6.0``), not just loose PEM files."""
    try:
        with os.scandir(capath) as entries:
            return any(len(e.name) == 10 and e.name[8] == "." and e.name[9].isdigit() for e in entries)
    except OSError:
        return False


def _peer_chain(ssl_object: Any, *, verified: bool = True) -> tuple[CertInfo, ...]:
    """The chain the peer presented: the verified chain when there is one, else the unverified one.

    After a failed verification only what the server sent is shown (``verified=False``): OpenSSL's
    verified chain is then what it had built so far, and must not be shown as verified."""
    if ssl_object is None:
        return ()
    sslobj = getattr(ssl_object, "_sslobj", ssl_object)
    names = ("get_verified_chain", "get_unverified_chain") if verified else ("get_unverified_chain",)
    for name in names:  # public from Python 3.13, private on 3.11
        getter = getattr(ssl_object, name, None) or getattr(sslobj, name, None)
        try:
            certs = list(getter() or ()) if getter is not None else []
        except Exception:  # noqa: BLE001 - fall back to the next source
            certs = []
        chain = tuple(info for info in (_info_of(cert) for cert in certs) if info is not None)
        if chain:
            return chain
    try:
        leaf = ssl_object.getpeercert(binary_form=True)
    except ValueError:  # no handshake yet (a failure before the certificate)
        return ()
    return _parse_chain([leaf] if leaf else [])


def _info_of(cert: Any) -> CertInfo | None:
    try:
        return cert_info_of(cert) if not isinstance(cert, bytes) else cert_info(cert)
    except Exception:  # noqa: BLE001 - a certificate we cannot parse is shown as missing, not a crash
        return None


def _awaited(command: Command) -> str:
    """What the client waits for, in words: "reply to EHLO client.test", "220 greeting".

    Pseudo-steps have labels in parentheses ("(wait for the 220 greeting)"), which read badly after
    "the reply to" in a failure sentence (one plain sentence on stderr).
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
