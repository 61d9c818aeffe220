"""Playing a session at a set pace: a step every few seconds until the end or an error; and what a replay
(a recorded session shown offline) offers and says.

``Playback`` owns the timer and the pace; on each tick it calls the app's ``tick`` callback, which
takes the next step (or, in a replay, shows the next recorded one) and says whether it could.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import App
from textual.timer import Timer

if TYPE_CHECKING:
    from smtpstep.app.stepper_app import SmtpStepApp

OFFLINE_ACTIONS = frozenset({
    "run_to_end", "cancel_step", "edit", "insert", "delete", "skip", "replan", "restart", "connection",
})
"""What a replay cannot do, since it sends nothing and changes nothing: its footer and palette leave them out."""

REPLAY_HELP = {
    "step": "Show the next recorded step (each press shows the next one; nothing is sent)",
    "play": "Show the recorded steps one after another at a set pace",
    "back": "Show the recorded step before this one",
    "forward": "Show the next recorded step",
}
"""The command palette's words for the actions whose meaning a replay changes."""

PACES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
"""Play speeds, seconds per step."""


class Playback:
    """Play and pause, faster and slower."""

    def __init__(self, app: App, tick: Callable[[], bool], shown: Callable[[float | None], None]) -> None:
        self._app = app
        self._tick = tick
        """Takes the next step; False when there is none to take (playing stops)."""
        self._shown = shown
        """Told the pace while playing, and None once stopped (the header shows it)."""
        self._index = PACES.index(1.5)
        self._timer: Timer | None = None

    @property
    def pace(self) -> float:
        """Seconds per step."""
        return PACES[self._index]

    @property
    def playing(self) -> bool:
        return self._timer is not None

    def toggle(self) -> None:
        if self.playing:
            self.stop()
        else:
            self._timer = self._app.set_interval(self.pace, self._on_tick)
            self._shown(self.pace)
            self._on_tick()

    def stop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            self._shown(None)

    def change(self, delta: int) -> float:
        """Step the pace by ``delta`` (negative: faster); return the new pace."""
        self._index = max(0, min(len(PACES) - 1, self._index + delta))
        if self.playing:
            self.stop()
            self.toggle()
        return self.pace

    def _on_tick(self) -> None:
        if not self._tick():
            self.stop()


def next_step(app: SmtpStepApp) -> bool:
    """The app's tick while playing: the next step (in a replay, the next recorded one); False when there
    is none to take."""
    if app.timeline.replay:
        app.action_forward()
        return not app.timeline.at_end
    return bool(app.busy) or app.steps.request(confirm=False)


def show_pace(app: SmtpStepApp, pace: float | None) -> None:
    """Show the pace in the header while playing (None: stopped)."""
    try:
        app.main_screen.playing = pace
    except LookupError:
        pass


class Following:
    """A replay that grows: a follower's view of the teacher's live session (``smtpstep web --follow``).

    Each recording that comes replaces the one shown: its new wire chunks are added, its views become the
    timeline's, and a follower who was looking at the newest step moves on to the new newest one, while one
    looking back (``←``) stays where they are. A recording with fewer steps is a new session: shown from
    its start. When the teacher's session is gone, what was shown stays, and the header says it ended.
    The app is a replay throughout: nothing here sends anything anywhere.
    """

    def __init__(self, app: App) -> None:
        self._app = app

    def take(self, recording: object) -> None:
        from smtpstep.app.session.recording import Recording

        app = self._app
        if not isinstance(recording, Recording):
            app.notify(f"The teacher's session could not be read: {recording}", severity="error", timeout=8)
            return
        old = app._recording  # type: ignore[attr-defined]
        timeline, screen, log = app.timeline, app.main_screen, app.wire_log  # type: ignore[attr-defined]
        newest = old is recording or timeline.viewing is None or timeline.viewing >= len(timeline.views) - 1
        if old is None or recording.steps < old.steps or len(recording.chunks) < len(old.chunks) or \
                recording.chunks[:len(old.chunks)][-1:] != old.chunks[-1:]:
            log.clear()
            added = recording.chunks
            newest = True
        else:
            added = recording.chunks[len(old.chunks):]
        for chunk in added:
            log.add_chunk(chunk)
        app._recording = recording  # type: ignore[attr-defined]
        timeline.views = list(recording.views)
        if newest or timeline.viewing is None:
            timeline.viewing = len(timeline.views) - 1
        screen.target_label = f"{self._target(recording)} (live)"
        screen.show_past(timeline.shown)

    def left(self, ended: str) -> None:
        """The teacher's session is gone: the last step stays, and the header says ``ended``."""
        app = self._app
        recording = app._recording  # type: ignore[attr-defined]
        if recording is not None:
            # The news first: a narrow header cuts the label's end.
            app.main_screen.target_label = f"{ended} · {self._target(recording)}"  # type: ignore[attr-defined]
            app.notify(f"{ended}. The last step stays here; a new session of the "
                       "teacher's will show by itself.", timeout=10)

    @staticmethod
    def _target(recording: object) -> str:
        from smtpstep.protocol.text import shown

        target = recording.meta.get("target", "the teacher’s session")  # type: ignore[attr-defined]
        return shown(str(target)[:120])
