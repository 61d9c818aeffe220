"""Taking steps in the terminal app: one at a time, or all to the end, each in an exclusive worker.

``StepControl`` asks before sending a command the session does not allow, marks a slow step busy,
asks before sending a password in clear text, and tells the app when a step is done. The stepper
takes the step; the app shows it. Nothing here parses SMTP or decides policy.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.worker import Worker, WorkerState

from smtpstep.app.screens.dialogs import ConfirmScreen
from smtpstep.app.session.stepper import HeadWarning

if TYPE_CHECKING:
    from smtpstep.app.stepper_app import SmtpStepApp
    from smtpstep.protocol.transport.wire import StepResult

BUSY_SHOWN_AFTER = 0.1
"""Seconds before a running step is marked busy on screen. A reply within that time shows the step done in
one publish: marks that would flash for a frame would also hold the loop while the reply waits to be read."""

log = logging.getLogger("smtpstep")


class StepControl:
    """The app's stepping: request, run, mark busy, finish."""

    def __init__(self, app: SmtpStepApp, *, timings: bool) -> None:
        self._app = app
        self._timings = timings
        """False hides step times (deterministic screenshots for tests and lecture notes)."""
        self.busy: str | None = None
        """The label of the step under way (set at once; the screen shows it after BUSY_SHOWN_AFTER)."""
        self._busy_shown = False
        self._started = 0.0
        self._timer: Timer | None = None

    def request(self, *, confirm: bool) -> bool:
        """Start the next step if possible; False when nothing was started."""
        app, stepper = self._app, self._app.stepper
        if app.quizzing.pending is not None:
            return False  # the class has not guessed the last reply yet
        if stepper is None:
            app.notify("smtpstep is still starting (the built-in server makes its certificates first).")
            return False
        if self.busy:
            return False
        if stepper.head is None:
            app.notify("The session is finished. Press r to start a new one.")
            app.playback.stop()
            return False
        refusal = stepper.check_head()
        if refusal is not None:
            app.playback.stop()
            if not refusal.forceable:
                app.notify(f"Cannot send this now: {refusal}", severity="error", timeout=8)
                return False
            if confirm:
                warning = HeadWarning.of(refusal)
                app.push_screen(ConfirmScreen(
                    f"This command is {warning.headline}",
                    f"{stepper.head.label}\n\n{warning.consequence[:1].upper()}{warning.consequence[1:]}: {refusal}.",
                    "Send anyway"),
                    lambda yes: self._start(force=True) if yes else None)
                return False
        self._start(force=False)
        return True

    def _start(self, *, force: bool) -> None:
        # Nothing is published before the command goes out: the busy marks wait for _tick, so a reply
        # that comes at once is read while the loop is idle, not after a relayout.
        self._begin()
        self._app.run_worker(self._step(force), group="step", exclusive=True, exit_on_error=False)

    def run_to_end(self) -> None:
        app = self._app
        if app.stepper is None or self.busy:
            return
        app.playback.stop()
        app.run_worker(self._run_to_end(), group="step", exclusive=True, exit_on_error=False)

    async def _run_to_end(self) -> None:
        app = self._app
        while app.stepper is not None and app.stepper.head is not None:
            refusal = app.stepper.check_head()
            if refusal is not None:
                app.notify(f"Stopped before a command {HeadWarning.of(refusal).headline}: {refusal}",
                           severity="warning")
                return
            self._begin()
            await self._step(False)
            if app.quizzing.pending is not None:
                return  # run to the end stops at each reply to guess
            if app.stepper.transport.failure is not None or app.stepper.halt:
                return

    def cancel(self) -> None:
        if self.busy:
            self._app.workers.cancel_group(self._app, "step")
        self._app.playback.stop()

    def _begin(self) -> None:
        stepper = self._app.stepper
        assert stepper is not None and stepper.head is not None
        self.busy = stepper.head.label
        self._busy_shown = False
        self._started = time.monotonic()
        if self._timer is None:
            self._timer = self._app.set_interval(BUSY_SHOWN_AFTER, self._tick)

    def _tick(self) -> None:
        if not self.busy:
            return
        if not self._busy_shown:
            self._busy_shown = True
            self._app.publish()
        waited = time.monotonic() - self._started
        self._app.main_screen.waited = waited if waited >= 0.3 else None

    async def _step(self, force: bool) -> None:
        app, stepper = self._app, self._app.stepper
        assert stepper is not None
        try:
            result = await stepper.step(force=force)
        except Exception as error:  # noqa: BLE001 - nothing may reach the user as a traceback
            log.exception("step failed")
            self.finished()
            from smtpstep.app.config import state_dir

            app.notify(f"Unexpected error: {error.__class__.__name__}: {error}. Details are in "
                       f"{state_dir() / 'smtpstep.log'}.", severity="error", timeout=10)
            return
        if result is not None and app.quizzing.after_step(len(stepper.history), result.commands, result.answers,
                                                          lambda: self._show(result, force)):
            self._unmark()  # the reply stays held until the guess; the step is over
            return
        self._show(result, force)

    def _show(self, result: StepResult | None, force: bool) -> None:
        app, stepper = self._app, self._app.stepper
        assert stepper is not None
        app.wire_log.release()
        if result is not None:
            app.wire_log.end_step(len(stepper.history), result.elapsed if self._timings else None)
            if result.failure is not None:
                app.playback.stop()
            if result.failure is not None and result.failure.kind == "policy":
                app.call_later(self._ask_cleartext_auth, force)
        self.finished()
        if stepper.halt and app.playback.playing:
            app.playback.stop()
            app.notify("Paused: the session cannot go on as planned (see the explanation).")

    def finished(self) -> None:
        """The step is over (done, failed or cancelled): unmark it and show its result."""
        self._unmark()
        self._app.wire_log.release()
        self._app.publish(after_step=True)

    def _unmark(self) -> None:
        self.busy = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._app.main_screen.waited = None

    def _ask_cleartext_auth(self, force: bool = False) -> None:
        """AUTH without TLS to a real server goes only with the user's explicit consent (once given, a command
        already confirmed out of order is not asked about again)."""
        app, stepper = self._app, self._app.stepper
        if stepper is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and app.stepper is stepper:
                stepper.allow_cleartext_auth()
                app.publish()
                if force:
                    self._start(force=True)
                else:
                    self.request(confirm=True)

        app.push_screen(ConfirmScreen(
            "Send the password in clear text?",
            f"The connection to {stepper.target.address} is not encrypted. AUTH PLAIN and LOGIN are only base64: "
            "anyone on the path can read the user name and password. Send AUTH anyway, for this session only?",
            "Send in clear text"), answered)

    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "step" and event.state == WorkerState.CANCELLED:
            self.finished()
            self._app.notify("Step cancelled; the connection was closed. Press r to start again.",
                             severity="warning")
