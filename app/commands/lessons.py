"""``smtpstep lessons``: the lesson catalog, or one lesson's parts and steps (and a check of a lesson file).

Holds the ``lessons`` flag and ``run_lessons``. Without a name it lists every shipped lesson with its
one-line summary; with a name or a path it shows that lesson, so that a teacher can check a file they
wrote: a problem names its line and field (``docs/lessons.md``), exit 2.

Rules:
- a lesson file is text from outside: ``lessons.loader`` checks and bounds it before anything here
  prints it;
- aiosmtpd is never imported: the scenario's name is checked against the registry, which loads no
  server.
"""

from __future__ import annotations

import argparse

from smtpstep.app.session.settings import UsageError


def add_lessons_options(parser: argparse.ArgumentParser) -> None:
    """The flag of ``smtpstep lessons``."""
    parser.add_argument("lesson", nargs="?", metavar="NAME|PATH", help="a lesson to show (or a .toml file to check)")


def run_lessons(args: argparse.Namespace) -> int:
    """List the lessons, or show one; the exit code."""
    from smtpstep.protocol.lessons.loader import catalog, load
    from smtpstep.protocol.lessons.model import LessonError

    try:
        if args.lesson is None:
            shipped = catalog()
            width = max(len(lesson.name) for lesson in shipped)
            for lesson in shipped:
                print(f"{lesson.name:<{width}}  {lesson.summary}")
            print("\nFollow one with `smtpstep --lesson NAME` or `smtpstep run --lesson NAME`; "
                  "`smtpstep lessons NAME` shows its steps.")
            return 0
        lesson = load(args.lesson)
    except LessonError as error:
        raise UsageError(str(error)) from None
    from smtpstep.protocol.server.scenarios import SCENARIOS

    if lesson.scenario not in SCENARIOS:
        raise UsageError(f"{lesson.source}: the scenario “{lesson.scenario}” is not one the built-in server has "
                         f"({', '.join(SCENARIOS)})")
    print("\n".join(lesson.describe()))
    return 0
