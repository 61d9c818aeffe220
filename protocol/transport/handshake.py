"""The TLS handshake as a step: STARTTLS's (after its 220) or implicit TLS's (RFC 8314 §3.3, before the
greeting), run through the connection's ``MemoryTls`` record by record, each record a line of the wire
log, and its outcome (``TlsInfo``: version, cipher, chain, verification) or its failure in plain words.

Plaintext that came before the handshake and was never read is thrown away (RFC 3207 §4.2; the client
side of CVE-2011-0411). ``HandshakeSteps`` is a part of ``engine.StepEngine`` (its base class): it uses
the engine's record layer and yields its I/O requests; it does no I/O of its own.
"""

from __future__ import annotations

import ssl
import time

from smtpstep.protocol.client import Discarded, SmtpClient
from smtpstep.protocol.transport.certificates import CertInfo, TlsInfo, chain_from_certificate_message, verify_words
from smtpstep.protocol.transport.failure_words import socket_words
from smtpstep.protocol.transport.io_requests import Steps, Unread
from smtpstep.protocol.transport.memory_tls import MemoryTls
from smtpstep.protocol.transport.record_layer import RecordLayer
from smtpstep.protocol.transport.tls_records import TlsConversation, TlsRecord
from smtpstep.protocol.transport.trust import client_context, parse_chain, peer_chain, sni_sent
from smtpstep.protocol.transport.wire import CONNECT_TIMEOUT, Direction, Failure, RawKind, Target, WireChunk

__all__ = ["CLOSE_NOTIFY_TIMEOUT", "HandshakeSteps"]

CLOSE_NOTIFY_TIMEOUT = 1.0
"""Seconds the close_notify alert may take to write at the end of a TLS session (it is never waited for)."""

_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
            "UNEXPECTED_RECORD")
"""OpenSSL's reasons for bytes that are not a TLS record at all."""


class HandshakeSteps(RecordLayer):
    """The TLS handshake step and what it records."""

    target: Target
    client: SmtpClient
    tls: TlsInfo | None
    tls_history: tuple[TlsInfo, ...]
    client_randoms: tuple[bytes, ...]

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    def _note(self, text: str, direction: str = Direction.NOTE) -> None:
        raise NotImplementedError

    def _lost(self, note: str | None = None, *, abort: bool = False) -> Steps:
        raise NotImplementedError

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
            tls = MemoryTls(client_context(target), target.sni)
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
            chain = peer_chain(tls.obj, verified=False)
            words = verify_words(error.verify_code, error.verify_message)
            self._tls_failed(mode, lines, chain, words, error.verify_code)
            yield from self._lost(abort=True)
            return Failure("tls", f"the server's certificate was not accepted: {words}", verify_code=error.verify_code)
        except ssl.SSLError as error:
            yield from self._flush_alert(tls, lines)
            reason = error.reason or str(error)
            hint = "; the server did not answer with TLS (it may have sent plain text)" if reason in _NOT_TLS else ""
            self._tls_failed(mode, lines, peer_chain(tls.obj, verified=False), f"handshake failed: {reason}{hint}",
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
        chain = peer_chain(tls.obj) or parse_chain(
            chain_from_certificate_message(conv.certificate_message, False) if conv.certificate_message else [])
        cipher = tls.obj.cipher()
        if target.insecure:
            verification = ("NOT VERIFIED: verification was switched off on purpose (--insecure, or a lesson's "
                            "verify = false)")
        else:
            issuer = chain[-1].issuer if chain else "a trusted authority"
            verification = f"trusted: the chain ends at {issuer}, and the name {target.sni} matches"
        info = TlsInfo(
            mode=mode,
            sni=sni_sent(target.sni),
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
        info = TlsInfo(mode=mode, sni=sni_sent(self.target.sni), chain=chain, verified=False, verification=words,
                       verify_code=code, handshake=tuple(lines))
        self.tls = info
        self.tls_history += (info,)
