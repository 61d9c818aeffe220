"""``smtpstep replay``: a recorded session (a ``.json`` recording), offline, in the app or as another file.

Holds the ``replay`` flags and ``run_replay``: it opens the recording in the terminal app, where every
step can be looked at forward and back with no network, or with ``--transcript`` writes it in another
format and opens nothing.

Rules:
- a recording is text from outside: ``Recording.load`` checks and bounds it, and a file that is not a
  smtpstep recording is one plain sentence (exit 2);
- the password stays redacted in an export unless ``--show-secrets`` asks and the recording kept it;
- Textual is imported only to open the app, never for ``--transcript``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smtpstep.app.commands.step import add_quiz_option, theme_name
from smtpstep.app.session.settings import UsageError
from smtpstep.app.session.transcript import STYLES


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``smtpstep replay``."""
    parser.add_argument("file", metavar="FILE", type=Path, help="the recording (.json)")
    parser.add_argument("--transcript", metavar="OUT", type=Path,
                        help="write the session to OUT instead of opening it: .txt, .md, .html, .svg or .json, "
                             "its sequence diagram: .mmd, .puml or .diagram.svg, or its bytes for Wireshark: .pcapng")
    parser.add_argument("--tls-keys", metavar="FILE",
                        help="with a .pcapng --transcript: embed this session's TLS keys from FILE (an NSS key log, "
                             "as `smtpstep run --tls-keys` writes), so Wireshark opens it decrypted, AUTH included")
    parser.add_argument("--style", choices=STYLES, default="textbook",
                        help="textbook: C:/S: lines (default); swaks: -> <- ~> <~ === ***")
    parser.add_argument("--theme", metavar="NAME", type=theme_name,
                        help="the colour theme (the app, .html and .svg)")
    parser.add_argument("--show-secrets", action="store_true",
                        help="show the password in --transcript, if the recording kept it (saved with "
                             "--show-secrets)")
    add_quiz_option(parser)


def run_replay(args: argparse.Namespace) -> int:
    """Open the recording in the app, or write it to ``--transcript``; the exit code."""
    from smtpstep.app.session.recording import Recording, RecordingError

    try:
        recording = Recording.load(args.file)
    except RecordingError as error:
        raise UsageError(str(error)) from None
    if args.transcript is not None:
        from smtpstep.app.output.exports import ExportError, export, plural

        out = Path(args.transcript).expanduser()
        try:
            said = export(recording, out, style=args.style, show_secrets=args.show_secrets, theme=args.theme,
                          keylog=getattr(args, "tls_keys", None))
        except ExportError as error:
            raise UsageError(f"--transcript {args.transcript}: {error}") from None
        print(f"{plural(recording.steps, 'step')} written to {out}", flush=True)
        if said:
            print(said, flush=True)
        return 0
    try:
        from smtpstep.app.stepper_app import run_tui_replay  # Textual: only for the terminal app
    except ImportError as error:
        raise UsageError(f"the replay in the terminal app is not available ({error}); "
                         "`smtpstep replay FILE --transcript OUT.md` exports it instead") from None
    return run_tui_replay(recording, args.theme, quiz=args.quiz)
