"""Processes seen from outside: whether one has ended, waiting for that with a deadline that fails the
test, and the built-in server processes a parent has (Linux ``/proc``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

SERVER_MODULE = "smtpstep.protocol.server.process_child"
"""What the built-in server's process runs (``python -m``)."""


def ended(pid: int) -> bool:
    """True once ``pid`` has exited: gone, or a zombie nobody has reaped yet (it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def wait_until_ended(pid: int, timeout: float = 30.0) -> None:
    """Wait for ``pid`` to exit; fail the test if it is still running after ``timeout`` seconds."""
    wait_for(lambda: ended(pid), timeout, f"the end of process {pid}")


def server_children(parent: int | None = None) -> list[int]:
    """The running built-in server processes whose parent is ``parent`` (this process by default)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == parent and fields[0] not in ("Z", "X") and SERVER_MODULE.encode() in cmdline:
            found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float = 30.0, what: str = "the condition") -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition()`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        time.sleep(0.02)
