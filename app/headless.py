"""``smtpstep run``: one whole SMTP session without the TUI, its transcript printed as it happens.

Holds the session driver (planner proposes, transport steps, until the queue is empty), the printer
that turns wire chunks into transcript lines on stdout and in the ``--transcript`` file, and the exit
codes, which are a contract (issue 2): other tools rely on them.

Rules:
- it parses no SMTP and decides no protocol policy: the planner says what comes next and when to
  stop, the transport says what happened;
- exit 0 only when the server accepted the message (2xx after the final dot) and QUIT was sent, or,
  with ``--quit-after``, when QUIT was sent after that phase; otherwise the failing phase's code;
- at a failure, QUIT is still sent while the connection is open (RFC 5321 §4.1.1.10);
- secrets are redacted in every output unless ``--show-secrets``: the transcript redacts the spans
  that AUTH marks, and the printer also blanks the password and its base64 forms wherever they appear;
- the built-in server (aiosmtpd, trustme) is imported only when it is used.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from app.options import SessionSettings, UsageError, password_forms
from app.transcript import SECRET_MASK, Transcript, TranscriptLine
from protocol.certificates import TlsInfo
from protocol.commands import Command, InvalidCommand, Quit, Verb
from protocol.message import format_date
from protocol.planner import PHASES, SessionPlan, propose
from protocol.transport import Direction, StepResult, Transport, WireChunk

if TYPE_CHECKING:
    from protocol.local_server import LocalServer

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PHASE_EXIT = {"connect": 3, "greeting": 4, "ehlo": 5, "tls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10}
"""The exit code for a session that failed in each phase of ``planner.PHASES``."""

_PHASE_WORDS = {
    "connect": "connect: the host name could not be resolved, nothing listened, or the connect timed out",
    "greeting": "greeting: no 220 greeting (refused, closed or timed out)",
    "ehlo": "EHLO: the server refused EHLO and HELO",
    "tls": "TLS: STARTTLS not offered or refused, or the handshake or certificate check failed",
    "auth": "AUTH: authentication failed, or smtpstep refused to send the password without TLS",
    "mail": "MAIL: the server refused the sender",
    "rcpt": "RCPT: the server refused the recipients (all of them, or some: then the message went only to the "
            "others)",
    "data": "DATA: the server refused DATA or did not accept the message after the final dot",
}
assert set(PHASE_EXIT) == set(PHASES) == set(_PHASE_WORDS)

EXIT_HELP = "\n".join(
    ["exit codes:",
     f"  {EXIT_OK:<4} the message was accepted (250 after the final dot) and QUIT was sent;",
     "       with --quit-after PHASE: QUIT was sent once that phase was done",
     f"  {EXIT_OTHER:<4} anything else (for example the connection closed before QUIT)",
     f"  {EXIT_USAGE:<4} a problem with the options"]
    + [f"  {code:<4} {_PHASE_WORDS[phase]}" for phase, code in PHASE_EXIT.items()]
    + [f"  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C)"]
)
"""The exit codes as ``--help`` shows them."""

MAX_STEPS = 100
"""A bound on one session's steps, so that no planner surprise can loop for ever."""

_VERB_PHASE = {
    Verb.CONNECT: "connect", Verb.GREETING: "greeting", Verb.TLS_HANDSHAKE: "tls", Verb.EHLO: "ehlo",
    Verb.HELO: "ehlo", Verb.STARTTLS: "tls", Verb.AUTH: "auth", Verb.AUTH_RESPONSE: "auth", Verb.MAIL: "mail",
    Verb.RCPT: "rcpt", Verb.DATA: "data", Verb.MESSAGE: "data",
}
"""The phase a failed step counts against. A failed handshake is a TLS failure even for implicit TLS,
where the planner files it under "connect"."""


@dataclass(frozen=True)
class Outcome:
    """How the session ended: the exit code and, for a failure, one plain sentence."""

    code: int
    message: str | None = None


class Printer:
    """Wire chunks in, transcript lines out: to the terminal as they come and to the transcript file."""

    def __init__(self, settings: SessionSettings, out: TextIO, file: TextIO | None) -> None:
        self.transcript = Transcript(style=settings.style, show_secrets=settings.show_secrets)
        self.out = out
        self.file = file
        self.hide = () if settings.show_secrets else password_forms(settings.user, settings.password)
        self.tls = False
        self.last_error: str | None = None
        """The last failure the transport reported, so that the closing line does not repeat it."""

    def chunk(self, chunk: WireChunk) -> None:
        """The transport's listener."""
        self.tls = chunk.tls
        if chunk.direction == Direction.ERROR:
            self.last_error = chunk.note
        self._emit(self.transcript.feed(chunk))

    def note(self, text: str, direction: str = Direction.NOTE) -> None:
        """A line of smtpstep's own (header, timing, TLS facts), styled like the transport's notes."""
        self.chunk_note(WireChunk(direction, b"", self.tls, 0.0, 0, note=text))

    def chunk_note(self, chunk: WireChunk) -> None:
        self._emit(self.transcript.feed(chunk))

    def flush(self) -> None:
        self._emit(self.transcript.flush())

    def _emit(self, lines: Sequence[TranscriptLine]) -> None:
        for line in lines:
            text = line.plain()
            for form in self.hide:
                text = text.replace(form, SECRET_MASK)
            print(text, file=self.out, flush=True)
            if self.file is not None:
                self.file.write(text + "\n")


def run(settings: SessionSettings, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the session, print its transcript, return the exit code. KeyboardInterrupt propagates."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    file: TextIO | None = None
    if settings.transcript is not None:
        try:
            file = open(settings.transcript, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
        except OSError as error:
            raise UsageError(
                f"--transcript {settings.transcript} cannot be written ({error.strerror or error})"
            ) from None
    printer = Printer(settings, out, file)
    try:
        outcome = asyncio.run(_run(settings, printer))
    finally:
        printer.flush()
        if file is not None:
            file.close()
    if outcome.message:
        print(f"smtpstep: {_sentence(outcome.message)}", file=err, flush=True)
    return outcome.code


async def _run(settings: SessionSettings, printer: Printer) -> Outcome:
    if not settings.builtin:
        return await Session(settings, printer, None).run()
    from protocol.local_server import LocalServer  # aiosmtpd and trustme: only for the built-in server

    server = LocalServer()
    try:
        await server.start()
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        return Outcome(EXIT_OTHER, f"the built-in server could not start: {error.strerror or error}{where}")
    try:
        return await Session(settings, printer, server).run()
    finally:
        await server.stop()


class Session:
    """One headless session: ask the planner, take the step, print, repeat."""

    def __init__(self, settings: SessionSettings, printer: Printer, server: LocalServer | None) -> None:
        self.settings = settings
        self.printer = printer
        self.server = server
        self.target = settings.target(server)
        self.transport = Transport(self.target, listener=printer.chunk)
        self.accepted: str | None = None
        """The reply to the final dot, once it was positive."""
        self.refused_rcpts: list[tuple[str, str]] = []
        self.quit_sent = False
        self.steps = 0

    async def run(self) -> Outcome:
        settings, printer = self.settings, self.printer
        printer.note(f"smtpstep run: {settings.describe(self.server)}")
        if settings.user:
            demo = " (the built-in server's demo account)" if settings.builtin else ""
            printer.note(f"AUTH as {settings.user}{demo}; the password is "
                         + ("shown (--show-secrets)" if settings.show_secrets else "redacted as " + SECRET_MASK))
        if settings.insecure:
            printer.note("certificate verification is OFF (--insecure): anyone in between could read this session")
        moment = datetime.datetime.now().astimezone()
        domain = settings.mail_from.rpartition("@")[2].strip(">") or "client.smtpstep.test"
        plan = settings.plan(date=format_date(moment), message_id=email.utils.make_msgid(domain=domain))
        try:
            outcome = await self._drive(plan)
        except InvalidCommand as error:
            raise UsageError(str(error)) from None
        finally:
            await self.transport.close()
        printer.flush()
        if outcome.code == EXIT_OK:
            printer.note(self._summary())
        elif outcome.message and _sentence(outcome.message) != _sentence(printer.last_error or ""):
            printer.note(_sentence(outcome.message), Direction.ERROR)
        return outcome

    async def _drive(self, plan: SessionPlan) -> Outcome:
        transport = self.transport
        last = None
        while self.steps < MAX_STEPS:
            proposal = propose(plan, transport.client.view(), last)
            if proposal.halt is not None:
                await self._quit_if_open(proposal.commands)
                if _beyond(proposal.failed_phase, plan.quit_after):
                    break  # the planner objects to a phase the user asked not to reach
                return Outcome(PHASE_EXIT.get(proposal.failed_phase or "", EXIT_OTHER), proposal.halt)
            if not proposal.steps:
                break
            planned = proposal.steps[0]
            command = planned.command
            result = await self._step(command)
            if result.answers:
                last = result.answers[-1]
            if result.failure is not None:
                if command.verb == Verb.QUIT:
                    break  # QUIT was written (or the connection was gone); the end is judged below
                phase = "tls" if result.failure.kind == "tls" else _VERB_PHASE.get(command.verb, planned.phase)
                await self._quit_if_open((Quit(),))
                return Outcome(PHASE_EXIT.get(phase, EXIT_OTHER), result.failure.message)
        else:
            await self._quit_if_open((Quit(),))
            return Outcome(EXIT_OTHER, f"the session took more than {MAX_STEPS} steps and was stopped")
        return self._judge(plan.quit_after)

    async def _step(self, command: Command) -> StepResult:
        self.steps += 1
        result = await self.transport.step(command)
        self.printer.flush()
        for answer in result.answers:
            verb, reply = answer.command.verb, answer.reply
            if verb == Verb.MESSAGE and reply.positive:
                self.accepted = reply.first_line
            elif verb == Verb.RCPT and not reply.positive:
                self.refused_rcpts.append((getattr(answer.command, "address", "?"), reply.first_line))
        if command.verb == Verb.QUIT and any(
            c.direction == Direction.CLIENT for c in self.transport.record.chunks[result.wire_start:result.wire_end]
        ):
            self.quit_sent = True
        if command.verb == Verb.TLS_HANDSHAKE and result.snapshot.tls is not None:
            for line in tls_facts(result.snapshot.tls, result.snapshot.target.sni):
                self.printer.note(line, Direction.TLS)
        label = "the message" if command.verb == Verb.MESSAGE else command.verb.value
        self.printer.note(f"{label} took {_ms(result.elapsed)}")
        return result

    async def _quit_if_open(self, commands: Sequence[Command]) -> None:
        if not self.transport.connected or self.quit_sent:
            return
        if not any(isinstance(c, Quit) for c in commands):
            return
        if Verb.QUIT not in self.transport.client.view().allowed:
            return
        await self._step(Quit())

    def _judge(self, quit_after: str | None) -> Outcome:
        if quit_after is not None and quit_after != "data":
            if self.quit_sent:
                return Outcome(EXIT_OK)
            return Outcome(EXIT_OTHER, f"the connection closed before QUIT could be sent after the {quit_after} phase")
        if self.accepted is None:
            return Outcome(EXIT_OTHER, "the session ended before the server accepted the message")
        if self.refused_rcpts:
            total = len(self.settings.rcpt_tos)
            refused = "; ".join(f"{addr}: “{reply}”" for addr, reply in self.refused_rcpts)
            return Outcome(PHASE_EXIT["rcpt"], f"the message went to {total - len(self.refused_rcpts)} of {total} "
                                               f"recipients; the server refused {refused}")
        if not self.quit_sent:
            return Outcome(EXIT_OTHER, "the message was accepted, but the connection closed before QUIT was sent")
        return Outcome(EXIT_OK)

    def _summary(self) -> str:
        if self.accepted is None:
            return f"done: QUIT sent after the {self.settings.quit_after} phase, as asked ({self.steps} steps)"
        text = f"done: the message was accepted (“{self.accepted}”) and QUIT was sent ({self.steps} steps)"
        if self.server is not None and self.server.received:
            stored = self.server.received[-1]
            text += f"; the built-in server stored it in {self.server.maildir_path / 'new' / stored.key}"
        return text


def tls_facts(info: TlsInfo, checked: str) -> list[str]:
    """What a TLS handshake established (or why not), as info lines; ``checked``: the name verified."""
    lines = [f"SNI: {info.sni}" if info.sni and not _is_ip(info.sni) else
             f"SNI: none sent (RFC 6066 §3 allows host names only); the certificate is checked against {checked}"]
    for index, cert in enumerate(info.chain, 1):
        lines.append(f"certificate {index} of {len(info.chain)}: {cert.subject}")
        lines.append(f"  issuer:  {cert.issuer}")
        if cert.san:
            lines.append(f"  names:   {', '.join(cert.san)}")
        lines.append(f"  valid:   {cert.not_before:%Y-%m-%d %H:%M} to {cert.not_after:%Y-%m-%d %H:%M} UTC")
        lines.append(f"  SHA-256: {cert.fingerprint_sha256}")
        lines.append(f"  key:     {cert.key_type}")
    if not info.chain:
        lines.append("certificate: none received")
    verdict = info.verification or ("verified" if info.verified else "not verified")
    if not info.version:
        verdict = f"FAILED: {verdict}"
    lines.append(f"verification: {verdict}")
    return lines


def _beyond(phase: str | None, quit_after: str | None) -> bool:
    """Whether ``phase`` comes after the one ``--quit-after`` stops at."""
    if phase not in PHASES or quit_after not in PHASES:
        return False
    return PHASES.index(phase) > PHASES.index(quit_after)  # type: ignore[arg-type]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."
