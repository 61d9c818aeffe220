"""Small modal dialogs: confirm an out-of-order command, type a command line, choose a theme."""

from __future__ import annotations

from functools import partial

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class ConfirmScreen(ModalScreen[bool]):
    """Asks yes or no; dismisses with the answer."""

    # Styles: dialogs.tcss, in the app's CSS_PATH (a screen's own would restyle the whole app when it opens).
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
                Binding("y", "confirm", "Yes", id="dialog.yes"), Binding("n", "cancel", "No", id="dialog.no")]

    def __init__(self, title: str, text: str, yes: str = "Send anyway") -> None:
        super().__init__()
        self._title, self._text, self._yes = title, text, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Label(self._text, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._yes} (y)", variant="warning", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class LineInputScreen(ModalScreen[str | None]):
    """Asks for one command line; dismisses with it, or None when cancelled."""

    # Styles: dialogs.tcss, in the app's CSS_PATH (a screen's own would restyle the whole app when it opens).
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, hint: str, value: str = "") -> None:
        super().__init__()
        self._title, self._hint, self._value = title, hint, value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Label(self._hint, classes="dialog-text")
            yield Input(value=self._value, id="line")
            yield Label("Enter to accept · Esc to cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SmtpstepThemes(Provider):
    """The command palette's list of themes: smtpstep's own. Textual's others are left out: they set none of
    the app's colours (client and server lines, the TLS boundary, the kinds of reply)."""

    @property
    def themes(self) -> list[str]:
        from smtpstep.themes import THEMES

        return [theme.name for theme in THEMES]

    def _choose(self, name: str) -> None:
        self.app.theme = name

    async def discover(self) -> Hits:
        for name in self.themes:
            yield DiscoveryHit(name, partial(self._choose, name))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name in self.themes:
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), partial(self._choose, name))


def choose_theme(app: App) -> None:
    """Open the command palette on smtpstep's themes."""
    app.push_screen(CommandPalette(providers=[SmtpstepThemes], placeholder="Search smtpstep's themes…"))
