"""The ``smtpstep`` command: argument parsing and the top-level error boundary.

Holds ``main``, which picks the subcommand: ``step`` (the Textual app, also what a bare ``smtpstep``
opens), ``run`` (a whole session without the TUI) and ``serve`` (the built-in server alone).

Rules:
- start-up cost matters: textual, aiosmtpd, trustme and cryptography are imported only inside the
  subcommand that needs them, never here at module level;
- no traceback reaches the user: every error becomes one plain sentence on stderr and a non-zero
  exit code; unexpected errors' details go to a log file under the user's state directory;
- Ctrl-C exits quietly with 130 (``serve`` treats it as its normal stop, exit 0);
- there is no ``--password`` flag, on purpose: a password on the command line ends up in the shell
  history and the process list.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from app.headless import EXIT_HELP, EXIT_INTERRUPTED, EXIT_OTHER, EXIT_USAGE
from app.options import PASSWORD_ENV, UsageError, add_session_options, settings_from_args
from app.serve import add_serve_options, run_serve

PROG = "smtpstep"

_PASSWORD_FLAGS = ("--password", "--pass", "--passwd", "--pw")


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations (scripts rely on exact names)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="smtpstep teaches SMTP by stepping through a real session, one command at a time.\n"
                    "Without a subcommand it opens the terminal app on the built-in server.",
        epilog="`smtpstep run --help` lists the exit codes of a headless session; `smtpstep serve --help` those\n"
               "of the server. Every command exits 2 for a problem with its options and 130 on Ctrl-C.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="{step,run,serve}", parser_class=_Parser)

    step = sub.add_parser(
        "step", help="open the terminal app and step through a session (the default)",
        description="Open the terminal app: a session you step through one command at a time.",
    )
    add_session_options(step)
    step.add_argument("--theme", metavar="NAME", help="the colour theme to start with")
    step.add_argument("--screenshots", metavar="DIR", type=Path, default=None,
                      help="where the screenshot key saves SVG files (default: the current directory)")

    run = sub.add_parser(
        "run", help="run a whole session and print every byte that crossed the wire",
        description="Run a whole SMTP session without the terminal app and print its transcript as it happens.\n"
                    "Without --server, smtpstep starts its built-in server on loopback, sends the message over\n"
                    f"STARTTLS with AUTH as the demo user, and stops the server again. The password for --user\n"
                    f"comes from ${PASSWORD_ENV} or a prompt, never from a flag.",
        epilog=EXIT_HELP,
    )
    add_session_options(run)

    serve = sub.add_parser(
        "serve", help="run the built-in local server in the foreground until Ctrl-C",
        description="Run smtpstep's built-in SMTP server on loopback until Ctrl-C: STARTTLS, implicit TLS and\n"
                    "plain listeners, a throwaway CA (its file is printed so that other clients can trust it),\n"
                    "the demo login, and a Maildir that keeps every accepted message.",
        epilog="exit codes:\n  0    stopped with Ctrl-C\n  1    the server could not start (e.g. a port in use)\n"
               "  2    a problem with the options",
    )
    add_serve_options(serve)
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
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["step", *argv]  # bare `smtpstep [session options]` opens the terminal app
    args = parser.parse_args(argv)
    if args.command == "step":
        return _step(args)
    if args.command == "run":
        from app.headless import run

        return run(settings_from_args(args))
    if args.command == "serve":
        return run_serve(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _step(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        from app.tui import run_tui  # Textual: only for the terminal app
    except ImportError as error:
        raise _Unavailable(f"the terminal app cannot start ({error}); `smtpstep run` works without it") from None
    return run_tui(settings, getattr(args, "theme", None), screenshot_dir=getattr(args, "screenshots", None))


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
