"""``smtpstep run``: one whole SMTP session without the TUI, its transcript printed as it happens.

Holds the session driver (planner proposes, transport steps, until the queue is empty), the printer
that turns wire chunks into transcript lines on stdout and in the ``--transcript`` file, and the exit
codes, which are a contract (issue 2): other tools rely on them. With ``--lesson`` it also runs the
lesson: the built-in server in the lesson's scenario (and the stripping relay where a part asks for
it), one session per part, the lesson's narration after each step, and the server's side at the end
of each part; the exit code is the last part's.

Rules:
- it parses no SMTP and decides no protocol policy: the planner says what comes next and when to
  stop, the transport says what happened;
- exit 0 only when the server accepted the message (2xx after the final dot) and QUIT was sent, or,
  with ``--quit-after``, when QUIT was sent after that phase; otherwise the failing phase's code;
- at a failure, QUIT is still sent while the connection is open (RFC 5321 §4.1.1.10);
- secrets are redacted in every output unless ``--show-secrets``: the transcript redacts the spans
  that AUTH marks, and the printer also blanks the password and its base64 forms wherever they appear
  (a lesson's own words are printed as written: its demo password is public, and decoding it is the
  point of the AUTH lessons);
- the built-in server (aiosmtpd, trustme) is imported only when it is used.
"""

from __future__ import annotations

import datetime
import email.utils
import ipaddress
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from smtpstep.app.session.settings import SessionSettings, UsageError, password_forms
from smtpstep.app.session.transcript import SECRET_MASK, Transcript
from smtpstep.protocol.commands import Command, InvalidCommand, Quit, Verb
from smtpstep.protocol.message import format_date
from smtpstep.protocol.planner import PHASES, SessionPlan, next_group, propose
from smtpstep.protocol.transport.blocking_driver import BlockingTransport
from smtpstep.protocol.transport.certificates import TlsInfo
from smtpstep.protocol.transport.engine import StepEngine
from smtpstep.protocol.transport.wire import Direction, StepResult, Target, WireChunk

if TYPE_CHECKING:
    from smtpstep.app.session.recording import SessionRecorder
    from smtpstep.protocol.lessons.model import Lesson
    from smtpstep.protocol.server.facts import ReceivedMessage
    from smtpstep.protocol.server.server import LocalServer

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PHASE_EXIT = {"connect": 3, "greeting": 4, "ehlo": 5, "tls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10}
"""The exit code for a session that failed in each phase of ``planner.PHASES``."""

_PHASE_WORDS = {
    "connect": "connect: the host name could not be resolved, nothing listened, or the connect timed out",
    "greeting": "greeting: no 220 greeting (refused, closed or timed out)",
    "ehlo": "EHLO: the server refused EHLO and HELO, or the connection failed or timed out during them",
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

EMIT_BATCH = 256 * 1024
"""Characters of transcript printed per write: a long message goes out in blocks, not a line at a time."""

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
    """Wire chunks in, transcript lines out: to the terminal as they come and to the transcript file.

    A ``.txt`` transcript gets exactly the printed lines. Any other format (``.md``, ``.html``,
    ``.svg``, ``.json``) is an export of the session's recording, written when the session ends.
    """

    def __init__(self, settings: SessionSettings, out: TextIO, file: TextIO | None) -> None:
        self.transcript = Transcript(style=settings.style, show_secrets=settings.show_secrets)
        self.out = out
        self.settings = settings
        suffix = settings.transcript.suffix.lower() if settings.transcript is not None else ".txt"
        self.file = file if suffix == ".txt" else None
        self.export_file = file if suffix != ".txt" else None
        """The --transcript file of another format than .txt: the export is written into it at the end."""
        self.recorder: SessionRecorder | None = None
        self.hide = () if settings.show_secrets else password_forms(settings.user, settings.password)
        self.tls = False
        self.last_error: str | None = None
        """The last failure the transport reported, so that the closing line does not repeat it."""

    def chunk(self, chunk: WireChunk) -> None:
        """The transport's listener."""
        self.tls = chunk.tls
        if chunk.direction == Direction.ERROR:
            self.last_error = chunk.note
        self._emit(self.transcript.iter_plain(chunk))

    def note(self, text: str, direction: str = Direction.NOTE) -> None:
        """A line of smtpstep's own (header, timing, TLS facts), styled like the transport's notes."""
        self.chunk_note(WireChunk(direction, b"", self.tls, 0.0, 0, note=text))

    def chunk_note(self, chunk: WireChunk) -> None:
        self._emit(self.transcript.iter_plain(chunk))

    def say(self, text: str, prefix: str = "  »", *, wrap: bool = True) -> None:
        """A lesson's words (narration, the server's side), each line after ``prefix``.

        Not redacted: the text comes from the lesson file, whose demo password is public on purpose
        (the AUTH lessons decode it), or from the server's stored message, which holds no password.
        """
        self.flush()
        width = max(40, 100 - len(prefix))
        lines = (textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) if wrap else [text]) or [""]
        for line in lines:
            text = f"{prefix} {line}".rstrip()
            print(text, file=self.out, flush=True)
            if self.file is not None:
                self.file.write(text + "\n")

    def flush(self) -> None:
        self._emit(line.plain() for line in self.transcript.flush())

    def begin(self, plan: SessionPlan, transport: StepEngine, target: str) -> None:
        """The session starts: record its views if the transcript is an export."""
        if self.export_file is not None:
            from smtpstep.app.session.recording import SessionRecorder

            self.recorder = SessionRecorder(plan, transport, {"target": target, "security": self.settings.security})

    def stepped(self, result: StepResult) -> None:
        if self.recorder is not None:
            self.recorder.add(result)

    def write_export(self) -> None:
        """Write the export of what was recorded (also of a session cut short) into the transcript file."""
        if self.export_file is None or self.recorder is None or self.settings.transcript is None:
            return
        from smtpstep.app.output.exports import render

        self.export_file.write(render(self.recorder.recording(), self.settings.transcript.suffix,
                                      style=self.settings.style, show_secrets=self.settings.show_secrets))

    def _emit(self, texts: Iterable[str]) -> None:
        """Print transcript lines in their plain form (and write them to the transcript file), a batch
        per write and flush. ``Transcript.iter_plain`` hands a long message over in blocks of lines,
        made with string methods; one ``print`` per line made a 25 MB message (330,000 lines) take seconds."""
        batch: list[str] = []
        size = 0
        for text in texts:
            batch.append(text)
            size += len(text) + 1
            if size >= EMIT_BATCH:
                self._write(batch)
                batch, size = [], 0
        if batch:
            self._write(batch)

    def _write(self, texts: list[str]) -> None:
        block = "\n".join(texts) + "\n"
        for form in self.hide:  # no form holds a line end, so a block hides what its lines would
            block = block.replace(form, SECRET_MASK)
        self.out.write(block)
        self.out.flush()
        if self.file is not None:
            self.file.write(block)


def run(settings: SessionSettings, *, out: TextIO | None = None, err: TextIO | None = None,
        report: LessonReport | None = None) -> int:
    """Run the session, print its transcript, return the exit code. KeyboardInterrupt propagates."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    _check_text(settings)
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
        outcome = _run(settings, printer, report)
    finally:
        printer.flush()
        try:
            printer.write_export()
        finally:
            if file is not None:
                file.close()
    if outcome.message:
        print(f"smtpstep: {_sentence(outcome.message)}", file=err, flush=True)
    return outcome.code


def _run(settings: SessionSettings, printer: Printer, report: LessonReport | None = None) -> Outcome:
    if settings.lesson is not None:
        return _run_lesson(settings, printer, report if report is not None else LessonReport(settings.lesson))
    if not settings.builtin:
        return Session(settings, printer, None).run()
    from smtpstep.protocol.server.server import LocalServer  # aiosmtpd and trustme: only for the built-in server

    server = LocalServer()
    try:
        server.start_in_thread()
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        return Outcome(EXIT_OTHER, f"the built-in server could not start: {error.strerror or error}{where}")
    try:
        return Session(settings, printer, server).run()
    finally:
        server.stop_thread()


class Session:
    """One headless session: ask the planner, take the step, print, repeat."""

    def __init__(self, settings: SessionSettings, printer: Printer, server: LocalServer | None, *,
                 target: Target | None = None, after_step: Callable[[int, StepResult], None] | None = None) -> None:
        self.settings = settings
        self.printer = printer
        self.server = server
        self.target = target or settings.target(server)
        self.after_step = after_step
        """Called after every step with its index (0 for the first) and result: a lesson's narration."""
        self.transport = BlockingTransport(self.target, listener=printer.chunk)
        self.accepted: str | None = None
        """The reply to the final dot, once it was positive."""
        self.refused_rcpts: list[tuple[str, str]] = []
        self.quit_sent = False
        self.steps = 0

    def run(self) -> Outcome:
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
        printer.begin(plan, self.transport, settings.describe(self.server))
        try:
            outcome = self._drive(plan)
        except InvalidCommand as error:
            raise UsageError(str(error)) from None
        finally:
            self.transport.close()
        printer.flush()
        if outcome.code == EXIT_OK:
            printer.note(self._summary())
        elif outcome.message and _sentence(outcome.message) != _sentence(printer.last_error or ""):
            printer.note(_sentence(outcome.message), Direction.ERROR)
        return outcome

    def _drive(self, plan: SessionPlan) -> Outcome:
        transport = self.transport
        last = None
        while self.steps < MAX_STEPS:
            proposal = propose(plan, transport.client.view(), last)
            if proposal.halt is not None:
                self._quit_if_open(proposal.commands)
                if _beyond(proposal.failed_phase, plan.quit_after):
                    break  # the planner objects to a phase the user asked not to reach
                return Outcome(PHASE_EXIT.get(proposal.failed_phase or "", EXIT_OTHER), proposal.halt)
            if not proposal.steps:
                break
            group = next_group(plan, transport.client.view(), proposal.steps)  # pipelining (RFC 2920)
            planned = group[0]
            command = planned.command
            result = self._step(command if len(group) == 1 else tuple(p.command for p in group))
            if result.answers:
                last = result.answers[-1]
            if result.failure is not None:
                if command.verb == Verb.QUIT:
                    break  # QUIT was written (or the connection was gone); the end is judged below
                phase = "tls" if result.failure.kind == "tls" else _VERB_PHASE.get(command.verb, planned.phase)
                self._quit_if_open((Quit(),))
                return Outcome(PHASE_EXIT.get(phase, EXIT_OTHER), result.failure.message)
        else:
            self._quit_if_open((Quit(),))
            return Outcome(EXIT_OTHER, f"the session took more than {MAX_STEPS} steps and was stopped")
        return self._judge(plan.quit_after)

    def _step(self, commands: Command | tuple[Command, ...]) -> StepResult:
        command = commands if isinstance(commands, Command) else commands[-1]
        self.steps += 1
        result = self.transport.step(commands)
        self.printer.stepped(result)
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
        if not isinstance(commands, Command):
            label = f"the pipelined group of {len(commands)} commands"
        self.printer.note(f"{label} took {_ms(result.elapsed)}")
        if self.after_step is not None:
            self.after_step(self.steps - 1, result)
        return result

    def _quit_if_open(self, commands: Sequence[Command]) -> None:
        if not self.transport.connected or self.quit_sent:
            return
        if not any(isinstance(c, Quit) for c in commands):
            return
        if Verb.QUIT not in self.transport.client.view().allowed:
            return
        self._step(Quit())

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


def _check_text(settings: SessionSettings) -> None:
    """Refuse option text that cannot go on the wire, before anything is started or sent.

    Issue 6 found these slipping past ``options.settings_from_args`` (the lasting fix belongs in
    ``commands.check_field`` and ``options._body``, shared with the TUI): bytes in argv or the
    environment that are not UTF-8 arrive as lone surrogates (PEP 383) and made the first command
    fail with UnicodeEncodeError ("something unexpected went wrong", exit 1); and ``--body-file``,
    unlike ``--body``, let a NUL byte into the message (RFC 5322 §2.3 allows none in text).
    """
    from smtpstep.app.session.settings import PASSWORD_ENV

    fields = [("--server", settings.server), ("--helo", settings.helo), ("--from", settings.mail_from),
              *(("--to", rcpt) for rcpt in settings.rcpt_tos), ("--subject", settings.subject),
              ("--body or --body-file", settings.body), ("--user", settings.user)]
    for flag, value in fields:
        if value is not None and not _is_utf8(value):
            raise UsageError(f"{flag} holds bytes that are not valid UTF-8 text (another encoding, or a "
                             "damaged file name?); smtpstep sends text as UTF-8")
    if settings.password is not None and not _is_utf8(settings.password):
        # Never echo the password, not even a part of it.
        raise UsageError(f"the password (from ${PASSWORD_ENV} or the prompt) holds bytes that are not valid "
                         "UTF-8 text, which AUTH cannot carry")
    if settings.body and "\0" in settings.body:  # --body refuses NUL already: this one came from --body-file
        raise UsageError("--body-file holds a NUL byte, which a mail message cannot carry (RFC 5322 §2.3)")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


# --- Lessons --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonStep:
    """One step of a lesson part as it happened, and what the lesson says about it."""

    index: int
    """0 for the part's first step."""
    kind: str
    """``lessons.step_kind`` of the step: "ehlo", or "mail+rcpt+data" for a pipelined group."""
    replies: tuple[tuple[int, str | None], ...]
    """Each reply's code and enhanced status code, in order."""
    failure: str | None
    """The step's ``Failure.kind``, if it failed."""
    narration: str | None
    """The lesson's words for the step; None when the step is not the one the lesson has there."""
    problem: str | None
    """How the step differs from what the lesson expects (its ``expect`` and ``failure``), or None."""


@dataclass
class PartReport:
    """One part (one session) of a lesson as it ran."""

    part: int
    outcome: Outcome
    steps: list[LessonStep] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)
    """What the man in the middle changed, if the part had one."""
    stored: list[ReceivedMessage] = field(default_factory=list)
    """What the built-in server accepted during this part."""


@dataclass
class LessonReport:
    """A whole ``smtpstep run --lesson``: filled in as the parts run (tests read it)."""

    lesson: Lesson
    parts: list[PartReport] = field(default_factory=list)


def _run_lesson(settings: SessionSettings, printer: Printer, report: LessonReport) -> Outcome:
    """Start the built-in server in the lesson's scenario and run each part, narrating every step."""
    from smtpstep.protocol.server.scenarios import SCENARIOS
    from smtpstep.protocol.server.server import LocalServer

    lesson = settings.lesson
    assert lesson is not None
    if lesson.scenario not in SCENARIOS:
        return Outcome(EXIT_USAGE, f"the lesson {lesson.name} needs the server scenario “{lesson.scenario}”, which "
                                   f"the built-in server does not have (it has {', '.join(SCENARIOS)})")
    server = LocalServer(scenario=lesson.scenario)
    try:
        server.start_in_thread()
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        return Outcome(EXIT_OTHER, f"the built-in server could not start: {error.strerror or error}{where}")
    outcome = Outcome(EXIT_OTHER, "the lesson has no parts")
    try:
        for part in range(len(lesson.parts)):
            outcome = _lesson_part(lesson.apply(settings, part), printer, server, report)
            if len(lesson.parts) > 1 and part < len(lesson.parts) - 1:
                printer.say(f"Part {part + 1} of {len(lesson.parts)} ended with exit code {outcome.code}.", "  ##")
    finally:
        server.stop_thread()
    return outcome


def _lesson_part(settings: SessionSettings, printer: Printer, server: LocalServer,
                       report: LessonReport) -> Outcome:
    from smtpstep.app.session.lesson_view import lesson_intro, server_lines
    from smtpstep.protocol.lessons.model import step_kind

    lesson, index = settings.lesson, settings.lesson_part
    assert lesson is not None
    spec = lesson.part(index).session
    target = settings.target(server)
    proxy = None
    if spec.mitm == "strip-starttls":
        from smtpstep.protocol.server.relay import StartTlsStripper

        proxy = StartTlsStripper(target.host, target.port)
        proxy.start_in_thread()
        target = lesson.target(target, index, port=proxy.port)
    record = PartReport(index, Outcome(EXIT_OTHER))
    report.parts.append(record)
    for paragraph in lesson_intro(lesson, index, first=index == 0):  # title and goal once, before part 1
        printer.say(paragraph, "  ##")
    if proxy is not None:
        printer.say(f"A man in the middle listens on 127.0.0.1:{proxy.port} and relays to the server on port "
                    f"{proxy.upstream[1]}; the client connects to it as if it were the server.", "  ##")
    before = len(server.received)

    def stepped(step: int, result: StepResult) -> None:
        if proxy is not None:
            for line in proxy.tampering[len(record.tampering):]:
                record.tampering.append(line)
                printer.say(line, "  !!")
        note = lesson.note_for(step, result.commands, index)
        replies = tuple((a.reply.code, a.reply.enhanced) for a in result.answers)
        failure = result.failure.kind if result.failure is not None else None
        problem = (note.unexpected(replies, failure) if note is not None
                   else "the lesson has no narration for this step here")
        record.steps.append(LessonStep(step, step_kind(result.commands), replies, failure,
                                       note.say if note is not None else None, problem))
        if note is not None:
            printer.say(note.say)
        if problem is not None:
            printer.say(f"(this step did not go as the lesson expects: {problem})", "  !!")

    try:
        outcome = Session(settings, printer, server, target=target, after_step=stepped).run()
    finally:
        if proxy is not None:
            proxy.stop_thread()
    record.outcome = outcome
    record.stored = server.received[before:]
    for stored in record.stored:
        for line in server_lines(stored):
            if line.kind in ("heading", "envelope"):
                printer.say(line.text, "  server:")
            else:
                printer.say(line.text, "  server|", wrap=False)
    if lesson.part(index).exit is not None and outcome.code != lesson.part(index).exit:
        printer.say(f"(the lesson expects this part to end with exit code {lesson.part(index).exit}, "
                    f"not {outcome.code})", "  !!")
    return outcome
