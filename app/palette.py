"""The command palette's entries: every action of the key bindings, with its key and one line of help.

Pure words and one generator over the app's bindings; nothing here acts on the session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding

from smtpstep.app.playback import REPLAY_HELP

if TYPE_CHECKING:
    from textual.screen import Screen

    from smtpstep.app.stepper_app import SmtpStepApp

PALETTE_HELP = {
    "step": "Send the next command (or wait for the greeting, or run the TLS handshake)",
    "play": "Take a step every few seconds until the end or an error",
    "run_to_end": "Take every remaining step now",
    "edit": "Change the line the selected step will send",
    "insert": "Insert EHLO, HELO, NOOP, RSET, VRFY, HELP or any raw line before the selected step",
    "restart": "Close the connection and start a new session",
    "connection": "Change server, port, security, login, CA file, envelope or message",
    "reveal": "Show or hide AUTH payloads in the wire log",
    "crlf": "Show line ends as visible marks",
    "wire_style": "Switch between C:/S: and swaks style",
    "cycle_theme": "Switch to the next colour theme",
    "screenshot": "Save an SVG of the screen, named after the step",
    "export": "Save the session as a transcript (.txt .md .html .svg), a recording (.json) to replay, or its "
              "sequence diagram (.mmd .puml .diagram.svg)",
    "diagram": "Show the session as a sequence diagram, growing step by step",
    "quiz": "Predict the reply: before each reply is shown, guess its first digit (on or off)",
    "quiz_tally": "How many replies were guessed right so far",
}
"""One-line help for the command palette, by action."""


def binding_commands(app: SmtpStepApp, screen: Screen) -> Iterable[SystemCommand]:
    """The palette entries for the app's and the main screen's bindings that can run now (not quit)."""
    replay = REPLAY_HELP if app.timeline.replay else {}
    for owner, binding in [(app, b) for b in app.BINDINGS] + [(screen, b) for b in screen.BINDINGS]:
        if isinstance(binding, Binding) and binding.action != "quit" and app.check_action(binding.action, ()):
            key = app.get_key_display(dataclasses.replace(binding, key=binding.key.split(",")[0]))
            words = replay.get(binding.action) or PALETTE_HELP.get(binding.action, "")
            yield SystemCommand(f"{binding.description} ({key})", words, partial(owner.run_action, binding.action))
