"""The process-wide settings the terminal app changes while it runs, restored exactly when it ends.

Signals: SIGTERM, SIGHUP and SIGINT end the app the way ``q`` does, so the terminal is put back as it
was (alternate screen left, cursor shown, mouse reporting off), the built-in server stopped and its
temporary CA folder removed. Two more settings, both measured in ``benchmarks/``: a short thread switch interval (the built-in server's
thread held the GIL in 5 ms turns while it took a large message, and the screen stood still), and
``gc.freeze`` after start and every few hundred steps (full collections of the objects Textual and the
panes hold landed inside a step's frame). Tests and benchmarks run apps in their own process, so what
is changed here is put back as it was: a heap a host had frozen before is left alone.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Callable

FREEZE_EVERY_STEPS = 200
"""Steps between two ``gc.freeze()`` calls. A NOOP step leaves about 95 objects the cycle collector tracks
(views, snapshots, chunks): 200 steps keep a full collection to some 20,000 objects, a few milliseconds."""


class ProcessSettings:
    """Set on ``enter``, put back on ``exit``; ``step_done`` re-freezes the heap now and then."""

    def __init__(self, *, switch_interval: float | None, freeze: bool) -> None:
        self.switch_interval = switch_interval
        """The thread switch interval while the app runs; None leaves Python's."""
        self.freeze = freeze
        """Whether to move long-lived objects out of the cycle collector's way (``gc.freeze``)."""
        self._saved_interval: float | None = None
        self._froze = False
        self._steps = 0

    SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def enter(self, loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> None:
        """Apply the settings; a signal then calls ``on_signal`` with the exit code (128 + the signal)."""
        self._signals: list[int] = []
        for number in self.SIGNALS:
            try:
                loop.add_signal_handler(number, on_signal, 128 + number)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no such signal
                continue
            self._signals.append(number)
        self._loop = loop
        if self.switch_interval is not None:
            self._saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(self.switch_interval)
        # gc.unfreeze cannot tell our frozen objects from a host's: freeze only a heap nobody froze.
        self._froze = self.freeze and gc.get_freeze_count() == 0

    def freeze_now(self) -> None:
        """Collect, then freeze what is alive (it is never collected again until ``exit``)."""
        if self._froze:
            self._steps = 0
            gc.collect()
            gc.freeze()

    def step_done(self) -> bool:
        """Count a step; True when the heap is due to be frozen again (after the step's frame)."""
        self._steps += 1
        return self._froze and self._steps >= FREEZE_EVERY_STEPS

    def exit(self) -> None:
        for number in getattr(self, "_signals", ()):
            self._loop.remove_signal_handler(number)
        self._signals = []
        if self._saved_interval is not None:
            sys.setswitchinterval(self._saved_interval)
            self._saved_interval = None
        if self._froze:
            gc.unfreeze()
            self._froze = False
