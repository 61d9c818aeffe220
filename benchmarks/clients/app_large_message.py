"""Child process for benchmarks/large_message.py: the TUI (headless) sends one large message.

Usage: app_large_message.py BYTES [HOST:PORT CA]

The app runs on its built-in server (in its own thread, as in class), or, given HOST:PORT and the
server's CA file, against a server in another process (an ``smtpstep serve``), so that the RSS is the
client's alone. The session is stepped up to
the message with ``g``-like steps, then the message step is timed. While it runs, a 10 ms heartbeat
timer on the app's event loop records how late it fires (the longest time the UI could not draw) and
every screen update is timed. Prints one JSON line: the message step's time, the longest heartbeat
gap, the longest and p95 frame, and the process's peak RSS (client and built-in server share it).
"""
import asyncio
import json
import sys
import time
from pathlib import Path

SIZE = int(sys.argv[1])
SERVER, CA = (sys.argv[2], Path(sys.argv[3])) if len(sys.argv) > 3 else (None, None)

from textual.app import App  # noqa: E402
from textual.screen import Screen  # noqa: E402

from smtpstep.app.session.settings import SessionSettings  # noqa: E402
from smtpstep.app.stepper_app import SmtpStepApp  # noqa: E402
from smtpstep.protocol.commands import Verb  # noqa: E402

FRAMES: list[float] = []
_original_update = Screen._on_timer_update
_original_display = App._display


def _timed_update(self: Screen) -> None:
    start = time.perf_counter()
    _original_update(self)
    FRAMES.append(time.perf_counter() - start)


def _display(self: App, screen: Screen, renderable) -> None:  # type: ignore[no-untyped-def]
    if self.is_headless and renderable is not None and hasattr(renderable, "render_segments"):
        renderable.render_segments(self.console)
    _original_display(self, screen, renderable)


Screen._on_timer_update = _timed_update  # type: ignore[method-assign]
App._display = _display  # type: ignore[method-assign]


def status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def body(size: int) -> str:
    line = "The quick brown fox jumps over the lazy dog while the class watches each SMTP step.\n"
    return (line * (size // len(line) + 1))[:size]


async def main() -> dict:
    settings = SessionSettings(server=SERVER, security="starttls", ca_file=CA, insecure=False, user="student",
                               password="classroom", body=body(SIZE))
    app = SmtpStepApp(settings, timings=False)
    async with app.run_test(size=(120, 36)) as pilot:
        while app.stepper is None:
            await pilot.pause(0.05)
        # Step up to the message (connect ... DATA), untimed.
        while app.stepper.head is not None and app.stepper.head.verb != Verb.MESSAGE:
            await pilot.press("space")
            while app.busy:
                await pilot.pause(0.01)
        idle_rss = status_kib("VmRSS")
        gaps: list[float] = []
        last = [time.perf_counter()]

        def beat() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = app.set_interval(0.01, beat)
        FRAMES.clear()
        start = time.perf_counter()
        await pilot.press("space")
        while True:
            await pilot.pause(0.01)
            if not app.busy:
                break
        elapsed = time.perf_counter() - start
        timer.stop()
        reply = app.stepper.history[-1].answers[-1].reply.first_line if app.stepper.history[-1].answers else "?"
        frames = sorted(FRAMES)
        await app.stepper.close()
    return {"bytes": SIZE, "server": SERVER or "built-in", "message_step_s": elapsed, "reply": reply, "max_loop_gap_s": max(gaps, default=0.0),
            "max_frame_s": frames[-1] if frames else 0.0,
            "p95_frame_s": frames[int(0.95 * (len(frames) - 1))] if frames else 0.0, "frames": len(frames),
            "idle_rss_kib": idle_rss, "peak_rss_kib": status_kib("VmHWM")}


print(json.dumps(asyncio.run(main())))
