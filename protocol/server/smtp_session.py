"""aiosmtpd glue: the handler that applies the server's policy and scenario to each command, and the
SMTP session class with smtpstep's limits and its faster set-up.

Everything here runs on the server's event loop. Storage and facts live in ``server.LocalServer``.

aiosmtpd's documented extension points are used where they exist: the handler's ``handle_*`` hooks and
``auth_*`` mechanisms, the ``authenticator``, and ``SMTP`` as a subclass (``data_received`` and
``connection_made`` are asyncio's public protocol methods, extended with ``super()``). Two fast paths
have no such point and lean on aiosmtpd's internals: ``SessionTemplate`` (the fields ``SMTP.__init__``
sets, in ``session_setup.py``, whose reader leans on asyncio's ``StreamReader.feed_data``) and
``SmtpSession._getaddr``.

Where aiosmtpd 1.4.6 contradicts the RFCs the lessons teach, ``SmtpSession`` answers first and leaves
the rest to aiosmtpd's own ``smtp_*`` method: a second STARTTLS inside TLS gets 503 (aiosmtpd says 220
and starts a handshake inside TLS), AUTH inside a mail transaction gets 503 (RFC 4954 §4), and DATA
after a BDAT chunk gets 503 (RFC 3030 §2). aiosmtpd has no CHUNKING: ``smtp_BDAT`` adds it (below), on
the envelope (``ChunkedEnvelope``) so that RSET, EHLO and the end of a message clear it as they clear
the rest of the transaction. aiosmtpd knows no DSN or REQUIRETLS parameter either: ``smtp_MAIL`` and
``smtp_RCPT`` read them where the scenario advertises them (RFC 3461 §4, RFC 8689 §2), answer a bad value with
501 5.5.4, keep them on the envelope (``ChunkedEnvelope.dsn``, ``dsn_recipients``) and pass the rest on.
aiosmtpd is pinned below 1.5 for them, and ``tests/protocol/server/test_dependencies.py`` fails, naming
the upstream function and what to re-check, when the installed code differs from what they were written
against. Nothing here may copy more of aiosmtpd without an entry there.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session, syntax

from smtpstep.protocol.dsn_parameters import DsnRecipient, DsnRequest, DsnSyntaxError, read_mail, read_rcpt
from smtpstep.protocol.server.facts import BANNER_NAME, DEMO_PASSWORD, DEMO_TOKEN, DEMO_USER
from smtpstep.protocol.server.logins import authenticate, token_credentials, without_token_mechanisms
from smtpstep.protocol.server.policy import recipient_policy
from smtpstep.protocol.text import is_utf8

if TYPE_CHECKING:
    from smtpstep.protocol.server.scenarios import Scenario
    from smtpstep.protocol.server.server import LocalServer
    from smtpstep.protocol.server.session_setup import SessionTemplate

log = logging.getLogger("smtpstep.local_server")

_NOT_UTF8 = "501 {code} Syntax error: {what} holds bytes that are not UTF-8 (RFC 6531 section 3.3)"
"""The reply to a command argument that is not UTF-8 (aiosmtpd decodes arguments as UTF-8 with surrogate
escapes, so such bytes arrive as lone surrogates). RFC 5321 §4.2.2: 501 is a syntax error in the arguments;
the text is ASCII, as a reply to a client that may not have asked for SMTPUTF8."""


class ListenerHandler:
    """aiosmtpd handler for one listener; policy lives here and storage in ``LocalServer``.

    aiosmtpd finds ``handle_*`` hooks and ``auth_*`` mechanisms on this object by name, so it must
    have no other attributes that start with those prefixes.
    """

    def __init__(self, server: LocalServer, listener: str) -> None:
        self._server = server
        self.listener = listener

    async def handle_EHLO(
        self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        if not is_utf8(hostname):
            return [_NOT_UTF8.format(code="5.5.4", what="the EHLO name")]
        # With an EHLO hook, aiosmtpd leaves recording the client's name to the hook.
        session.host_name = hostname
        lines = list(responses)
        if isinstance(smtp, SmtpSession) and smtp.takes_chunks and len(lines) > 1:
            lines.insert(len(lines) - 1, f"{lines[0][:3]}-CHUNKING")  # RFC 3030 §2: the EHLO keyword
        if not self._server.hooks.token_login:
            lines = [without_token_mechanisms(line) for line in lines]
        if self.hooks.offers_dsn(self.listener) and len(lines) > 1:
            lines.insert(len(lines) - 1, f"{lines[0][:3]}-DSN")  # RFC 3461 §4: the EHLO keyword
        if self.hooks.requiretls and isinstance(smtp, SmtpSession) and smtp.tls_active and len(lines) > 1:
            # RFC 8689 §2: the keyword. Offered only under TLS, where a client may use it (§4.2.1), as Exim does.
            lines.insert(len(lines) - 1, f"{lines[0][:3]}-REQUIRETLS")
        return self._server.hooks.ehlo(lines)

    @property
    def hooks(self) -> Scenario:
        """The server's scenario now (it may change between sessions)."""
        return self._server.hooks

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not is_utf8(address) or not all(map(is_utf8, options)):
            return _NOT_UTF8.format(code="5.1.7", what="the sender address or a parameter")
        refusal = self._server.hooks.mail(session, address, options)
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"  # RFC 3463 §3.2: X.1.0 other address status

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not is_utf8(address) or not all(map(is_utf8, options)):
            return _NOT_UTF8.format(code="5.1.3", what="the recipient address or a parameter")
        refusal = recipient_policy(address) or self._server.hooks.rcpt(session, envelope, address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"  # RFC 3463 §3.2: X.1.5 destination address valid

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self._server.hooks.data(session, envelope)
        if refusal:
            return refusal
        return await self._server.accept(self.listener, smtp, session, envelope)

    async def handle_RSET(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 OK"

    async def handle_NOOP(self, smtp: SMTP, session: Session, envelope: Envelope, arg: str) -> str:
        return "250 2.0.0 OK"

    async def handle_QUIT(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        return "221 2.0.0 Bye"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default logs a traceback at ERROR level. A client hanging up during the TLS
        # handshake (the usual way a client rejects the certificate) lands here too. A reply names the
        # problem in words, never a Python exception's name.
        log.debug("session error", exc_info=error)
        if isinstance(error, UnicodeError):
            return _NOT_UTF8.format(code="5.5.2", what="the command")
        return "451 4.3.0 Local server error: the server could not handle this command; try again later"

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:
        """AUTH XOAUTH2 (Google's, non-standard): ``user=<user>^Aauth=Bearer <token>^A^A`` in base64. A refused
        token gets a 334 with a JSON error, which the client answers with an empty line, then 535."""
        return await self._token_login(smtp, args, {"status": "401", "schemes": "bearer"})

    async def auth_OAUTHBEARER(self, smtp: SMTP, args: list[str]) -> AuthResult:
        """AUTH OAUTHBEARER (RFC 7628 §3.1): a GS2 header ``n,a=<user>,`` then ``key=value`` pairs ended by
        0x01. A refused token gets a 334 with a JSON error (RFC 7628 §3.2.2), answered with 0x01, then 535."""
        return await self._token_login(smtp, args, {"status": "invalid_token"})

    async def _token_login(self, smtp: SMTP, args: list[str], error: dict[str, str]) -> AuthResult:
        if not self._server.hooks.token_login:
            await smtp.push("504 5.5.4 Unrecognized authentication type")  # aiosmtpd's words for the unknown
            return AuthResult(success=False, handled=True)
        if len(args) == 2:
            try:
                response: Any = base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                await smtp.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            response = await smtp.challenge_auth(b"")  # the empty 334 that asks for it (RFC 4954 §4)
            if response is MISSING:
                return AuthResult(success=False, handled=True)  # challenge_auth already replied 501
        user, token = token_credentials(args[0].upper(), response)
        if hmac.compare_digest(user, DEMO_USER.encode()) & hmac.compare_digest(token, DEMO_TOKEN.encode()):
            return AuthResult(success=True, auth_data=DEMO_USER)
        # RFC 7628 §3.2.2: the failure is a challenge carrying a JSON error; the client answers it, then the
        # server fails the exchange (535 5.7.8, RFC 4954 §6).
        answer = await smtp.challenge_auth(json.dumps(error, separators=(",", ":")).encode())
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)  # aiosmtpd sends 535 5.7.8

    async def auth_CRAM__MD5(self, smtp: SMTP, args: list[str]) -> AuthResult:
        """AUTH CRAM-MD5 (RFC 2195); aiosmtpd turns the ``__`` in the name into ``-``."""
        if len(args) != 1:
            # RFC 2195 has the server speak first, so there is no initial response (RFC 4954 §4).
            await smtp.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{secrets.randbelow(10**12)}.{secrets.token_hex(4)}@{BANNER_NAME}>".encode()
        response = await smtp.challenge_auth(challenge)
        if response is MISSING:
            return AuthResult(success=False, handled=True)  # challenge_auth already replied 501
        assert isinstance(response, bytes)
        user, _, digest = response.rpartition(b" ")
        expected = hmac.new(DEMO_PASSWORD.encode(), challenge, "md5").hexdigest().encode()
        if hmac.compare_digest(user, DEMO_USER.encode()) & hmac.compare_digest(digest.lower(), expected):
            return AuthResult(success=True, auth_data=DEMO_USER)
        return AuthResult(success=False, handled=False)  # handled=True would leave the client hanging


MAX_UNENDED_LINE = 1024 * 1024
"""Most octets a client may send without a line end before the server hangs up (421). RFC 5321
§4.5.3.1.6 allows 1000 per line, and aiosmtpd answers a longer one with 500, but only once its CRLF
arrives; in DATA it keeps every byte of the line until then, whatever the size limit. Without this
cap one endless line fills the teacher's memory (found by the load tests)."""


def _path_and_parameters(arg: str) -> tuple[str, list[str]]:
    """``FROM:<path>`` (or ``TO:<path>``) and the parameter words after it (RFC 5321 §4.1.2: the parameters
    follow the path after a space)."""
    head, bracket, tail = arg.partition(">")
    if not bracket:
        return arg, []
    return head + bracket, tail.split()


def _bad_parameter(error: DsnSyntaxError) -> str:
    # RFC 5321 §4.2.2: 501 is a syntax error in the arguments; RFC 3463 §3.6: X.5.4 "invalid command arguments".
    return f"501 5.5.4 Syntax error in parameters: {error}"


class ChunkedEnvelope(Envelope):
    """aiosmtpd's envelope, plus the BDAT chunks of the transaction (RFC 3030 §2)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: bytearray | None = None
        """The message so far, once a BDAT chunk was accepted; None while the transaction has none."""
        self.chunk_failed = False
        """A chunk was refused: the transaction's state is indeterminate until RSET (RFC 3030 §2)."""
        self.dsn = DsnRequest()
        """What MAIL FROM asked of delivery reports (RET, ENVID, RFC 3461 §4.3, §4.4) and REQUIRETLS (RFC 8689
        §4.1); empty when it asked nothing, or the scenario advertises neither DSN nor REQUIRETLS."""
        self.dsn_recipients: list[DsnRecipient] = []
        """Each accepted RCPT TO's NOTIFY and ORCPT (RFC 3461 §4.1, §4.2), in RCPT order; only where DSN is
        advertised (recipients accepted without DSN are not listed)."""


BDAT_READ = 64 * 1024
"""Octets of a BDAT chunk read at a time: a big chunk is read (and, if refused, thrown away) in pieces."""

_BDAT_ARGUMENTS = re.compile(r"^(\d{1,12})(?: +(LAST))?$", re.IGNORECASE)
"""RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT; end-marker = "LAST"."""


class SmtpSession(SMTP):
    """aiosmtpd's SMTP protocol, plus hanging up at once on a connection that arrives while the
    server stops (accepted just before the listener closed, set up just after), and on a line that
    never ends (``MAX_UNENDED_LINE``).

    Given a ``SessionTemplate``, a new session copies the set-up aiosmtpd's ``SMTP.__init__``
    worked out once for its listener instead of working it out again (about 0.1 ms a connection,
    a sixth of the event loop's busy time under a class's load). It also reads the common
    ``<local@domain>`` address without the e-mail header parser (``_getaddr``).
    """

    def __init__(self, handler: Any, *, is_stopping: Callable[[], bool],
                 template: SessionTemplate | None = None, **kwargs: Any) -> None:
        if template is not None and template.fast:
            template.apply(self)
        else:
            super().__init__(handler, **kwargs)
        self._is_stopping = is_stopping
        self._unended = 0
        """Octets received since the last line feed (plaintext or, after TLS, decrypted)."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses every MAIL and RCPT address with email's header parser, building a token
        # tree and, on each call, a typing.Protocol class: an eighth of the loop's busy time
        # under load. A plain <dot-atom@dot-atom> (RFC 5321 §4.1.2 Mailbox, without quoted
        # strings, address literals or comments) gives the same result read directly; anything
        # else goes to aiosmtpd's parser. test_local_server_concurrency.py checks they agree.
        match = _SIMPLE_ANGLE_ADDRESS.match(arg)
        if match is None or self.local_part_limit:
            return super()._getaddr(arg)
        rest = arg[match.end():]
        if rest[:1] in (" ", "\t"):
            rest = rest.lstrip()  # the header parser drops folding white space (all of str.isspace)
        if rest[:1] == "(":
            return super()._getaddr(arg)  # a comment (CFWS, RFC 5322 §3.2.2): the parser drops it
        return match.group(1), rest

    # -- what aiosmtpd 1.4.6 answers otherwise than the RFCs ---------------------------------------

    @property
    def tls_active(self) -> bool:
        """TLS is on: after STARTTLS, or from the first byte (implicit TLS, RFC 8314 §3.3)."""
        return self.transport is not None and self.transport.get_extra_info("ssl_object") is not None

    @property
    def takes_chunks(self) -> bool:
        """Whether BDAT reaches ``smtp_BDAT`` here, so CHUNKING may be advertised. Not on a listener that
        requires STARTTLS, before TLS: aiosmtpd answers 530 there before any command method runs, and would
        read the chunk after a BDAT as commands (RFC 3030 §2 wants it read and thrown away)."""
        return not (self.require_starttls and not self.tls_active)

    def _create_envelope(self) -> Envelope:
        return ChunkedEnvelope()

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        # RFC 3207 §4.2: "A client MUST NOT attempt to start a TLS session if a TLS session is already
        # active", and the server no longer offers STARTTLS. The RFC names no reply code; such a command is
        # out of sequence, and 503 is the reply for that (RFC 5321 §4.1.4, §4.2.2), as OpenSMTPD and Exim
        # send. aiosmtpd 1.4.6 would answer 220 and start a handshake inside TLS.
        if self.tls_active:
            await self.push("503 5.5.1 TLS is already active")
            return
        await super().smtp_STARTTLS(arg)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        # RFC 4954 §4: "The AUTH command is not permitted during a mail transaction. An AUTH command issued
        # during a mail transaction MUST be rejected with a 503 reply." aiosmtpd 1.4.6 does not check.
        if self.envelope is not None and self.envelope.mail_from:
            await self.push("503 5.5.1 AUTH is not permitted during a mail transaction")
            return
        await super().smtp_AUTH(arg)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        # aiosmtpd 1.4.6 knows no DSN or REQUIRETLS parameter (it answers 555) and upper-cases every parameter,
        # which would change ENVID's xtext. Where they are advertised they are read here, kept with the envelope
        # (``ChunkedEnvelope.dsn``), and the rest of the line goes to aiosmtpd.
        handler = self.event_handler
        envelope = self.envelope
        if not (arg and isinstance(handler, ListenerHandler) and isinstance(envelope, ChunkedEnvelope)
                and self.session is not None and self.session.extended_smtp and not envelope.mail_from):
            await super().smtp_MAIL(arg)
            return
        path, words = _path_and_parameters(arg)
        try:
            rest, request = read_mail(words, dsn=handler.hooks.offers_dsn(handler.listener),
                                      requiretls=handler.hooks.requiretls and self.tls_active)
        except DsnSyntaxError as error:
            await self.push(_bad_parameter(error))
            return
        await super().smtp_MAIL(" ".join([path, *rest]))
        if self.envelope is envelope and envelope.mail_from:
            envelope.dsn = request

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        # As smtp_MAIL: NOTIFY and ORCPT are read here where DSN is advertised (aiosmtpd 1.4.6 takes no RCPT
        # parameter at all), and each accepted recipient's request is kept in ``ChunkedEnvelope.dsn_recipients``.
        handler = self.event_handler
        envelope = self.envelope
        if not (arg and isinstance(handler, ListenerHandler) and isinstance(envelope, ChunkedEnvelope)
                and handler.hooks.offers_dsn(handler.listener) and self.session is not None
                and self.session.extended_smtp
                and envelope.mail_from):
            await super().smtp_RCPT(arg)
            return
        path, words = _path_and_parameters(arg)
        try:
            rest, (notify, orcpt) = read_rcpt(words, dsn=True)
        except DsnSyntaxError as error:
            await self.push(_bad_parameter(error))
            return
        accepted = len(envelope.rcpt_tos)
        await super().smtp_RCPT(" ".join([path, *rest]))
        if self.envelope is envelope and len(envelope.rcpt_tos) > accepted:
            envelope.dsn_recipients.append(DsnRecipient(envelope.rcpt_tos[-1], notify, orcpt))

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        # RFC 3030 §2: "If a DATA statement is issued after a BDAT for the current transaction, a 503 'Bad
        # sequence of commands' MUST be issued."
        if isinstance(self.envelope, ChunkedEnvelope) and (self.envelope.chunks is not None
                                                            or self.envelope.chunk_failed):
            await self.push("503 5.5.1 DATA and BDAT cannot be mixed in one transaction")
            return
        await super().smtp_DATA(arg)

    @syntax("BDAT <size> [LAST]", when="takes_chunks")
    async def smtp_BDAT(self, arg: str | None) -> None:
        """CHUNKING (RFC 3030 §2): the ``size`` octets after the command line are the next piece of the
        message, taken exactly (no dot-stuffing, no end-of-data line); a 250 to each, and the message is
        delivered after BDAT LAST as after DATA's final dot (the handler's DATA hook).

        "If a failure occurs after a BDAT command is received, the receiver-SMTP MUST accept and discard the
        associated message data before sending the appropriate 5XX or 4XX code": every refusal with a known
        size reads the chunk first, so that the message never runs as commands. A refused chunk leaves the
        transaction failed until RSET ("A RSET command MUST be issued to clear the transaction"), and any
        further BDAT gets 503, its chunk also read and dropped. The chunk passes ``data_received``'s line
        cap too: without BINARYMIME (not offered) a message is lines of text.
        """
        match = _BDAT_ARGUMENTS.match((arg or "").strip())
        if match is None:  # no size: nothing can be read, and nothing else can be done
            await self.push("501 5.5.4 Syntax: BDAT <size> [LAST]")
            return
        size, last = int(match.group(1)), match.group(2) is not None
        envelope = self.envelope
        assert isinstance(envelope, ChunkedEnvelope) and self.session is not None
        so_far = len(envelope.chunks) if envelope.chunks is not None else 0
        if not self.session.host_name:
            refusal = "503 5.5.1 Error: send HELO first"
        elif self._auth_required and not self.session.authenticated:
            refusal = "530 5.7.0 Authentication required"
        elif envelope.chunk_failed:
            refusal = "503 5.5.1 Error: a BDAT chunk failed; RSET must clear the transaction first"
        elif not envelope.rcpt_tos:
            refusal = "503 5.5.1 Error: need RCPT command"
        elif self.data_size_limit and so_far + size > self.data_size_limit:
            refusal = "552 5.3.4 Message size exceeds fixed maximum message size"
        else:
            refusal = None
        try:
            chunk = await self._read_chunk(size, keep=refusal is None)
        except asyncio.IncompleteReadError:
            return  # the client hung up in the middle of the chunk: nothing is left to answer
        if refusal is not None:
            if envelope.rcpt_tos:
                envelope.chunk_failed = True  # the transaction's state is now indeterminate (RFC 3030 §2)
            await self.push(refusal)
            return
        if envelope.chunks is None:
            envelope.chunks = bytearray()
        envelope.chunks += chunk
        if not last:
            await self.push(f"250 2.0.0 {size} octets received")
            return
        content = bytes(envelope.chunks)
        envelope.content = envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_chunk(self, size: int, *, keep: bool) -> bytes:
        """The ``size`` octets after a BDAT line, read in pieces; thrown away unless ``keep``."""
        kept = bytearray()
        left = size
        while left:
            piece = await self._reader.readexactly(min(left, BDAT_READ))
            left -= len(piece)
            if keep:
                kept += piece
        return bytes(kept)

    def data_received(self, data: bytes) -> None:
        end = data.rfind(b"\n")
        self._unended = len(data) - end - 1 if end >= 0 else self._unended + len(data)
        if self._unended > MAX_UNENDED_LINE:
            if self.transport is not None and not self.transport.is_closing():
                # RFC 5321 §3.8: 421 before the server closes the connection on its own.
                self.transport.write(b"421 4.5.0 A line without an end, over 1 MiB; closing the connection\r\n")
                self.transport.close()
            return
        super().data_received(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._is_stopping():
            transport.abort()
            return
        if getattr(type(transport), "max_size", None) == _ASYNCIO_RECV_SIZE:
            # asyncio's socket transport reads with recv(256 KiB): above glibc's mmap threshold,
            # so every read mapped, shrank and unmapped a fresh buffer (three system calls, six
            # reads per message). A smaller read fits the heap; a longer message takes more reads.
            transport.max_size = RECV_SIZE  # type: ignore[attr-defined]
        ssl_object = transport.get_extra_info("ssl_object")
        if self.session is not None and self.session.ssl is None and ssl_object is not None:
            # aiosmtpd fills session.ssl only after STARTTLS; implicit TLS (RFC 8314 §3.3) is TLS too,
            # and scenarios ask session.ssl whether the session is protected.
            self.session.ssl = {"ssl_object": ssl_object, "cipher": ssl_object.cipher()}


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ANGLE_ADDRESS = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")
"""``<local@domain>`` with a dot-atom local part (RFC 5322 §3.2.3) and a dot-separated domain."""

RECV_SIZE = 64 * 1024
"""Most octets one socket read takes (asyncio's default is 256 KiB)."""
_ASYNCIO_RECV_SIZE = 256 * 1024


__all__ = ["ChunkedEnvelope", "ListenerHandler", "SmtpSession", "authenticate", "token_credentials"]
