"""The ``smtpstep`` command: the parser and the top-level error boundary.

Holds ``main``, which picks the subcommand and runs it from its own module in ``app/commands/``:
``step`` (the terminal app, also what a bare ``smtpstep`` opens), ``run`` (a whole session without the
terminal app), ``serve`` (the built-in server alone), ``lessons`` (the lesson catalog, or one lesson's
steps), ``web`` (the terminal app in browser tabs), ``replay`` (a recorded session, offline) and
``shots`` (a screenshot per step, for lecture notes). Each subcommand's module holds its flags
(``add_*_options``) and its body; this module holds only the names, the help texts and the boundary.

Rules:
- start-up cost matters: the parser gets the options of the running subcommand only
  (``build_parser(command)``), so ``smtpstep run`` never imports the modules of the other subcommands;
  textual, asyncio, aiosmtpd, trustme and cryptography are imported only inside the subcommand that
  needs them, never here (``tests/app/commands/test_run_imports.py`` checks a whole ``smtpstep run``);
- whatever a subcommand writes to stdout and stderr shows controls as visible escapes
  (``smtpstep.app.terminal.shown_output``), and so does the error log: text from outside never drives
  the terminal;
- no traceback reaches the user: a problem with the options is one line on stderr that names the
  subcommand (``smtpstep run: --timeout must be ...``) and exit 2, argparse's own findings included;
  any other error is one plain sentence and a non-zero exit code, and an unexpected error's details go
  to a log file under the user's state directory;
- ``--version`` and ``--help`` write to stdout and exit 0;
- Ctrl-C exits quietly with 130 (``serve`` treats it as its normal stop, exit 0);
- there is no ``--password`` flag, on purpose: a password on the command line ends up in the shell
  history and the process list.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from smtpstep.app.commands.run import EXIT_HELP, EXIT_INTERRUPTED, EXIT_OTHER, EXIT_USAGE
from smtpstep.app.session.options import add_session_options, settings_from_args
from smtpstep.app.session.settings import PASSWORD_ENV, UsageError
from smtpstep.app.terminal import shown_output
from smtpstep.protocol.text import shown_lines

PROG = "smtpstep"

COMMANDS = ("step", "run", "serve", "lessons", "web", "replay", "shots")

_PASSWORD_FLAGS = ("--password", "--pass", "--passwd", "--pw")

_SERVER_EXITS = ("exit codes:\n  0    stopped with Ctrl-C\n  1    the server could not start (e.g. a port in use)\n"
                 "  2    a problem with the options")


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations (scripts rely on exact names), whose errors are ``UsageError``s."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(_plain(message))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help layout at the terminal's width, read without ``shutil``.

    argparse makes a formatter for every option it adds, and each asks ``shutil`` for the width: importing
    ``shutil`` (and the compression modules it loads) cost every ``smtpstep run`` ~2 ms.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _columns() -> int:
    """The width ``shutil.get_terminal_size`` gives: ``$COLUMNS``, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (importlib.metadata costs every other run ~10 ms)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        print(f"{PROG} {_version()}", flush=True)
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand is built (the others are named in the usage line).

    Each subcommand's parser costs start-up time (~0.2 ms, and its options more), and a known command
    needs no other: an unknown one never gets here with ``command`` set.
    """

    def full(name: str) -> bool:
        return command is None or name == command

    parser = _Parser(
        prog=PROG,
        description="smtpstep teaches SMTP by stepping through a real session, one command at a time.\n"
                    "Without a subcommand it opens the terminal app on the built-in server; it then takes the\n"
                    "options of `smtpstep step` (see `smtpstep step --help`).",
        epilog="`smtpstep run --help` lists the exit codes of a headless session; `smtpstep serve --help` those\n"
               "of the server. Every command exits 2 for a problem with its options and 130 on Ctrl-C.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}", parser_class=_Parser)

    if full("step"):
        step = sub.add_parser(
            "step", help="open the terminal app and step through a session (the default)",
            description="Open the terminal app: a session you step through one command at a time.",
        )
        from smtpstep.app.commands.step import add_step_options

        add_session_options(step)
        add_step_options(step)

    if full("run"):
        run = sub.add_parser(
            "run", help="run a whole session and print every byte that crossed the wire",
            description="Run a whole SMTP session without the terminal app and print its transcript as it happens.\n"
                        "Without --server, smtpstep starts its built-in server on loopback, sends the message over\n"
                        f"STARTTLS with AUTH as the demo user, and stops the server again. The password for --user\n"
                        f"comes from ${PASSWORD_ENV} or a prompt, never from a flag.",
            epilog=EXIT_HELP,
        )
        add_session_options(run)

    if full("serve"):
        serve = sub.add_parser(
            "serve", help="run the built-in local server in the foreground until Ctrl-C",
            description="Run smtpstep's built-in SMTP server on loopback until Ctrl-C: STARTTLS, implicit TLS and\n"
                        "plain listeners, a throwaway CA (its file is printed so that other clients can trust it),\n"
                        "the demo login, and a Maildir that keeps every accepted message.",
        )
        from smtpstep.app.commands.serve import add_serve_options, scenario_list

        add_serve_options(serve)
        serve.epilog = f"{scenario_list()}\n\n{_SERVER_EXITS}"

    if full("lessons"):
        lessons = sub.add_parser(
            "lessons", help="list the lessons, or show one and check a lesson file",
            description="List the lessons: guided sessions on the built-in server, with narration for every step.\n"
                        "Follow one with `smtpstep --lesson NAME` (the terminal app) or `smtpstep run --lesson NAME`.\n"
                        "With NAME or PATH, show that lesson's parts and steps; for a file you wrote, this also\n"
                        "checks it and names the line and field of the first problem (docs/lessons.md).",
            epilog="exit codes:\n  0    listed or shown\n  2    no such lesson, or the lesson file has a problem",
        )
        from smtpstep.app.commands.lessons import add_lessons_options

        add_lessons_options(lessons)

    if full("web"):
        web = sub.add_parser(
            "web", help="serve the terminal app to browser tabs, to project it or follow along",
            description="Serve the stepper to web browsers (textual-serve): every tab gets its own app process, with\n"
                        "its own built-in server, and takes the same options as `smtpstep step`. Loopback only,\n"
                        "unless --listen names another address. The page needs no internet.",
            epilog=_SERVER_EXITS,
        )
        from smtpstep.app.commands.step import add_step_options
        from smtpstep.app.commands.web import add_web_options

        add_session_options(web)  # every option of `smtpstep step`, in the same groups
        add_step_options(web)
        add_web_options(web)

    if full("replay"):
        replay = sub.add_parser(
            "replay", help="open a recorded session offline, or export it with --transcript",
            description="Open a session recording (a .json file from `smtpstep run --transcript x.json` or the app)\n"
                        "in the terminal app, with no network: step forward and back, every pane as it was.\n"
                        "With --transcript, write it in another format instead and open nothing.",
            epilog="exit codes:\n  0    done\n  1    something unexpected went wrong\n"
                   "  2    a problem with the options, or FILE is not a smtpstep recording",
        )
        from smtpstep.app.commands.replay import add_replay_options

        add_replay_options(replay)

    if full("shots"):
        shots = sub.add_parser(
            "shots", help="run a session headless and save a screenshot of every step, for lecture notes",
            description="Run a whole session in the terminal app without showing it, and save one SVG per step\n"
                        "(01-connect.svg, 02-greeting.svg, ...) and an index.md with their captions. Without\n"
                        "--server it uses the built-in server. The Date and Message-ID are fixed and step times\n"
                        "hidden, so that the shots stay the same from run to run.",
            epilog="exit codes:\n  0    the screenshots were written (also of a session that failed: they show it)\n"
                   "  1    something unexpected went wrong\n  2    a problem with the options",
        )
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
    typed = args_list[0] if args_list and args_list[0] in COMMANDS else None
    with shown_output():  # whatever reaches the terminal shows controls as visible escapes
        return _boundary(args_list, typed)


def _boundary(args_list: list[str], typed: str | None) -> int:
    try:
        return _main(args_list)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except UsageError as error:
        _say(str(error), f"{PROG} {typed}" if typed else PROG)
        return EXIT_USAGE
    except SystemExit as exit_:  # argparse: --help and --version (0)
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
    command = argv[0] if argv[0] in COMMANDS else None
    args, extra = build_parser(command).parse_known_args(argv)
    if extra:
        raise UsageError(_unexpected(extra[0], args.command))
    if args.command == "step":
        from smtpstep.app.commands.step import run_step

        return run_step(args)
    if args.command == "run":
        from smtpstep.app.commands.run import run

        return run(settings_from_args(args))
    if args.command == "serve":
        from smtpstep.app.commands.serve import run_serve

        return run_serve(args)
    if args.command == "lessons":
        from smtpstep.app.commands.lessons import run_lessons

        return run_lessons(args)
    if args.command == "web":
        from smtpstep.app.commands.step import run_step
        from smtpstep.app.commands.web import run_web

        return run_web(args, argv[1:], run_step)  # argv[0] is "web"
    if args.command == "replay":
        from smtpstep.app.commands.replay import run_replay

        return run_replay(args)
    if args.command == "shots":
        from smtpstep.app.commands.shots import run_shots

        return run_shots(args)
    raise UsageError(f"give a command: {', '.join(COMMANDS)} (`smtpstep --help` says what each does)")


# --- Usage errors as one line ---------------------------------------------------------------------

_ARGUMENT = re.compile(r"argument (?P<flag>[^:]+): (?P<problem>.*)", re.S)
_CHOICE = re.compile(r"invalid choice: (?P<value>.*) \(choose from (?P<choices>.*)\)", re.S)


def _plain(message: str) -> str:
    """One of argparse's error messages as the sentence smtpstep's own checks would say."""
    found = _ARGUMENT.fullmatch(message)
    if found is None:
        if message.startswith("the following arguments are required: "):
            names = message.partition(": ")[2]
            return f"{names} {'are' if ',' in names else 'is'} required"
        return message
    flag, problem = found["flag"].split("/")[-1], found["problem"]
    if choice := _CHOICE.fullmatch(problem):
        value = _unquote(choice["value"])
        choices = ", ".join(_unquote(c) for c in choice["choices"].split(", "))
        if flag.startswith("{"):  # the subcommand's place
            return f"there is no command “{value}”; the commands are {choices}"
        return f"{flag} must be one of {choices}, not “{value}”"
    if problem.startswith("expected"):  # "expected one argument", "expected at least one argument"
        return f"{flag} needs a value"
    if other := re.fullmatch(r"not allowed with argument (\S+)", problem):
        return f"give either {other[1]} or {flag}, not both"
    if problem.startswith("ignored explicit argument"):
        return f"{flag} takes no value"
    if invalid := re.fullmatch(r"invalid \S+ value: (.*)", problem, re.S):
        return f"{flag} “{_unquote(invalid[1])}” is not a value it takes"
    return f"{flag} {problem}"  # an ArgumentTypeError of ours, worded to follow the flag


def _unexpected(word: str, command: str) -> str:
    """The sentence for the first word the parser of ``command`` had no place for."""
    if word.startswith("-"):
        return f"there is no option {word.split('=', 1)[0]}; `{PROG} {command} --help` lists the options"
    return f"“{word}” is one argument too many; `{PROG} {command} --help` shows what it takes"


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def _say(text: str, prog: str = PROG) -> None:
    text = " ".join(text.split())
    if not text.endswith((".", "!", "?")):
        text += "."
    print(f"{prog}: {text}", file=sys.stderr, flush=True)


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


def _log_unexpected(error: BaseException) -> Path | None:
    import datetime
    import traceback

    try:
        from smtpstep.app.config import state_dir

        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "error.log"
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"--- {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M:%S %z} smtpstep {sys.argv[1:]!r}\n")
            log.write(shown_lines("".join(traceback.format_exception(error))))
        return path
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
