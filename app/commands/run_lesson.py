"""``smtpstep run --lesson``: a lesson run headless, one session per part, narrated step by step.

The built-in server runs in the lesson's scenario (and the stripping relay where a part asks for it);
after each step the lesson's narration is printed, and whether the step went as the lesson expects;
at the end of each part, what the server received and stored. The exit code is the last part's.
A lesson's own words are printed as written: its demo password is public on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smtpstep.app.commands.run import EXIT_OTHER, EXIT_USAGE, Outcome, Session, server_start_words
from smtpstep.app.session.printer import Printer
from smtpstep.app.session.settings import SessionSettings
from smtpstep.protocol.lessons.model import Lesson
from smtpstep.protocol.server.facts import ReceivedMessage
from smtpstep.protocol.transport.wire import StepResult

if TYPE_CHECKING:
    from smtpstep.protocol.server.server import LocalServer


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


def run_lesson(settings: SessionSettings, printer: Printer, report: LessonReport) -> Outcome:
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
        return Outcome(EXIT_OTHER, server_start_words(error))
    outcome = Outcome(EXIT_OTHER, "the lesson has no parts")
    try:
        for part in range(len(lesson.parts)):
            outcome = lesson_part(settings.for_lesson(lesson, part), printer, server, report)
            if len(lesson.parts) > 1 and part < len(lesson.parts) - 1:
                printer.say(f"Part {part + 1} of {len(lesson.parts)} ended with exit code {outcome.code}.", "  ##")
    finally:
        server.stop_thread()
    return outcome


def lesson_part(settings: SessionSettings, printer: Printer, server: LocalServer,
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
        outcome = Session(settings, printer, server, target=target, after_step=stepped, relay=proxy).run()
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
