"""The order of work in a step: the command goes out before the screen changes.

A press must write the command before anything is published: a publish re-renders panes and the
reply would wait behind that frame. A step that answers at once is published once, after its reply;
a slow one is marked busy after a moment, and its command line is in the wire log while it waits.
The wire log scrolls to its new lines before the next frame, so that frame shows them; it keeps
following through bursts of lines, and stays where the user scrolled.
These are order and behaviour checks; the latency itself is measured in benchmarks/step_latency.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.stepping import BUSY_SHOWN_AFTER
from smtpstep.app.widgets.state_pane import StatePane
from smtpstep.app.widgets.wire_log import HOLD_COMMAND_CHUNK, WireLog
from smtpstep.protocol.transport.wire import Direction, WireChunk
from tests.support.stalling_server import stalls_after_greeting
from tests.support.waiting import STEP_TIMEOUT, started, step, wait_for_step, wait_for_view

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                          password="classroom")


def _record_order(app: SmtpStepApp) -> list[tuple[str, object]]:
    """Wrap the app's publish and its wire listener (before the stepper exists) to log their order."""
    events: list[tuple[str, object]] = []
    publish, on_chunk = app.publish, app.take_chunk  # the order of the app's own work is the subject

    def recording_publish(*, after_step: bool = False) -> None:
        events.append(("publish", app.busy))
        publish(after_step=after_step)

    def recording_on_chunk(chunk: WireChunk) -> None:
        events.append(("chunk", chunk.direction))
        on_chunk(chunk)

    app.publish = recording_publish  # type: ignore[method-assign]
    app.take_chunk = recording_on_chunk  # type: ignore[method-assign]
    return events


async def test_a_step_writes_its_command_before_anything_is_published(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    events = _record_order(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=2)  # connect, greeting
        assert app.stepper is not None and app.stepper.head is not None
        assert app.stepper.head.label.startswith("EHLO")
        events.clear()
        await step(pilot)
        assert events[0] == ("chunk", Direction.CLIENT), events
        publishes = [event for event in events if event[0] == "publish"]
        # The built-in server answers within the busy delay: one publish, after the reply, with no busy mark.
        assert publishes == [("publish", None)], events
        assert events.index(("chunk", Direction.SERVER)) < events.index(("publish", None))
        wire = app.wire_log.plain_lines()
        ehlo = next(i for i, line in enumerate(wire) if line.startswith("C: EHLO"))
        assert wire[ehlo + 1].startswith("S: 250"), wire


async def test_a_slow_step_is_marked_busy_and_shows_its_command_while_it_waits() -> None:
    assert HOLD_COMMAND_CHUNK < BUSY_SHOWN_AFTER < 0.3
    async with stalls_after_greeting() as port:
        settings = replace(BUILTIN, server=f"127.0.0.1:{port}", security="none", user=None, password=None,
                           timeout=20)
        app = SmtpStepApp(settings)
        events = _record_order(app)
        async with app.run_test(size=(120, 36)) as pilot:
            await started(app)
            await step(pilot, times=2)  # connect, greeting
            events.clear()
            await pilot.press("space")  # EHLO: the server never answers
            await wait_for_view(app, lambda view: view.busy is not None)  # marked busy after a moment
            assert app.busy and app.busy.startswith("EHLO")
            assert ("publish", app.busy) in events  # the busy view was published after the command went out
            assert events[0] == ("chunk", Direction.CLIENT), events
            assert any(line.startswith("C: EHLO") for line in app.wire_log.plain_lines())
            title = app.screen.query_one(StatePane).content.renderables[0]  # the pane's first line
            assert "running: EHLO" in title.plain
            assert "Esc cancels" in str(app.screen.query_one("#header").render())
            view = await wait_for_step(app, pilot.press("escape"))
            assert view.busy is None and app.session_view is not None and app.session_view.busy is None


async def test_the_wire_log_stays_at_its_end_through_the_tls_handshake_at_80x24() -> None:
    # With no frame between the handshake's bursts of lines, the log once stopped following at step 5.
    # The app runs its own built-in server in a thread, as shipped: the race showed with that timing.
    app = SmtpStepApp(BUILTIN)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        for number in range(1, 9):  # connect, greeting, EHLO, STARTTLS, handshake, EHLO, AUTH, MAIL
            await step(pilot)
            await pilot.pause()  # the frame after the step
            wire = app.wire_log
            assert wire.scroll_y == wire.max_scroll_y, (number, wire.scroll_y, wire.max_scroll_y)
        assert wire.max_scroll_y > 0


class _LogHost(App[None]):
    CSS = "WireLog { height: 1fr; width: 40; }"

    def compose(self) -> ComposeResult:
        yield WireLog()


def _exchange(log: WireLog, step: int, command: bytes = b"NOOP") -> None:
    log.add_chunk(WireChunk(Direction.CLIENT, command + b"\r\n", False, 0.0, step))
    log.add_chunk(WireChunk(Direction.SERVER, b"250 2.0.0 OK\r\n", False, 0.0, step))


async def test_bursts_that_come_before_a_frame_keep_the_log_at_its_end() -> None:
    # The command's burst and the reply's come a few loop turns apart, with no frame between (as in the
    # TLS handshake); one wide line brings the horizontal scrollbar, which takes the last row.
    for turns in (0, 1, 3):
        app = _LogHost()
        async with app.run_test(size=(60, 12)) as pilot:
            log = app.query_one(WireLog)
            for step in range(40):
                wide = b" " + b"x" * 60 if step == 20 else b""
                log.add_chunk(WireChunk(Direction.CLIENT, b"NOOP" + wide + b"\r\n", False, 0.0, step))
                for _ in range(turns):
                    await asyncio.sleep(0)
                log.add_chunk(WireChunk(Direction.SERVER, b"250 2.0.0 OK\r\n", False, 0.0, step))
                await pilot.pause(0.02)
                assert log.scroll_y == log.max_scroll_y, (turns, step, log.scroll_y, log.max_scroll_y)
            assert log.max_scroll_y > 40 and log.show_horizontal_scrollbar


async def test_the_first_frame_after_new_lines_shows_the_last_of_them() -> None:
    app = _LogHost()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(WireLog)
        for step in range(30):
            _exchange(log, step)
        await pilot.pause()  # drawn: what follows is the next frame's work
        frames: list[set[int]] = []
        """The log's rows drawn in each frame: the compositor asks a widget for its lines once a frame."""
        drew = asyncio.Event()
        render_lines, render_line = log.render_lines, log.render_line

        def recording_render_lines(crop: Region) -> list[Strip]:
            frames.append(set())
            strips = render_lines(crop)
            if frames[-1]:
                drew.set()
            return strips

        def recording_render_line(y: int) -> Strip:
            if frames:
                frames[-1].add(log.scroll_offset.y + y)
            return render_line(y)

        log.render_lines = recording_render_lines  # type: ignore[method-assign]
        log.render_line = recording_render_line  # type: ignore[method-assign]
        _exchange(log, 30)
        await asyncio.wait_for(drew.wait(), STEP_TIMEOUT)  # a frame drew the log (a hang fails the test)
        first = next(rows for rows in frames if rows)
        assert len(log.lines) - 1 in first, (len(log.lines), sorted(first))


async def test_a_log_scrolled_up_stays_there_and_follows_again_from_its_end() -> None:
    app = _LogHost()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(WireLog)
        for step in range(30):
            _exchange(log, step)
        await pilot.pause()
        log.focus()
        await pilot.press("pageup", "up")
        where = log.scroll_y
        assert 0 < where < log.max_scroll_y
        for step in range(30, 40):
            _exchange(log, step)
            await pilot.pause()
        assert log.scroll_y == where  # the user reads on, undisturbed
        app.animation_level = "full"
        log.action_scroll_end()  # End's action, whose scroll animates for a second: lines come meanwhile
        await pilot.pause()
        for step in range(40, 50):
            _exchange(log, step)
            await pilot.pause()
            assert log.scroll_y == log.max_scroll_y, step
        await pilot.press("down")  # at the end already: nothing moves, and it still follows
        _exchange(log, 50)
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
