"""The sequence diagram screen (key ``d``): the session so far as a ladder diagram, over the main screen.

It grows step by step: the app's keys work on it (space steps, ``←``/``→`` look back, also in
a replay), and the screen redraws whenever the main screen shows another step, marking the step shown.
``d``, ``Esc`` or ``q`` closes it. The diagram comes from the session layer (``session/diagram.py``),
built from the same recording that ``E`` exports, so the view and the exports agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from smtpstep.app.session.diagram import Diagram, diagram_of
from smtpstep.app.widgets.sequence_diagram import SequenceDiagram

if TYPE_CHECKING:
    from smtpstep.app.session.recording import Recording
    from smtpstep.app.stepper_app import SmtpStepApp


class DiagramScreen(Screen[None]):
    # A screen, not a modal one: the app's keys (step, look back, play, screenshot) work under it.
    CSS_PATH = "diagram.tcss"
    BINDINGS = [Binding("escape,d,q", "close", "Close", id="diagram.close")]

    def __init__(self, make: Callable[[], Diagram | None]) -> None:
        super().__init__()
        self._make = make
        """Builds the diagram of the session as it is now (None before the first session)."""

    def compose(self) -> ComposeResult:
        view = SequenceDiagram(id="diagram")
        view.border_title = "Sequence diagram (d or Esc closes; space steps, ← → look back)"
        yield view
        yield Footer()

    def on_mount(self) -> None:
        from smtpstep.app.screens.main import MainScreen

        main = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)
        if main is not None:  # every step, look back and replay step sets the main screen's view
            self.watch(main, "view", lambda _view: self.redraw(), init=False)
        self.redraw()

    def redraw(self) -> None:
        self.query_one(SequenceDiagram).diagram = self._make()

    def action_close(self) -> None:
        self.dismiss(None)


def session_diagram(app: SmtpStepApp, replay: Recording | None = None) -> Diagram | None:
    """The diagram of the app's session (or the recording it replays) up to now, the step shown marked."""
    from smtpstep.app.saving import session_recording

    recording = replay or session_recording(app)
    if recording is None:
        return None
    timeline = app.timeline
    shown = timeline.shown
    current = shown.steps_done if shown is not None else (timeline.views[-1].steps_done if timeline.views else 0)
    # A replay grows as it is stepped through, as the live session does; looking back marks a step.
    return diagram_of(recording, current=current or None, upto=current if replay is not None else None)


def show_diagram(app: SmtpStepApp, replay: Recording | None = None) -> None:
    """Open the diagram screen for the app's session (or the recording it replays)."""
    app.push_screen(DiagramScreen(lambda: session_diagram(app, replay)))
