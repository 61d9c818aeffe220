"""Running a lesson in-process, as ``smtpstep run --lesson`` does, and keeping what happened.

``run_lesson(name)`` builds the settings from the command line the user would type, runs the
lesson through ``smtpstep.app.commands.run.run`` with a ``LessonReport``, and returns the exit code, the printed
transcript and the report (each step's kind, replies, failure, narration and any deviation from the
lesson's ``expect``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from smtpstep.app.cli import build_parser
from smtpstep.app.commands.run import run
from smtpstep.app.commands.run_lesson import LessonReport
from smtpstep.app.session.options import settings_from_args


@dataclass
class LessonRun:
    code: int
    out: str
    err: str
    report: LessonReport

    def replies(self, part: int = 0) -> list[tuple[int, str | None]]:
        """Every reply of a part, in order, flattened over steps."""
        return [reply for step in self.report.parts[part].steps for reply in step.replies]

    def kinds(self, part: int = 0) -> list[str]:
        return [step.kind for step in self.report.parts[part].steps]


def run_lesson(name: str, *extra: str) -> LessonRun:
    settings = settings_from_args(build_parser().parse_args(["run", "--lesson", name, *extra]))
    assert settings.lesson is not None
    report = LessonReport(settings.lesson)
    out, err = io.StringIO(), io.StringIO()
    code = run(settings, out=out, err=err, report=report)
    return LessonRun(code, out.getvalue(), err.getvalue(), report)
