"""Record the replies of a real MTA to scripted SMTP sessions, with smtpstep's own ``BlockingTransport``.

    .venv/bin/python benchmarks/mta/record.py postfix          # -> tests/data/replies/postfix.json
    .venv/bin/python benchmarks/mta/record.py exim             # -> tests/data/replies/exim.json
    .venv/bin/python benchmarks/mta/record.py exim --case greylisting --out /tmp/grey.json
    .venv/bin/python benchmarks/mta/record.py postfix --list   # the cases and what each does

Start the MTAs first (``install.sh``, ``postfix/up.sh``, ``exim/up.sh`` beside this file). Ports, the
state folder and the CA are those of ``lib.sh``, read from the same ``SMTPSTEP_*`` variables.

Every step goes through the client the app uses (``SmtpClient`` inside ``BlockingTransport``); commands
a real client would not send in that state (AUTH before TLS, STARTTLS twice, RCPT before MAIL...) are
sent with ``force``, as a student forces them in the app. What the server sent back is kept byte for
byte, from the transport's wire record, so the tests can parse it again with ``ReplyParser``:

    {"mta": "postfix", "version": "3.7.11", "recorded_at": ..., "recorded_with": ...,
     "cases": {"auth-before-tls": {"description": "...", "steps": [
        {"verbs": ["greeting"], "sent": "", "reply": "220 postfix.smtpstep.test ESMTP ...\\r\\n"},
        {"verbs": ["AUTH"], "sent": "AUTH PLAIN ********\\r\\n", "reply": "530 5.7.0 Must issue ...\\r\\n"},
        ...]}}}

``reply`` is every byte the server sent during the step, decoded as latin-1 (``reply.encode("latin-1")``
gives the bytes back); ``verbs`` names the command each reply in it answers, in order; ``sent`` is what
the client wrote, secrets redacted and long messages cut; ``failure`` is the step's failure in words, if
it had one; ``tls`` the protocol and cipher after a handshake. It writes nothing but the output file.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from smtpstep.protocol.commands import (
    Auth,
    AuthResponse,
    Command,
    Connect,
    Data,
    Ehlo,
    Helo,
    MailFrom,
    MessageBody,
    Quit,
    Raw,
    RcptTo,
    ReadGreeting,
    Rset,
    StartTls,
    TlsHandshake,
)
from smtpstep.protocol.transport.blocking_driver import BlockingTransport
from smtpstep.protocol.transport.wire import Direction, StepResult, Target

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
HOST = "127.0.0.1"
STATE = Path(os.environ.get("SMTPSTEP_MTA_STATE") or Path(os.environ.get("TMPDIR", "/tmp")) / "smtpstep-mtas")
PORTS = {
    "postfix": (int(os.environ.get("SMTPSTEP_POSTFIX_PLAIN_PORT", 10025)),
                int(os.environ.get("SMTPSTEP_POSTFIX_SUBMISSION_PORT", 10587))),
    "exim": (int(os.environ.get("SMTPSTEP_EXIM_PLAIN_PORT", 11025)),
             int(os.environ.get("SMTPSTEP_EXIM_SUBMISSION_PORT", 11587))),
}
USER, PASSWORD = "student", "classroom"
"""The test account both MTAs are set up with (lib.sh): demo credentials, not a secret."""
DOMAIN = "smtpstep.test"
CLIENT_NAME = "client.smtpstep.test"
FROM = f"student@{DOMAIN}"
SIZE_LIMIT = 20000
"""``message_size_limit`` of both MTAs (lib.sh's configuration)."""
GREY_WAIT = float(os.environ.get("SMTPSTEP_GREY_WAIT", "3"))
"""Seconds before the greylisting retry: more than Exim's ``SMTPSTEP_EXIM_GREY_DELAY`` (2 s)."""
SHOWN_OCTETS = 200
"""How much of a long message ``sent`` keeps."""


def message(subject: str, body_lines: int = 2, filler: int = 0) -> bytes:
    lines = [
        f"From: Student <{FROM}>", f"To: <alice@{DOMAIN}>", f"Subject: {subject}",
        "Date: Mon, 07 Dec 2026 09:00:00 +0000", f"Message-ID: <{subject.replace(' ', '-')}@{CLIENT_NAME}>", "",
    ] + [f"line {i} of the body" for i in range(1, body_lines + 1)] + ["x" * 76] * filler
    return ("\r\n".join(lines) + "\r\n").encode()


class Session:
    """One connection through ``BlockingTransport``; each step is appended to ``steps``."""

    def __init__(self, steps: list[dict], port: int, ca: Path) -> None:
        self.steps = steps
        target = Target(HOST, port, "starttls", server_hostname="localhost", ca_file=ca, timeout=15.0,
                        allow_cleartext_auth=True)
        self.transport = BlockingTransport(target)
        self.take(Connect())
        self.take(ReadGreeting())

    def take(self, commands: Command | Sequence[Command]) -> StepResult:
        """One step, forced if the client would not send it now; its exact reply bytes are kept."""
        group = (commands,) if isinstance(commands, Command) else tuple(commands)
        result = self.transport.step(group, force=True)
        chunks = self.transport.record.chunks[result.wire_start:result.wire_end]
        sent = b"".join(c.redacted() for c in chunks if c.direction == Direction.CLIENT)
        reply = b"".join(c.data for c in chunks if c.direction == Direction.SERVER)
        step: dict = {
            "verbs": [(c.acts_as if isinstance(c, Raw) else c.verb).value for c in group],
            "sent": _shown(sent),
            "reply": reply.decode("latin-1"),
        }
        if result.failure is not None:
            step["failure"] = f"{result.failure.kind}: {result.failure.message}"
        if isinstance(group[0], TlsHandshake) and result.ok and self.transport.tls is not None:
            step["tls"] = f"{self.transport.tls.version} {self.transport.tls.cipher}"
        self.steps.append(step)
        return result

    def ehlo(self) -> StepResult:
        return self.take(Ehlo(CLIENT_NAME))

    def starttls(self) -> bool:
        if self.take(StartTls()).answers[-1:] and self.transport.client.settled.name == "AWAITING_TLS_HANDSHAKE":
            return self.take(TlsHandshake()).ok
        return False

    def login(self) -> StepResult:
        self.ehlo()
        self.starttls()
        self.ehlo()
        return self.take(Auth("PLAIN", USER, PASSWORD))

    def quit(self) -> None:
        if self.transport.connected:
            self.take(Quit())
        self.transport.close()


def _shown(sent: bytes) -> str:
    if len(sent) <= SHOWN_OCTETS:
        return sent.decode("latin-1")
    return sent[:SHOWN_OCTETS].decode("latin-1") + f"… ({len(sent):,} octets in all)"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CASES: dict[str, tuple[Callable[[list, int, int, Path], None], str]] = {}


def case(name: str, description: str) -> Callable:
    def register(function: Callable[[list, int, int, Path], None]) -> Callable:
        CASES[name] = (function, description)
        return function
    return register


@case("normal-session", "submission port: EHLO, STARTTLS, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, the message, QUIT")
def _normal(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.login()
    s.take(MailFrom(FROM))
    s.take(RcptTo(f"alice@{DOMAIN}"))
    s.take(Data())
    s.take(MessageBody(message("normal session")))
    s.quit()


@case("auth-before-tls", "submission port: EHLO, then AUTH PLAIN before STARTTLS")
def _auth_before_tls(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.take(Auth("PLAIN", USER, PASSWORD))
    s.quit()


@case("auth-on-the-plain-port", "plain port (no AUTH offered at all): EHLO, then AUTH PLAIN")
def _auth_plain_port(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(Auth("PLAIN", USER, PASSWORD))
    s.quit()


@case("mail-before-tls", "submission port: EHLO, then MAIL FROM before STARTTLS")
def _mail_before_tls(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.take(MailFrom(FROM))
    s.quit()


@case("mail-without-auth", "submission port: STARTTLS and EHLO but no AUTH, then MAIL FROM and RCPT TO")
def _mail_without_auth(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.starttls()
    s.ehlo()
    s.take(MailFrom(FROM))
    s.take(RcptTo(f"alice@{DOMAIN}"))
    s.quit()


@case("wrong-password", "submission port under TLS: AUTH PLAIN with a wrong password, then AUTH LOGIN with one")
def _wrong_password(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.starttls()
    s.ehlo()
    s.take(Auth("PLAIN", USER, "wrong-password"))
    s.take(Auth("LOGIN", USER, "wrong-password"))
    s.take(AuthResponse(_b64(USER), shown="the user name, base64"))
    s.take(AuthResponse(_b64("wrong-password"), shown="the password, base64"))
    s.quit()


@case("auth-cancelled", "submission port under TLS: AUTH LOGIN, then '*' to cancel")
def _auth_cancelled(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.starttls()
    s.ehlo()
    s.take(Auth("LOGIN", USER, PASSWORD))
    s.take(AuthResponse("*", secret=False, shown="cancel"))
    s.quit()


@case("auth-unknown-mechanism", "submission port under TLS: AUTH with a mechanism the server does not offer")
def _auth_unknown(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.starttls()
    s.ehlo()
    s.take(Raw("AUTH XOAUTH2"))
    s.quit()


@case("second-auth", "submission port: AUTH PLAIN succeeds, then a second AUTH PLAIN")
def _second_auth(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.login()
    s.take(Auth("PLAIN", USER, PASSWORD))
    s.quit()


@case("auth-in-transaction", "submission port: AUTH, MAIL FROM, then AUTH again inside the transaction")
def _auth_in_transaction(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.starttls()
    s.ehlo()
    s.take(MailFrom(FROM))
    s.take(Auth("PLAIN", USER, PASSWORD))
    s.quit()


@case("starttls-twice", "submission port: STARTTLS, EHLO, then STARTTLS again inside TLS")
def _starttls_twice(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.starttls()
    s.ehlo()
    s.take(StartTls())
    s.quit()


@case("helo-then-starttls", "plain port: HELO (no keyword list), then STARTTLS; if TLS starts, EHLO")
def _helo_then_starttls(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.take(Helo(CLIENT_NAME))
    if s.starttls():
        s.ehlo()
    s.quit()


@case("relay-denied", "plain port, no AUTH: RCPT TO a domain the server does not deliver to")
def _relay_denied(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(MailFrom(FROM))
    s.take(RcptTo("someone@example.com"))
    s.quit()


@case("relay-denied-after-auth", "submission port after AUTH: RCPT TO a domain elsewhere (relay is refused to all)")
def _relay_denied_after_auth(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.login()
    s.take(MailFrom(FROM))
    s.take(RcptTo("someone@example.com"))
    s.quit()


@case("unknown-user", "plain port: RCPT TO a mailbox that does not exist in the server's own domain")
def _unknown_user(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(MailFrom(FROM))
    s.take(RcptTo(f"nosuchuser@{DOMAIN}"))
    s.quit()


@case("too-big-declared", f"plain port: MAIL FROM with SIZE={SIZE_LIMIT + 10000} (the limit is {SIZE_LIMIT})")
def _too_big_declared(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(MailFrom(FROM, size=SIZE_LIMIT + 10000))
    s.quit()


@case("too-big-sent", f"plain port: no SIZE= declared, then a message of over {SIZE_LIMIT + 10000} octets")
def _too_big_sent(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(MailFrom(FROM))
    s.take(RcptTo(f"alice@{DOMAIN}"))
    s.take(Data())
    s.take(MessageBody(message("too big", filler=(SIZE_LIMIT + 10000) // 78)))
    s.quit()


@case("too-many-recipients", "plain port: four RCPT TO to existing mailboxes (the limit is 3), then DATA")
def _too_many_recipients(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(MailFrom(FROM))
    for user in ("alice", "bob", "carol", "dave"):
        s.take(RcptTo(f"{user}@{DOMAIN}"))
    s.take(Data())
    s.take(MessageBody(message("too many recipients")))
    s.quit()


@case("rcpt-before-mail", "plain port: EHLO, then RCPT TO before MAIL FROM")
def _rcpt_before_mail(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(RcptTo(f"alice@{DOMAIN}"))
    s.quit()


@case("data-before-rcpt", "plain port: EHLO, MAIL FROM, then DATA before any RCPT TO")
def _data_before_rcpt(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(MailFrom(FROM))
    s.take(Data())
    s.quit()


@case("data-before-mail", "plain port: EHLO, then DATA before MAIL FROM")
def _data_before_mail(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(Data())
    s.quit()


@case("mail-before-ehlo", "plain port: MAIL FROM as the first command, without EHLO or HELO")
def _mail_before_ehlo(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.take(MailFrom(FROM))
    s.take(Rset())
    s.quit()


@case("mail-after-tls-without-ehlo", "submission port: EHLO, STARTTLS, then MAIL FROM without the second EHLO")
def _mail_after_tls_without_ehlo(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, submission, ca)
    s.ehlo()
    s.starttls()
    s.take(MailFrom(FROM))
    s.quit()


@case("mail-twice", "plain port: EHLO, MAIL FROM, then MAIL FROM again inside the transaction")
def _mail_twice(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(MailFrom(FROM))
    s.take(MailFrom(FROM))
    s.quit()


@case("protocol-errors-repeated", "plain port: RCPT TO before MAIL FROM, five times (until the server hangs up?)")
def _errors_repeated(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    for _ in range(5):
        if not s.transport.connected:
            break
        s.take(RcptTo(f"alice@{DOMAIN}"))
    s.quit()


@case("pipelining", "plain port: MAIL, RCPT (known), RCPT (unknown) and DATA in one write, then the message")
def _pipelining(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take([MailFrom(FROM), RcptTo(f"alice@{DOMAIN}"), RcptTo(f"nosuchuser@{DOMAIN}"), Data()])
    s.take(MessageBody(message("pipelining")))
    s.quit()


@case("unknown-command", "plain port: EHLO, then a command no server knows, then EXPN")
def _unknown_command(steps: list, plain: int, submission: int, ca: Path) -> None:
    s = Session(steps, plain, ca)
    s.ehlo()
    s.take(Raw("FROBNICATE now"))
    s.take(Raw(f"EXPN postmaster@{DOMAIN}"))
    s.quit()


@case("greylisting", f"plain port: RCPT TO grey@ with a new sender, then a new session {GREY_WAIT:g} s later")
def _greylisting(steps: list, plain: int, submission: int, ca: Path) -> None:
    sender = f"grey-{int(time.time() * 1000)}@example.org"
    for attempt in (1, 2):
        if attempt == 2:
            time.sleep(GREY_WAIT)
        s = Session(steps, plain, ca)
        s.ehlo()
        s.take(MailFrom(sender))
        s.take(RcptTo(f"grey@{DOMAIN}"))
        s.quit()


def version(mta: str) -> str:
    """The MTA's version, as its own tools print it; "unknown" if they cannot be run."""
    try:
        if mta == "postfix":
            out = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
            return f"Postfix {out}" if out else "Postfix (version unknown)"
        dist = Path(os.environ.get("SMTPSTEP_EXIM_DIST") or STATE / "exim-dist")
        out = subprocess.run([str(dist / "usr/sbin/exim4"), "-C", str(STATE / "exim/exim.conf"), "-bV"],
                             capture_output=True, text=True, timeout=10).stdout
        found = re.search(r"Exim version (\S+)", out)
        package = dist / "PACKAGE"
        shown = f"Exim {found.group(1)}" if found else "Exim (version unknown)"
        return shown + (f" ({package.read_text().strip()})" if package.is_file() else "")
    except (OSError, subprocess.SubprocessError):
        return f"{mta} (version unknown)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mta", choices=sorted(PORTS))
    parser.add_argument("--out", help="the JSON file to write (default tests/data/replies/MTA.json)")
    parser.add_argument("--case", action="append", help="record only this case (repeatable)")
    parser.add_argument("--ca", default=str(STATE / "ca" / "ca.pem"))
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args()
    if args.list:
        for name, (_, description) in CASES.items():
            print(f"{name:28} {description}")
        return 0
    ca = Path(args.ca)
    if not ca.is_file():
        print(f"record.py: the CA file {ca} is missing; start the MTA with {args.mta}/up.sh first.", file=sys.stderr)
        return 1
    names = args.case or list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"record.py: no such case: {', '.join(unknown)} (see --list).", file=sys.stderr)
        return 1
    plain, submission = PORTS[args.mta]
    recorded: dict = {
        "mta": args.mta,
        "version": version(args.mta),
        "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "recorded_with": "smtpstep BlockingTransport (benchmarks/mta/record.py)",
        "cases": {},
    }
    for name in names:
        function, description = CASES[name]
        steps: list[dict] = []
        function(steps, plain, submission, ca)
        recorded["cases"][name] = {"description": description, "steps": steps}
        last = next((s["reply"].splitlines()[0] for s in reversed(steps) if s["reply"]), "-")
        print(f"  {name:28} {len(steps):2} steps, last reply: {last}")
    out = Path(args.out) if args.out else REPOSITORY / "tests" / "data" / "replies" / f"{args.mta}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(recorded['cases'])} cases from {recorded['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
