"""The help screen: what the panes show and every key (from the app's own bindings), written as people read
keys: ``+`` / ``=``, ``?`` / ``F1``, ``Space`` / ``n``, never Textual's key ids."""

from __future__ import annotations

from dataclasses import replace

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

PANES = (
    ("Command queue", "What will be sent next; ▶ marks the next step. e edits it, i inserts before the "
                      "selected one, x deletes, k skips, a goes back to the plan."),
    ("Wire log", "Every line each way: C:/S: (or swaks' ->, <-, ~>, <~). ▌ marks lines inside TLS. "
                 "AUTH payloads show as ******** unless you reveal them (v)."),
    ("State", "The client's state machine with the current stage in [brackets], the commands allowed "
              "next, the envelope, and EHLO keywords before and after STARTTLS."),
    ("Explanation", "What just happened in plain words: the reply decoded digit by digit and the RFC section."),
    ("TLS", "Version, cipher, the name checked, the certificate chain and why it is (not) trusted. "
            "Narrow screens: L shows it."),
)


def key_names(app: App, binding: Binding) -> str:
    """The keys of ``binding`` as people read them, one after the other: ``Space / n``, ``← / [``."""
    names = []
    for key in binding.key.split(","):
        *modifiers, key = key.strip().split("+")
        name = app.get_key_display(replace(binding, key=key, key_display=None))
        name = name if len(name) == 1 else name[:1].upper() + name[1:]
        names.append("+".join([m.capitalize() for m in modifiers] + [name.upper() if modifiers else name]))
    return " / ".join(names)


class HelpScreen(ModalScreen[None]):
    # Styles: help.tcss, in the app's CSS_PATH (a screen's own would restyle the whole app when it opens).
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "smtpstep help (Esc closes)"
            yield Static(self._content())

    def _content(self) -> Table:
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(ratio=1)
        for title, text in PANES:
            table.add_row(title, Text(text))  # Text: "[brackets]" is not markup here
        table.add_row("", "")
        table.add_row(Text("Keys", style="bold underline"), "")
        screens = [screen for screen in self.app.screen_stack if screen is not self]
        for binding in [*self.app.BINDINGS, *(b for screen in screens[:1] for b in screen.BINDINGS)]:
            if isinstance(binding, Binding):
                table.add_row(Text(key_names(self.app, binding)), Text(binding.description))
        table.add_row("Ctrl+P", "Command palette: every action by name, themes too")
        table.add_row("", "")
        table.add_row(Text("Built-in server", style="bold underline"), "")
        table.add_row("login", Text("student / classroom (demo account; AUTH is offered only after TLS)"))
        table.add_row("delivers to", Text("*.test, localhost, example.com/.org/.net; everything else gets 550 5.7.1"))
        return table

    def action_close(self) -> None:
        self.dismiss(None)
