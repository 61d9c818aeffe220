"""The terminal app's own key bindings (the main screen adds the keys that only change how the panes show
the session). Pure data: the actions they name are the app's ``action_*`` methods.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS = [
    Binding("space,n", "step", "Step", id="step"),
    Binding("p", "play", "Play/pause", id="play"),
    Binding("plus,equals_sign", "faster", "Faster", id="faster", show=False),
    Binding("minus", "slower", "Slower", id="slower", show=False),
    Binding("g", "run_to_end", "Run to end", id="run-to-end"),
    Binding("escape", "cancel_step", "Cancel step", id="cancel", show=False),
    Binding("e", "edit", "Edit", id="edit"),
    Binding("i", "insert", "Insert", id="insert"),
    Binding("x", "delete", "Delete", id="delete", show=False),
    Binding("k", "skip", "Skip next", id="skip", show=False),
    Binding("a", "replan", "Re-plan", id="replan", show=False),
    Binding("r", "restart", "Restart", id="restart"),
    Binding("c", "connection", "Connection", id="connection"),
    Binding("t", "cycle_theme", "Theme", id="cycle-theme"),
    Binding("s", "screenshot", "Screenshot", id="screenshot"),
    Binding("E", "export", "Export", id="export", show=False),
    Binding("d", "diagram", "Diagram", id="diagram", show=False),
    Binding("b", "record_layer", "TLS records", id="record-layer", show=False),
    Binding("left,left_square_bracket", "back", "Step back", id="back", show=False),
    Binding("right,right_square_bracket", "forward", "Step forward", id="forward", show=False),
    Binding("question_mark,f1", "help", "Help", id="help"),
    Binding("q", "quit", "Quit", id="quit"),
]
"""Keys, actions and footer words of the stepper app; a user keymap may rebind them by id."""
