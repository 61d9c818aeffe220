"""The order of work in a step (issue 8, item 4): the command goes out before the screen changes.

A press must write the command before anything is published: a publish re-renders panes and the
reply would wait behind that frame. A step that answers at once is published once, after its reply;
a slow one is marked busy after a moment, and its command line is in the wire log while it waits.
These are order and behaviour checks; the latency itself is measured in benchmarks/step_latency.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from app.options import SessionSettings
from app.tui import BUSY_SHOWN_AFTER, HOLD_COMMAND_CHUNK, SmtpStepApp
from app.widgets.state_pane import StatePane
from protocol.transport import Direction, WireChunk

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                          password="classroom")


def _record_order(app: SmtpStepApp) -> list[tuple[str, object]]:
    """Wrap the app's publish and its wire listener (before the stepper exists) to log their order."""
    events: list[tuple[str, object]] = []
    publish, on_chunk = app._publish, app._on_chunk  # noqa: SLF001 - the order of the app's own work is the subject

    def recording_publish(*, after_step: bool = False) -> None:
        events.append(("publish", app._busy))  # noqa: SLF001
        publish(after_step=after_step)

    def recording_on_chunk(chunk: WireChunk) -> None:
        events.append(("chunk", chunk.direction))
        on_chunk(chunk)

    app._publish = recording_publish  # type: ignore[method-assign]  # noqa: SLF001
    app._on_chunk = recording_on_chunk  # type: ignore[method-assign]  # noqa: SLF001
    return events


async def _settle(pilot, app: SmtpStepApp) -> None:  # type: ignore[no-untyped-def]
    for _ in range(300):
        await pilot.pause()
        if not app._busy:  # noqa: SLF001
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the step did not finish")


async def test_a_step_writes_its_command_before_anything_is_published(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    events = _record_order(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        for _ in range(2):  # connect, greeting
            await pilot.press("space")
            await _settle(pilot, app)
        assert app.stepper is not None and app.stepper.head is not None
        assert app.stepper.head.label.startswith("EHLO")
        events.clear()
        await pilot.press("space")
        await _settle(pilot, app)
        assert events[0] == ("chunk", Direction.CLIENT), events
        publishes = [event for event in events if event[0] == "publish"]
        # The built-in server answers within the busy delay: one publish, after the reply, with no busy mark.
        assert publishes == [("publish", None)], events
        assert events.index(("chunk", Direction.SERVER)) < events.index(("publish", None))
        wire = app.wire_log.plain_lines()
        ehlo = next(i for i, line in enumerate(wire) if line.startswith("C: EHLO"))
        assert wire[ehlo + 1].startswith("S: 250"), wire


@asynccontextmanager
async def stalls_after_greeting() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 slow.test ESMTP\r\n")
        await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_slow_step_is_marked_busy_and_shows_its_command_while_it_waits() -> None:
    assert HOLD_COMMAND_CHUNK < BUSY_SHOWN_AFTER < 0.3
    async with stalls_after_greeting() as port:
        settings = replace(BUILTIN, server=f"127.0.0.1:{port}", security="none", user=None, password=None,
                           timeout=20)
        app = SmtpStepApp(settings)
        events = _record_order(app)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            for _ in range(2):  # connect, greeting
                await pilot.press("space")
                await _settle(pilot, app)
            events.clear()
            await pilot.press("space")  # EHLO: the server never answers
            await asyncio.sleep(0.4)
            await pilot.pause()
            assert app._busy  # noqa: SLF001
            assert ("publish", app._busy) in events  # noqa: SLF001 - the busy view was published after the delay
            assert events[0] == ("chunk", Direction.CLIENT), events
            assert any(line.startswith("C: EHLO") for line in app.wire_log.plain_lines())
            title = app.screen.query_one(StatePane).content.renderables[0]  # the pane's first line
            assert "running: EHLO" in title.plain
            assert "Esc cancels" in str(app.screen.query_one("#header").render())
            await pilot.press("escape")
            await _settle(pilot, app)
            assert app.session_view is not None and app.session_view.busy is None


async def test_the_wire_log_stays_at_its_end_through_the_tls_handshake_at_80x24() -> None:
    # With no frame between the handshake's bursts of lines, the log once stopped following at step 5.
    # The app runs its own built-in server in a thread, as shipped: the race showed with that timing.
    app = SmtpStepApp(BUILTIN)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(500):
            await pilot.pause(0.01)
            if app.stepper is not None:
                break
        assert app.stepper is not None, "the built-in server did not start"
        for step in range(1, 9):  # connect, greeting, EHLO, STARTTLS, handshake, EHLO, AUTH, MAIL
            await pilot.press("space")
            await _settle(pilot, app)
            await pilot.pause()
            wire = app.wire_log
            assert wire.scroll_y == wire.max_scroll_y, (step, wire.scroll_y, wire.max_scroll_y)
        assert wire.max_scroll_y > 0
