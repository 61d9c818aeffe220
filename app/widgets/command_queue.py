"""The command queue pane: the steps that will be taken next, the next one marked, each with its exact line.

It renders the queue from the session view and reports which item the user selected; the app does
the editing (through the stepper). The line shown is what will be written, secrets masked.

Each row is a mark, a number and a reply code in a column of their own, then the line: where the queue is
wide enough a long line wraps under itself, so no command is cut; where it is narrow the line ends in an
ellipsis, and the mark, number and code stay. A warning about the next command has a line of its own.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from smtpstep.app.session.stepper import HeadWarning, SessionView

SHOWN_DONE = 20
"""Finished steps shown above the next one; older ones are counted (the list is rebuilt every step)."""

WRAP_WIDTH = 44
"""From this width of the pane on, a long line wraps under itself instead of ending in an ellipsis."""


class QueueRow:
    """One row of the queue: the mark, number and code, then the line (and a note below it, if any)."""

    def __init__(self, head: Text, label: Text, note: Text | None = None, *, wrap: bool = True) -> None:
        self.head = head
        self.label = label
        self.note = note
        self.wrap = wrap
        """Wrap a long line under itself (else cut it with an ellipsis)."""

    def __str__(self) -> str:
        return self.head.plain + self.label.plain + (f"\n{self.note.plain}" if self.note else "")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = self.head.cell_len + max(self.label.cell_len, self.note.cell_len if self.note else 0)
        return Measurement(min(widest, self.head.cell_len + 8), widest)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        indent = self.head.cell_len
        room = max(1, options.max_width - indent)
        lines: list[Text] = []
        for part in (self.label, self.note):
            if part is None:
                continue
            if self.wrap:
                lines.extend(part.wrap(console, room, overflow="fold"))
            else:
                cut = part.copy()
                cut.truncate(room, overflow="ellipsis")
                lines.append(cut)
        for number, line in enumerate(lines):
            row = Text(no_wrap=True)
            row.append_text(self.head if number == 0 else Text(" " * indent))
            row.append_text(line)
            yield row


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

    def on_resize(self) -> None:
        if (self.size.width >= WRAP_WIDTH) != self._wrap:
            self._shown = ()  # the rows are built for one way of fitting a long line: build them again
            self._render_queue()

    _wrap = True

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
        self._wrap = self.size.width >= WRAP_WIDTH or not self.size.width
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
        wrap = self._wrap
        for number, (label, code, ok) in enumerate(view.history[hidden:], hidden + 1):
            # The outcome is a glyph, not a colour alone, and the reply code comes before the label, so that
            # both stay visible when a narrow queue cuts the line short. The mark stays upright: italic
            # faces of common monospace fonts lack ✓ and ✗.
            head = Text()
            head.append("✓ " if ok else "✗ ", style="bold" if not ok else "")
            head.append(f"{number:>2} ", style="italic")
            head.append(f"{code} " if code else "    ", style="bold italic" if not ok else "italic")
            options.append(Option(QueueRow(head, Text(label, style="italic"), wrap=wrap), disabled=True))
        if not view.queue:
            done = "session finished — press r to start again" if view.steps_done else "nothing planned"
            options.append(Option(Text(done, style="italic"), disabled=True))
            return options
        for index, planned in enumerate(view.queue):
            number = view.steps_done + index + 1
            label = planned.command.label
            if index == 0:
                note = Text(f"⚠ {self.warning.headline}", style="bold") if self.warning else None
                row = QueueRow(Text(f"▶ {number:>2} ", style="bold"), Text(label, style="bold reverse"), note,
                               wrap=wrap)
            else:
                row = QueueRow(Text(f"○ {number:>2} "), Text(label), wrap=wrap)
            options.append(Option(row, id=f"q{index}"))
        return options

    _done = 0

    @property
    def selected_index(self) -> int:
        """The selected queue index (0 = next step); finished steps above it cannot be selected."""
        return max(0, (self.highlighted or 0) - self._done)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Selected(event.option_index - self._done))
