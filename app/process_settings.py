"""The process-wide settings the terminal app changes while it runs, each put back exactly when it ends.

Signals: SIGTERM, SIGHUP and SIGINT end the app the way ``q`` does, so the terminal is put back as it
was (alternate screen left, cursor shown, mouse reporting off), the built-in server's process stopped
and its temporary CA folder removed.

The heap: ``gc.freeze`` after start and every few hundred steps, because full collections of the
objects Textual and the panes hold landed inside a step's frame (``benchmarks/step_latency.py``). The
built-in server runs in a process of its own, so the app no longer shortens the thread switch
interval: no thread of the server competes with the screen for the interpreter lock.

Each setting is a context manager that undoes only what it did; ``ProcessSettings`` enters them on
mount and leaves them on unmount. Tests and benchmarks run apps inside their own process, so a heap a
host had frozen before is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Iterator

FREEZE_EVERY_STEPS = 200
"""Steps between two ``gc.freeze()`` calls. A NOOP step leaves about 95 objects the cycle collector tracks
(views, snapshots, chunks): 200 steps keep a full collection to some 20,000 objects, a few milliseconds."""

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
"""The signals that end the app as ``q`` does."""


@contextlib.contextmanager
def ending_on_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> Iterator[None]:
    """While inside, each of ``SIGNALS`` calls ``on_signal`` with the exit code (128 + the signal)."""
    installed: list[int] = []
    for number in SIGNALS:
        try:
            loop.add_signal_handler(number, on_signal, 128 + number)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no such signal
            continue
        installed.append(number)
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


class FrozenHeap:
    """While inside: ``freeze_now`` moves what is alive out of the cycle collector's way; on the way out
    the heap is unfrozen, if this froze it. ``gc.unfreeze`` cannot tell our frozen objects from a host's,
    so a heap someone else froze first is never touched."""

    def __init__(self) -> None:
        self._froze = False
        self._steps = 0

    def __enter__(self) -> FrozenHeap:
        self._froze = gc.get_freeze_count() == 0
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._froze:
            gc.unfreeze()
            self._froze = False

    def freeze_now(self) -> None:
        """Collect, then freeze what is alive (it is never collected again until the exit)."""
        if self._froze:
            self._steps = 0
            gc.collect()
            gc.freeze()

    def step_done(self) -> bool:
        """Count a step; True when the heap is due to be frozen again (after the step's frame)."""
        self._steps += 1
        return self._froze and self._steps >= FREEZE_EVERY_STEPS


class ProcessSettings:
    """The app's settings, entered on mount and left on unmount."""

    def __init__(self, *, freeze: bool) -> None:
        self.freeze = freeze
        """Whether to move long-lived objects out of the cycle collector's way (``gc.freeze``)."""
        self._stack = contextlib.ExitStack()
        self._heap: FrozenHeap | None = None

    def enter(self, loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> None:
        """Apply the settings; a signal then calls ``on_signal`` with the exit code (128 + the signal)."""
        self._stack.enter_context(ending_on_signals(loop, on_signal))
        if self.freeze:
            self._heap = self._stack.enter_context(FrozenHeap())

    def freeze_now(self) -> None:
        if self._heap is not None:
            self._heap.freeze_now()

    def step_done(self) -> bool:
        """Count a step; True when the heap is due to be frozen again (after the step's frame)."""
        return self._heap is not None and self._heap.step_done()

    def exit(self) -> None:
        """Put back what ``enter`` changed, in the reverse order."""
        self._heap = None
        self._stack.close()
