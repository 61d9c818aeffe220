"""Fixtures shared by every test directory: the built-in SMTP server, started three ways.

``smtpstep.protocol.server.server`` (aiosmtpd, trustme, cryptography) is imported inside the fixtures, so
tests that never ask for a server do not pay for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from smtpstep.protocol.server.server import LocalServer


def _server_kwargs(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    # Never the user's real Maildir, and never a state directory outside the test's tmp_path.
    kwargs: dict[str, Any] = {"maildir": tmp_path / "maildir", "state_dir": tmp_path / "state"}
    kwargs.update(overrides)
    return kwargs


@pytest_asyncio.fixture
async def local_server(tmp_path: Path) -> AsyncIterator[LocalServer]:
    """A ``LocalServer`` running on the test's event loop, with a Maildir under ``tmp_path``.

    Clients in the test must not block the loop: use asyncio streams, or run blocking clients
    (smtplib) with ``asyncio.to_thread``.
    """
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(**_server_kwargs(tmp_path))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def local_server_factory(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[LocalServer]]]:
    """``await local_server_factory(certificate="expired", scenario="greylisting", ...)`` starts a
    ``LocalServer`` on the test's loop; each one is stopped at teardown."""
    from smtpstep.protocol.server.server import LocalServer

    servers: list[LocalServer] = []

    async def start(**overrides: Any) -> LocalServer:
        server = LocalServer(**_server_kwargs(tmp_path / f"server{len(servers)}", **overrides))
        servers.append(server)
        await server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


@pytest.fixture
def threaded_server(tmp_path: Path) -> Iterator[LocalServer]:
    """A ``LocalServer`` on its own loop in a daemon thread: blocking clients may be used directly."""
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(**_server_kwargs(tmp_path))
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's config, data or state directories."""
    base = tmp_path_factory.mktemp("xdg")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(base / name.lower()))
