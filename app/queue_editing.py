"""Editing the command queue in the terminal app: change the selected step's line, insert a command
before it, delete it, skip the next step, or follow the plan again.

The dialogs ask for a line; the stepper parses and keeps it (a line it cannot send is refused with one
plain sentence); the app shows the new queue. A replay cannot be edited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from smtpstep.app.screens.dialogs import LineInputScreen
from smtpstep.protocol.commands import InvalidCommand

if TYPE_CHECKING:
    from smtpstep.app.session.stepper import Stepper
    from smtpstep.app.stepper_app import SmtpStepApp


class QueueEditing:
    """The queue keys: e, i, x, k, a (and Enter on a queue item)."""

    def __init__(self, app: SmtpStepApp) -> None:
        self._app = app

    def _stepper(self) -> Stepper | None:
        """The stepper, if its queue may be edited now."""
        app = self._app
        if app.timeline.replay:
            app.notify("This is a replay: nothing can be changed or sent.")
            return None
        return app.stepper if app.stepper is not None and not app.busy else None

    def edit(self) -> None:
        stepper = self._stepper()
        if stepper is None or not stepper.queue:
            return
        index = self._app.queue_widget.selected_index
        command = stepper.queue[index].command
        if not command.editable:
            self._app.notify("This step sends no line you can edit (or carries a secret); insert a command "
                             "instead.", severity="warning")
            return
        self._app.push_screen(LineInputScreen(
            f"Edit step {stepper.view().steps_done + index + 1}",
            "Change the line that will be sent (CRLF is added for you).", command.label),
            partial(self._changed, stepper.edit, index, "Not changed"))

    def insert(self) -> None:
        stepper = self._stepper()
        if stepper is None:
            return
        index = self._app.queue_widget.selected_index if stepper.queue else 0
        self._app.push_screen(LineInputScreen(
            "Insert a command",
            "EHLO name · HELO name · NOOP · RSET · VRFY user · HELP · or any raw line. "
            "It goes before the selected step.", ""), partial(self._changed, stepper.insert, index, "Not inserted"))

    def _changed(self, change: Callable[[int, str], None], index: int, failed: str, line: str | None) -> None:
        if line is None:
            return
        try:
            change(index, line)
        except InvalidCommand as error:
            self._app.notify(f"{failed}: {error}", severity="error", timeout=8)
        self._app.publish()

    def delete(self, *, next_only: bool = False) -> None:
        """Delete the selected step (or, with ``next_only``, skip the next one)."""
        stepper = self._stepper()
        if stepper is not None:
            stepper.delete(0 if next_only else self._app.queue_widget.selected_index)
            self._app.publish()

    def replan(self) -> None:
        stepper = self._stepper()
        if stepper is not None:
            stepper.replan()
            self._app.publish()
            self._app.notify("The queue follows the plan again.")
