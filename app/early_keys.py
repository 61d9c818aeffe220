"""Keys pressed before the session exists: stepping keys (``EARLY_ACTIONS``) pressed while the session is
still starting are kept, and applied in order once it can take them, each after the step the one before
started has finished.

``EarlyKeys`` only keeps and replays key actions; the app's own actions take the steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.worker import WorkerState

if TYPE_CHECKING:
    from smtpstep.app.stepper_app import SmtpStepApp

EARLY_ACTIONS = ("step", "play", "run_to_end")
"""Keys that move through a session: pressed while it is still starting, they wait and then apply in order."""

STARTING = "starting… your keys will apply in order once the session is ready"

ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
"""A worker in one of these states has finished."""


class EarlyKeys:
    """The stepping keys kept while the session starts."""

    def __init__(self, app: SmtpStepApp) -> None:
        self._app = app
        self._kept: list[str] = []

    @property
    def waiting(self) -> bool:
        """Keys are kept that have not been applied yet."""
        return bool(self._kept)

    def held(self, action: str) -> bool:
        """Keep a stepping key pressed while the session is starting; True when it was kept."""
        app = self._app
        if app.stepper is not None or app.timeline.replay:
            return False
        self._kept.append(action)
        if len(self._kept) == 1:
            app.notify(STARTING, timeout=3)
        return True

    def apply(self) -> None:
        """Apply the kept keys in order, each after the step the one before started has finished."""
        app = self._app
        while self._kept and app.stepper is not None and not self._stepping():
            getattr(app, f"action_{self._kept.pop(0)}")()

    def _stepping(self) -> bool:
        app = self._app
        return bool(app.busy) or any(w.group == "step" and w.state not in ENDED for w in app.workers)
