"""The wire log pane: every line that crossed the wire, drawn with Textual's Line API.

Only the visible lines are rendered (a session of 100,000 lines costs a list of small records, not
100,000 rendered widgets). Lines come from ``smtpstep.app.session.transcript.Transcript``; a toggle of style, secrets,
line-end marks or folding rebuilds them from the chunks, which are all kept: nothing of the session
is dropped. Direction and TLS never rest on colour alone: the prefix says who spoke (``C:``/``S:`` or
``->``/``<-``/``~>``/``<~``, and ``DNS:`` for a DNS question asked before connecting) and a ``▌`` gutter
marks lines that travelled inside TLS.

Lines are kept as plain tuples of str, int, float and bool, which the cycle collector stops tracking:
100,000 lines then add nothing to every full collection (as dataclasses they made 90 ms pauses while
scrolling; a NamedTuple, being a tuple subclass, would stay tracked too). The chunks are the session's
own objects, shared with its record: the log keeps no copy of them. It sets no process-wide policy: the
app moves long-lived objects out of the collector's way (``app/process_settings.py``).

The log follows its end while lines come, until the user scrolls up; scrolling back to the end makes it
follow again. While it does not follow, lines that come are counted and its last row says how many wait
below; ``End`` (or a click on that row) goes to the end and follows again.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import overload

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from smtpstep.app.session.transcript import Transcript, TranscriptLine
from smtpstep.protocol.transport.wire import Direction, WireChunk

HOLD_COMMAND_CHUNK = 0.05
"""Seconds a command's chunk may wait for its reply before the log shows it alone. A reply usually comes
within a millisecond: then both lines arrive as one burst and one frame, and no frame for the command
alone is drawn while the reply waits to be read."""

FOLD_LINES = 40
"""A client chunk longer than this (a big message) is folded to its first lines and a count."""

TLS_GUTTER = "▌"

_Kept = tuple[str, str, str, bool, int, float, bool]
"""A TranscriptLine as a plain tuple (same fields, same order)."""
_step_of = itemgetter(4)


class _Lines(Sequence[TranscriptLine]):
    """A read-only view of the kept lines, as TranscriptLines."""

    def __init__(self, kept: list[_Kept]) -> None:
        self._kept = kept

    def __len__(self) -> int:
        return len(self._kept)

    @overload
    def __getitem__(self, index: int) -> TranscriptLine: ...

    @overload
    def __getitem__(self, index: slice) -> list[TranscriptLine]: ...

    def __getitem__(self, index: int | slice) -> TranscriptLine | list[TranscriptLine]:
        if isinstance(index, slice):
            return [TranscriptLine._make(line) for line in self._kept[index]]
        return TranscriptLine._make(self._kept[index])

    def __iter__(self) -> Iterator[TranscriptLine]:
        return map(TranscriptLine._make, self._kept)


STRIPS_KEPT = 256
"""Drawn lines kept: a screenful or two of the tallest terminal. Each kept line is some 20 objects the
cycle collector walks in every full collection; 1,024 of them made full collections of 40-140 ms while
scrolling 100k lines (benchmarks/results/wire_log_scale.md)."""


class WireLog(ScrollView, can_focus=True):
    """Scrollable log of transcript lines, rendering only what is on screen."""

    COMPONENT_CLASSES = {
        "wire-log--client",
        "wire-log--server",
        "wire-log--tls",
        "wire-log--note",
        "wire-log--error",
        "wire-log--dns",
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
    record_layer: reactive[bool] = reactive(False)
    """Under each chunk that crossed inside TLS, the records that carried it."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        self._strips: LRUCache[int, Strip] = LRUCache(STRIPS_KEPT)
        """Drawn lines by index, uncropped: a step scrolls the log, and every row would be drawn again."""
        super().__init__(id=id, classes=classes)  # it already asks for a style update
        self._chunks: list[WireChunk] = []
        self._timings: dict[int, float] = {}
        self._lines: list[_Kept] = []
        self._ordered = True
        """Whether the lines' steps never go down, so that a step's lines are found by bisection."""
        self._width = 0
        self._limit: int | None = None
        self._transcript = self._new_transcript()
        self._held: list[WireChunk] = []
        """Command chunks waiting for their reply (see ``add_chunk``)."""
        self._hold_timer: Timer | None = None

    # -- data ------------------------------------------------------------------------------------

    @property
    def lines(self) -> Sequence[TranscriptLine]:
        """Every line shown, in order (a view: nothing is copied)."""
        return _Lines(self._lines)

    def plain_lines(self) -> list[str]:
        make = TranscriptLine._make
        return [make(line).plain() for line in self._lines]

    def _new_transcript(self) -> Transcript:
        return Transcript(style=self.style_name, show_secrets=self.show_secrets, crlf_marks=self.crlf_marks,
                          fold_lines=None if self.expanded else FOLD_LINES, record_layer=self.record_layer)

    def add_chunk(self, chunk: WireChunk, *, hold: bool = False) -> None:
        """Add a chunk's lines. With ``hold``, a command's chunk waits up to ``HOLD_COMMAND_CHUNK`` for its
        reply, so that both arrive as one burst and one frame (coalescing, as toolong's ``can_replace``);
        any later chunk, ``release``, or the timer lets it through, in order."""
        if hold:
            self._held.append(chunk)
            if self._hold_timer is None:
                self._hold_timer = self.set_timer(HOLD_COMMAND_CHUNK, self.release)
            return
        self.release()
        self._add(chunk)

    def release(self) -> None:
        """Put the held chunks in the log (their reply came, the step ended, or they waited enough)."""
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        held, self._held = self._held, []
        for chunk in held:
            self._add(chunk)

    def _add(self, chunk: WireChunk) -> None:
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
        kept = self._lines
        if self._ordered:  # the stage asks on every publish: no walk over 100,000 lines
            first = bisect_left(kept, step, key=_step_of)
            kept = kept[first:bisect_right(kept, step, lo=first, key=_step_of)]
        return tuple(TranscriptLine._make(line) for line in kept if line[4] == step)

    def end_step(self, step: int, elapsed: float | None) -> None:
        """Close a step: flush partial lines and note its time (None: no time shown)."""
        if elapsed is None:
            self._extend(self._transcript.flush())
            return
        self._timings[step] = elapsed
        self._extend(self._transcript.flush() + [self._timing_line(step, elapsed)])

    def toggle_fold(self) -> str:
        """Fold or expand the long messages (``z``); a sentence that says what it did, or why it did nothing."""
        client = [chunk.data for chunk in self._chunks if chunk.direction == Direction.CLIENT]
        data = max(client, key=lambda data: data.count(b"\n"), default=b"")
        folds = data.count(b"\n") > FOLD_LINES  # as the transcript folds: by the chunk's line ends
        longest = data.count(b"\n") - data.endswith(b"\r\n.\r\n")  # the final "." ends the message, no line of it
        if not folds:
            if longest < 2:  # commands are one line each: no message has been sent
                return f"Nothing to fold: no message has been sent yet (messages over {FOLD_LINES} lines fold)."
            return f"Nothing to fold: the message is {longest:,} lines (messages over {FOLD_LINES} lines fold)."
        self.expanded = not self.expanded
        if self.expanded:
            return f"Long messages shown whole: the longest is {longest:,} lines (z folds them again)."
        return f"Long messages folded to their first {FOLD_LINES - 1} lines and their last (z shows them whole)."

    def clear(self) -> None:
        self.release()
        self.unseen = 0
        self._chunks = []
        self._timings = {}
        self._limit = None
        self._rebuild()

    @staticmethod
    def _timing_line(step: int, elapsed: float) -> TranscriptLine:
        return TranscriptLine("timing", "  ·", f"step {step} took {elapsed * 1000:.1f} ms", False, step, 0.0)

    def _extend(self, lines: Iterable[TranscriptLine]) -> None:
        kept = self._lines
        start = len(kept)
        kept.extend(map(tuple, lines))  # type: ignore[arg-type]
        if len(kept) == start:
            return
        if not self._following and self._limit is None:
            self.unseen += len(kept) - start
        if not self._sync_due:
            # Bursts of chunks are coalesced: the lines are kept at once, the scroll and repaint
            # bookkeeping runs once per burst (it cost more than the lines themselves).
            self._sync_due = True
            self.call_later(self._sync)
        width = self._width
        ordered = self._ordered
        last = kept[start - 1][4] if start else None
        for index in range(start, len(kept)):
            _kind, prefix, text, _tls, step, _time, _secret = kept[index]
            width = max(width, len(prefix) + len(text) + 3)
            if ordered and last is not None and step < last:
                ordered = False
            last = step
        self._width = width
        self._ordered = ordered

    _sync_due = False

    @property
    def following(self) -> bool:
        """Whether the log keeps its last line in view as lines come. It changes only when a scroll is asked
        for or the position moves (the user scrolled up, or went back to the end), never when lines come."""
        return self._following

    @following.setter
    def following(self, follow: bool) -> None:
        if follow and self.unseen:
            self.unseen = 0
            self.refresh()  # the marker's row shows a line again
        self._following = follow

    _following = True
    unseen: int = 0
    """Lines that came while the log did not follow (the marker on its last row counts them)."""

    def _sync(self) -> None:
        self._sync_due = False
        self.virtual_size = Size(self._width, len(self._lines))
        if self.following:
            # In the same pass, as Textual's Log does: the next frame, the one after the step, draws the
            # new lines. (A scroll after that refresh showed them one frame later.)
            self._to_end()
        self.refresh()

    def _to_end(self) -> None:
        end = self.max_scroll_y
        if self.scroll_y != end:
            # force: the log that has just outgrown its box has no vertical scrollbar until the next
            # layout, and without one Textual refuses to scroll.
            self.scroll_to(y=end, animate=False, force=True)

    def watch_scroll_target_y(self, target: float) -> None:
        # Decided where a scroll is asked for, not from the position when lines come: a burst before the
        # previous one was drawn (the TLS handshake) found the log "not at its end" and stopped it. And by
        # the target, not the position: lines that come while End's scroll animates must not stop it.
        self.following = target >= self.max_scroll_y

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y:
            self.following = True  # at the end (also when a rebuild made the log shorter than the view)

    def watch_show_horizontal_scrollbar(self, shown: bool) -> None:
        if self.following:
            self._to_end()  # a wide line brought the horizontal scrollbar, which took the last row

    def on_resize(self) -> None:
        if self.following:
            self._to_end()

    def _rebuild(self) -> None:
        self._strips.clear()
        self._transcript = self._new_transcript()
        self._lines = []
        self._ordered = True
        self._width = 0
        chunks = self._chunks if self._limit is None else self._chunks[: self._limit]
        unseen = self.unseen  # the same lines again, drawn another way: none of them is new
        self._extend(self._replay(chunks))  # line by line: an expanded 25 MB message is never in two lists
        self.unseen = unseen
        self._sync()

    def _replay(self, chunks: list[WireChunk]) -> Iterator[TranscriptLine]:
        step = None
        for chunk in chunks:
            if step is not None and chunk.step != step and step in self._timings:
                yield from self._transcript.flush()
                yield self._timing_line(step, self._timings[step])
            step = chunk.step
            yield from self._transcript.iter_feed(chunk)
        yield from self._transcript.flush()
        if step is not None and step in self._timings:
            yield self._timing_line(step, self._timings[step])

    def watch_style_name(self) -> None:
        self._rebuild()

    def watch_show_secrets(self) -> None:
        self._rebuild()

    def watch_crlf_marks(self) -> None:
        self._rebuild()

    def watch_record_layer(self) -> None:
        self._rebuild()

    def watch_expanded(self) -> None:
        self._rebuild()

    # -- drawing ---------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        self._strips.clear()  # a theme or CSS change: the kept strips carry the old colours
        super().notify_style_update()

    def _style_for(self, kind: str) -> Style:
        return self.get_component_rich_style(f"wire-log--{kind}", partial=True)

    def marker(self) -> str | None:
        """The words of the row that says lines wait below, while it shows."""
        if self._following or not self.unseen:
            return None
        lines = "line" if self.unseen == 1 else "lines"
        return f" ▼ {self.unseen:,} new {lines} below · End follows "

    def on_click(self, event: events.Click) -> None:
        if self.marker() is not None and event.y == self.scrollable_content_region.height - 1:
            self.scroll_end(animate=False)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        marker = self.marker() if y == self.scrollable_content_region.height - 1 else None
        if marker is not None:
            style = base + self._style_for("tls") + Style(reverse=True, bold=True)
            return Strip([Segment(marker.center(width), style)]).crop_extend(0, width, base)
        if index >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strips[index] = self._draw(index, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, index)

    def _draw(self, index: int, base: Style) -> Strip:
        kind, prefix, text, tls, _step, _time, secret = self._lines[index]
        style = base + self._style_for(kind)
        wire = kind in ("client", "server")
        gutter = Segment(TLS_GUTTER if tls and wire else " ", base + self._style_for("tls"))
        segments = [gutter, Segment(f"{prefix} ", style + Style(bold=wire))]
        if secret and not self.show_secrets and "********" in text:
            before, _, after = text.partition("********")
            segments += [Segment(before, style), Segment("********", base + self._style_for("secret")),
                         Segment(after, style)]
        else:
            segments.append(Segment(text, style))
        return Strip(segments)
