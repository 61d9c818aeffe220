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
Its parts each have a module: the recorded bytes and the plaintext through TLS (``record_layer.py``), the
TLS handshake step (``handshake.py``), whom TLS trusts and the peer's chain (``trust.py``), failures in
plain words (``failure_words.py``).

Policy enforced here (because only the transport knows the target):
- TLS verification is on unless the user chose ``insecure`` (then every snapshot says so);
- ``server_hostname`` is always passed, so the host name is checked and SNI is sent (``wrap_bio``, unlike
  ``wrap_socket``, would accept none and then check no name at all: ``MemoryTls`` refuses that);
- TLS secrets are written to a key log only when the target names one (``--tls-keys``, SSLKEYLOGFILE);
- AUTH is never written on a plaintext connection to a server other than the built-in one, unless
  the target allows it explicitly.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import time
from collections.abc import Sequence

from smtpstep.protocol.client import (
    Answer,
    CommandNotAllowed,
    Discarded,
    Event,
    ProtocolViolation,
    ServerClosing,
    SmtpClient,
)
from smtpstep.protocol.commands import Command, Connect, DnsLookup, MailFrom, Raw, RcptTo, Verb
from smtpstep.protocol.dsn_parameters import wire_note
from smtpstep.protocol.replies import printable
from smtpstep.protocol.routing import BEFORE_CONNECTING, OK, DnsAnswer
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.certificates import (
    TlsInfo,
)
from smtpstep.protocol.transport.failure_words import resolve_words, socket_words
from smtpstep.protocol.transport.handshake import CLOSE_NOTIFY_TIMEOUT, HandshakeSteps
from smtpstep.protocol.transport.io_requests import Close, OpenConnection, Resolve, Steps, Unread
from smtpstep.protocol.transport.memory_tls import MemoryTls
from smtpstep.protocol.transport.tls_records import TlsConversation
from smtpstep.protocol.transport.wire import (
    CONNECT_TIMEOUT,
    DEFAULT_STEP_TIMEOUT,
    DNS_TIMEOUT,
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


class StepEngine(HandshakeSteps):
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
        self.dns: tuple[DnsAnswer, ...] = ()
        """The answers of the session's DNS steps, in order (RFC 5321 §5.1): what the planner routes by."""
        self._lookup: DnsAnswer | None = None

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
            dns=self.dns,
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
        self._lookup = None
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
            lookup=self._lookup,
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
        if isinstance(first, DnsLookup):
            if self.connected or self.client.pending:
                return Failure("not-allowed", BEFORE_CONNECTING)
            return (yield from self._resolve(first))
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
            for command in group:  # what DSN and REQUIRETLS parameters ask, xtext decoded (RFC 3461 §4)
                said = wire_note(command.parameters) if isinstance(command, (MailFrom, RcptTo)) else None
                if said:
                    self._note(said)
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

    # -- finding the server in DNS -------------------------------------------------------------------

    def _resolve(self, lookup: DnsLookup) -> Steps:
        """A DNS step (RFC 5321 §5.1): the driver asks, the answer is a line of the wire log. An address
        answer routes the connection there (the lesson zone's keep this target's port, the built-in
        server's; real DNS's go to port 25, which the target already holds)."""
        where = self.target.dns
        if where is None:
            return Failure("not-allowed", "this session has no DNS to ask: it connects to the server it was given")
        timeout = self.target.timeout if self.target.timeout is not None else DNS_TIMEOUT
        answer: DnsAnswer = yield Resolve(lookup.name, lookup.rdtype, where, timeout)
        self._lookup = answer
        self.dns = (*self.dns, answer)
        self.record.append(WireChunk(Direction.DNS, b"", False, self._now(), self.steps, note=answer.line()))
        if lookup.rdtype in ("A", "AAAA") and answer.rcode == OK and answer.records and not self.connected:
            self._route_to(lookup.name, answer.records[0])
        return None

    def _route_to(self, host: str, address: str) -> None:
        """Connect to ``address`` from now on, checking the certificate against the MX host's name (unless the
        target names the one to check, as a lesson's does), and calling the server by its name."""
        target = self.target
        shown = f"[{address}]" if ":" in address else address
        self.target = dataclasses.replace(
            target, host=address, server_hostname=target.server_hostname or host,
            label=target.label or f"{host} ({shown}:{target.port})")

    # -- connecting and TLS --------------------------------------------------------------------------

    def _connect(self) -> Steps:
        target = self.target
        timeout = target.timeout if target.timeout is not None else CONNECT_TIMEOUT
        # Port 25 is where mail between servers goes (RFC 5321 §4.5.4.2); providers and networks often block
        # it for outgoing connections, so a client that found an MX in real DNS says so before it tries.
        blocked = target.dns not in (None, "zone") and target.port == 25
        self._note(f"connecting to {target.shown} over TCP"
                   + (" (port 25: many networks and providers block outgoing connections to it)" if blocked else ""))
        hint = "; many networks and providers block outgoing port 25" if blocked else ""
        started = self._now()
        try:
            peer, local = yield OpenConnection(target.host, target.port, timeout)
        except socket.gaierror as error:
            self.client.connection_lost()
            return Failure("resolve", resolve_words(target.host, error))
        except ConnectionRefusedError:
            self.client.connection_lost()
            return Failure("refused", f"nothing is listening on {target.address} (connection refused){hint}")
        except TimeoutError:
            self.client.connection_lost()
            return Failure("timeout", f"no answer from {target.address} within {timeout:g} s{hint}")
        except OSError as error:
            self.client.connection_lost()
            return Failure("connect", f"could not connect to {target.address}: {socket_words(error)}{hint}")
        self.record.raw.append(RawEvent(RawKind.CONNECT, self._now(), step=self.steps, started=started,
                                        client=(str(local[0]), int(local[1])), server=(str(peer[0]), int(peer[1]))))
        self.client.connection_made(implicit_tls=target.security == "tls")
        shown = f"[{peer[0]}]" if ":" in str(peer[0]) else peer[0]
        self._note(f"connected to {target.label or f'{shown}:{peer[1]}'} (TCP handshake done)")
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


__all__ = ["QUICKACK_WINDOW", "StepEngine", "Steps", "quickack", "resolve_words", "socket_words"]
