"""Looking back in the terminal app: ← and → through the steps taken, back to the live session, and a
replay (a recorded session shown offline) opened on its first step.

``LookingBack`` moves the app's timeline and has the main screen show the step looked at. It takes no
step and sends nothing; a replay's quiz may hold a recorded reply back until it is guessed.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtpstep.app.session.recording import Recording
    from smtpstep.app.session.stepper import SessionView
    from smtpstep.app.stepper_app import SmtpStepApp


class LookingBack:
    """Back, forward, live; and the start of a replay."""

    def __init__(self, app: SmtpStepApp) -> None:
        self._app = app

    def back(self) -> None:
        app = self._app
        if not app.busy and app.quizzing.pending is None:
            self.show(app.timeline.back())

    def forward(self) -> None:
        app = self._app
        if app.timeline.viewing is None or app.quizzing.pending is not None:
            return
        view = app.timeline.forward()
        recording = app.replay_recording
        if view is not None:
            if recording is None or not app.quizzing.before_replayed(
                    view, recording.chunks, partial(self.show, view)):
                self.show(view)
        elif app.timeline.replay:
            app.playback.stop()
            app.notify("End of the recording.")
        else:
            self.live()

    def start_replay(self, recording: Recording) -> None:
        """Show a recorded session's wire log and its first step; nothing is sent anywhere."""
        app = self._app
        screen = app.main_screen
        screen.target_label = f"{recording.meta.get('target', 'a recorded session')} (offline)"
        screen.replaying = True
        for chunk in recording.chunks:
            app.wire_log.add_chunk(chunk)
        self.show(app.timeline.shown)
        app.notify("Replay: space or → shows the next recorded step, ← the one before. Nothing is sent anywhere.",
                   timeout=5)

    def show(self, view: SessionView | None) -> None:
        """Show a past step (a replay may go on playing through its steps; a live session stops playing)."""
        app = self._app
        if view is not None:
            if not app.timeline.replay:
                app.playback.stop()
            app.main_screen.show_past(view)

    def live(self) -> None:
        """Back to the live session as the stepper has it now."""
        app = self._app
        app.timeline.live()
        app.main_screen.show_live()
        app.publish()
