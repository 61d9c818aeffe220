"""The wire log pane: every line that crossed the wire, drawn with Textual's Line API.

Only the visible lines are rendered (a session of 100,000 lines costs a list of small records, not
100,000 rendered widgets). Lines come from ``app.transcript.Transcript``; a toggle of style, secrets,
line-end marks or folding rebuilds them from the chunks, which are all kept: nothing of the session
is dropped. Direction and TLS never rest on colour alone: the prefix says who spoke (``C:``/``S:`` or
``->``/``<-``/``~>``/``<~``) and a ``▌`` gutter marks lines that travelled inside TLS.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from protocol.transport import WireChunk

from ..transcript import Transcript, TranscriptLine

FOLD_LINES = 40
"""A client chunk longer than this (a big message) is folded to its first lines and a count."""

TLS_GUTTER = "▌"


class WireLog(ScrollView, can_focus=True):
    """Scrollable log of transcript lines, rendering only what is on screen."""

    COMPONENT_CLASSES = {
        "wire-log--client",
        "wire-log--server",
        "wire-log--tls",
        "wire-log--note",
        "wire-log--error",
        "wire-log--secret",
        "wire-log--timing",
    }

    style_name: reactive[str] = reactive("textbook")
    """textbook (C:/S:) or swaks (->, <-, ~>, <~)."""
    show_secrets: reactive[bool] = reactive(False)
    """Show AUTH payloads instead of ********."""
    crlf_marks: reactive[bool] = reactive(False)
    """Show each line end as ␍␊ (and bare LFs as such)."""
    expanded: reactive[bool] = reactive(False)
    """Show long messages whole instead of folded."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._chunks: list[WireChunk] = []
        self._timings: dict[int, float] = {}
        self._lines: list[TranscriptLine] = []
        self._width = 0
        self._limit: int | None = None
        self._transcript = self._new_transcript()

    # -- data ------------------------------------------------------------------------------------

    @property
    def lines(self) -> list[TranscriptLine]:
        return self._lines

    def plain_lines(self) -> list[str]:
        return [line.plain() for line in self._lines]

    def _new_transcript(self) -> Transcript:
        return Transcript(style=self.style_name, show_secrets=self.show_secrets, crlf_marks=self.crlf_marks,
                          fold_lines=None if self.expanded else FOLD_LINES)

    def add_chunk(self, chunk: WireChunk) -> None:
        """Append one chunk (called for every chunk as it crosses the wire)."""
        self._chunks.append(chunk)
        if self._limit is None:
            self._extend(self._transcript.feed(chunk))

    def show_until(self, count: int | None) -> None:
        """Show only the first ``count`` chunks (looking back at an earlier step); None shows all."""
        if count != self._limit:
            self._limit = count
            self._rebuild()

    def lines_of_step(self, step: int) -> tuple[TranscriptLine, ...]:
        return tuple(line for line in self._lines if line.step == step)

    def end_step(self, step: int, elapsed: float | None) -> None:
        """Close a step: flush partial lines and note its time (None: no time shown)."""
        if elapsed is None:
            self._extend(self._transcript.flush())
            return
        self._timings[step] = elapsed
        self._extend(self._transcript.flush() + [self._timing_line(step, elapsed)])

    def clear(self) -> None:
        self._chunks = []
        self._timings = {}
        self._limit = None
        self._rebuild()

    @staticmethod
    def _timing_line(step: int, elapsed: float) -> TranscriptLine:
        return TranscriptLine("timing", "  ·", f"step {step} took {elapsed * 1000:.1f} ms", False, step, 0.0)

    def _extend(self, lines: list[TranscriptLine]) -> None:
        if not lines:
            return
        if not self._sync_due:
            # Bursts of chunks are coalesced: the lines are kept at once, the scroll and repaint
            # bookkeeping runs once per burst (it cost more than the lines themselves).
            self._follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
            self._sync_due = True
            self.call_later(self._sync)
        self._lines.extend(lines)
        width = self._width
        for line in lines:
            width = max(width, len(line.prefix) + len(line.text) + 3)
        self._width = width

    _sync_due = False
    _follow = True

    def _sync(self) -> None:
        self._sync_due = False
        self.virtual_size = Size(self._width, len(self._lines))
        if self._follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    def _rebuild(self) -> None:
        self._transcript = self._new_transcript()
        self._lines = []
        self._width = 0
        lines: list[TranscriptLine] = []
        step = None
        chunks = self._chunks if self._limit is None else self._chunks[: self._limit]
        for chunk in chunks:
            if step is not None and chunk.step != step and step in self._timings:
                lines += self._transcript.flush() + [self._timing_line(step, self._timings[step])]
            step = chunk.step
            lines += self._transcript.feed(chunk)
        lines += self._transcript.flush()
        if step is not None and step in self._timings:
            lines.append(self._timing_line(step, self._timings[step]))
        self._lines = []
        self._extend(lines)
        self._sync()

    def watch_style_name(self) -> None:
        self._rebuild()

    def watch_show_secrets(self) -> None:
        self._rebuild()

    def watch_crlf_marks(self) -> None:
        self._rebuild()

    def watch_expanded(self) -> None:
        self._rebuild()

    # -- drawing ---------------------------------------------------------------------------------

    def _style_for(self, kind: str) -> Style:
        return self.get_component_rich_style(f"wire-log--{kind}", partial=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        line = self._lines[index]
        style = base + self._style_for(line.kind)
        gutter = Segment(TLS_GUTTER if line.tls and line.kind in ("client", "server") else " ",
                         base + self._style_for("tls"))
        segments = [gutter, Segment(f"{line.prefix} ", style + Style(bold=line.kind in ("client", "server")))]
        if line.secret and not self.show_secrets and "********" in line.text:
            before, _, after = line.text.partition("********")
            segments += [Segment(before, style), Segment("********", base + self._style_for("secret")),
                         Segment(after, style)]
        else:
            segments.append(Segment(line.text, style))
        strip = Strip(segments).crop_extend(scroll_x, scroll_x + width, base)
        return strip.apply_offsets(scroll_x, index)
