"""A server that greets and then says nothing: for app tests of a step that waits (busy marks, Escape)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def stalls_after_greeting() -> AsyncIterator[int]:
    """A loopback port whose server sends its 220 and then stays silent for 30 s."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 slow.test ESMTP\r\n")
        await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
