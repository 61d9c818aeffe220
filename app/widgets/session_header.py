"""The header line: which server, the lock for the security state, step n of m, play state, and a
marker that stays on screen while secrets are shown.

The line is made of parts, each with a rank; when the terminal is too narrow for all of them, the least
important go first (the app's name, the state's name, the server, the pace...), and the long forms give way
to short ones, so "step n of m", the "viewing step n" marker and the secrets marker always show.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.stepper import SessionView
from smtpstep.app.widgets.tls_status import tls_summary


@dataclass(frozen=True)
class Part:
    """One part of the header: its words, and shorter words for a narrow screen ("" drops it)."""

    rank: int
    """Lower goes first when the line is too long; parts of rank 0 stay whatever the width."""
    text: str
    short: str = ""
    style: str = ""
    elastic: bool = False
    """Cut to the room left (with an ellipsis) before it is dropped."""


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

    def parts(self) -> list[Part]:
        """Every part of the line, in the order shown."""
        view = self.view
        parts = [Part(1, " smtpstep ", style="bold reverse"), Part(4, f" {self.target_label} ", elastic=True)]
        parts.append(Part(6, f"│ {tls_summary(view)} ", f"│ {tls_summary(view).split(' ')[0]} "))
        if view is not None:
            total = max(view.total, view.steps_done)
            parts.append(Part(0, f"│ step {view.steps_done} of {total} ", style="bold"))
            parts.append(Part(2, f"│ {view.state.name} "))
            if view.busy:
                waited = f" {self.waited:.1f} s" if self.waited else ""
                parts.append(Part(7, f"│ ⧗ {view.busy[:24]}{waited} (Esc cancels) ", "│ ⧗ Esc cancels ", "bold"))
        if self.replaying:
            parts.append(Part(0, " REPLAY ", style="bold reverse"))
            parts.append(Part(3, "· ← → to move ", style="bold reverse"))
        elif self.viewing is not None and view is not None:
            parts.append(Part(0, f" ◀ VIEWING STEP {self.viewing} ", style="bold reverse"))
            parts.append(Part(3, "— → returns to the live session ", style="bold reverse"))
        if self.playing is not None:
            parts.append(Part(5, f"│ ▶ playing every {self.playing:g} s ", f"│ ▶ {self.playing:g} s ", "bold"))
        if self.secrets_shown:
            parts.append(Part(0, " ⚠ SECRETS SHOWN ", " ⚠ SECRETS ", "bold reverse"))
        return parts

    def render(self) -> Text:
        return fit(self.parts(), self.size.width or 80)


MIN_ELASTIC = 12
"""The fewest cells a cut part keeps; with less room it is dropped."""


def fit(parts: list[Part], width: int) -> Text:
    """The line of ``parts`` that fits ``width`` cells: the lowest ranks shortened, then dropped, first."""
    texts = [part.text for part in parts]

    def length() -> int:
        return sum(Text(t).cell_len for t in texts)

    for rank in sorted({part.rank for part in parts if part.rank}):
        for index, part in enumerate(parts):
            if part.rank != rank or length() <= width:
                continue
            if part.short:
                texts[index] = part.short
            elif part.elastic:
                room = width - (length() - Text(texts[index]).cell_len) - 2
                texts[index] = f" {part.text.strip()[:room - 1]}… " if room >= MIN_ELASTIC else texts[index]
        for index, part in enumerate(parts):
            if part.rank == rank and length() > width:
                texts[index] = ""
    for index, part in enumerate(parts):  # still too long: the parts that always stay, in their short form
        if length() > width and part.short:
            texts[index] = part.short
    shown = [index for index, text in enumerate(texts) if text]
    if shown and texts[shown[0]].startswith("│"):
        texts[shown[0]] = texts[shown[0]][1:]  # no separator before the first part
    line = Text(no_wrap=True, overflow="ellipsis")
    for part, text in zip(parts, texts, strict=True):
        line.append(text, style=part.style)
    return line
