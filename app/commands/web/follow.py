"""A follower's tab (``smtpstep web --follow``): the teacher's live session, read-only, in the replay app.

Holds ``run_follower``, what a follower tab's process runs: it waits for the teacher's session on the classroom
socket (``smtpstep.app.session.broadcast``), opens it in the stepper as a replay, and keeps that replay up with
every step the teacher takes. Each student looks back with ``←``/``→`` on their own screen and picks their
own theme and size; the replay app has no stepper and no built-in server, so nothing a student presses
reaches the teacher or any SMTP server.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smtpstep.app.session.settings import UsageError


def run_follower(args: argparse.Namespace) -> int:
    """Follow the teacher's broadcast until the tab closes; the exit code."""
    from smtpstep.app.session.broadcast import first_recording
    from smtpstep.app.session.recording import RecordingError

    try:
        recording = first_recording()
    except RecordingError as error:
        raise UsageError(f"the teacher's session cannot be shown: {error}") from None
    app = _follower_app_type()(recording, theme=getattr(args, "theme", None))
    result = app.run()
    return result if isinstance(result, int) else 0


def _follower_app_type() -> type:
    from textual.binding import Binding

    from smtpstep.app import stepper_app
    from smtpstep.app.playback import Following
    from smtpstep.app.session.broadcast import follow
    from smtpstep.app.stepper_app import SmtpStepApp

    class FollowerApp(SmtpStepApp):
        """The replay app, kept up with the teacher's session as it goes."""

        CSS_PATH = [str(Path(stepper_app.__file__).parent / name) for name in SmtpStepApp.CSS_PATH]
        """The stepper's own style sheets (a relative name would be read beside this module)."""
        BINDINGS = [Binding("left", "back", show=False, priority=True),
                    Binding("right", "forward", show=False, priority=True)]
        """Looking back is all a follower does: ←/→ move through the steps even when the focused pane could
        scroll sideways (its own bindings would take the keys first)."""

        def __init__(self, recording: object, *, theme: str | None) -> None:
            super().__init__(None, theme=theme, replay=recording)  # type: ignore[arg-type]
            self.following = Following(self)

        def _start_replay(self, recording: object) -> None:
            super()._start_replay(recording)  # type: ignore[arg-type]
            self.following.take(recording)
            self.run_worker(self._follow(), group="follow", exit_on_error=False)

        async def _follow(self) -> None:
            async for recording in follow():
                self.following.take(recording)
                self.announce(self.timeline.views[-1])

    return FollowerApp
