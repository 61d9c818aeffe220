"""Waiting for the terminal app's next finished step from outside its widgets (``smtpstep shots``, tests,
benchmarks): a future per caller, resolved with the session after the step.

``StepWaiters`` keeps the futures and resolves them; the app posts ``StepFinished`` beside it. No timeout
of its own: the caller bounds the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtpstep.app.session.stepper import SessionView


class StepWaiters:
    """The callers waiting for the next StepFinished."""

    def __init__(self, call_later: Callable[[Callable[[], object]], bool]) -> None:
        self._call_later = call_later
        """The app's ``call_later``: runs a callback after the messages already queued."""
        self._waiting: list[asyncio.Future[SessionView]] = []

    def resolve(self, view: SessionView) -> None:
        """``view`` is the session after a step: every caller waiting gets it."""
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_result(view)

    async def next(self, cause: Awaitable[object] | None = None) -> SessionView:
        """Await ``cause``, then the next finished step; its view, once the app has handled its message."""
        waiter: asyncio.Future[SessionView] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            if cause is not None:
                await cause
            view = await waiter
        finally:
            self._waiting.remove(waiter)
        handled = asyncio.Event()
        if self._call_later(handled.set):  # queued behind the StepFinished message
            await handled.wait()
        return view
