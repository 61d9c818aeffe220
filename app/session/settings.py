"""The session options shared by ``smtpstep run`` and ``smtpstep step``, checked and turned into settings.

Holds ``add_session_options`` (the flags of ``smtpstep run``, which ``step``, ``web`` and ``shots`` share), ``settings_from_args``
(flags plus environment into a frozen ``SessionSettings``) and ``UsageError``. Each problem with the
user's options is one plain sentence, raised before any connection is made.

Rules:
- the password never comes from a flag (it would sit in the shell history and the process list):
  only from ``SMTPSTEP_PASSWORD`` or a ``getpass`` prompt;
- with the built-in server the demo credentials are used without asking;
- no field that ends up in a command line may hold CR, LF or NUL (RFC 5321 §2.3.8);
- this module imports no aiosmtpd, trustme, cryptography or Textual (the TUI and ``--help`` load it
  at start-up); the built-in server appears only as a type.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import email.utils
import ipaddress
import os
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.session.transcript import STYLES
from smtpstep.protocol import sasl
from smtpstep.protocol.commands import InvalidCommand, check_address, check_field
from smtpstep.protocol.message import build_message, format_date
from smtpstep.protocol.planner import PHASES, SECURITIES, SessionPlan
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
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
                port=server.port_for(self.security),
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
        return Target(
            host=host,
            port=port,
            security=self.security,
            ca_file=self.ca_file,
            insecure=self.insecure,
            timeout=self.timeout,
            allow_cleartext_auth=self.allow_cleartext_auth,
            label=self.display_name,
            steady=self.display_name is not None,
            keylog=self.tls_keys,
        )

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
            insecure=False,  # a lesson about certificate checks must not have them switched off
            lesson=lesson,
            lesson_part=part,
        )

    def describe(self, server: LocalServer | None = None) -> str:
        """One line for headers, e.g. "smtp.example.com:587 STARTTLS"; never the password."""
        words = SECURITY_WORDS[self.security]
        if self.builtin:
            where = f" 127.0.0.1:{server.port_for(self.security)}" if server is not None else ""
            return f"built-in server ({words}){f' {self.display_name}' if self.display_name else where}"
        if self.display_name:
            return f"{self.display_name} {words}"
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


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``smtpstep run``, in the groups ``--help`` shows (also those of ``step``, ``web``, ``shots``)."""
    where = parser.add_argument_group("server")
    where.add_argument("--server", metavar="HOST[:PORT]",
                       help="a real server; without it smtpstep starts and uses its built-in local server. "
                            "The port defaults by security: 587 starttls, 465 tls, 25 none. IPv6: [::1]:587")
    where.add_argument("--security", choices=SECURITIES, default="starttls",
                       help="starttls (default): upgrade after EHLO and send nothing more if that fails; "
                            "tls: implicit TLS from the first byte (RFC 8314); none: plain text")
    where.add_argument("--ca", metavar="FILE", dest="ca_file",
                       help="also trust the CA certificates in this PEM file (e.g. the one `smtpstep serve` prints)")
    where.add_argument("--insecure", action="store_true",
                       help="go on even if the server's certificate cannot be verified (marked in the output)")
    where.add_argument("--timeout", metavar="SECONDS", type=_number,
                       help="limit for the connect and for each step; default: RFC 5321's per-command values "
                            "(5 minutes for most)")

    auth = parser.add_argument_group("authentication")
    auth.add_argument("--user", metavar="NAME",
                      help=f"AUTH as NAME; the password comes from ${PASSWORD_ENV} or a prompt, never a flag. "
                           f"With the built-in server the demo account {DEMO_USER} is used automatically")
    auth.add_argument("--allow-cleartext-auth", action="store_true",
                      help="send AUTH even without TLS (the password is then readable on the network)")

    msg = parser.add_argument_group("message")
    msg.add_argument("--helo", metavar="NAME", default=DEFAULT_HELO,
                     help=f"the name given in EHLO (default {DEFAULT_HELO})")
    msg.add_argument("--from", metavar="ADDR", dest="mail_from", default=DEFAULT_FROM,
                     help=f"sender for MAIL FROM and the From header (default {DEFAULT_FROM})")
    msg.add_argument("--to", metavar="ADDR", dest="rcpt_tos", action="extend", nargs="+",
                     help=f"recipient(s); repeat or list several (default {DEFAULT_TO[0]})")
    msg.add_argument("--subject", metavar="TEXT", default=DEFAULT_SUBJECT,
                     help=f"the Subject header (default “{DEFAULT_SUBJECT}”)")
    body = msg.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the message text (default: a short note with a dot line)")
    body.add_argument("--body-file", metavar="FILE", help="read the message text from a UTF-8 file")
    msg.add_argument("--bdat", metavar="SIZE", nargs="?", const=0, type=_chunk_size,
                     help="send the message with BDAT in chunks of SIZE octets (without SIZE: in one chunk) "
                          "when the server offers CHUNKING (RFC 3030); otherwise DATA")

    show = parser.add_argument_group("output")
    show.add_argument("--style", choices=STYLES, default="textbook",
                      help="textbook: C:/S: lines (default); swaks: -> <- ~> <~ === ***")
    show.add_argument("--transcript", metavar="FILE",
                      help="also write the whole transcript to FILE, secrets redacted; the extension picks "
                           "the format: .txt (as printed), .md (a section per step), .html or .svg (in colour), "
                           ".json (a recording for `smtpstep replay`), or the sequence diagram as .mmd (Mermaid), "
                           ".puml (PlantUML) or .diagram.svg (a drawing), or .pcapng (the session's bytes for "
                           "Wireshark)")
    show.add_argument("--tls-keys", metavar="FILE",
                      help="append the TLS session keys to FILE (NSS key log, as SSLKEYLOGFILE does) and embed "
                           "them in a .pcapng transcript, so Wireshark decrypts the session, AUTH included; "
                           "never done unless asked")
    show.add_argument("--quit-after", metavar="PHASE", choices=PHASES,
                      help=f"send QUIT once this phase is done: {', '.join(PHASES)}")
    show.add_argument("--show-secrets", action="store_true",
                      help="show the password and the base64 that carries it instead of ********")

    lesson = parser.add_argument_group("lesson")
    lesson.add_argument("--lesson", metavar="NAME|PATH",
                        help="follow a lesson on the built-in server: its scenario, session and narration "
                             "(`smtpstep lessons` lists them; a path loads your own .toml file). It sets the "
                             "server, security, login, envelope and message; output options stay yours")


def _chunk_size(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 2**31:
        raise argparse.ArgumentTypeError(f"“{text}” is not a chunk size in octets (1 or more)")
    return int(text)


def _number(text: str) -> float:
    """``--timeout``'s type; its complaint reads like the range check's (the parser puts the flag first)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_timeout_rule(f"“{text}”")) from None


def _timeout_rule(shown: str) -> str:
    return f"must be a number of seconds more than 0 and at most {MAX_TIMEOUT:g}, not {shown}"


# --- Checking -------------------------------------------------------------------------------------


def ask_password(prompt: str) -> str:
    """``getpass`` on the terminal; EOFError when there is none (it would read a pipe, echoing)."""
    if not (sys.stdin is not None and sys.stdin.isatty()):
        try:
            with open("/dev/tty", "rb"):
                pass
        except OSError:
            raise EOFError("no terminal to ask on") from None
    import getpass  # only when there is a password to ask for (start-up time)

    return getpass.getpass(prompt)


def settings_from_args(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] = os.environ,
    ask_password: Callable[[str], str] = ask_password,
) -> SessionSettings:
    """Check the parsed flags and build the settings; ``UsageError`` names the first problem."""
    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731 - the TUI may pass fewer flags

    security = get("security") or "starttls"
    if security not in SECURITIES:
        raise UsageError(f"--security must be one of {', '.join(SECURITIES)}, not “{security}”")
    server = get("server")
    if server is not None:
        _field("--server", server)
        parse_server(server, security)
    builtin = server is None

    timeout = get("timeout")
    if timeout is not None and not (0 < timeout <= MAX_TIMEOUT):
        raise UsageError(f"--timeout {_timeout_rule(f'{timeout:g}')}")

    ca_file = _ca_file(get("ca_file"))
    insecure = bool(get("insecure", False))
    allow_cleartext = bool(get("allow_cleartext_auth", False))

    helo = get("helo") or DEFAULT_HELO
    _field("--helo", helo)
    if any(c.isspace() for c in helo):
        raise UsageError(f"--helo “{helo}” must be one word, such as client.example.test (RFC 5321 §4.1.1.1)")

    mail_from = _address("--from", get("mail_from") or DEFAULT_FROM)
    rcpt_tos = tuple(_address("--to", rcpt) for rcpt in get("rcpt_tos") or DEFAULT_TO)

    subject = get("subject")
    subject = DEFAULT_SUBJECT if subject is None else subject
    _field("--subject", subject)
    body = _body(get("body"), get("body_file"))

    quit_after = get("quit_after")
    if quit_after is not None and quit_after not in PHASES:
        raise UsageError(f"--quit-after must be one of {', '.join(PHASES)}, not “{quit_after}”")
    style = get("style") or "textbook"
    if style not in STYLES:
        raise UsageError(f"--style must be one of {', '.join(STYLES)}, not “{style}”")
    transcript = _transcript(get("transcript"))

    user, password = _credentials(get("user"), builtin, security, allow_cleartext, environ, ask_password)

    settings = SessionSettings(
        server=server,
        security=security,
        ca_file=ca_file,
        insecure=insecure,
        user=user,
        password=password,
        helo=helo,
        timeout=timeout,
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        subject=subject,
        body=body,
        quit_after=quit_after,
        allow_cleartext_auth=allow_cleartext,
        show_secrets=bool(get("show_secrets", False)),
        style=style,
        transcript=transcript,
        bdat=get("bdat"),
        tls_keys=_tls_keys(get("tls_keys"), environ),
    )
    return _with_lesson(settings, get("lesson"))


def _tls_keys(value: str | None, environ: Mapping[str, str]) -> str | None:
    """The key log file: ``--tls-keys FILE`` first, then SSLKEYLOGFILE; None unless one of them names one."""
    path = value or environ.get(KEYLOG_ENV) or None
    if path is None:
        return None
    if Path(path).is_dir():
        raise UsageError(f"--tls-keys {path} is a directory; give a file name such as keys.txt")
    if not Path(path).parent.is_dir():
        raise UsageError(f"--tls-keys {path}: the folder {Path(path).parent} does not exist")
    return path


def _with_lesson(settings: SessionSettings, name_or_path: str | None) -> SessionSettings:
    """``settings`` set up by the lesson ``--lesson`` names (its first part), or unchanged without one."""
    if name_or_path is None:
        return settings
    from smtpstep.protocol.lessons.loader import load
    from smtpstep.protocol.lessons.model import LessonError

    if settings.server is not None:
        raise UsageError("--lesson runs on smtpstep's built-in server, whose scenarios the lesson needs; "
                         "leave out --server")
    try:
        return settings.for_lesson(load(name_or_path))
    except LessonError as error:
        raise UsageError(f"--lesson {error}") from None


def _field(flag: str, value: str) -> None:
    try:
        check_field(flag, value)
    except InvalidCommand as error:
        raise UsageError(str(error)) from None


def _address(flag: str, value: str) -> str:
    """The mailbox without angle brackets (``<a@b.test>`` is accepted as ``a@b.test``)."""
    if value.strip() in ("", "<>"):
        raise UsageError(f"{flag} is empty; give a mailbox such as student@example.test")
    try:
        return check_address(flag, value)
    except InvalidCommand as error:
        raise UsageError(str(error)) from None


def _ca_file(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise UsageError(f"--ca {value}: there is no such file")
    try:
        text = path.read_bytes()
    except OSError as error:
        raise UsageError(f"--ca {value} cannot be read ({error.strerror or error})") from None
    if b"-----BEGIN CERTIFICATE-----" not in text:
        raise UsageError(f"--ca {value} holds no PEM certificate (a “-----BEGIN CERTIFICATE-----” block)")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))  # no system bundle
    except (ssl.SSLError, ValueError):
        raise UsageError(f"--ca {value} holds a certificate that cannot be loaded: the PEM block is damaged") \
            from None
    return path


def _body(body: str | None, body_file: str | None) -> str:
    if body is not None and body_file is not None:
        raise UsageError("give either --body or --body-file, not both")
    if body_file is not None:
        path = Path(body_file).expanduser()
        if path.is_dir():
            raise UsageError(f"--body-file {body_file} is a directory; give the file that holds the message text")
        if not path.is_file():
            raise UsageError(f"--body-file {body_file}: there is no such file")
        try:
            body = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"--body-file {body_file} is not UTF-8 text") from None
        except OSError as error:
            raise UsageError(f"--body-file {body_file} cannot be read ({error.strerror or error})") from None
        if "\0" in body:
            raise UsageError(f"--body-file {body_file} contains a NUL byte, which a mail message cannot carry")
        return body
    if body is None:
        return DEFAULT_BODY
    if "\0" in body:
        raise UsageError("--body contains a NUL byte, which a mail message cannot carry")
    return body


def _transcript(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.suffix.lower() not in TRANSCRIPT_SUFFIXES:
        raise UsageError(
            f"--transcript {value}: smtpstep writes transcripts as {', '.join(TRANSCRIPT_SUFFIXES)} files; "
            f"name the file like transcript.txt or transcript.md"
        )
    if path.is_dir():
        raise UsageError(f"--transcript {value} is a directory; give a file name such as transcript.txt")
    if not path.parent.is_dir():
        raise UsageError(f"--transcript {value}: the folder {path.parent} does not exist")
    return path


def _credentials(
    user: str | None,
    builtin: bool,
    security: str,
    allow_cleartext: bool,
    environ: Mapping[str, str],
    ask_password: Callable[[str], str],
) -> tuple[str | None, str | None]:
    if user is not None:
        _field("--user", user)
        if not user:
            raise UsageError("--user is empty; give the account name to AUTH as")
    if builtin and security == "none" and not (user and allow_cleartext):
        if user is not None:
            raise UsageError(
                "the built-in server offers AUTH only after TLS; use --security starttls or tls to log in, "
                "or add --allow-cleartext-auth to watch AUTH over plain text being refused"
            )
        return None, None
    if builtin and user is None:
        return DEMO_USER, DEMO_PASSWORD
    if user is None:
        return None, None
    if security == "none" and not allow_cleartext:
        raise UsageError(
            "--user with --security none would send the password unencrypted (AUTH is only base64); "
            "use --security starttls or tls, or add --allow-cleartext-auth to do it anyway"
        )
    password = environ.get(PASSWORD_ENV) or None
    if password is None and builtin and user == DEMO_USER:
        password = DEMO_PASSWORD
    if password is None:
        try:
            password = ask_password(f"Password for {user}: ")
        except (EOFError, OSError):
            raise UsageError(
                f"no password for {user}: set {PASSWORD_ENV} or run smtpstep in a terminal to be asked"
            ) from None
    if not password:
        raise UsageError(f"the password for {user} is empty")
    for char in "\r\n\0":
        if char in password:
            raise UsageError("the password contains a line break or NUL byte, which AUTH cannot carry")
    return user, password


def password_forms(user: str | None, password: str | None) -> tuple[str, ...]:
    """The password and the base64 strings that carry it (AUTH PLAIN, LOGIN), longest first."""
    if not password:
        return ()
    forms = {sasl.b64(password.encode()), sasl.b64(b"\0" + (user or "").encode() + b"\0" + password.encode())}
    if len(password) >= 4:  # a tiny password would blank out ordinary words
        forms.add(password)
    return tuple(sorted(forms, key=len, reverse=True))
