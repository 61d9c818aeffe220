"""The header line: which server, the lock for the security state, step n of m, play state, and a
marker that stays on screen while secrets are shown."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.stepper import SessionView
from smtpstep.app.widgets.tls_status import tls_summary


class SessionHeader(Static):
    view: reactive[SessionView | None] = reactive(None, always_update=True)
    """The session view (bound from the screen)."""
    target_label: reactive[str] = reactive("")
    """Where the session goes, in words (never the password)."""
    playing: reactive[float | None] = reactive(None)
    """The play pace in seconds while playing, else None."""
    secrets_shown: reactive[bool] = reactive(False)
    """True while the wire log shows secrets: a marker stays visible."""
    waited: reactive[float | None] = reactive(None)
    """Seconds the running step has waited so far."""
    viewing: reactive[int | None] = reactive(None)
    """The earlier step being looked at, if any."""
    replaying: reactive[bool] = reactive(False)
    """True when showing a recording offline."""

    def render(self) -> Text:
        view = self.view
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" smtpstep ", style="bold reverse")
        text.append(f" {self.target_label} ")
        text.append(f"│ {tls_summary(view)} ")
        if view is not None:
            total = max(view.total, view.steps_done)
            text.append(f"│ step {view.steps_done} of {total} ", style="bold")
            text.append(f"│ {view.state.name} ")
            if view.busy:
                waited = f" {self.waited:.1f} s" if self.waited else ""
                text.append(f"│ ⧗ {view.busy[:24]}{waited} (Esc cancels) ", style="bold")
        if self.replaying:
            text.append(" REPLAY · ← → to move ", style="bold reverse")
        elif self.viewing is not None and view is not None:
            text.append(f" ◀ VIEWING STEP {self.viewing} — → returns to the live session ", style="bold reverse")
        if self.playing is not None:
            text.append(f"│ ▶ playing every {self.playing:g} s ", style="bold")
        if self.secrets_shown:
            text.append(" ⚠ SECRETS SHOWN ", style="bold reverse")
        return text
