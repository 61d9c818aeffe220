"""The timeline: the session as it was before the first step and after each one, and which is shown.

Looking back (``←``/``→``) moves through the views without touching the live connection; a replay
(``smtpstep replay``) is a timeline made from a recording, with no live session behind it. No
Textual here: the app asks the timeline which view to show and shows it.
"""

from __future__ import annotations

from collections.abc import Iterable

from smtpstep.app.session.stepper import SessionView


class Timeline:
    """Views by step (``views[n]`` is the session after step n) and the one being looked at."""

    def __init__(self, views: Iterable[SessionView] = (), *, replay: bool = False) -> None:
        self.views: list[SessionView] = list(views)
        """The view before the first step, then one after each step."""
        self.viewing: int | None = 0 if replay and self.views else None
        """The index of the view shown while looking back; None while the live session is shown."""
        self.replay = replay
        """A recording shown offline: there is no live session to go back to."""

    @property
    def looking_back(self) -> bool:
        return self.viewing is not None

    @property
    def shown(self) -> SessionView | None:
        """The view being looked at, or None while the live session is shown."""
        return self.views[self.viewing] if self.viewing is not None else None

    def record(self, view: SessionView) -> None:
        """Keep ``view`` if it is the session after a step not kept yet (a busy view is not kept)."""
        if view.busy:
            return
        if not self.views or self.views[-1].steps_done != view.steps_done:
            self.views.append(view)

    def reset(self) -> None:
        """A new session: forget every view and show the live one."""
        self.views = []
        self.viewing = None

    def back(self) -> SessionView | None:
        """Look one step further back: the view to show, or None when there is no earlier one."""
        if len(self.views) < 2 and not self.replay:
            return None
        current = self.viewing if self.viewing is not None else len(self.views) - 1
        if current - 1 < 0:
            return None
        self.viewing = current - 1
        return self.views[self.viewing]

    def forward(self) -> SessionView | None:
        """Look one step forward: the view to show. None when the next one is the live session (the
        timeline then shows it: ``viewing`` is None) or, in a replay, when there is no later step."""
        if self.viewing is None:
            return None
        if self.replay:
            if self.viewing + 1 >= len(self.views):
                return None
            self.viewing += 1
            return self.views[self.viewing]
        if self.viewing + 1 >= len(self.views) - 1:
            self.viewing = None
            return None
        self.viewing += 1
        return self.views[self.viewing]

    def live(self) -> None:
        """Show the live session again."""
        if not self.replay:
            self.viewing = None

    @property
    def at_end(self) -> bool:
        """In a replay: the last recorded step is shown."""
        return self.replay and self.viewing is not None and self.viewing + 1 >= len(self.views)
