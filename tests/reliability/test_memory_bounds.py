"""Memory stays bounded whatever a server sends.

A server may send megabytes without a line end, a multi-line reply that never ends, or a flood of
replies nobody asked for. The client must refuse each after a bounded amount and keep nothing more.
Asserted on the parser's buffer and on ``tracemalloc``'s peak during the whole session (server,
transport, planner; the hostile server runs in this process, so its own buffers count too), never
on timing. The limits are far below what the servers try to send.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.replies import MAX_LINE, MAX_LINES, ProtocolError, ReplyParser
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.wire import READ_SIZE, Direction, Target
from tests.support.driver import Drive, drive
from tests.support.hostile_server import HUGE_LINE_BYTES, HostileServer

T = TypeVar("T")

MB = 1024 * 1024
PLAN = SessionPlan(security="none", message=b"Subject: memory\r\n\r\nHello.\r\n")


async def traced_peak(awaitable: Awaitable[T]) -> tuple[T, int]:
    """Run ``awaitable`` under ``tracemalloc``; its result and the peak of traced memory, in bytes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = await awaitable
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - base


async def session_against(script: str) -> tuple[Drive, AsyncioTransport, HostileServer]:
    async with HostileServer(script) as server:
        transport = AsyncioTransport(Target("127.0.0.1", server.port, "none", timeout=5))
        driven = await drive(transport, PLAN)
    return driven, transport, server


def server_bytes(transport: AsyncioTransport) -> int:
    return sum(len(c.data) for c in transport.record.chunks if c.direction == Direction.SERVER)


async def test_a_multi_megabyte_line_costs_a_bounded_amount_of_memory() -> None:
    (driven, transport, server), peak = await traced_peak(session_against("huge-line"))

    assert driven.failure is not None and driven.failure.kind == "protocol"
    assert server_bytes(transport) <= MAX_LINE + READ_SIZE  # read one buffer past the limit, then hung up
    assert server.huge_line_sent < HUGE_LINE_BYTES
    assert peak < 2 * MB, f"peak {peak / MB:.1f} MB for a {HUGE_LINE_BYTES / MB:.0f} MB line"
    assert transport.client.unparsed == b""  # the parser let go of what it held


async def test_a_multi_line_reply_that_never_ends_is_cut_off_at_the_line_limit() -> None:
    (driven, transport, server), peak = await traced_peak(session_against("endless-multiline"))

    failure = driven.failure
    assert failure is not None and failure.kind == "protocol"
    assert f"more than {MAX_LINES} lines" in failure.message
    # At most MAX_LINES lines of MAX_LINE octets are held (~4 MB), plus the reads kept in the wire record.
    assert server_bytes(transport) <= MAX_LINES * MAX_LINE + 2 * READ_SIZE
    assert peak < 3 * MAX_LINES * MAX_LINE + 2 * MB, f"peak {peak / MB:.1f} MB"


async def test_a_flood_of_unrequested_replies_is_refused_at_the_first_one() -> None:
    (driven, transport, server), peak = await traced_peak(session_against("unrequested-replies"))

    failure = driven.failure
    assert failure is not None and failure.kind == "protocol" and "nobody asked for" in failure.message
    assert server_bytes(transport) <= 2 * READ_SIZE
    assert peak < 2 * MB, f"peak {peak / MB:.1f} MB"


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65536])
def test_the_parser_never_holds_more_than_one_line_whatever_the_chunking(chunk: int) -> None:
    parser = ReplyParser()
    stream = b"220 " + b"x" * (8 * MB)
    held = 0
    with pytest.raises(ProtocolError):
        for start in range(0, len(stream), chunk):
            parser.feed(stream[start : start + chunk])
            held = max(held, len(parser.pending))
    assert held < MAX_LINE
    assert parser.pending == b""
