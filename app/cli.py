"""The ``smtpstep`` command: argument parsing and the top-level error boundary.

Holds ``main``, which picks the subcommand: ``step`` (the Textual app, also what a bare ``smtpstep``
opens), ``run`` (a whole session without the TUI) and ``serve`` (the built-in server alone),
``lessons`` (the lesson catalog, or one lesson's steps), ``replay`` (a recorded session, offline) and
``shots`` (a screenshot per step, for lecture notes).

Rules:
- start-up cost matters: textual, aiosmtpd, trustme and cryptography are imported only inside the
  subcommand that needs them, never here at module level; the parser gets the options of the
  subcommand being run only (``build_parser(command)``), so that `smtpstep run` does not import the
  modules of ``serve``, ``web`` and ``shots`` to describe their options;
- no traceback reaches the user: every error becomes one plain sentence on stderr and a non-zero
  exit code; unexpected errors' details go to a log file under the user's state directory;
- Ctrl-C exits quietly with 130 (``serve`` treats it as its normal stop, exit 0);
- there is no ``--password`` flag, on purpose: a password on the command line ends up in the shell
  history and the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from smtpstep.app.commands.run import EXIT_HELP, EXIT_INTERRUPTED, EXIT_OTHER, EXIT_USAGE
from smtpstep.app.session.settings import PASSWORD_ENV, UsageError, add_session_options, settings_from_args

PROG = "smtpstep"

COMMANDS = ("step", "run", "serve", "lessons", "web", "replay", "shots")

_PASSWORD_FLAGS = ("--password", "--pass", "--passwd", "--pw")


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations (scripts rely on exact names)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)


class _VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (importlib.metadata costs every other run ~10 ms)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        parser.exit(message=f"{PROG} {_version()}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand gets its options (the others are listed)."""

    def full(name: str) -> bool:
        return command is None or name == command or (command == "web" and name == "step")

    parser = _Parser(
        prog=PROG,
        description="smtpstep teaches SMTP by stepping through a real session, one command at a time.\n"
                    "Without a subcommand it opens the terminal app on the built-in server.",
        epilog="`smtpstep run --help` lists the exit codes of a headless session; `smtpstep serve --help` those\n"
               "of the server. Every command exits 2 for a problem with its options and 130 on Ctrl-C.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="{step,run,serve,lessons,web,replay,shots}",
                                parser_class=_Parser)

    step = sub.add_parser(
        "step", help="open the terminal app and step through a session (the default)",
        description="Open the terminal app: a session you step through one command at a time.",
    )
    if full("step"):
        add_session_options(step)
        step.add_argument("--theme", metavar="NAME", help="the colour theme to start with")
        step.add_argument("--screenshots", metavar="DIR", type=Path, default=None,
                          help="where the screenshot key saves SVG files (default: the current directory)")
        step.add_argument("--present", action="store_true",
                          help="start in presentation mode: a large caption and the last exchange (key P toggles)")

    run = sub.add_parser(
        "run", help="run a whole session and print every byte that crossed the wire",
        description="Run a whole SMTP session without the terminal app and print its transcript as it happens.\n"
                    "Without --server, smtpstep starts its built-in server on loopback, sends the message over\n"
                    f"STARTTLS with AUTH as the demo user, and stops the server again. The password for --user\n"
                    f"comes from ${PASSWORD_ENV} or a prompt, never from a flag.",
        epilog=EXIT_HELP,
    )
    if full("run"):
        add_session_options(run)

    serve = sub.add_parser(
        "serve", help="run the built-in local server in the foreground until Ctrl-C",
        description="Run smtpstep's built-in SMTP server on loopback until Ctrl-C: STARTTLS, implicit TLS and\n"
                    "plain listeners, a throwaway CA (its file is printed so that other clients can trust it),\n"
                    "the demo login, and a Maildir that keeps every accepted message.",
        epilog="exit codes:\n  0    stopped with Ctrl-C\n  1    the server could not start (e.g. a port in use)\n"
               "  2    a problem with the options",
    )
    if full("serve"):
        from smtpstep.app.commands.serve import add_serve_options

        add_serve_options(serve)

    lessons = sub.add_parser(
        "lessons", help="list the lessons, or show one and check a lesson file",
        description="List the lessons: guided sessions on the built-in server, with narration for every step.\n"
                    "Follow one with `smtpstep --lesson NAME` (the terminal app) or `smtpstep run --lesson NAME`.\n"
                    "With NAME or PATH, show that lesson's parts and steps; for a file you wrote, this also\n"
                    "checks it and names the line and field of the first problem (docs/lessons.md).",
        epilog="exit codes:\n  0    listed or shown\n  2    no such lesson, or the lesson file has a problem",
    )
    if full("lessons"):
        lessons.add_argument("lesson", nargs="?", metavar="NAME|PATH", help="a lesson to show (or a .toml file to check)")

    web = sub.add_parser(
        "web", parents=[step] if full("web") else [], add_help=not full("web"),  # every option of `step`, and its -h
        help="serve the terminal app to browser tabs, to project it or follow along",
        description="Serve the stepper to web browsers (textual-serve): every tab gets its own app process, with\n"
                    "its own built-in server, and takes the same options as `smtpstep step`. Loopback only,\n"
                    "unless --listen names another address. The page needs no internet.",
        epilog="exit codes:\n  0    stopped with Ctrl-C\n  1    the server could not start (e.g. a port in use)\n"
               "  2    a problem with the options",
    )
    if full("web"):
        from smtpstep.app.commands.web import add_web_options

        add_web_options(web)

    replay = sub.add_parser(
        "replay", help="open a recorded session offline, or export it with --transcript",
        description="Open a session recording (a .json file from `smtpstep run --transcript x.json` or the app)\n"
                    "in the terminal app, with no network: step forward and back, every pane as it was.\n"
                    "With --transcript, write it in another format instead and open nothing.",
        epilog="exit codes:\n  0    done\n  1    something unexpected went wrong\n"
               "  2    a problem with the options, or FILE is not a smtpstep recording",
    )
    if full("replay"):
        replay.add_argument("file", metavar="FILE", type=Path, help="the recording (.json)")
        replay.add_argument("--transcript", metavar="OUT", type=Path,
                            help="write the session to OUT instead of opening it: .txt, .md, .html, .svg or .json")
        replay.add_argument("--style", choices=("textbook", "swaks"), default="textbook",
                            help="textbook: C:/S: lines (default); swaks: -> <- ~> <~ === ***")
        replay.add_argument("--theme", metavar="NAME", help="the colour theme (the app, .html and .svg)")
        replay.add_argument("--show-secrets", action="store_true",
                            help="show the password in --transcript, if the recording kept it (saved with "
                                 "--show-secrets)")

    shots = sub.add_parser(
        "shots", help="run a session headless and save a screenshot of every step, for lecture notes",
        description="Run a whole session in the terminal app without showing it, and save one SVG per step\n"
                    "(01-connect.svg, 02-greeting.svg, ...) and an index.md with their captions. Without\n"
                    "--server it uses the built-in server. The Date and Message-ID are fixed and step times\n"
                    "hidden, so that the shots stay the same from run to run.",
        epilog="exit codes:\n  0    the screenshots were written (also of a session that failed: they show it)\n"
               "  1    something unexpected went wrong\n  2    a problem with the options",
    )
    if full("shots"):
        from smtpstep.app.commands.shots import add_shots_options

        add_session_options(shots)
        add_shots_options(shots)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smtpstep")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``smtpstep`` with ``argv`` (default: the process arguments); return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    _tolerant_output()
    try:
        return _main(args_list)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except UsageError as error:
        _say(str(error))
        return EXIT_USAGE
    except SystemExit as exit_:  # argparse: --help (0) and its own usage errors (2)
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else EXIT_OTHER)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OTHER
    except Exception as error:  # noqa: BLE001 - the one place that turns every surprise into a sentence
        where = _log_unexpected(error)
        said = " ".join(str(error).split())[:200] or type(error).__name__
        tail = f"; details are in {where}" if where else ""
        _say(f"something unexpected went wrong ({type(error).__name__}: {said}){tail}")
        return EXIT_OTHER


def _main(argv: list[str]) -> int:
    for arg in argv:
        if arg == "--":
            break
        if arg.split("=", 1)[0] in _PASSWORD_FLAGS:
            raise UsageError(
                f"there is no {arg.split('=', 1)[0]} option: smtpstep takes the password from ${PASSWORD_ENV} "
                "or asks for it, so that it never lands in your shell history or the process list"
            )
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["step", *argv]  # bare `smtpstep [session options]` opens the terminal app
    parser = build_parser(argv[0] if argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command == "step":
        return _step(args)
    if args.command == "run":
        from smtpstep.app.commands.run import run

        return run(settings_from_args(args))
    if args.command == "serve":
        from smtpstep.app.commands.serve import run_serve

        return run_serve(args)
    if args.command == "lessons":
        return _lessons(args)
    if args.command == "web":
        from smtpstep.app.commands.web import run_web

        return run_web(args, argv[1:], _step)  # argv[0] is "web"
    if args.command == "replay":
        return _replay(args)
    if args.command == "shots":
        from smtpstep.app.commands.shots import run_shots

        return run_shots(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _step(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        from smtpstep.app.stepper_app import run_tui  # Textual: only for the terminal app
    except ImportError as error:
        raise _Unavailable(f"the terminal app cannot start ({error}); `smtpstep run` works without it") from None
    return run_tui(settings, getattr(args, "theme", None), screenshot_dir=getattr(args, "screenshots", None),
                   present=getattr(args, "present", False))


def _replay(args: argparse.Namespace) -> int:
    from smtpstep.app.session.recording import Recording, RecordingError

    try:
        recording = Recording.load(args.file)
    except RecordingError as error:
        raise UsageError(str(error)) from None
    if args.transcript is not None:
        from smtpstep.app.output.exports import ExportError, export

        out = Path(args.transcript).expanduser()
        try:
            export(recording, out, style=args.style, show_secrets=args.show_secrets, theme=args.theme)
        except ExportError as error:
            raise UsageError(f"--transcript {args.transcript}: {error}") from None
        print(f"{recording.steps} step{'' if recording.steps == 1 else 's'} written to {out}", flush=True)
        return 0
    try:
        from smtpstep.app.stepper_app import run_tui_replay  # Textual: only for the terminal app
    except ImportError as error:
        raise _Unavailable(f"the replay in the terminal app is not available ({error}); "
                           "`smtpstep replay FILE --transcript OUT.md` exports it instead") from None
    result = run_tui_replay(recording, args.theme)
    return result if isinstance(result, int) else 0


def _lessons(args: argparse.Namespace) -> int:
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
    from smtpstep.protocol.server.scenarios import SCENARIOS  # aiosmtpd: only to check the scenario's name

    if lesson.scenario not in SCENARIOS:
        raise UsageError(f"{lesson.source}: the scenario “{lesson.scenario}” is not one the built-in server has "
                         f"({', '.join(SCENARIOS)})")
    print("\n".join(lesson.describe()))
    return 0


class _Unavailable(UsageError):
    """The terminal app is not installed or not built yet."""


def _say(text: str) -> None:
    text = " ".join(text.split())
    if not text.endswith((".", "!", "?")):
        text += "."
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _tolerant_output() -> None:
    # A terminal or pipe that cannot show “ or → must not turn a transcript line into a crash.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def _silence_stdout() -> None:
    # The reader went away (e.g. `smtpstep run | head`): stop writing, and let exit not complain.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def state_dir() -> Path:
    """``$XDG_STATE_HOME/smtpstep``, or ``~/.local/state/smtpstep`` (a relative value is ignored)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "smtpstep"


def _log_unexpected(error: BaseException) -> Path | None:
    import datetime
    import traceback

    try:
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "error.log"
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"--- {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M:%S %z} smtpstep {sys.argv[1:]!r}\n")
            log.write("".join(traceback.format_exception(error)))
        return path
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
