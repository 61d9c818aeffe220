"""The built-in SMTP server: aiosmtpd on loopback, certificates from a throwaway trustme CA.

Holds ``LocalServer`` (three listeners: port-25, port-587 and port-465 style), its delivery policy
(which recipients it accepts), the trace fields it prepends, the scenario registry that lessons use
to make the server misbehave on purpose, and ``ReceivedMessage``, the record of each accepted
message.

Rules:

- This module and ``transport.py`` are the only I/O in ``protocol/``. Only this module imports
  aiosmtpd and trustme (and through it cryptography); nothing else in ``protocol/`` imports this
  module, so the pure core loads without them.
- It never relays. It delivers only to reserved test domains (RFC 2606 §2-3, RFC 6761 §6.2) and
  keeps every message in one local Maildir.
- It replies 250 to the final dot only after the message is on disk: from then on the server owns
  the message (RFC 5321 §6.1). If storing fails the reply is 451, so the client keeps it.
- Disk writes run in worker threads (``MAILDIR_WRITERS`` of them), never on the event loop, so one
  large message does not stall the other sessions (or, with ``start_in_thread``, the UI), and
  concurrent deliveries do not wait for each other's fsyncs.
- It prints nothing. aiosmtpd's ``mail.log`` logger gets a ``NullHandler`` (so its warnings go
  nowhere unless the app configures logging) and loses the "Session.login_data is deprecated" line
  it writes on every successful AUTH.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import datetime
import email.utils
import hmac
import logging
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from types import MethodType
from typing import Any, Callable, ClassVar

import trustme
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from protocol.local_maildir import MaildirStore, default_maildir_path
from protocol.loop_thread import LoopThread

__all__ = [
    "BANNER_NAME",
    "CERTIFICATE_VARIANTS",
    "DEMO_PASSWORD",
    "DEMO_USER",
    "LISTENERS",
    "SCENARIOS",
    "LocalServer",
    "ReceivedMessage",
    "Scenario",
    "is_test_domain",
    "recipient_policy",
    "register_scenario",
    "serve_forever",
    "trace_fields",
    "with_protocol",
]

log = logging.getLogger("smtpstep.local_server")
log.addHandler(logging.NullHandler())

BANNER_NAME = "mail.smtpstep.test"
"""The name the server greets with and puts in its certificate; ``.test`` is reserved (RFC 6761 §6.2)."""
IDENT = "ESMTP smtpstep local server"
"""Text after the name in the 220 greeting (RFC 5321 §4.3.1); "ESMTP" there is only a convention."""
DEMO_USER = "student"
"""The one account the server knows."""
DEMO_PASSWORD = "classroom"
"""Its password, deliberately public: this server is for lessons on loopback."""
DEFAULT_SIZE_LIMIT = 32 * 1024 * 1024
"""Largest message accepted, advertised as ``SIZE`` (RFC 1870)."""
DEFAULT_TIMEOUT = 300.0
"""Idle seconds before the server hangs up: the 5 minutes of RFC 5321 §4.5.3.2.7."""
MAILDIR_WRITERS = 8
"""Threads storing messages at once. Each delivery mostly waits for its two fsyncs (the file, then
``new/``), and journalling file systems commit concurrent fsyncs together. When fsyncs were slow on
the shared benchmark disk (about 7 ms), one writer held the server to about 130 messages a second;
with several, the event loop is the limit."""
MAX_RECEIVED = 200
"""How many accepted messages ``LocalServer.received`` keeps in memory (the Maildir keeps all)."""
MAX_RECEIVED_BYTES = 128 * 1024 * 1024
"""Memory cap for those records; the newest message is always kept, whatever its size."""

LISTENERS = ("plain", "submission", "submissions")
"""Listener names, in the order they are started and described."""
SECURITY_LISTENER = {"none": "plain", "starttls": "submission", "tls": "submissions"}
"""Which listener a client's connection security setting talks to."""
CERTIFICATE_VARIANTS = ("valid", "expired", "wrong-host", "untrusted")
"""What the server can present, for lessons and tests on the client's certificate checks."""
SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1", BANNER_NAME)
"""Subject alternative names of the valid certificate."""
WRONG_HOST_IDENTITY = "wrong.example"
"""The only name in the "wrong-host" certificate (RFC 2606 §3 reserves ``example``)."""

TEST_DOMAINS = ("localhost", "example.com", "example.org", "example.net")
"""Recipient domains delivered locally, with their subdomains (RFC 2606 §2-3)."""
TEST_TOP_LEVEL_DOMAINS = ("test",)
"""Top-level domains whose every name is delivered locally (RFC 2606 §2, RFC 6761 §6.2)."""
UNKNOWN_LOCAL_PARTS = frozenset({"nobody", "unknown"})
"""Local parts that get "no such mailbox", so lessons can show a permanent RCPT failure."""

RELAY_DENIED = "550 5.7.1 Relaying denied: smtpstep's built-in server only delivers to test domains"


# --- Logging ------------------------------------------------------------------------------------


def _drop_login_data_deprecation(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 logs this warning on every successful AUTH, from inside its own smtp_AUTH.
    return "Session.login_data is deprecated" not in record.getMessage()


def _quiet_aiosmtpd_log() -> None:
    mail_log = logging.getLogger("mail.log")
    if _drop_login_data_deprecation not in mail_log.filters:
        mail_log.addFilter(_drop_login_data_deprecation)
    # Without any handler on the way to the root, logging's last-resort handler prints warnings
    # (an unknown command, a failed TLS handshake) to stderr, on top of the terminal UI.
    if not any(isinstance(h, logging.NullHandler) for h in mail_log.handlers):
        mail_log.addHandler(logging.NullHandler())


_quiet_aiosmtpd_log()


# --- Records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted and stored."""

    key: str
    """Maildir key: the file's name under ``new/``; also in the "queued as" reply."""
    mail_from: str
    """The reverse-path from MAIL FROM, ``<>`` for a null sender (RFC 5321 §4.5.5)."""
    rcpt_tos: tuple[str, ...]
    """The accepted forward-paths, in RCPT order."""
    original_content: bytes
    """The message as the client meant it: dot-unstuffed (RFC 5321 §4.5.2), CRLF line ends."""
    stored: bytes
    """What is in the Maildir: the trace fields (Return-Path, Received) and ``original_content``."""
    listener: str
    """Which listener took it: ``plain``, ``submission`` or ``submissions``."""
    tls: bool
    """Whether the transaction ran under TLS (STARTTLS or implicit)."""
    auth_user: str | None
    """Who had authenticated with AUTH, or None."""


# --- Delivery policy ----------------------------------------------------------------------------


def is_test_domain(domain: str) -> bool:
    """Whether the built-in server delivers mail for ``domain`` (case-insensitive)."""
    name = domain.rstrip(".").lower()
    if not name:
        return False
    if any(name == d or name.endswith("." + d) for d in TEST_DOMAINS):
        return True
    return any(name.endswith("." + tld) for tld in TEST_TOP_LEVEL_DOMAINS)


def recipient_policy(address: str) -> str | None:
    """The refusal for RCPT TO ``address``, or None to accept it.

    Checks relaying first, as a real MX does: a stranger's domain is refused whatever the mailbox.
    """
    local_part, at, domain = address.rpartition("@")
    if not at:
        # RFC 5321 §4.1.1.3: "postmaster" without a domain must be accepted.
        if address.lower() == "postmaster":
            return None
        return f"550 5.1.3 <{address}>: recipient address needs a domain"
    if not is_test_domain(domain):
        return RELAY_DENIED  # RFC 5321 §3.6.2, RFC 3463 §3.8 (X.7.1 delivery not authorized)
    if local_part.lower() in UNKNOWN_LOCAL_PARTS:
        return f"550 5.1.1 <{address}>: no such mailbox here"  # RFC 3463 §3.2
    return None


# --- Trace fields -------------------------------------------------------------------------------


def with_protocol(*, esmtp: bool, tls: bool, authenticated: bool, smtputf8: bool = False) -> str:
    """The ``with`` keyword of a Received field: RFC 3848 (ESMTPSA and kin), RFC 6531 §4.3 (UTF8SMTP)."""
    if not esmtp:
        return "SMTP"
    base = "UTF8SMTP" if smtputf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


_UNSAFE_IN_FIELD = re.compile(r"[\x00-\x20\x7f]")


def trace_fields(
    *,
    mail_from: str,
    rcpt_tos: list[str] | tuple[str, ...],
    helo: str,
    peer: Any,
    protocol: str,
    tls_details: str | None,
    when: datetime.datetime,
    by: str = BANNER_NAME,
) -> bytes:
    """The ``Return-Path:`` and ``Received:`` fields a final-delivery server prepends (RFC 5321 §4.4).

    ``for <rcpt>`` appears only with a single recipient: listing them all would tell every
    recipient who else got the message (RFC 5321 §7.2). The client name is the EHLO/HELO argument,
    unverified, followed by the peer's address literal; no reverse DNS lookup is made.
    Lines end in CRLF, as the message body does.
    """
    reverse_path = "" if mail_from in ("", "<>") else mail_from
    helo_name = _UNSAFE_IN_FIELD.sub("?", helo or "unknown")
    lines = [
        f"Return-Path: <{reverse_path}>",
        f"Received: from {helo_name} ({_address_literal(peer)})",
    ]
    if tls_details:
        lines.append(f"\t({tls_details})")
    by_line = f"\tby {by} (smtpstep local server) with {protocol}"
    if len(rcpt_tos) == 1:
        lines.append(by_line)
        lines.append(f"\tfor <{rcpt_tos[0]}>; {email.utils.format_datetime(when)}")
    else:
        lines.append(f"{by_line}; {email.utils.format_datetime(when)}")
    text = "\r\n".join(lines) + "\r\n"
    # Under SMTPUTF8 addresses may be UTF-8 (RFC 6532 §3.2); surrogateescape keeps raw 8-bit bytes.
    return text.encode("utf-8", "surrogateescape")


def _address_literal(peer: Any) -> str:
    # RFC 5321 §4.1.3 address literals: [192.0.2.1] and [IPv6:2001:db8::1].
    if isinstance(peer, tuple) and peer:
        ip = str(peer[0])
        return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
    return "unknown"


# --- Scenarios ----------------------------------------------------------------------------------


class Scenario:
    """How the server departs from plain, correct behaviour for a lesson.

    Each hook returns a reply line to send instead of the normal one, or None to carry on. Hooks run
    after the normal policy has accepted (a greylisted recipient is a valid one) and on the
    server's event loop, so a scenario's state needs no lock. Register subclasses with
    ``@register_scenario``; the server makes one instance per ``LocalServer`` (or per
    ``set_scenario`` call), shared by all three listeners. ``session.ssl`` is not None once the
    session runs under TLS, by STARTTLS or implicitly.
    """

    name: ClassVar[str] = "normal"
    """Registry key, as given to ``LocalServer(scenario=...)``."""
    summary: ClassVar[str] = "a correct server: accepts mail for test domains"
    """One line for ``describe()`` and the UI."""

    def ehlo(self, lines: list[str]) -> list[str]:
        """The EHLO reply lines (``250-name``, ``250-SIZE n``, ... ``250 HELP``) to send."""
        return lines

    def mail(self, session: Session, address: str, options: list[str]) -> str | None:
        """Reply to ``MAIL FROM:<address> options`` instead of ``250 2.1.0 OK``."""
        return None

    def rcpt(self, session: Session, envelope: Envelope, address: str) -> str | None:
        """Reply to an acceptable ``RCPT TO:<address>`` instead of ``250 2.1.5 OK``."""
        return None

    def data(self, session: Session, envelope: Envelope) -> str | None:
        """Reply to the final dot instead of storing the message."""
        return None

    def certificate(self, server_name: str | None) -> str | None:
        """The certificate variant (``CERTIFICATE_VARIANTS``) to present to a client that asked for
        ``server_name`` by SNI (RFC 6066 §3), or None for the server's own certificate."""
        return None


SCENARIOS: dict[str, type[Scenario]] = {}
"""Scenario classes by name."""


def register_scenario(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: make ``cls`` available by ``cls.name``."""
    SCENARIOS[cls.name] = cls
    return cls


@register_scenario
class NormalScenario(Scenario):
    """No surprises."""


@register_scenario
class GreylistingScenario(Scenario):
    """Refuse each new (client IP, sender, recipient) once with a 4xx, accept the retry (RFC 6647).

    A real greylister also wants a minimum delay before the retry; this one accepts the very next
    attempt, so a lesson can show the retry without waiting. A client that treats 451 as final
    loses the message; one that queues and retries (RFC 5321 §4.5.4.1) gets it through.
    """

    name = "greylisting"
    summary = "greylisting: the first RCPT for each sender and recipient gets 451 4.7.1"

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()

    def rcpt(self, session: Session, envelope: Envelope, address: str) -> str | None:
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        triplet = (peer, (envelope.mail_from or "").lower(), address.lower())
        if triplet in self._seen:
            return None
        self._seen.add(triplet)
        return f"451 4.7.1 <{address}>: greylisted, please try again later"


@register_scenario
class SizeLimitScenario(Scenario):
    """Advertise a small SIZE and refuse anything bigger, at MAIL or at the final dot (RFC 1870)."""

    name = "size-limit"
    summary = "size limit: advertises SIZE 10000 and refuses bigger messages with 552 5.3.4"
    limit: ClassVar[int] = 10_000
    """Bytes of message data accepted."""

    def _refusal(self) -> str:
        # RFC 1870 §6: 552 for a message over the fixed maximum; RFC 3463 §3.5: X.3.4 too big.
        return f"552 5.3.4 Message size exceeds fixed maximum message size ({self.limit} bytes)"

    def ehlo(self, lines: list[str]) -> list[str]:
        return [
            f"{line[:4]}SIZE {self.limit}" if line[4:].upper().startswith("SIZE") else line
            for line in lines
        ]

    def mail(self, session: Session, address: str, options: list[str]) -> str | None:
        for option in options:
            keyword, _, value = option.partition("=")
            if keyword.upper() == "SIZE" and value.isdigit() and int(value) > self.limit:
                return self._refusal()
        return None

    def data(self, session: Session, envelope: Envelope) -> str | None:
        if len(envelope.original_content or b"") > self.limit:
            return self._refusal()
        return None


@register_scenario
class PipeliningScenario(Scenario):
    """Advertise PIPELINING (RFC 2920), so a client may send MAIL, RCPT... and DATA in one write.

    aiosmtpd reads one line at a time and answers in order, so it already copes with a group; it
    only does not say so in its EHLO reply.
    """

    name = "pipelining"
    summary = "pipelining: advertises PIPELINING (RFC 2920); replies come back in command order"

    def ehlo(self, lines: list[str]) -> list[str]:
        if any(line[4:].strip().upper() == "PIPELINING" for line in lines) or len(lines) < 2:
            return lines
        return lines[:-1] + [f"{lines[0][:3]}-PIPELINING"] + lines[-1:]


@register_scenario
class MustStartTlsScenario(Scenario):
    """Refuse MAIL with 530 5.7.0 until TLS is on, on every listener (RFC 3207 §4, RFC 3463 X.7.0).

    The submission listener already refuses everything but EHLO, NOOP, STARTTLS and QUIT before TLS,
    with aiosmtpd's bare "530 Must issue a STARTTLS command first"; this one adds the enhanced code
    and applies to the plain listener too, where a client that skipped STARTTLS gets as far as MAIL.
    """

    name = "must-starttls"
    summary = "TLS required: MAIL before STARTTLS gets 530 5.7.0 on every listener"

    def mail(self, session: Session, address: str, options: list[str]) -> str | None:
        if session.ssl is None:
            return "530 5.7.0 Must issue a STARTTLS command first"
        return None


TLS_FAILURE_NAMES = {"untrusted": "untrusted", "expired": "expired", "wrong-host": "wrong-host"}
"""tls-failures scenario: the first label of the SNI name, and the certificate variant it gets."""


@register_scenario
class TlsFailuresScenario(Scenario):
    """Present a bad certificate chosen by the name the client asks for (SNI, RFC 6066 §3).

    ``untrusted.<anything>`` gets a certificate for that name from a CA nobody trusts,
    ``expired.<anything>`` one from the server's CA that expired yesterday, and
    ``wrong-host.<anything>`` one from the server's CA for wrong.example only. Each fails the
    client's check in one way, and every other name gets the valid certificate. The choice depends
    on the name alone, so each case is reproducible in any order (``swaks --tls-sni``,
    ``openssl s_client -servername``).
    """

    name = "tls-failures"
    summary = ("TLS failures by SNI name: untrusted.*, expired.* and wrong-host.* get a certificate "
               "that fails one check each")

    def certificate(self, server_name: str | None) -> str | None:
        if not server_name:
            return None
        return TLS_FAILURE_NAMES.get(server_name.split(".", 1)[0].lower())


# --- The aiosmtpd handler -----------------------------------------------------------------------


class _ListenerHandler:
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
        # With an EHLO hook, aiosmtpd leaves recording the client's name to the hook.
        session.host_name = hostname
        return self._server._scenario.ehlo(list(responses))

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self._server._scenario.mail(session, address, options)
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"  # RFC 3463 §3.2: X.1.0 other address status

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = recipient_policy(address) or self._server._scenario.rcpt(session, envelope, address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"  # RFC 3463 §3.2: X.1.5 destination address valid

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self._server._scenario.data(session, envelope)
        if refusal:
            return refusal
        return await self._server._accept(self.listener, smtp, session, envelope)

    async def handle_RSET(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 OK"

    async def handle_NOOP(self, smtp: SMTP, session: Session, envelope: Envelope, arg: str) -> str:
        return "250 2.0.0 OK"

    async def handle_QUIT(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        return "221 2.0.0 Bye"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default logs a traceback at ERROR level. A client hanging up during the TLS
        # handshake (the usual way a client rejects the certificate) lands here too.
        log.debug("session error", exc_info=error)
        return f"451 4.3.0 Local server error: {type(error).__name__}"

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
cap one endless line fills the teacher's memory (found by issue 6's load tests)."""


class _Session(SMTP):
    """aiosmtpd's SMTP protocol, plus hanging up at once on a connection that arrives while the
    server stops (accepted just before the listener closed, set up just after), and on a line that
    never ends (``MAX_UNENDED_LINE``).

    Given a ``_SessionTemplate``, a new session copies the set-up aiosmtpd's ``SMTP.__init__``
    worked out once for its listener instead of working it out again (about 0.1 ms a connection,
    a sixth of the event loop's busy time under a class's load). It also reads the common
    ``<local@domain>`` address without the e-mail header parser (``_getaddr``).
    """

    def __init__(self, handler: Any, *, is_stopping: Callable[[], bool],
                 template: _SessionTemplate | None = None, **kwargs: Any) -> None:
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

_SHAREABLE_TYPES = (str, bytes, int, float, bool, type(None), frozenset, tuple)
_SHARED_SESSION_FIELDS = frozenset({
    "event_handler",  # the listener's handler, shared by its sessions by design
    "loop",
    "tls_context",  # one context for every session, as aiosmtpd is normally used
    "_authenticator",
    "_auth_callback",
    "_handle_hooks",  # the handler's bound hooks; aiosmtpd only reads this dict after __init__
    "_call_limit_base",  # read-only after __init__
})
"""Fields of a new aiosmtpd session that may be shared by all sessions of a listener, besides
immutable values. ``_SessionTemplate`` refuses to copy any other field."""


RECV_SIZE = 64 * 1024
"""Most octets one socket read takes (asyncio's default is 256 KiB)."""
_ASYNCIO_RECV_SIZE = 256 * 1024
READ_HIGH_WATER = 64 * 1024
"""Octets a session buffers before it stops reading from its socket (flow control)."""


class _SessionReader(asyncio.StreamReader):
    """asyncio's ``StreamReader``, pausing the socket only past ``READ_HIGH_WATER`` buffered octets.

    aiosmtpd gives the reader its line limit (1001 octets, RFC 5321 §4.5.3.1.6) so that
    ``readuntil`` refuses longer lines, and asyncio also pauses reading once twice that limit is
    buffered: every 5 KB message stopped and restarted reading (two ``epoll_ctl`` calls and a
    trip through the transport) while DATA took it line by line. Line limits are unchanged; a
    session still buffers at most about ``READ_HIGH_WATER`` plus one socket read.
    """

    def feed_data(self, data: bytes) -> None:
        # StreamReader.feed_data as in Python 3.11, with READ_HIGH_WATER in place of 2 * limit;
        # _maybe_resume_transport still resumes once the buffer is down to the limit.
        assert not self._eof, "feed_data after feed_eof"
        if not data:
            return
        self._buffer.extend(data)
        self._wakeup_waiter()
        if self._transport is not None and not self._paused and len(self._buffer) > READ_HIGH_WATER:
            try:
                self._transport.pause_reading()
            except NotImplementedError:
                self._transport = None  # cannot be paused: buffer everything, as asyncio does
            else:
                self._paused = True


class _SessionTemplate:
    """What aiosmtpd's ``SMTP.__init__`` works out for a listener, worked out once.

    ``SMTP.__init__`` lists the class's and the handler's methods with ``inspect.getmembers`` and
    ``dir`` and reads the EHLO hook's signature, for every connection; the result is the same for
    every session of a listener. The template builds one session the normal way (the prototype),
    keeps its fields, and ``apply`` gives a new session the same fields, with the ``smtp_*`` and
    built-in ``auth_*`` methods bound to the new session. asyncio's own protocol fields are made
    fresh by ``StreamReaderProtocol.__init__``, as ``SMTP.__init__`` makes them.

    If the prototype has a field that is neither immutable nor known to be shared
    (``_SHARED_SESSION_FIELDS``), say from a newer aiosmtpd, ``fast`` is False and every session
    runs ``SMTP.__init__`` itself: slower, never wrong.
    """

    def __init__(self, handler: Any, loop: asyncio.AbstractEventLoop, **settings: Any) -> None:
        prototype = _Session(handler, is_stopping=lambda: False, loop=loop, **settings)
        stream = asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), lambda r, w: None, loop=loop)
        stream_fields = set(vars(stream)) | {"_is_stopping", "_unended"}
        fields = {name: value for name, value in vars(prototype).items() if name not in stream_fields}
        smtp_methods = fields.pop("_smtp_methods", None)
        auth_methods = fields.pop("_auth_methods", None)
        self.loop = loop
        self.fields = fields
        """Field values every new session starts with."""
        unsafe = [name for name, value in fields.items()
                  if name not in _SHARED_SESSION_FIELDS and not isinstance(value, _SHAREABLE_TYPES)]
        self.fast = (not unsafe and isinstance(smtp_methods, dict) and isinstance(auth_methods, dict)
                     and all(getattr(m, "__self__", None) is prototype for m in smtp_methods.values()))
        """Whether sessions are set up from this template (False: by ``SMTP.__init__`` each time)."""
        self._smtp_functions = {name: m.__func__ for name, m in (smtp_methods or {}).items()} if self.fast else {}
        self._auth_methods = auth_methods or {}
        self._builtin_auth = {name: (type(attr), attr.method.__func__)
                              for name, attr in self._auth_methods.items() if attr.is_builtin}
        """AUTH mechanisms aiosmtpd implements on the session itself: their record type and function."""

    def apply(self, session: _Session) -> None:
        """Give ``session`` what ``SMTP.__init__`` would have given it."""
        asyncio.StreamReaderProtocol.__init__(
            session,
            _SessionReader(loop=self.loop, limit=session.line_length_limit),
            client_connected_cb=session._cb_client_connected,
            loop=self.loop,
        )
        session.__dict__.update(self.fields)
        session._smtp_methods = {name: MethodType(f, session) for name, f in self._smtp_functions.items()}
        auth_methods = dict(self._auth_methods)  # the handler's own mechanisms stay bound to it
        for name, (record, function) in self._builtin_auth.items():
            auth_methods[name] = record(MethodType(function, session), True)
        session._auth_methods = auth_methods


def _authenticate(
    smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """aiosmtpd authenticator for AUTH PLAIN and LOGIN."""
    if isinstance(auth_data, LoginPassword):
        user_ok = hmac.compare_digest(auth_data.login, DEMO_USER.encode())
        password_ok = hmac.compare_digest(auth_data.password, DEMO_PASSWORD.encode())
        if user_ok & password_ok:
            return AuthResult(success=True, auth_data=DEMO_USER)
    # handled=False makes aiosmtpd send "535 5.7.8"; with True it sends nothing and the client hangs.
    return AuthResult(success=False, handled=False)


# --- The server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Certificates:
    ca_pem: bytes
    """The CA that ``ca_path`` holds, which clients should trust."""
    server: trustme.LeafCert
    """What the server presents."""
    ca: trustme.CA | None = None
    """The CA itself, to issue the certificates a scenario presents by SNI."""


def _make_certificates(variant: str) -> _Certificates:
    ca = trustme.CA(organization_name="smtpstep", organization_unit_name="smtpstep local CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    common = {"organization_name": "smtpstep", "organization_unit_name": "smtpstep local server"}
    if variant == "valid":
        leaf = ca.issue_cert(*SERVER_IDENTITIES, common_name=BANNER_NAME, **common)
    elif variant == "expired":
        leaf = ca.issue_cert(
            *SERVER_IDENTITIES,
            common_name=BANNER_NAME,
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
            **common,
        )
    elif variant == "wrong-host":
        leaf = ca.issue_cert(WRONG_HOST_IDENTITY, common_name=WRONG_HOST_IDENTITY, **common)
    elif variant == "untrusted":
        stranger = trustme.CA(organization_name="smtpstep", organization_unit_name="untrusted CA")
        leaf = stranger.issue_cert(*SERVER_IDENTITIES, common_name=BANNER_NAME, **common)
    else:
        raise ValueError(f"certificate must be one of {', '.join(CERTIFICATE_VARIANTS)}, not {variant!r}")
    return _Certificates(ca_pem=ca.cert_pem.bytes(), server=leaf, ca=ca)


def _variant_leaf(ca: trustme.CA, variant: str, name: str) -> trustme.LeafCert:
    """A certificate for ``name`` that fails the client's check in one way only: the variant's."""
    common = {"organization_name": "smtpstep", "organization_unit_name": f"smtpstep {variant} certificate"}
    if variant == "expired":
        now = datetime.datetime.now(datetime.timezone.utc)
        return ca.issue_cert(name, common_name=name, not_before=now - datetime.timedelta(days=30),
                             not_after=now - datetime.timedelta(days=1), **common)
    if variant == "wrong-host":
        return ca.issue_cert(WRONG_HOST_IDENTITY, common_name=WRONG_HOST_IDENTITY, **common)
    if variant == "untrusted":
        stranger = trustme.CA(organization_name="smtpstep", organization_unit_name="untrusted CA")
        return stranger.issue_cert(name, common_name=name, **common)
    return ca.issue_cert(name, common_name=name, **common)


class LocalServer:
    """Three aiosmtpd listeners on loopback, one Maildir, one throwaway CA.

    - ``plain`` (port-25 style): STARTTLS offered, not required; AUTH only after STARTTLS.
    - ``submission`` (port-587 style, RFC 6409): STARTTLS required before MAIL (530, RFC 3207 §4);
      AUTH only after it; AUTH is not required.
    - ``submissions`` (port-465 style, RFC 8314 §3.3): TLS from the first byte; AUTH offered at once.

    Run it on the current loop (``await start()`` / ``await stop()``, or ``async with``) or on its
    own loop in a daemon thread (``start_in_thread()`` / ``stop_thread()``), which keeps a busy
    server from stalling a UI. From another thread, only read ``received``, ``ports`` and
    ``describe()``, and call ``set_scenario``.
    """

    banner_name: ClassVar[str] = BANNER_NAME
    """Name in the greeting, the EHLO reply, the certificate and the Received field."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        plain_port: int = 0,
        submission_port: int = 0,
        submissions_port: int = 0,
        maildir: Path | None = None,
        certificate: str = "valid",
        size_limit: int = DEFAULT_SIZE_LIMIT,
        state_dir: Path | None = None,
        scenario: str = "normal",
        timeout: float = DEFAULT_TIMEOUT,
        on_received: Callable[[ReceivedMessage], None] | None = None,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
        self.host = host
        """Address every listener binds to. With port 0, give an IP literal: a name that
        resolves to several addresses would get a different free port on each."""
        self._requested_ports = {
            "plain": plain_port,
            "submission": submission_port,
            "submissions": submissions_port,
        }
        self.ports: dict[str, int] = dict(self._requested_ports)
        """Listener name to port; the real ports once started (0 before means "pick a free one")."""
        self.certificate = certificate
        """Which certificate variant the server presents (see ``CERTIFICATE_VARIANTS``)."""
        self._certificates = _make_certificates(certificate)
        self.ca_pem: bytes = self._certificates.ca_pem
        """PEM of the CA to trust. For "untrusted" it is not the CA that signed the server's certificate."""
        self.server_cert_pem: bytes = self._certificates.server.cert_chain_pems[0].bytes()
        """PEM of the certificate the server presents."""
        self.maildir_path: Path = Path(maildir) if maildir is not None else default_maildir_path()
        """The Maildir every accepted message goes to."""
        self.size_limit = size_limit
        """Largest message in bytes, advertised as SIZE (RFC 1870)."""
        self.timeout = timeout
        """Idle seconds before a session is closed."""
        self.credentials: tuple[str, str] = (DEMO_USER, DEMO_PASSWORD)
        """The one user and password AUTH accepts."""
        self.on_received = on_received
        """Called with each ``ReceivedMessage`` on the server's loop (its thread, with
        ``start_in_thread``); a Textual app would forward it with ``call_from_thread``."""
        self._state_dir_arg = Path(state_dir) if state_dir is not None else None
        self._state_dir: Path | None = None
        self._owns_state_dir = False
        self._scenario: Scenario = SCENARIOS[scenario]()
        self._variant_contexts: dict[tuple[str, str], ssl.SSLContext] = {}
        """TLS contexts for the certificates scenarios present by SNI, made on first use."""
        self._store = MaildirStore(self.maildir_path)
        self._received: collections.deque[ReceivedMessage] = collections.deque()
        self._received_bytes = 0
        self._received_lock = threading.Lock()
        self._servers: dict[str, asyncio.Server] = {}
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._deliveries: set[asyncio.Task[str]] = set()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = LoopThread("smtpstep-local-server")
        self._stopping = False

    # --- Facts ----------------------------------------------------------------------------------

    @property
    def ca_path(self) -> Path:
        """File holding ``ca_pem``; exists while the server runs."""
        if self._state_dir is None:
            raise RuntimeError("the local server is not started: ca_path does not exist yet")
        return self._state_dir / "smtpstep-local-ca.pem"

    @property
    def is_running(self) -> bool:
        """Whether the listeners are open."""
        return bool(self._servers)

    @property
    def scenario(self) -> str:
        """Name of the active scenario."""
        return self._scenario.name

    def set_scenario(self, name: str) -> None:
        """Switch scenario (fresh state, e.g. an empty greylist); sessions see it at their next command."""
        if name not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {name!r}")
        self._scenario = SCENARIOS[name]()

    @property
    def received(self) -> list[ReceivedMessage]:
        """The latest accepted messages, oldest first (a copy, safe to read from any thread)."""
        with self._received_lock:
            return list(self._received)

    def port_for(self, security: str) -> int:
        """The port for a client's security setting: ``none``, ``starttls`` or ``tls``."""
        try:
            return self.ports[SECURITY_LISTENER[security]]
        except KeyError:
            raise ValueError(f"security must be one of {', '.join(SECURITY_LISTENER)}, not {security!r}") from None

    def describe(self) -> list[str]:
        """Lines telling a person how to reach and use the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        ca = str(self.ca_path) if self._state_dir is not None else "(written when the server starts)"
        lines = [
            f"smtpstep local server {self.banner_name}",
            f"  plain        {host}:{self.ports['plain']}  port-25 style: STARTTLS offered, AUTH only after it",
            f"  submission   {host}:{self.ports['submission']}  port-587 style: STARTTLS required, then AUTH",
            f"  submissions  {host}:{self.ports['submissions']}  port-465 style: implicit TLS, AUTH",
            f"  trust CA     {ca}",
        ]
        if self.certificate != "valid":
            lines.append(f"  certificate  {self.certificate}: clients that check certificates will refuse it")
        lines += [
            f"  login        {DEMO_USER} / {DEMO_PASSWORD}  (AUTH PLAIN, LOGIN, CRAM-MD5)",
            "  delivers to  *.test, localhost, example.com, example.org, example.net; relays nothing",
            f"  Maildir      {self.maildir_path}",
            f"  scenario     {self._scenario.summary}",
        ]
        return lines

    # --- Lifecycle on the current loop ----------------------------------------------------------

    async def start(self) -> None:
        """Create the Maildir, write the CA file and open the three listeners on the running loop."""
        if self._servers:
            raise RuntimeError("the local server is already running")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopping = False
        self._store.open()
        self._open_state_dir()
        self.ca_path.write_bytes(self.ca_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # verify_mode CERT_NONE
        self._certificates.server.configure_cert(context)
        context.sni_callback = self._pick_certificate
        # Several writers: each delivery waits for two fsyncs, and the file system commits
        # concurrent ones together; MaildirStore.add is safe to call from many threads.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=MAILDIR_WRITERS, thread_name_prefix="smtpstep-maildir")
        settings = {
            "plain": {"tls_context": context, "require_starttls": False, "auth_require_tls": True},
            "submission": {"tls_context": context, "require_starttls": True, "auth_require_tls": True},
            # aiosmtpd counts only STARTTLS as TLS, so with True AUTH would always get 538.
            "submissions": {"tls_context": None, "require_starttls": False, "auth_require_tls": False},
        }
        try:
            for name in LISTENERS:
                server = await loop.create_server(
                    self._session_factory(name, settings[name]),
                    self.host,
                    self._requested_ports[name],
                    ssl=context if name == "submissions" else None,
                )
                self._servers[name] = server
                self.ports[name] = server.sockets[0].getsockname()[1]
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the listeners and sessions; wait for deliveries in progress. Safe to call twice."""
        if self._servers and self._loop is not asyncio.get_running_loop():
            raise RuntimeError("the local server runs on another event loop: use stop_thread()")
        self._stopping = True
        servers, self._servers = self._servers, {}
        # Stop accepting, then let connections already accepted finish their setup (_Session
        # aborts them) before closing the listeners: on Python 3.11 a connection set up after
        # Server.close() fails an assertion and leaks its socket.
        for server in servers.values():
            for sock in server.sockets:
                with contextlib.suppress(NotImplementedError, ValueError):
                    asyncio.get_running_loop().remove_reader(sock.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        for server in servers.values():
            server.close()
        # Let deliveries in progress finish, so their clients still get the 250.
        await self._finish_deliveries()
        handler_tasks = []
        for smtp in list(self._sessions):
            task = getattr(smtp, "_handler_coroutine", None)
            if task is not None:
                handler_tasks.append(task)
            if smtp.transport is not None:
                smtp.transport.abort()
        if handler_tasks:
            await asyncio.wait(handler_tasks, timeout=5)
        await self._finish_deliveries()  # any that began while the sessions were closing
        for server in servers.values():
            await server.wait_closed()
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # idle by now: returns at once
            self._executor = None
        self._store.close()
        self._close_state_dir()

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- Lifecycle on its own thread -----------------------------------------------------------

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Run the server on a new event loop in a daemon thread; return once it listens."""
        if self._runner.alive:
            raise RuntimeError("the local server thread is already running")
        self._runner.start(self.start, timeout)

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started with ``start_in_thread`` and join its thread."""
        self._runner.stop(self.stop, timeout)

    # --- Internals ------------------------------------------------------------------------------

    def _session_factory(self, listener: str, settings: dict[str, Any]) -> Callable[[], SMTP]:
        handler = _ListenerHandler(self, listener)
        assert self._loop is not None
        options = {
            "hostname": BANNER_NAME,  # without it aiosmtpd calls socket.getfqdn(), which can be slow
            "ident": IDENT,
            "data_size_limit": self.size_limit,
            "enable_SMTPUTF8": True,  # RFC 6531
            "decode_data": False,
            "timeout": self.timeout,
            "authenticator": _authenticate,
            "loop": self._loop,
            **settings,
        }
        template = _SessionTemplate(handler, **options)
        is_stopping = lambda: self._stopping  # noqa: E731

        def make_session() -> SMTP:
            smtp = _Session(handler, is_stopping=is_stopping, template=template, **options)
            self._sessions.add(smtp)
            return smtp

        return make_session

    def _pick_certificate(self, ssl_object: Any, server_name: str | None, context: ssl.SSLContext) -> None:
        """SNI callback (RFC 6066 §3): present the certificate the scenario wants for this name."""
        variant = self._scenario.certificate(server_name)
        if variant is None or not server_name or self._certificates.ca is None:
            return
        key = (variant, server_name.lower())
        chosen = self._variant_contexts.get(key)
        if chosen is None:
            chosen = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            _variant_leaf(self._certificates.ca, variant, server_name.lower()).configure_cert(chosen)
            self._variant_contexts[key] = chosen
        ssl_object.context = chosen

    async def _accept(self, listener: str, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message and return the reply to the final dot."""
        ssl_object = smtp.transport.get_extra_info("ssl_object") if smtp.transport is not None else None
        tls_details = None
        if ssl_object is not None:
            cipher = ssl_object.cipher()
            tls_details = f"using {ssl_object.version()} with cipher {cipher[0] if cipher else 'unknown'}"
        auth_user = session.auth_data if session.authenticated else None
        original = envelope.original_content or b""
        rcpt_tos = tuple(envelope.rcpt_tos)
        mail_from = envelope.mail_from or "<>"
        headers = trace_fields(
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            helo=session.host_name or "",
            peer=session.peer,
            protocol=with_protocol(
                esmtp=session.extended_smtp,
                tls=ssl_object is not None,
                authenticated=bool(session.authenticated),
                smtputf8=envelope.smtp_utf8,
            ),
            tls_details=tls_details,
            when=datetime.datetime.now().astimezone(),
        )
        record = ReceivedMessage(
            key="",
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            original_content=original,
            stored=headers + original,
            listener=listener,
            tls=ssl_object is not None,
            auth_user=auth_user if isinstance(auth_user, str) else None,
        )
        assert self._loop is not None
        delivery = self._loop.create_task(self._deliver(record))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)
        # If the client hangs up now, the delivery still completes and is recorded: a duplicate
        # on the client's retry is acceptable, a lost message is not (RFC 5321 §6.1).
        return await asyncio.shield(delivery)

    async def _deliver(self, record: ReceivedMessage) -> str:
        assert self._loop is not None
        try:
            if self._executor is None:
                raise RuntimeError("the server is stopping")
            key = await self._loop.run_in_executor(self._executor, self._store.add, record.stored)
        except Exception as error:
            log.warning("could not store message from %s: %s", record.mail_from, error)
            reason = " ".join(f"{type(error).__name__}: {error}".split())
            # RFC 5321 §4.2.5: after a 4xx the message is still the client's to deliver.
            return f"451 4.3.0 Message not stored, please try again later ({reason})"
        self._remember(replace(record, key=key))
        return f"250 2.0.0 OK: queued as {key}"

    def _remember(self, record: ReceivedMessage) -> None:
        with self._received_lock:
            self._received.append(record)
            self._received_bytes += _footprint(record)
            while len(self._received) > 1 and (
                len(self._received) > MAX_RECEIVED or self._received_bytes > MAX_RECEIVED_BYTES
            ):
                self._received_bytes -= _footprint(self._received.popleft())
        if self.on_received is not None:
            try:
                self.on_received(record)
            except Exception:
                log.exception("on_received callback failed")

    async def _finish_deliveries(self) -> None:
        while self._deliveries:
            await asyncio.wait(list(self._deliveries))

    def _open_state_dir(self) -> None:
        if self._state_dir_arg is not None:
            self._state_dir_arg.mkdir(parents=True, exist_ok=True)
            self._state_dir, self._owns_state_dir = self._state_dir_arg, False
        else:
            self._state_dir, self._owns_state_dir = Path(tempfile.mkdtemp(prefix="smtpstep-")), True

    def _close_state_dir(self) -> None:
        if self._state_dir is not None and self._owns_state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None


def _footprint(record: ReceivedMessage) -> int:
    return len(record.original_content) + len(record.stored)


async def serve_forever(server: LocalServer) -> None:
    """Start ``server`` if needed and run until cancelled (Ctrl-C under ``asyncio.run``), then stop it."""
    if not server.is_running:
        await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
