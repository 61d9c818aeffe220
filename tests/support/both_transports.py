"""Run a transport test module against both transports: asyncio (the TUI's) and blocking (``smtpstep run``'s).

``use_both_transports(module_globals)`` returns an autouse fixture and a ``pytest_generate_tests``
hook for the module: every test runs twice, ``[asyncio]`` and ``[blocking]``, with the module's
``AsyncioTransport`` name rebound for the test. With ``blocking`` it is ``ThreadedBlockingTransport``, a
``BlockingTransport`` whose steps run in a worker thread, so that the test's event loop (and the
server running on it) keeps turning. A test marked ``@pytest.mark.asyncio_transport_only``
(asyncio's cancellation, say) is generated once, with asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from smtpstep.protocol.commands import Command
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.blocking_driver import BlockingTransport
from smtpstep.protocol.transport.wire import StepResult, Target, WireChunk


class ThreadedBlockingTransport:
    """``BlockingTransport`` with the asyncio transport's async ``step``/``close``, for async tests."""

    def __init__(self, target: Target, *, listener: Callable[[WireChunk], None] | None = None) -> None:
        self.inner = BlockingTransport(target, listener=listener)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def step(self, commands: Command | Sequence[Command], *, force: bool = False) -> StepResult:
        return await asyncio.to_thread(self.inner.step, commands, force=force)

    async def close(self) -> None:
        await asyncio.to_thread(self.inner.close)


def use_both_transports(module_globals: dict[str, Any]):  # type: ignore[no-untyped-def]
    """``(fixture, hook)``: assign them to ``transport_kind`` and ``pytest_generate_tests`` in the module."""

    @pytest.fixture(autouse=True)
    def transport_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
        kind = getattr(request, "param", "asyncio")
        monkeypatch.setitem(module_globals, "AsyncioTransport",
                            ThreadedBlockingTransport if kind == "blocking" else AsyncioTransport)
        return str(kind)

    def generate(metafunc: pytest.Metafunc) -> None:
        if "transport_kind" not in metafunc.fixturenames:
            return
        only_asyncio = metafunc.definition.get_closest_marker("asyncio_transport_only") is not None
        metafunc.parametrize("transport_kind", ["asyncio"] if only_asyncio else ["asyncio", "blocking"],
                             indirect=True)

    return transport_kind, generate
