"""Child process for benchmarks/wire_log_scale.py: one log widget, N lines, then scrolling.

Usage: wire_log_child.py WIDGET LINES      WIDGET: wirelog | richlog | log-write-line | log-write-lines

Runs a one-widget app headless (120x36), measures the RSS it adds while N lines go in (one wire
chunk, ``write`` or ``write_line`` call per line; ``log-write-lines`` is one ``write_lines`` call),
the time of the calls and until the app is idle again, then frame times while scrolling (60 random
jumps and 60 page-downs; a frame is one screen update, layout and compositor and the terminal output
a real terminal would get), and the garbage collector's pauses while scrolling, with the objects it
tracks: those a full collection walks and those frozen out of its way. Prints one JSON line.
"""
import asyncio
import gc
import json
import random
import sys
import time
from pathlib import Path

WIDGET, LINES = sys.argv[1], int(sys.argv[2])


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


from textual.app import App, ComposeResult  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import Log, RichLog  # noqa: E402

from smtpstep.app.widgets.wire_log import WireLog  # noqa: E402
from smtpstep.protocol.transport.wire import Direction, WireChunk  # noqa: E402

FRAMES: list[float] = []
GC_PAUSES: list[tuple[int, float]] = []
_gc_start = [0.0]


def _gc_callback(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_start[0] = time.perf_counter()
    else:
        GC_PAUSES.append((info["generation"], time.perf_counter() - _gc_start[0]))


gc.callbacks.append(_gc_callback)
_original_update = Screen._on_timer_update
_original_display = App._display


def _timed_update(self: Screen) -> None:
    start = time.perf_counter()
    _original_update(self)
    FRAMES.append(time.perf_counter() - start)


def _display(self: App, screen: Screen, renderable) -> None:  # type: ignore[no-untyped-def]
    if self.is_headless and renderable is not None and hasattr(renderable, "render_segments"):
        renderable.render_segments(self.console)  # what a real terminal would be sent
    _original_display(self, screen, renderable)


Screen._on_timer_update = _timed_update  # type: ignore[method-assign]
App._display = _display  # type: ignore[method-assign]


def wire_lines(n: int) -> list:
    """n one-line chunks, as a long session of NOOPs and replies would make."""
    chunks = []
    for i in range(n):
        if i % 2 == 0:
            chunks.append(WireChunk(Direction.CLIENT, f"NOOP step {i} of a long lesson\r\n".encode(), i % 7 > 2,
                                    i * 0.001, i))
        else:
            chunks.append(WireChunk(Direction.SERVER, f"250 2.0.0 OK (reply {i}, nothing to do)\r\n".encode(),
                                    i % 7 > 2, i * 0.001, i))
    return chunks


def text_lines(n: int) -> list[str]:
    return [f"C: NOOP step {i} of a long lesson" if i % 2 == 0 else f"S: 250 2.0.0 OK (reply {i}, nothing to do)"
            for i in range(n)]


class OneWidget(App):
    CSS = "#log { height: 1fr; }"

    def compose(self) -> ComposeResult:
        if WIDGET == "wirelog":
            yield WireLog(id="log")
        elif WIDGET == "richlog":
            yield RichLog(id="log", max_lines=None)
        else:
            yield Log(id="log")


async def main() -> dict:
    payload = wire_lines(LINES) if WIDGET == "wirelog" else text_lines(LINES)
    app = OneWidget()
    async with app.run_test(size=(120, 36)) as pilot:
        widget = app.query_one("#log")
        await pilot.pause()
        gc.collect()
        before = rss_kib()
        start = time.perf_counter()
        if WIDGET == "wirelog":
            for chunk in payload:
                widget.add_chunk(chunk)
        elif WIDGET == "richlog":
            for line in payload:
                widget.write(line)
        elif WIDGET == "log-write-line":
            for line in payload:
                widget.write_line(line)
        else:
            widget.write_lines(payload)
        calls = time.perf_counter() - start
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        settled = time.perf_counter() - start
        del payload
        gc.collect()
        if WIDGET == "wirelog":
            # What the app does (SmtpStepApp._freeze_heap, every 200 steps and after start): 100k lines of
            # a session are thousands of steps there, so its collector never walks more than ~200 steps'
            # worth of new objects. The widget alone here has no steps, so the freeze is applied once.
            gc.freeze()
        after = rss_kib()
        walked = len(gc.get_objects())  # what a full collection walks
        frozen = gc.get_freeze_count()  # tracked, but set aside by gc.freeze() (the app's policy, above)
        line_count = len(widget.lines) if hasattr(widget, "lines") else widget.line_count
        # Scrolling: random jumps, then page-downs from the top.
        rng = random.Random(8)
        FRAMES.clear()
        GC_PAUSES.clear()
        height = max(1, widget.max_scroll_y)
        jump_frames, page_frames = [], []
        for _ in range(60):
            mark = len(FRAMES)
            widget.scroll_to(y=rng.randrange(height + 1), animate=False)
            await pilot.pause()
            jump_frames.append(sum(FRAMES[mark:]))
        widget.scroll_home(animate=False)
        await pilot.pause()
        for _ in range(60):
            mark = len(FRAMES)
            widget.scroll_page_down(animate=False)
            await pilot.pause()
            page_frames.append(sum(FRAMES[mark:]))
        worst_single = max(FRAMES) if FRAMES else 0.0
        gc_pauses = [pause for _, pause in GC_PAUSES]
        gc_full = [pause for generation, pause in GC_PAUSES if generation == 2]
    return {"widget": WIDGET, "lines": LINES, "kept_lines": line_count, "rss_added_kib": after - before,
            "calls_s": calls, "settled_s": settled, "jump_frames_s": jump_frames, "page_frames_s": page_frames,
            "worst_frame_s": worst_single, "gc_max_pause_s": max(gc_pauses, default=0.0),
            "gc_full_collections": len(gc_full), "gc_full_max_s": max(gc_full, default=0.0),
            "gc_tracked_objects": walked + frozen, "gc_walked_objects": walked, "gc_frozen_objects": frozen}


print(json.dumps(asyncio.run(main())))
