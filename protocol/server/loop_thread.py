"""A private asyncio event loop in a daemon thread, for a service with ``start()``/``stop()`` coroutines.

The built-in server and the lessons' relay run this way inside the Textual app, so that their work
never stalls the UI. Used by ``server.py`` and ``relay.py``; it does I/O only through them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable


class LoopThread:
    """Runs one service on its own loop; ``start`` returns once the service listens."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None

    def start(self, starter: Callable[[], Awaitable[None]], timeout: float) -> None:
        """Run ``starter()`` on a new loop in a daemon thread; raise what it raised, or on timeout."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                try:
                    loop.run_until_complete(starter())
                except BaseException as error:  # noqa: BLE001 - handed to the starting thread
                    started.set_exception(error)
                    return
                started.set_result(None)
                loop.run_forever()
            finally:
                close_loop(loop)

        thread = threading.Thread(target=run, name=self.name, daemon=True)
        thread.start()
        try:
            started.result(timeout)
        except BaseException:
            if not started.done():  # timed out: ask the loop to wind down
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            raise
        self._thread, self._loop = thread, loop

    def stop(self, stopper: Callable[[], Awaitable[None]], timeout: float) -> None:
        """Run ``stopper()`` on the service's loop, then end the loop and join the thread."""
        thread, loop = self._thread, self._loop
        self._thread = self._loop = None
        if thread is None or loop is None:
            return
        if loop.is_closed():  # the loop already ended (the thread died)
            thread.join(timeout)
            return
        try:
            asyncio.run_coroutine_threadsafe(stopper(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop`` and close it, as ``asyncio.run`` does on the way out."""
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
