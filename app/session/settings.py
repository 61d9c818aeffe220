"""The session options shared by ``smtpstep run`` and ``smtpstep step``, checked and turned into settings.

Holds ``SessionSettings`` (frozen: what a session needs, from the flags, a lesson or the connection screen),
``plan_for``, ``parse_server`` and ``UsageError``; ``options.py`` holds the flags and ``settings_from_args``,
which check them and make these settings.

Rules:
- the password never comes from a flag (it would sit in the shell history and the process list):
  only from ``SMTPSTEP_PASSWORD`` or a ``getpass`` prompt;
- with the built-in server the demo credentials are used without asking;
- no field that ends up in a command line may hold CR, LF or NUL (RFC 5321 §2.3.8);
- this module imports no aiosmtpd, trustme, cryptography or Textual (the TUI and ``--help`` load it
  at start-up); the built-in server appears only as a type.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.protocol.commands import InvalidCommand
from smtpstep.protocol.dsn_requests import DsnAsk
from smtpstep.protocol.message import build_message, format_date
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.transport.wire import DEFAULT_PORTS, Target

if TYPE_CHECKING:
    from smtpstep.protocol.lessons.model import Lesson
    from smtpstep.protocol.server.server import LocalServer

PASSWORD_ENV = "SMTPSTEP_PASSWORD"
"""The environment variable that holds the password for ``--user``."""



TRANSCRIPT_SUFFIXES = (".txt", ".md", ".html", ".svg", ".json", ".mmd", ".puml", ".diagram.svg", ".pcapng")
"""File types ``--transcript`` can write, chosen by extension (``smtpstep.app.output.exports`` writes them):
``.mmd``, ``.puml`` and ``.diagram.svg`` are the sequence diagram (``x.diagram.svg`` ends in ``.svg`` too);
``.pcapng`` is the session's own bytes for Wireshark (``smtpstep.app.output.pcapng``)."""

KEYLOG_ENV = "SSLKEYLOGFILE"
"""The standard variable naming an NSS key log file (browsers and curl read it too): like ``--tls-keys``."""

DEFAULT_FROM = "student@client.smtpstep.test"
DEFAULT_TO = ("teacher@example.test",)
DEFAULT_SUBJECT = "Hello from smtpstep"
DEFAULT_HELO = "client.smtpstep.test"
DEFAULT_BODY = (
    "Hello!\n"
    "\n"
    "This message was sent by smtpstep, one SMTP command at a time.\n"
    "\n"
    ".This line starts with a dot, so the client doubles it on the wire and the\n"
    "server removes the extra one again (dot-stuffing, RFC 5321 section 4.5.2).\n"
    "\n"
    "Bye for now.\n"
)
"""A short body; its dot line shows dot-stuffing in every transcript."""

SECURITY_WORDS = {"starttls": "STARTTLS", "tls": "implicit TLS", "none": "no TLS"}

MAX_TIMEOUT = 3600.0


class UsageError(Exception):
    """A plain-words problem with the user's options."""


@dataclass(frozen=True)
class SessionSettings:
    """Everything one session needs, checked; the password is never shown by ``repr``."""

    server: str | None
    """"host", "host:port", "[v6]:port" or a bare IPv6 address; None means the built-in server."""
    security: str
    """starttls, tls or none."""
    ca_file: Path | None
    """Extra CA certificates (PEM) to trust for a real server's certificate."""
    insecure: bool
    """Go on past a failed certificate check, on purpose; marked in every output."""
    user: str | None
    """AUTH user name; None sends no AUTH."""
    password: str | None = field(repr=False)
    """AUTH password, from the environment, a prompt or the built-in demo account."""
    helo: str = DEFAULT_HELO
    """The name given in EHLO/HELO."""
    timeout: float | None = None
    """Seconds for the connect and each step; None uses RFC 5321 §4.5.3.2's values."""
    mail_from: str = DEFAULT_FROM
    rcpt_tos: tuple[str, ...] = DEFAULT_TO
    subject: str = DEFAULT_SUBJECT
    body: str = DEFAULT_BODY
    quit_after: str | None = None
    """A phase from ``planner.PHASES``: send QUIT once it is done."""
    allow_cleartext_auth: bool = False
    """The user's explicit consent to send AUTH without TLS to a real server."""
    show_secrets: bool = False
    """Show the password and its base64 forms instead of ********."""
    style: str = "textbook"
    """textbook or swaks."""
    transcript: Path | None = None
    """Where ``--transcript`` writes the whole transcript (.txt, .md, .html, .svg or .json) or the sequence
    diagram (.mmd, .puml, .diagram.svg), or None."""
    bdat: int | None = None
    """``--bdat``: send the message in BDAT chunks of this many octets (0: one chunk) when the server
    offers CHUNKING (RFC 3030); None sends it with DATA."""
    lesson: Lesson | None = None
    """The lesson this session follows (``--lesson``); ``for_lesson`` set the session fields above."""
    lesson_part: int = 0
    """Which part of the lesson this session is (0 for the first); each part is one session."""
    tls_keys: str | None = None
    """``--tls-keys FILE`` or SSLKEYLOGFILE: the NSS key log TLS secrets are appended to, and embedded in a
    .pcapng export. Never by default: whoever holds the file can decrypt the session, AUTH included."""
    dns_server: str | None = None
    """``--dns``: the DNS server ("HOST@PORT") that ``--server mx`` asks; None asks this machine's resolver."""
    dsn: DsnAsk = DsnAsk()
    """``--notify``, ``--ret``, ``--envid``, ``--orcpt``, ``--requiretls`` or a lesson's: the DSN parameters (RFC
    3461 §4) and REQUIRETLS (RFC 8689 §2), each sent only where the server advertises its extension."""
    mta: bool = False
    """A lesson's ``mta = true``: the client plays a sending mail server and connects to the built-in server's
    port-25 listener (STARTTLS offered, no AUTH), as one MTA to another (RFC 5321 §2.3.10)."""
    display_name: str | None = None
    """What the header, the connection notes and the explanation call the server in place of its address
    (host:port), e.g. "localhost": screenshots that stay the same whatever port the server got. None shows
    the address."""

    @property
    def builtin(self) -> bool:
        """True when the session talks to smtpstep's own local server."""
        return self.server is None

    @property
    def smtputf8(self) -> bool:
        """Non-ASCII addresses need SMTPUTF8 on MAIL FROM (RFC 6531 §3.4)."""
        return not all(a.isascii() for a in (self.mail_from, *self.rcpt_tos))

    def host_port(self) -> tuple[str, int]:
        """The host and port of ``--server``; the port defaults by security (587, 465, 25).

        For the built-in server: loopback and the default port (its real port is known only once it runs).
        """
        if self.server is None:
            return "127.0.0.1", DEFAULT_PORTS[self.security]
        return parse_server(self.server, self.security)

    def plan(self, *, date: str, message_id: str) -> SessionPlan:
        """The planner's input: envelope, message, credentials and policy."""
        try:
            message = build_message(
                sender=self.mail_from,
                recipients=self.rcpt_tos,
                subject=self.subject,
                body=self.body,
                date=date,
                message_id=message_id,
                utf8_headers=self.smtputf8,
            )
        except (InvalidCommand, ValueError) as error:
            raise UsageError(f"the message cannot be built: {error}") from None
        plan = SessionPlan(
            security=self.security,
            helo=self.helo,
            username=self.user,
            password=self.password,
            mail_from=self.mail_from,
            rcpt_tos=self.rcpt_tos,
            message=message,
            quit_after=self.quit_after,
            allow_cleartext_auth=self.allow_cleartext_auth,
            smtputf8=self.smtputf8,
            bdat=self.bdat,
            dsn=self.dsn,
        )
        # A lesson adds what the flags cannot say: the AUTH mechanism, pipelining, a message given as is.
        return self.lesson.plan(plan, self.lesson_part) if self.lesson is not None else plan

    def target(self, server: LocalServer | None = None) -> Target:
        """Where the transport connects: the running built-in ``server``, or ``--server``."""
        if self.builtin:
            if server is None:
                raise ValueError("the built-in server must be running to make its target")
            target = Target(
                host="127.0.0.1",
                port=self._builtin_port(server),
                security=self.security,
                server_hostname="localhost",
                ca_file=self.ca_file,
                ca_pem=server.ca_pem,
                insecure=self.insecure,
                timeout=self.timeout,
                builtin=True,
                allow_cleartext_auth=self.allow_cleartext_auth,
                label=self.display_name,
                steady=self.display_name is not None,
                keylog=self.tls_keys,
            )
            return self.lesson.target(target, self.lesson_part) if self.lesson is not None else target
        host, port = self.host_port()
        dns = None
        if self.server == "mx":  # the first recipient's domain, found in DNS step by step (RFC 5321 §5.1)
            host, port, dns = self.rcpt_tos[0].rpartition("@")[2], 25, self.dns_server or "system"
        return Target(
            host=host,
            port=port,
            dns=dns,
            security=self.security,
            ca_file=self.ca_file,
            insecure=self.insecure,
            timeout=self.timeout,
            allow_cleartext_auth=self.allow_cleartext_auth,
            label=self.display_name,
            steady=self.display_name is not None,
            keylog=self.tls_keys,
        )

    def _builtin_port(self, server: LocalServer) -> int:
        """The built-in server's port for this session: the port-25 listener for a lesson's sending MTA (it offers
        STARTTLS, RFC 3207 §4), else the one for the security setting."""
        return server.ports["plain"] if self.mta else server.port_for(self.security)

    def for_lesson(self, lesson: Lesson, part: int = 0) -> SessionSettings:
        """These settings set up for ``part`` of ``lesson``: the lesson decides everything about the session
        (security, login, envelope and message); output options (style, transcript, timeout, showing
        secrets) stay the user's. Raises ``LessonError`` for a real server: lessons run on the built-in
        one only."""
        from smtpstep.protocol.lessons.model import LessonError

        if self.server is not None:
            raise LessonError("lessons run on smtpstep's built-in server only; leave out --server", source=lesson.name)
        spec = lesson.part(part).session
        login = spec.auth != "none"
        return dataclasses.replace(
            self,
            security=spec.security,
            user=spec.user if login else None,
            password=spec.password if login else None,
            helo=spec.helo,
            mail_from=spec.mail_from,
            rcpt_tos=spec.rcpt_tos,
            subject=spec.subject,
            body=spec.body * spec.body_repeat,
            quit_after=spec.quit_after,
            allow_cleartext_auth=spec.allow_cleartext_auth,
            # A lesson about certificate checks must not have them switched off; only a lesson that shows an
            # opportunistic sender, which does not check (RFC 7435), says verify = false.
            insecure=not spec.verify,
            dsn=DsnAsk(ret=spec.ret, envid=spec.envid, notify=spec.notify, orcpt=spec.orcpt,
                       requiretls=spec.requiretls),
            mta=spec.mta,
            lesson=lesson,
            lesson_part=part,
        )

    def describe(self, server: LocalServer | None = None) -> str:
        """One line for headers, e.g. "smtp.example.com:587 STARTTLS"; never the password."""
        words = SECURITY_WORDS[self.security]
        if self.builtin:
            where = f" 127.0.0.1:{self._builtin_port(server)}" if server is not None else ""
            return f"built-in server ({words}){f' {self.display_name}' if self.display_name else where}"
        if self.display_name:
            return f"{self.display_name} {words}"
        if self.server == "mx":
            return f"the best MX of {self.rcpt_tos[0].rpartition('@')[2]}, port 25 {words}"
        host, port = self.host_port()
        shown = f"[{host}]" if ":" in host else host
        return f"{shown}:{port} {words}"


def plan_for(settings: SessionSettings, *, now: datetime.datetime | None = None,
             message_id: str | None = None) -> SessionPlan:
    """The session plan with a Date and Message-ID: now and a fresh one, or fixed ones when given (lecture
    notes and tests want the same message every time). The Message-ID's domain is the sender's."""
    moment = now or datetime.datetime.now().astimezone()
    domain = settings.mail_from.rpartition("@")[2].strip(">") or DEFAULT_HELO
    return settings.plan(date=format_date(moment), message_id=message_id or email.utils.make_msgid(domain=domain))


# --- Parsing --------------------------------------------------------------------------------------


def parse_server(text: str, security: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 literal, into (host, port)."""
    value = text.strip()
    port_text: str | None = None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise UsageError(f"--server “{text}” opens “[” without closing it; write an IPv6 address as [::1]:587")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"--server “{text}” has text after “]” that is not “:PORT”")
            port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"--server “{text}”: “{host}” inside brackets is not an IPv6 address") from None
    elif value.count(":") > 1:
        host = value  # a bare IPv6 literal such as ::1 (no port: that needs brackets)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(
                f"--server “{text}” has several colons; write an IPv6 address with a port as [2001:db8::1]:587"
            ) from None
    else:
        host, colon, port_text = value.partition(":")
        if not colon:
            port_text = None
    if not host:
        raise UsageError(f"--server “{text}” has no host name; give one, such as smtp.example.com:587")
    if any(c.isspace() or c in "/@" for c in host):
        raise UsageError(f"--server “{text}”: “{host}” is not a host name")
    if port_text is None:
        return host, DEFAULT_PORTS[security]
    if not port_text.isdigit():
        raise UsageError(f"--server “{text}”: the port “{port_text}” is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise UsageError(f"--server “{text}”: the port {port} is outside 1 to 65535")
    return host, port
