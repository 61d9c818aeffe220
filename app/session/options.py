"""The session options of ``smtpstep run`` (which ``step``, ``web`` and ``shots`` share): the flags in the groups
``--help`` shows (``add_session_options``), and ``settings_from_args``, which checks flags plus environment and
turns them into a frozen ``SessionSettings``. Each problem with the user's options is one plain sentence,
raised before any connection is made.

Rules:
- the password never comes from a flag (it would sit in the shell history and the process list):
  only from ``SMTPSTEP_PASSWORD`` or a ``getpass`` prompt (``ask_password``);
- with the built-in server the demo credentials are used without asking;
- no field that ends up in a command line may hold CR, LF or NUL (RFC 5321 §2.3.8);
- this module imports no aiosmtpd, trustme, cryptography or Textual.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.session.transcript import STYLES
from smtpstep.protocol import sasl
from smtpstep.protocol.commands import InvalidCommand, MailFrom, check_address, check_field
from smtpstep.protocol.dsn_parameters import DsnSyntaxError, notify_words
from smtpstep.protocol.dsn_requests import DsnAsk
from smtpstep.protocol.planner import PHASES, SECURITIES
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER

if TYPE_CHECKING:
    pass
from smtpstep.app.session.settings import (
    DEFAULT_BODY,
    DEFAULT_FROM,
    DEFAULT_HELO,
    DEFAULT_SUBJECT,
    DEFAULT_TO,
    KEYLOG_ENV,
    MAX_TIMEOUT,
    PASSWORD_ENV,
    TRANSCRIPT_SUFFIXES,
    SessionSettings,
    UsageError,
    parse_server,
)


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``smtpstep run``, in the groups ``--help`` shows (also those of ``step``, ``web``, ``shots``)."""
    where = parser.add_argument_group("server")
    where.add_argument("--server", metavar="HOST[:PORT]",
                       help="a real server; without it smtpstep starts and uses its built-in local server. "
                            "The port defaults by security: 587 starttls, 465 tls, 25 none. IPv6: [::1]:587. "
                            "--server mx: look up the first recipient's domain in DNS and go to its best MX on "
                            "port 25 (which many networks block)")
    where.add_argument("--dns", metavar="HOST[:PORT]", dest="dns_server",
                       help="with --server mx: the DNS server to ask instead of this machine's resolver")
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

    dsn = parser.add_argument_group("delivery reports (sent only where the server advertises DSN, RFC 3461)")
    dsn.add_argument("--notify", metavar="WHEN", type=_notify,
                     help="NOTIFY= on each RCPT TO: NEVER, or a comma list of SUCCESS, FAILURE, DELAY")
    dsn.add_argument("--ret", choices=("FULL", "HDRS"), type=str.upper,
                     help="RET= on MAIL FROM: a failure report returns the FULL message or only its HDRS")
    dsn.add_argument("--envid", metavar="ID", help="ENVID= on MAIL FROM: an identifier the reports return")
    dsn.add_argument("--orcpt", action="store_true", help="ORCPT=rfc822;<recipient> on each RCPT TO")
    dsn.add_argument("--requiretls", action="store_true",
                     help="REQUIRETLS on MAIL FROM where the server advertises it under TLS (RFC 8689)")

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


def _notify(text: str) -> tuple[str, ...]:
    try:
        return notify_words(text)
    except DsnSyntaxError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
    dns_server = _dns_server(get("dns_server"), server)

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
        dns_server=dns_server,
        dsn=_dsn(get("ret"), get("envid"), get("notify"), bool(get("orcpt", False)), bool(get("requiretls", False))),
    )
    return _with_lesson(settings, get("lesson"))


def _dns_server(value: str | None, server: str | None) -> str | None:
    """``--dns HOST[:PORT]`` as the "HOST@PORT" a DNS step asks (port 53 by default); only with --server mx."""
    if value is None:
        return None
    if server != "mx":
        raise UsageError("--dns names the DNS server that --server mx asks; give --server mx too")
    _field("--dns", value)
    import ipaddress  # only for --dns

    text = value.strip()
    host, port_text = text, "53"
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else (rest or "53")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--dns “{value}”: give the DNS server's IP address, such as 127.0.0.1:5353 or "
                         "[::1]:5353") from None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"--dns “{value}”: the port must be a number from 1 to 65535")
    return f"{host}@{int(port_text)}"
def _dsn(ret: str | None, envid: str | None, notify: tuple[str, ...] | None, orcpt: bool,
         requiretls: bool) -> DsnAsk:
    """The DSN parameters asked for, checked as MAIL FROM would check them (RFC 3461 §4.3, §4.4)."""
    try:
        MailFrom("x@x.test", ret=ret, envid=envid)
    except InvalidCommand as error:
        raise UsageError(f"--envid: {error}") from None
    return DsnAsk(ret=ret, envid=envid, notify=notify, orcpt=orcpt, requiretls=requiretls)


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
