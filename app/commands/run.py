"""``smtpstep run``: one whole SMTP session without the TUI, its transcript printed as it happens.

Holds the session loop (the stepper, on the blocking transport, follows the planner until the queue
is empty) and the exit codes, which are a contract: other tools rely on them. The printer
(``session/printer.py``) turns wire chunks into transcript lines; ``run_lesson.py`` runs a lesson, one
session per part, with its narration.

Rules:
- it parses no SMTP and decides no protocol policy: the planner says what comes next and when to
  stop, the transport says what happened;
- exit 0 only when the server accepted the message (2xx after the final dot, or to BDAT LAST) and QUIT was
  sent, or,
  with ``--quit-after``, when QUIT was sent after that phase; otherwise the failing phase's code;
- at a failure, QUIT is still sent while the connection is open (RFC 5321 §4.1.1.10);
- the server's words (its replies, its certificate) are shown with controls as visible escapes
  (``smtpstep.protocol.text``) in every line this prints, as they are in the transcript;
- secrets are redacted in every output unless ``--show-secrets``: the transcript redacts the spans
  that AUTH marks, and the printer also blanks the password and its base64 forms wherever they appear
  (a lesson's own words are printed as written: its demo password is public, and decoding it is the
  point of the AUTH lessons);
- the built-in server (aiosmtpd, trustme) is imported only when it is used.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TextIO

from smtpstep.app.session.printer import Printer
from smtpstep.app.session.settings import SessionSettings, UsageError, plan_for
from smtpstep.app.session.stepper import MAX_STEPS, SessionView, Stepper
from smtpstep.app.session.transcript import SECRET_MASK
from smtpstep.protocol.commands import InvalidCommand, Quit, Verb
from smtpstep.protocol.planner import PHASE_OF_VERB, PHASES, Planned
from smtpstep.protocol.text import is_utf8, quoted, shown
from smtpstep.protocol.transport.blocking_driver import BlockingTransport
from smtpstep.protocol.transport.certificates import TlsInfo
from smtpstep.protocol.transport.wire import Direction, StepResult, Target

if TYPE_CHECKING:
    from smtpstep.app.commands.run_lesson import LessonReport
    from smtpstep.protocol.server.server import LocalServer

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PHASE_EXIT = {"connect": 3, "greeting": 4, "ehlo": 5, "tls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10}
"""The exit code for a session that failed in each phase of ``planner.PHASES``."""

QUOTE_LIMIT = 200
"""Characters of a reply or an address quoted in the closing line (a reply line may be 4096 octets)."""

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



class Outcome(NamedTuple):
    """How the session ended: the exit code and, for a failure, one plain sentence.

    A named tuple rather than a frozen dataclass: it is made the same way, and costs start-up ~0.5 ms less.
    """

    code: int
    message: str | None = None


def run(settings: SessionSettings, *, out: TextIO | None = None, err: TextIO | None = None,
        report: LessonReport | None = None) -> int:
    """Run the session, print its transcript, return the exit code. KeyboardInterrupt propagates."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    _check_text(settings)
    file: TextIO | None = None
    if settings.transcript is not None:
        try:
            if settings.transcript.suffix.lower() == ".pcapng":  # binary: written whole at the end
                settings.transcript.touch()
            else:
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
        if file is not None:
            file.close()
    if outcome.message:
        print(f"smtpstep: {shown(sentence(outcome.message))}", file=err, flush=True)
    return outcome.code


def _run(settings: SessionSettings, printer: Printer, report: LessonReport | None = None) -> Outcome:
    if settings.lesson is not None:
        from smtpstep.app.commands.run_lesson import LessonReport, run_lesson

        return run_lesson(settings, printer, report if report is not None else LessonReport(settings.lesson))
    if not settings.builtin and settings.server == "mx":
        return _run_to_mx(settings, printer)
    if not settings.builtin:
        return Session(settings, printer, None).run()
    from smtpstep.protocol.server.server import LocalServer  # aiosmtpd and trustme: only for the built-in server

    server = LocalServer()
    try:
        server.start_in_thread()
    except OSError as error:
        return Outcome(EXIT_OTHER, server_start_words(error))
    try:
        return Session(settings, printer, server).run()
    finally:
        server.stop_thread()


MX_PORT = 25
"""Where mail between servers goes (RFC 5321 §4.5.4.2)."""


def _run_to_mx(settings: SessionSettings, printer: Printer) -> Outcome:
    """``--server mx``: the session's first steps look up the first recipient's domain in DNS (RFC 5321 §5.1),
    each printed as a line of its own, then it goes to the best MX on port 25. dnspython loads only then."""
    domain = settings.rcpt_tos[0].rpartition("@")[2]
    printer.note(f"--server mx: DNS steps find where mail for {shown(domain)} goes (RFC 5321 §5.1); the session "
                 f"then connects to the best MX on port {MX_PORT}, which many networks and providers block")
    return Session(settings, printer, None).run()


def server_start_words(error: OSError) -> str:
    where = f" ({error.filename})" if error.filename else ""
    return f"the built-in server could not start: {error.strerror or error}{where}"


class Session:
    """One headless session: the stepper takes the planned steps, the printer prints, until the end."""

    def __init__(self, settings: SessionSettings, printer: Printer, server: LocalServer | None, *,
                 target: Target | None = None, after_step: Callable[[int, StepResult], None] | None = None,
                 relay: object | None = None) -> None:
        self.settings = settings
        self.printer = printer
        self.server = server
        self.relay = relay
        """A lesson part's man in the middle, whose ``tampering`` goes into the exported diagram."""
        self.target = target or settings.target(server)
        self.after_step = after_step
        """Called after every step with its index (0 for the first) and result: a lesson's narration."""
        self.stepper = Stepper(self.target, plan_for(settings), transport=BlockingTransport, listener=printer.chunk)
        self.views: list[SessionView] = [self.stepper.view()]
        """The view before the first step and after each one: what an export of the session holds."""
        self.accepted: str | None = None
        """The reply to the final dot, once it was positive (shown, and cut to ``QUOTE_LIMIT``)."""
        self.refused_rcpts: list[tuple[str, str]] = []
        self.quit_sent = False

    @property
    def steps(self) -> int:
        return len(self.stepper.history)

    def run(self) -> Outcome:
        settings, printer = self.settings, self.printer
        printer.note(f"smtpstep run: {settings.describe(self.server)}")
        if settings.user:
            demo = " (the built-in server's demo account)" if settings.builtin else ""
            printer.note(f"AUTH as {settings.user}{demo}; the password is "
                         + ("shown (--show-secrets)" if settings.show_secrets else "redacted as " + SECRET_MASK))
        if settings.insecure:
            printer.note("certificate verification is OFF (--insecure, or a lesson's verify = false): anyone in "
                         "between could read this session")
        if settings.tls_keys:
            printer.note(f"TLS keys are written to {settings.tls_keys} (--tls-keys or SSLKEYLOGFILE): that file "
                         "decrypts this session, AUTH and its password included")
        try:
            outcome = self._drive()
        except InvalidCommand as error:
            raise UsageError(str(error)) from None
        finally:
            self.stepper.transport.close()
            printer.flush()
            self._export()
        if outcome.code == EXIT_OK:
            printer.note(self._summary())
        elif outcome.message and sentence(outcome.message) != sentence(printer.last_error or ""):
            printer.note(sentence(outcome.message), Direction.ERROR)
        return outcome

    def _export(self) -> None:
        """Write the session (also one cut short) into a ``--transcript`` file of another format than .txt.

        A lesson's later parts each get a file of their own beside it (``name-part2.md``, as ``shots``
        names them): one file holds one document. A part with a man in the middle hands its changes to
        the sequence diagram."""
        settings, file = self.settings, self.printer.export_file
        pcapng = settings.transcript is not None and settings.transcript.suffix.lower() == ".pcapng"
        if (file is None and not pcapng) or settings.transcript is None:
            return
        from smtpstep.app.output.exports import ExportError, export, format_of, part_path, render
        from smtpstep.app.session.diagram import lesson_meta
        from smtpstep.app.session.recording import Recording, new_meta

        meta = new_meta(target=settings.describe(self.server), security=settings.security)
        lesson = settings.lesson
        if lesson is not None:
            meta.update(lesson_meta(lesson, settings.lesson_part, list(getattr(self.relay, "tampering", ())),
                                    self.server.received if self.server is not None else ()))
        recording = Recording.from_stepper(self.stepper, self.views, meta)
        if settings.lesson_part > 0:
            try:
                export(recording, part_path(settings.transcript, settings.lesson_part + 1), style=settings.style,
                       show_secrets=settings.show_secrets)
            except ExportError as error:
                self.printer.note(str(error), Direction.ERROR)
            return
        if pcapng:
            try:
                said = export(recording, settings.transcript, show_secrets=settings.show_secrets,
                              keylog=settings.tls_keys)
            except ExportError as error:
                self.printer.note(str(error), Direction.ERROR)
                return
            self.printer.note(said)
            return
        assert file is not None
        file.write(render(recording, format_of(settings.transcript), style=settings.style,
                          show_secrets=settings.show_secrets))

    def _drive(self) -> Outcome:
        stepper, plan = self.stepper, self.stepper.plan
        while True:
            if stepper.halt is not None:  # the planner objects to going on
                self._quit_if_open()
                if _beyond(stepper.failed_phase, plan.quit_after):
                    break  # ...to a phase the user asked not to reach
                return Outcome(PHASE_EXIT.get(stepper.failed_phase or "", EXIT_OTHER), stepper.halt)
            if stepper.head is None:
                break
            if self.steps >= MAX_STEPS:
                self._quit_if_open()
                return Outcome(EXIT_OTHER, f"the session took more than {MAX_STEPS} steps and was stopped")
            planned = stepper.queue[0]
            result = self._step()
            if result.failure is not None:
                if planned.command.verb == Verb.QUIT:
                    break  # QUIT was written (or the connection was gone); the end is judged below
                phase = "tls" if result.failure.kind == "tls" else PHASE_OF_VERB.get(planned.command.verb,
                                                                                      planned.phase)
                self._quit_if_open()
                return Outcome(PHASE_EXIT.get(phase, EXIT_OTHER), result.failure.message)
        return self._judge(plan.quit_after)

    def _step(self) -> StepResult:
        stepper = self.stepper
        result = stepper.step_now()
        assert result is not None
        self.views.append(stepper.view(after_step=True))
        self.printer.flush()
        for answer in result.answers:
            verb, reply = answer.command.verb, answer.reply
            if verb in (Verb.MESSAGE, Verb.BDAT_LAST) and reply.positive:  # the end of DATA, or of BDAT chunks
                self.accepted = quoted(reply.first_line, QUOTE_LIMIT)
            elif verb == Verb.RCPT and not reply.positive:
                self.refused_rcpts.append((quoted(getattr(answer.command, "address", "?"), QUOTE_LIMIT),
                                           quoted(reply.first_line, QUOTE_LIMIT)))
        command = result.commands[-1]
        chunks = stepper.transport.record.chunks[result.wire_start:result.wire_end]
        if command.verb == Verb.QUIT and any(c.direction == Direction.CLIENT for c in chunks):
            self.quit_sent = True
        if command.verb == Verb.TLS_HANDSHAKE and result.snapshot.tls is not None:
            for line in tls_facts(result.snapshot.tls, result.snapshot.target.sni):
                self.printer.note(line, Direction.TLS)
        label = "the message" if command.verb == Verb.MESSAGE else command.verb.value
        if len(result.commands) > 1:
            label = f"the pipelined group of {len(result.commands)} commands"
        self.printer.note(f"{label} took {_ms(result.elapsed)}")
        if self.after_step is not None:
            self.after_step(self.steps - 1, result)
        return result

    def _quit_if_open(self) -> None:
        """At a failure, QUIT while the connection is open (RFC 5321 §4.1.1.10)."""
        stepper = self.stepper
        if not stepper.transport.connected or self.quit_sent:
            return
        if Verb.QUIT not in stepper.transport.client.view().allowed:
            return
        stepper.queue = [Planned(Quit(), "quit")]
        self._step()

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
        stored = [record.key for record in (self.server.received if self.server is not None else [])
                  if hasattr(record, "mail_from")]  # not the server's notes (a relay hop's session)
        if stored:
            # The message this session sent is the one its reply named; a relaying server also stored others.
            key = next((key for key in stored if key in self.accepted), stored[-1])
            text += f"; the built-in server stored it in {self.server.maildir_path / 'new' / key}"
        return text


def _check_text(settings: SessionSettings) -> None:
    """Refuse option text that cannot go on the wire, before anything is started or sent.

    A second check behind ``options.settings_from_args`` (``commands.check_field`` and
    ``options._body`` refuse both at their source, for the terminal app too): bytes in argv or the
    environment that are not UTF-8 arrive as lone surrogates (PEP 383) and would make the first command
    fail with UnicodeEncodeError ("something unexpected went wrong", exit 1); and a NUL byte has no
    place in a message (RFC 5322 §2.3 allows none in text).
    """
    from smtpstep.app.session.settings import PASSWORD_ENV

    fields = [("--server", settings.server), ("--helo", settings.helo), ("--from", settings.mail_from),
              *(("--to", rcpt) for rcpt in settings.rcpt_tos), ("--subject", settings.subject),
              ("--body or --body-file", settings.body), ("--user", settings.user)]
    for flag, value in fields:
        if value is not None and not is_utf8(value):
            raise UsageError(f"{flag} holds bytes that are not valid UTF-8 text (another encoding, or a "
                             "damaged file name?); smtpstep sends text as UTF-8")
    if settings.password is not None and not is_utf8(settings.password):
        # Never echo the password, not even a part of it.
        raise UsageError(f"the password (from ${PASSWORD_ENV} or the prompt) holds bytes that are not valid "
                         "UTF-8 text, which AUTH cannot carry")
    if settings.body and "\0" in settings.body:  # --body refuses NUL already: this one came from --body-file
        raise UsageError("--body-file holds a NUL byte, which a mail message cannot carry (RFC 5322 §2.3)")


def tls_facts(info: TlsInfo, checked: str) -> list[str]:
    """What a TLS handshake established (or why not), as info lines; ``checked``: the name verified."""
    lines = [f"SNI: {info.sni}" if info.sni and not _is_ip(info.sni) else
             f"SNI: none sent (RFC 6066 §3 allows host names only); the certificate is checked against {checked}"]
    # Every certificate field is the server's (a CN or a name may hold ESC ]52...): shown, not raw.
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
    return [shown(line) for line in lines]


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


def sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


# --- Lessons --------------------------------------------------------------------------------------

