"""The wire log at scale: 100,000 lines all kept, in order, and as the transcript makes them; a long
log does not give the cycle collector 100,000 more objects to walk (and leaves gc.freeze to the app);
a big message is folded."""

from __future__ import annotations

import gc

from textual.app import App, ComposeResult

from smtpstep.app.session.transcript import Transcript
from smtpstep.app.widgets.wire_log import FOLD_LINES, WireLog
from smtpstep.protocol.transport.wire import Direction, WireChunk

LINES = 100_000


class _Host(App[None]):
    CSS = "WireLog { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield WireLog()


def _session(n: int) -> list[WireChunk]:
    """n one-line chunks, as a long session of NOOPs and their replies makes them."""
    return [WireChunk(Direction.CLIENT, b"NOOP %d\r\n" % i, i % 3 == 0, i * 0.001, i // 2) if i % 2 == 0 else
            WireChunk(Direction.SERVER, b"250 2.0.0 OK %d\r\n" % i, i % 3 == 0, i * 0.001, i // 2) for i in range(n)]


async def test_a_hundred_thousand_lines_are_all_kept_in_order_and_survive_a_rebuild():
    chunks = _session(LINES)
    expected = [line.plain() for line in Transcript(fold_lines=FOLD_LINES).feed_all(chunks)]
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(WireLog)
        for chunk in chunks:
            log.add_chunk(chunk)
        await pilot.pause()
        assert len(log.lines) == LINES and log.virtual_size.height == LINES
        assert log.plain_lines() == expected
        assert log.lines[-1].text == f"250 2.0.0 OK {LINES - 1}" and log.lines[-1].kind == "server"
        assert [line.text for line in log.lines[10:12]] == ["NOOP 10", "250 2.0.0 OK 11"]
        assert [line.text for line in log.lines_of_step(777)] == ["NOOP 1554", "250 2.0.0 OK 1555"]
        log.style_name = "swaks"  # a rebuild from the kept chunks
        await pilot.pause()
        assert log.plain_lines() == [line.plain() for line in Transcript(style="swaks").feed_all(chunks)]
        log.show_until(10)
        await pilot.pause()
        assert len(log.lines) == 10
        log.show_until(None)
        await pilot.pause()
        assert len(log.lines) == LINES
        assert log.scroll_offset.y == log.max_scroll_y  # it followed the end


async def test_a_long_log_adds_few_objects_for_the_cycle_collector_to_walk():
    chunks = _session(LINES)  # the session's record holds them; the log shares them
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(WireLog)
        await pilot.pause()
        gc.collect()
        before = len(gc.get_objects()) + gc.get_freeze_count()  # frozen objects count as tracked here
        for chunk in chunks:
            log.add_chunk(chunk)
        await pilot.pause()
        gc.collect()
        added = len(gc.get_objects()) + gc.get_freeze_count() - before
        assert len(log.lines) == LINES
        # Kept as dataclass (or NamedTuple) lines, 100,000 lines added 100,000 tracked objects.
        assert added < LINES // 10, added


async def test_a_long_log_sets_no_collector_policy_of_its_own():
    # gc.freeze is the app's (SmtpStepApp._freeze_heap): a widget changing process-wide state made every
    # host of it (tests, benchmarks) inherit a frozen heap.
    chunks = _session(LINES)
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(WireLog)
        await pilot.pause()
        frozen = gc.get_freeze_count()
        for chunk in chunks:
            log.add_chunk(chunk)
        await pilot.pause()
        assert len(log.lines) == LINES
        assert gc.get_freeze_count() <= frozen


async def test_the_step_of_a_line_is_found_after_steps_interleave():
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(WireLog)
        for step, data in [(1, b"EHLO a\r\n"), (2, b"NOOP\r\n"), (1, b"late\r\n"), (3, b"QUIT\r\n")]:
            log.add_chunk(WireChunk(Direction.CLIENT, data, False, 0.0, step))
        log.end_step(3, 0.002)
        await pilot.pause()
        assert [line.text for line in log.lines_of_step(1)] == ["EHLO a", "late"]
        assert [line.text for line in log.lines_of_step(3)] == ["QUIT", "step 3 took 2.0 ms"]
        assert log.lines_of_step(9) == ()
        log.style_name = "swaks"  # rebuilt: the same lines, found the same way
        await pilot.pause()
        assert [line.text for line in log.lines_of_step(1)] == ["EHLO a", "late"]


async def test_the_lines_of_each_step_are_found_in_a_long_ordered_log():
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(WireLog)
        for step in range(1, 2001):
            log.add_chunk(WireChunk(Direction.CLIENT, b"NOOP\r\n", False, 0.0, step))
            log.add_chunk(WireChunk(Direction.SERVER, b"250-a\r\n250 b %d\r\n" % step, False, 0.0, step))
            if step % 3:
                log.end_step(step, 0.001)
        await pilot.pause()
        for step in (1, 2, 3, 1000, 1999, 2000):
            expected = ["NOOP", "250-a", f"250 b {step}"] + (["step %d took 1.0 ms" % step] if step % 3 else [])
            assert [line.text for line in log.lines_of_step(step)] == expected
        assert log.lines_of_step(0) == () and log.lines_of_step(2001) == ()


async def test_a_25_mb_message_is_folded_to_its_first_lines_and_a_count():
    line = b"The quick brown fox jumps over the lazy dog while the class watches each SMTP step.\r\n"
    body = line * (25 * 1024 * 1024 // len(line)) + b".\r\n"
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(WireLog)
        log.add_chunk(WireChunk(Direction.CLIENT, body, True, 1.0, 8))
        await pilot.pause()
        hidden = body.count(b"\n") - FOLD_LINES
        assert len(log.lines) == FOLD_LINES + 1
        assert log.lines[FOLD_LINES - 1].text == (
            f"… {hidden:,} more lines ({len(body) - (FOLD_LINES - 1) * len(line) - 3:,} octets) folded …")
        assert log.lines[-1].text == "."
        log.expanded = True  # the whole message, every line
        await pilot.pause()
        assert len(log.lines) == body.count(b"\n")
