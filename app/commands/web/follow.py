"""A follower's tab (``smtpstep web --follow``): the teacher's live session, read-only, in the replay app.

Holds ``run_follower``, what a follower tab's process runs: a screen that says it waits for the teacher until
the teacher's session is on the classroom socket (``smtpstep.app.session.broadcast``), then that session in
the stepper as a replay, kept up with every step the teacher takes; when the teacher's session ends, the last
step stays on screen with a line that says so, and a new session of the teacher's shows by itself. Each
student looks back with ``←``/``→`` on their own screen and picks their own theme and size; in quiz mode the
student answers the teacher's question here (``quizzing.FollowerQuiz``): one answer line per question goes
back, and nothing else. The replay app has no stepper and no built-in server, so nothing a student presses
reaches the teacher's session or any SMTP server.
"""

from __future__ import annotations

import argparse
from pathlib import Path

WAITING = ("Waiting for the teacher's session…\n\n"
           "It will appear here by itself when the teacher starts stepping with smtpstep --broadcast "
           "(or in a tab of smtpstep web --broadcast).")
ENDED = "The teacher's session ended"
"""Said in the header once the teacher's session is gone; the last step stays on screen."""


def run_follower(args: argparse.Namespace) -> int:
    """Follow the teacher's broadcast until the tab closes; the exit code."""
    app = _follower_app_type()(None, theme=getattr(args, "theme", None))
    result = app.run()
    return result if isinstance(result, int) else 0


def _follower_app_type() -> type:
    from textual.app import ComposeResult
    from textual.binding import Binding
    from textual.containers import Center, Middle
    from textual.screen import Screen
    from textual.widgets import Static

    from smtpstep.app import stepper_app
    from smtpstep.app.playback import Following
    from smtpstep.app.quizzing import FollowerQuiz
    from smtpstep.app.session.broadcast import TeacherLeft, follow, send_answer
    from smtpstep.app.session.quiz import Asking
    from smtpstep.app.session.recording import Recording
    from smtpstep.app.session.timeline import Timeline
    from smtpstep.app.stepper_app import SmtpStepApp

    class WaitingScreen(Screen[None]):
        """No teacher yet: a plain sentence in the middle of the screen, big enough to read from afar."""

        DEFAULT_CSS = """
        WaitingScreen { align: center middle; }
        WaitingScreen #waiting { width: 64; height: auto; padding: 1 2; border: round $accent;
                                 text-style: bold; text-align: center; }
        """

        def compose(self) -> ComposeResult:
            with Middle(), Center():
                yield Static(WAITING, id="waiting")

    class FollowerApp(SmtpStepApp):
        """The replay app, kept up with the teacher's session as it goes."""

        CSS_PATH = [str(Path(stepper_app.__file__).parent / name) for name in SmtpStepApp.CSS_PATH]
        """The stepper's own style sheets (a relative name would be read beside this module)."""
        BINDINGS = [Binding("left", "back", show=False, priority=True),
                    Binding("right", "forward", show=False, priority=True)]
        """Looking back is all a follower does: ←/→ move through the steps even when the focused pane could
        scroll sideways (its own bindings would take the keys first)."""

        def __init__(self, recording: Recording | None, *, theme: str | None) -> None:
            super().__init__(None, theme=theme, replay=recording)  # type: ignore[arg-type]
            self.timeline = Timeline(recording.views if recording is not None else (), replay=True)
            self.following = Following(self)
            self.quizzing = FollowerQuiz(self, send_answer)
            self.waiting: Screen[None] | None = None
            """The screen that says there is no teacher yet, while it shows."""

        def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
            if self.waiting is not None:
                return action in ("quit", "cycle_theme")  # nothing to look at yet
            return super().check_action(action, parameters)

        def _start(self) -> None:
            if self._recording is not None:
                super()._start()
            else:
                self.waiting = WaitingScreen()
                self.push_screen(self.waiting)
            self.run_worker(self._follow(), group="follow", exit_on_error=False)

        def _start_replay(self, recording: object) -> None:
            super()._start_replay(recording)  # type: ignore[arg-type]
            self.following.take(recording)

        async def _follow(self) -> None:
            async for news in follow():
                if isinstance(news, Asking):
                    if self.waiting is None:
                        self.quizzing.asked(news)
                elif isinstance(news, TeacherLeft):
                    if self.waiting is None:
                        self.quizzing.asked(Asking(None))  # a question left open goes with the session
                        self.following.left(ENDED)
                elif isinstance(news, Recording) and self.waiting is not None:
                    await self._first(news)
                else:
                    self.following.take(news)
                    if isinstance(news, Recording):
                        self.quizzing.shown(news)
                        self.announce(self.timeline.views[-1])

        async def _first(self, recording: Recording) -> None:
            """The teacher's session is here: it takes the waiting screen's place."""
            waiting, self.waiting = self.waiting, None
            if waiting is not None and self.screen is waiting:
                await self.pop_screen()
            self._recording = recording
            self.timeline = Timeline(recording.views, replay=True)
            self.main_screen.replaying = True
            self._start_replay(recording)
            self.announce(self.timeline.views[-1])

    return FollowerApp
