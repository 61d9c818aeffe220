"""The sequence (ladder) diagram view: the session drawn as the figure textbooks use for SMTP.

Draws a ``Diagram`` (``session/diagram.py``) into whatever size it is given: the lifelines (client and
server, and the relay between them in the stripping lesson) spread over the width, one row per
arrow, commands as solid lines (``──▶``) and replies dashed (``◀╌╌``), each with its words on the line,
notes on rows of their own. Rows inside TLS carry the ``▌`` gutter the wire log uses, and a legend says
so: TLS never rests on colour alone. The step being looked at is marked ``▶`` beside its number and
highlighted; the view scrolls to keep it in sight. Taller than its space, it scrolls (Line API: only
the visible rows are drawn).

Data in, nothing out: ``diagram`` is set by whoever places the view (the diagram screen, key ``d``;
presentation mode may place it too, at any size). It parses no SMTP. Styles come from the .tcss of the
screen that places it, through the component classes below; no DEFAULT_CSS.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from smtpstep.app.session.diagram import Arrow, Diagram, Item, Note

TLS_GUTTER = "▌"
"""Marks the rows inside TLS, as in the wire log."""
MARGIN = 6
"""Columns left of the first lifeline: the step number, the current-step mark and the TLS gutter."""


@dataclass(frozen=True)
class _Row:
    """One drawn row: its cells as (text, component class) runs, its step and whether it is inside TLS."""

    runs: tuple[tuple[str, str], ...]
    step: int | None
    tls: bool


class SequenceDiagram(ScrollView, can_focus=True):
    """A session as a sequence diagram, drawn to fit the width it is given."""

    COMPONENT_CLASSES = {
        "sequence-diagram--title",
        "sequence-diagram--lifeline",
        "sequence-diagram--command",
        "sequence-diagram--reply",
        "sequence-diagram--relayed",
        "sequence-diagram--note",
        "sequence-diagram--tls",
        "sequence-diagram--current",
        "sequence-diagram--step",
    }
    """title: lifeline names and the legend; lifeline: the vertical lines; command, reply: arrows and their
    words; relayed: the relay's own hops; note: notes; tls: the TLS gutter; current: the step looked at;
    step: step numbers."""

    diagram: reactive[Diagram | None] = reactive(None, always_update=True)
    """The session to draw."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._rows: list[_Row] = []
        self._width = 0

    # -- laying out --------------------------------------------------------------------------------------

    def watch_diagram(self, diagram: Diagram | None) -> None:
        self._layout()
        self._follow()

    def on_resize(self) -> None:
        self._layout()
        self._follow()

    def _layout(self) -> None:
        width = max(self.scrollable_content_region.width or self.size.width, 30)
        self._width = width
        self._rows = rows_of(self.diagram, width) if self.diagram is not None else []
        self.virtual_size = Size(width, len(self._rows))
        self.refresh()

    def _follow(self) -> None:
        """Keep the current step in sight (or the end, while the session grows)."""
        if not self._rows:
            return
        current = self.diagram.current if self.diagram is not None else None
        wanted = [i for i, row in enumerate(self._rows) if current is not None and row.step == current]
        if wanted:
            region = Region(0, wanted[0], 1, wanted[-1] - wanted[0] + 1)
            self.call_after_refresh(self.scroll_to_region, region, animate=False, force=True)
        else:
            self.call_after_refresh(self.scroll_end, animate=False, force=True)

    @property
    def rows(self) -> list[str]:
        """The drawn rows as plain text (what the screen shows, without colour)."""
        return ["".join(text for text, _ in row.runs) for row in self._rows]

    # -- drawing -----------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = y + round(self.scroll_offset.y)
        width = self.scrollable_content_region.width
        if not 0 <= index < len(self._rows):
            return Strip.blank(width, self.rich_style)
        row = self._rows[index]
        base = self.rich_style
        current = self.diagram is not None and row.step is not None and row.step == self.diagram.current
        highlight = self.get_component_rich_style("sequence-diagram--current", partial=True) if current else None
        segments = []
        for text, kind in row.runs:
            style = base + self.get_component_rich_style(f"sequence-diagram--{kind}", partial=True) if kind else base
            if highlight is not None and kind not in ("tls",):
                style += highlight
            segments.append(Segment(text, style))
        strip = Strip(segments).crop(round(self.scroll_offset.x), round(self.scroll_offset.x) + width)
        return strip.extend_cell_length(width, base)


# --- The rows, as plain text and component classes (no Textual: tested and reused as is) -----------------


def rows_of(diagram: Diagram, width: int) -> list[_Row]:
    """The diagram drawn ``width`` cells wide: a title row, then a row per arrow and per line of a note."""
    keys = [line.key for line in diagram.lifelines]
    right = max(2, cell_len(diagram.lifelines[-1].title) // 2 + 1)  # room for the last title, centred
    span = max(width - MARGIN - right, 8 * len(keys))
    xs = [MARGIN + round(i * (span - 1) / max(len(keys) - 1, 1)) for i in range(len(keys))]
    at = dict(zip(keys, xs))
    rows: list[_Row] = []
    header = _Canvas(width)
    for line, x in zip(diagram.lifelines, xs):
        title = _fit(line.title, max(6, (span // len(keys)) - 1))
        start = min(max(0, x - cell_len(title) // 2), width - cell_len(title))
        header.put(start, title, "title")
    rows.append(_Row(header.runs(), None, False))
    legend = _Canvas(width)
    legend.put(MARGIN - 2, TLS_GUTTER, "tls")
    legend.put(MARGIN, "inside TLS   ──▶ command   ◀╌╌ reply", "title")
    rows.append(_Row(legend.runs(), None, False))
    seen: set[int] = set()
    for item in diagram.items:
        first = item.step not in seen
        seen.add(item.step)
        lines = _item_rows(item, at, xs, width)
        for number, canvas in enumerate(lines):
            _margin(canvas, item, first and number == 0, diagram.current)
            rows.append(_Row(canvas.runs(), item.step, item.tls))
    end = _Canvas(width)
    for x in xs:
        end.put(x, "╵", "lifeline")
    rows.append(_Row(end.runs(), None, False))
    return rows


def _margin(canvas: _Canvas, item: Item, first: bool, current: int | None) -> None:
    if first:
        canvas.put(0, f"{item.step:>3}", "step")
    if current is not None and item.step == current:
        canvas.put(3, "▶", "current")
    if item.tls:
        canvas.put(MARGIN - 2, TLS_GUTTER, "tls")


def _item_rows(item: Item, at: dict[str, int], xs: list[int], width: int) -> list[_Canvas]:
    if isinstance(item, Arrow):
        canvas = _lifelines(xs, width)
        _arrow(canvas, item, at[item.source], at[item.target])
        return [canvas]
    return _note(item, at, xs, width)


def _lifelines(xs: list[int], width: int) -> _Canvas:
    canvas = _Canvas(width)
    for x in xs:
        canvas.put(x, "│", "lifeline")
    return canvas


def _arrow(canvas: _Canvas, arrow: Arrow, x1: int, x2: int) -> None:
    kind = "relayed" if arrow.relayed else "reply" if arrow.reply else "command"
    left, right = min(x1, x2), max(x1, x2)
    inner = right - left - 1
    if inner < 3:
        return
    line, head = ("╌", "◀") if arrow.reply else ("─", "▶")
    words = _fit(arrow.text, inner - 6)
    body = f"{line * 2} {words} " if words else ""
    body = body + line * (inner - 1 - cell_len(body))
    drawn = f"{head}{body}" if x2 < x1 else f"{body}{head}"
    canvas.put(left + 1, drawn, kind)


def _note(note: Note, at: dict[str, int], xs: list[int], width: int) -> list[_Canvas]:
    over = [at[key] for key in note.over if key in at]
    if len(set(over)) > 1:
        left, right = min(over) + 2, max(over) - 2
    else:
        centre = over[0] if over else xs[0]
        gap = min([abs(x - centre) for x in xs if x != centre] or [width // 2])
        left, right = max(centre - gap + 3, MARGIN + 1), min(centre + gap - 3, width - 1)
    room = max(right - left, 12)
    lines = textwrap.wrap(note.text, room - 2, break_long_words=True, break_on_hyphens=False) or [""]
    rows = []
    for text in lines:
        canvas = _lifelines(xs, width)
        shown = f" {text} "
        start = left + max(0, (room - cell_len(shown)) // 2)
        canvas.put(start, shown, "note")
        rows.append(canvas)
    return rows


def _fit(text: str, cells: int) -> str:
    """``text`` cut to ``cells`` cells, with "…" where it was cut."""
    if cells <= 0:
        return ""
    if cell_len(text) <= cells:
        return text
    return set_cell_size(text, cells - 1) + "…"


class _Canvas:
    """One row of cells, each with a component class; later writes cover earlier ones."""

    def __init__(self, width: int) -> None:
        self.cells: list[tuple[str, str]] = [(" ", "")] * width

    def put(self, x: int, text: str, kind: str) -> None:
        for ch in text:
            wide = cell_len(ch) == 2
            if 0 <= x < len(self.cells) - wide:
                self.cells[x] = (ch, kind)
                if wide:
                    self.cells[x + 1] = ("", kind)  # the second half of a wide character
            x += 2 if wide else 1

    def runs(self) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for ch, kind in self.cells:
            if out and out[-1][1] == kind:
                out[-1] = (out[-1][0] + ch, kind)
            else:
                out.append((ch, kind))
        return tuple(out)


__all__ = ["SequenceDiagram", "rows_of"]
