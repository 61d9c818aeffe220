"""A class connects at once: 500 simultaneous connects to the built-in server are all greeted.

500 non-blocking sockets start their connects together, against a ``LocalServer`` on its own thread; each
must read its ``220`` greeting. On Linux the kernel's own counters must show no overflow of the listen queue
(``TcpExtListenOverflows`` and ``ListenDrops`` in ``/proc/net/netstat``): with asyncio's default backlog of
100 they rose by hundreds and a dozen clients were still waiting after a minute (``server.BACKLOG``).
"""

from __future__ import annotations

import resource
import selectors
import socket
import sys
import time
from pathlib import Path

from smtpstep.protocol.server.server import BACKLOG, LocalServer

CONNECTS = 500
GUARD = 60.0
"""Seconds before the test gives up on a greeting: a guard against a hang, not a measure of speed."""


def listen_overflows() -> tuple[int, int] | None:
    """The kernel's counts of connections its listen queues had no room for, or None where it tells none."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    names, values = [line.split() for line in lines if line.startswith("TcpExt:")][:2]
    counts = dict(zip(names[1:], map(int, values[1:]), strict=True))
    return counts["ListenOverflows"], counts["ListenDrops"]


def test_five_hundred_simultaneous_connects_are_all_greeted(threaded_server: LocalServer) -> None:
    assert BACKLOG >= 2 * CONNECTS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * CONNECTS + 100:  # the sockets of both ends live in this process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * CONNECTS), hard))
    port = threaded_server.ports["plain"]
    before = listen_overflows()
    selector = selectors.DefaultSelector()
    clients = []
    try:
        for _ in range(CONNECTS):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            clients.append(client)
            selector.register(client, selectors.EVENT_READ)
        greeted = 0
        deadline = time.monotonic() + GUARD
        while greeted < CONNECTS and time.monotonic() < deadline:
            for key, _ in selector.select(1.0):
                assert key.fileobj.recv(200).startswith(b"220 "), "every client is greeted"  # type: ignore[union-attr]
                selector.unregister(key.fileobj)
                greeted += 1
        after = listen_overflows()
    finally:
        selector.close()
        for client in clients:
            client.close()
    assert greeted == CONNECTS, f"{CONNECTS - greeted} of {CONNECTS} clients were never greeted"
    if sys.platform == "linux" and before is not None and after is not None:
        assert after == before, f"the listen queue overflowed: {before} -> {after}"
