"""Fixtures shared by every test directory: the built-in SMTP server, started three ways, and the check
that a library's code is still what smtpstep leans on (``assert_upstream_unchanged``).

``smtpstep.protocol.server.server`` (aiosmtpd, trustme, cryptography) is imported inside the fixtures, so
tests that never ask for a server do not pay for it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import signal
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from smtpstep.protocol.server.server import LocalServer

# A shell starts a background job (`pytest ... &`) with Ctrl-C ignored, and every process a test starts would
# inherit that: the tests that press Ctrl-C on `run` and `serve` need it delivered as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


class _WithoutDocstrings(ast.NodeTransformer):
    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        # A bare string (a docstring, an attribute's docstring) does nothing: it must not count.
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return ast.Pass()
        return node


def _upstream(dotted: str) -> Any:
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise LookupError(dotted)


def _code_fingerprint(dotted: str) -> str:
    tree = _WithoutDocstrings().visit(ast.parse(textwrap.dedent(inspect.getsource(_upstream(dotted)))))
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()[:16]


def _assert_upstream_unchanged(upstream: str, *, ours: str, recheck: str, fingerprints: frozenset[str],
                               installed: str, table: str) -> None:
    found = _code_fingerprint(upstream)
    if found not in fingerprints:
        pytest.fail(
            f"{upstream} is not the code smtpstep was written against (installed: {installed}; fingerprint "
            f"{found}). Depending on it: {ours}. Re-check {recheck}; then add {found!r} to its fingerprints "
            f"in {table}.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def assert_upstream_unchanged() -> Callable[..., None]:
    """``assert_upstream_unchanged("package.module.Class.method", ours=..., recheck=..., fingerprints=...,
    installed=..., table=...)`` fails, naming the upstream code, ours that depends on it (``ours``) and what
    to re-check, unless that code's fingerprint is one of ``fingerprints``.

    The fingerprint is a short hash of the code as ``ast.unparse`` writes it, docstrings left out: it
    changes when the code changes, not with a comment, a docstring or the layout, so that a dependency
    check fails only when there is something to re-check."""
    return _assert_upstream_unchanged
