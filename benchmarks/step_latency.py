"""Step latency inside the app, key press to the reply's wire-log line and to the next frame.

The app runs headless (``run_test``) against the built-in server (``LocalServer`` in its own thread,
as the app runs it). Before each measured press a NOOP is put at the head of the queue (untimed), then
``space`` is pressed. Timestamps are taken inside the app, not around ``pilot.press`` (whose idle
waits add about 80 ms):

- press: the App receives the Key event (``App.on_event``);
- line: ``WireLog.add_chunk`` has appended the server's reply;
- frame: the end of the first compositor refresh that drew that line (``WireLog.render_line`` was
  asked for it), including the terminal output a real terminal would get (headless Textual skips
  it, so it is rendered here and thrown away).

The reference is a minimal Textual app in the same process: the same key starts a worker that sends
NOOP over asyncio streams to the same server and writes the reply with ``Log.write_line``. A third
row runs smtpstep against ``smtpstep serve`` in another process, to show how much of the latency is
the in-process server waiting for the UI thread to let go of the GIL (a diagnostic: it gets every
other block, so half the presses). Blocks of presses alternate between the three. The NOOP's write is also timed, which splits each latency into the app's share
(press to NOOP written) and the round trip's (NOOP written to line).

Goal: p95 <= 5 ms to the line and <= 25 ms to the frame.

    .venv/bin/python benchmarks/step_latency.py          # 200 presses each (about 2-3 minutes)
    .venv/bin/python benchmarks/step_latency.py --full   # 600 presses each
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from harness import BuiltinServer, Stats, markdown, report, scratch_dir
from textual import events, work
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Log

from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.wire_log import WireLog
from smtpstep.protocol.server.server import LocalServer
from smtpstep.protocol.transport.wire import Direction

BLOCK = 20
"""Presses per block before switching to the other app."""


class Clock:
    """Timestamps of the press being measured, filled in by the wrappers below."""

    def __init__(self) -> None:
        self.press: float | None = None
        self.sent: float | None = None
        self.line: float | None = None
        self.line_index = -1
        self.drawn = False
        self.frame: float | None = None
        self.frame_costs: list[float] = []
        self.collections: list[tuple[int, float, float]] = []
        """Every cycle collection in the run: (generation, start, end)."""
        self._collecting: tuple[int, float] | None = None

    def on_gc(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._collecting = (info["generation"], now)
        elif self._collecting is not None:
            generation, start = self._collecting
            self.collections.append((generation, start, now))
            self._collecting = None

    def arm(self) -> None:
        self.press = self.sent = self.line = self.frame = None
        self.line_index = -1
        self.drawn = False


CLOCK = Clock()


def instrument(widget_class: type) -> None:
    """Wrap Textual's key handling, the compositor refresh and ``widget_class.render_line``."""
    original_on_event = App.on_event

    async def on_event(self: App, event: events.Event) -> None:
        if isinstance(event, events.Key) and event.key == "space" and CLOCK.press is None:
            CLOCK.press = time.perf_counter()
        await original_on_event(self, event)

    App.on_event = on_event  # type: ignore[method-assign]

    original_refresh = Screen._compositor_refresh

    def compositor_refresh(self: Screen) -> None:
        start = time.perf_counter()
        original_refresh(self)
        end = time.perf_counter()
        CLOCK.frame_costs.append(end - start)
        if CLOCK.line is not None and CLOCK.drawn and CLOCK.frame is None:
            CLOCK.frame = end

    Screen._compositor_refresh = compositor_refresh  # type: ignore[method-assign]

    original_display = App._display

    def display(self: App, screen: Screen, renderable) -> None:  # type: ignore[no-untyped-def]
        # Headless Textual skips turning the update into terminal output; do it, as a terminal would.
        if self.is_headless and renderable is not None and hasattr(renderable, "render_segments"):
            renderable.render_segments(self.console)
        original_display(self, screen, renderable)

    App._display = display  # type: ignore[method-assign]

    original_render_line = widget_class.render_line

    def render_line(self, y: int):  # type: ignore[no-untyped-def]
        if CLOCK.line_index >= 0 and self.scroll_offset.y + y == CLOCK.line_index:
            CLOCK.drawn = True
        return original_render_line(self, y)

    widget_class.render_line = render_line  # type: ignore[method-assign]


def instrument_writes() -> None:
    """Note when the NOOP is written: splits the latency into the app's share and the round trip's."""
    original_write = asyncio.StreamWriter.write

    def write(self: asyncio.StreamWriter, data: bytes) -> None:
        original_write(self, data)
        # bytes(...[:4]): the transport may write memoryview slices of a larger buffer.
        if CLOCK.press is not None and CLOCK.sent is None and bytes(data[:4]) == b"NOOP":
            CLOCK.sent = time.perf_counter()

    asyncio.StreamWriter.write = write  # type: ignore[method-assign]


def instrument_wire_log() -> None:
    original_add_chunk = WireLog.add_chunk

    def add_chunk(self: WireLog, chunk) -> None:  # type: ignore[no-untyped-def]
        original_add_chunk(self, chunk)
        if chunk.direction == Direction.SERVER and CLOCK.press is not None and CLOCK.line is None:
            CLOCK.line = time.perf_counter()
            CLOCK.line_index = len(self.lines) - 1

    WireLog.add_chunk = add_chunk  # type: ignore[method-assign]


class ReferenceApp(App):
    """A minimal stepper: space sends NOOP in a worker and writes the reply to a Log."""

    CSS = "Log { height: 1fr; border: round $primary; }"
    BINDINGS = [("space", "step", "Step")]

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def compose(self) -> ComposeResult:
        yield Log(id="log")

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        greeting = await self.reader.readline()
        self.query_one(Log).write_line("S: " + greeting.decode().rstrip())

    def action_step(self) -> None:
        self.noop()

    @work(exclusive=True, group="step")
    async def noop(self) -> None:
        assert self.reader is not None and self.writer is not None
        log = self.query_one(Log)
        log.write_line("C: NOOP")
        self.writer.write(b"NOOP\r\n")
        reply = await self.reader.readline()
        log.write_line("S: " + reply.decode().rstrip())
        if CLOCK.press is not None and CLOCK.line is None:
            CLOCK.line = time.perf_counter()
            CLOCK.line_index = log.line_count - 1


async def wait_for_frame(pilot, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while CLOCK.frame is None and time.monotonic() < deadline:
        await pilot.pause(0.005)
    return CLOCK.frame is not None


async def smtpstep_block(server: LocalServer | None, presses: int, out: dict[str, list[float]],
                         external: str | None = None) -> None:
    """``server``: the built-in server in this process (as the app runs it); ``external``: host:port of a
    server in another process (then the app's UI thread shares the GIL with nobody)."""
    if external is None:
        settings = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                                   password="classroom")
    else:
        settings = SessionSettings(server=external, security="none", ca_file=None, insecure=False, user=None,
                                   password=None)
    app = SmtpStepApp(settings, server=server if external is None else None, timings=False)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(3):  # connect, greeting, EHLO
            await pilot.press("space")
            while app.busy:
                await pilot.pause(0.01)
        assert app.stepper is not None
        for _ in range(presses):
            app.stepper.insert(0, "NOOP")
            app.publish()
            await pilot.pause()
            CLOCK.arm()
            await pilot.press("space")
            if await wait_for_frame(pilot):
                record(out)
            while app.busy:
                await pilot.pause(0.005)
        await app.stepper.close()


async def reference_block(port: int, presses: int, out: dict[str, list[float]]) -> None:
    app = ReferenceApp(port)
    async with app.run_test(size=(120, 36)) as pilot:
        await app.connect()
        await pilot.pause()
        for _ in range(presses):
            CLOCK.arm()
            await pilot.press("space")
            if await wait_for_frame(pilot):
                record(out)
            await pilot.pause(0.005)
        app.writer.close()  # type: ignore[union-attr]


def record(out: dict[str, list[float]]) -> None:
    assert CLOCK.press is not None and CLOCK.line is not None and CLOCK.frame is not None
    out["line"].append(CLOCK.line - CLOCK.press)
    out["frame"].append(CLOCK.frame - CLOCK.press)
    if CLOCK.sent is not None:
        out.setdefault("sent", []).append(CLOCK.sent - CLOCK.press)
        out.setdefault("sent to line", []).append(CLOCK.line - CLOCK.sent)
    # Cycle collections that ran between the press and its frame (collections run at the end of the run's
    # list, so only the last few are looked at).
    inside = [end - start for _gen, start, end in CLOCK.collections[-20:] if start >= CLOCK.press and end <= CLOCK.frame]
    out.setdefault("gc inside", []).append(sum(inside))


SMTPSTEP = "smtpstep (built-in server in its thread, as shipped)"
SMTPSTEP_EXTERNAL = "smtpstep (server in another process)"
REFERENCE = "reference (Log + asyncio, same in-thread server)"


async def measure(presses: int, external: str) -> dict[str, dict[str, list[float]]]:
    instrument(WireLog)
    instrument(Log)
    instrument_wire_log()
    instrument_writes()
    gc.callbacks.append(CLOCK.on_gc)
    server = LocalServer()
    server.start_in_thread()
    results: dict[str, dict[str, list[float]]] = {name: {"line": [], "frame": []}
                                                   for name in (SMTPSTEP, SMTPSTEP_EXTERNAL, REFERENCE)}
    blocks = {
        SMTPSTEP: lambda n, out: smtpstep_block(server, n, out),
        SMTPSTEP_EXTERNAL: lambda n, out: smtpstep_block(None, n, out, external=external),
        REFERENCE: lambda n, out: reference_block(server.ports["plain"], n, out),
    }
    try:
        for run in blocks.values():  # warm-up: one short block each, not kept
            await run(5, {"line": [], "frame": []})
        done = 0
        while done < presses:
            block = min(BLOCK, presses - done)
            for name, run in blocks.items():
                if name == SMTPSTEP_EXTERNAL and (done // BLOCK) % 2:
                    continue  # a diagnostic row: every other block is enough (half the presses)
                costs_before = len(CLOCK.frame_costs)
                collections_before = len(CLOCK.collections)
                await run(block, results[name])
                results[name].setdefault("frame cost", []).extend(CLOCK.frame_costs[costs_before:])
                results[name].setdefault("full collection", []).extend(
                    end - start for generation, start, end in CLOCK.collections[collections_before:] if generation == 2)
            done += block
            print(f"  {done}/{presses} presses each", flush=True)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, server.stop_thread)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="600 presses each instead of 200")
    parser.add_argument("--presses", type=int)
    args = parser.parse_args()
    presses = args.presses or (600 if args.full else 200)
    with BuiltinServer(scratch_dir() / "maildir") as other:
        results = asyncio.run(measure(presses, f"127.0.0.1:{other.ports['plain']}"))
    rows, data = [], {}
    for app, series in results.items():
        for what in ("line", "frame", "sent", "sent to line"):
            stats = Stats.of(series[what])
            label = {"sent": "press to NOOP written", "sent to line": "NOOP written to line"}.get(what, f"press to {what}")
            rows.append([app, label, stats.n, f"{stats.median * 1000:.2f}", f"{stats.p95 * 1000:.2f}",
                         f"{stats.low * 1000:.2f}-{stats.high * 1000:.2f}"])
            data[f"{app}/{what}"] = stats.as_dict()
        for what, label in (("frame cost", "one compositor refresh (any)"),
                            ("full collection", "one full cycle collection (gc generation 2, any)")):
            cost = Stats.of(series.get(what, []))
            rows.append([app, label, cost.n, f"{cost.median * 1000:.2f}",
                         f"{cost.p95 * 1000:.2f}", f"{cost.low * 1000:.2f}-{cost.high * 1000:.2f}"])
            data[f"{app}/{what}"] = cost.as_dict()
        inside = series.get("gc inside", [])
        hit = [value for value in inside if value > 0]
        rows.append([app, "presses with a collection before their frame", f"{len(hit)} of {len(inside)}",
                     "", "", f"{min(hit) * 1000:.2f}-{max(hit) * 1000:.2f}" if hit else ""])
        data[f"{app}/gc inside"] = Stats.of(inside).as_dict() | {"presses hit": len(hit)}
    report("step_latency", "4. Step latency inside the app: NOOP round trip, key press to wire-log line and to frame",
           [markdown(["app", "interval", "n", "p50 ms", "p95 ms", "min-max ms"], rows)],
           {"presses": presses, "results": data},
           ["goal: p95 <= 5 ms to the line, <= 25 ms to the frame",
            f"objects the cycle collector tracks at the end of the run: {len(gc.get_objects()):,} "
            f"(frozen: {gc.get_freeze_count():,}); collections per generation: "
            + ", ".join(f"{stats['collections']}" for stats in gc.get_stats())])


if __name__ == "__main__":
    main()
