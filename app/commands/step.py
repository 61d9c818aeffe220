"""``smtpstep step`` (also a bare ``smtpstep``): the terminal app, a session stepped one command at a time.

Holds the app's own flags (``--theme``, ``--screenshots``, ``--present``; the session flags come from
``session/settings.py``), the ``--theme`` check that every subcommand with a theme shares, and
``run_step``, which checks the options and starts the app. ``smtpstep web`` gives each browser tab
exactly this command.

Rules:
- Textual is imported only when the app starts (and the theme list only when ``--theme`` is given),
  never when the parser is built;
- every problem with the options is found before the screen changes: a wrong theme is refused with
  the list of themes, never replaced by the default without a word.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.settings import UsageError


def add_step_options(parser: argparse.ArgumentParser) -> None:
    """The terminal app's own flags, after the session flags (``smtpstep step`` and ``smtpstep web``)."""
    screen = parser.add_argument_group("screen")
    screen.add_argument("--theme", metavar="NAME", type=theme_name,
                        help="the colour theme to start with (default: the one chosen last, else smtpstep-dark)")
    screen.add_argument("--screenshots", metavar="DIR", type=Path, default=None,
                        help="where the screenshot key saves SVG files (default: the current directory)")
    screen.add_argument("--broadcast", action="store_true",
                        help="stream this session to students' browsers (smtpstep web --follow on this machine); "
                             "secrets stay hidden from them, and they can send nothing")
    screen.add_argument("--present", action="store_true",
                        help="start in presentation mode, for a zoomed terminal (64x20 and up): the step in large "
                             "print, its whole exchange, one paragraph (key P toggles)")
    add_quiz_option(screen)


def add_quiz_option(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """``--quiz``: predict-the-reply, for ``step``, ``web`` and ``replay``."""
    group.add_argument("--quiz", action="store_const", const="digit", default=None,
                       help="before each reply is shown, ask what the server will answer (its first digit); "
                            "a tally at the end (key Q toggles)")
    group.add_argument("--quiz-code", dest="quiz", action="store_const", const="code",
                       help="the same, asking for the whole three-digit code")


def theme_name(text: str) -> str:
    """``--theme``'s check (an argparse type): one of smtpstep's themes, else the list of them."""
    from smtpstep.app.output.exports import theme_names  # smtpstep.themes, hence textual.theme

    names = theme_names()
    if text not in names:
        raise argparse.ArgumentTypeError(f"{text}: there is no such theme; smtpstep has {', '.join(names)}")
    return text


def run_step(args: argparse.Namespace) -> int:
    """Check the options and run the terminal app until the user quits; the exit code."""
    settings = settings_from_args(args)
    try:
        from smtpstep.app.stepper_app import run_tui  # Textual: only for the terminal app
    except ImportError as error:
        raise UsageError(f"the terminal app cannot start ({error}); `smtpstep run` works without it") from None
    return run_tui(settings, getattr(args, "theme", None), screenshot_dir=getattr(args, "screenshots", None),
                   present=getattr(args, "present", False), quiz=getattr(args, "quiz", None),
                   broadcast=getattr(args, "broadcast", False))
