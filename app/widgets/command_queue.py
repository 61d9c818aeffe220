"""The command queue pane: the steps that will be taken next, the next one marked, each with its exact line.

It renders the queue from the session view and reports which item the user selected; the app does
the editing (through the stepper). The line shown is what will be written, secrets masked.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from smtpstep.app.session.stepper import HeadWarning, SessionView

SHOWN_DONE = 20
"""Finished steps shown above the next one; older ones are counted (the list is rebuilt every step)."""


class CommandQueue(OptionList):
    """The upcoming steps; the first is the next one."""

    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view to render (bound from the screen); the rows are rebuilt only on change."""
    warning: reactive[HeadWarning | None] = reactive(None, repaint=False)
    """Why the next command does not fit now (``SmtpClient.check``), if it does not."""

    class Selected(Message):
        """The user picked an item of the queue (to edit, delete or insert before it)."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def watch_view(self, view: SessionView | None) -> None:
        self._render_queue()

    def watch_warning(self) -> None:
        self._render_queue()

    _shown: object = ()

    def _render_queue(self) -> None:
        view = self.view
        key = None if view is None else (view.history[-SHOWN_DONE:], tuple(p.command.label for p in view.queue),
                                         view.steps_done, self.warning, view.last_was_step)
        if key == self._shown:
            return  # rebuilding the options costs a relayout and a redraw of every row
        self._shown = key
        highlighted = self.highlighted
        # One set_options call: adding the rows one by one recounted the lines (and asked for a layout) per row.
        self.set_options(self._options_for(view))
        if view is None:
            return
        if not view.queue:
            self.highlighted = None
            self.scroll_end(animate=False)
            return
        keep = highlighted is not None and self._done <= highlighted < self._done + len(view.queue)
        self.highlighted = highlighted if keep and not view.last_was_step else self._done

    def _options_for(self, view: SessionView | None) -> list[Option]:
        if view is None:
            return [Option(Text("starting the built-in server…", style="italic"), disabled=True)]
        options: list[Option] = []
        hidden = max(0, len(view.history) - SHOWN_DONE)
        self._done = len(view.history) - hidden + (1 if hidden else 0)
        if hidden:
            options.append(Option(Text(f"… {hidden} earlier steps (← looks back)", style="italic"), disabled=True))
        for number, (label, code, ok) in enumerate(view.history[hidden:], hidden + 1):
            # The outcome is a glyph, not a colour alone, and the reply code comes before the label, so that
            # both stay visible when a narrow queue cuts the line short.
            text = Text(no_wrap=True, overflow="ellipsis", style="italic")
            text.append("✓ " if ok else "✗ ", style="bold" if not ok else "")
            text.append(f"{number:>2} ")
            text.append(f"{code} " if code else "    ", style="bold" if not ok else "")
            text.append(label)
            options.append(Option(text, disabled=True))
        if not view.queue:
            done = "session finished — press r to start again" if view.steps_done else "nothing planned"
            options.append(Option(Text(done, style="italic"), disabled=True))
            return options
        for index, planned in enumerate(view.queue):
            number = view.steps_done + index + 1
            label = planned.command.label
            text = Text(no_wrap=True, overflow="ellipsis")
            if index == 0:
                text.append("▶ ", style="bold")
                text.append(f"{number:>2} ", style="bold")
                text.append(label, style="bold reverse")
                if self.warning:
                    text.append(f"  ⚠ {self.warning.headline}", style="bold")
            else:
                text.append(f"○ {number:>2} ")
                text.append(label)
            options.append(Option(text, id=f"q{index}"))
        return options

    _done = 0

    @property
    def selected_index(self) -> int:
        """The selected queue index (0 = next step); finished steps above it cannot be selected."""
        return max(0, (self.highlighted or 0) - self._done)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Selected(event.option_index - self._done))
