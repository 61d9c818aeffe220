"""Tabs forked from a preloaded parent: the ``web`` server's way to start a tab's app in a few milliseconds.

Holds both ends of it: ``run_preloader``, the parent (``smtpstep web`` with ``SMTPSTEP_WEB_TAB=preload``: the
same words as every tab), which imports Textual, the stepper and its screens once and then forks one child per
tab; and ``Preloader`` with ``ForkedProcess``, the web server's handle on that parent and on each child, shaped
like the ``asyncio.subprocess.Process`` a spawned tab has (``pid``, ``returncode``, ``wait``, ``stdin``,
``stdout``, ``stderr``), so the rest of ``web`` ends a forked tab as it ends a spawned one.

The two talk over a Unix ``SOCK_SEQPACKET`` socket, the parent's stdin: one JSON object per message. The server
sends ``fork`` (the tab's own environment: its terminal size and TMPDIR) with the child's three pipe ends
attached (``SCM_RIGHTS``); the parent answers ``started`` (the pid), and ``ended`` (pid and exit code) when it
reaps a child. First it says ``ready`` once everything is imported.

Rules:
- the parent forks only while it has one thread (no asyncio, no Textual driver, no worker runs in it): a fork
  copies the calling thread alone;
- it imports what a tab imports with the environment textual-serve gives a tab (Textual reads its driver,
  frame rate and colour system when it is imported), and freezes the garbage collector's view of it all, so
  that children share those pages copy-on-write instead of touching every object;
- each child is a session and a process group of its own (``setsid``), exactly as a spawned tab: one tab's
  crash, kill or memory blow-up ends that process alone;
- the parent never outlives the server: its stdin (the socket) hangs up when the server closes it or dies;
  children end themselves then as spawned tabs do (their stdin hangs up);
- nothing from a page reaches the parent: only the server writes to its socket, and only sizes it has
  clamped and folders it made.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

PRELOAD = "preload"
"""The value of ``SMTPSTEP_WEB_TAB`` in the preloaded parent's environment."""

MAX_CONTROL = 16 * 1024
"""Largest control message either way (an environment of a few names, a pid)."""

START_TIMEOUT = 60.0
"""Seconds the parent may take to import everything and say ``ready``."""

WARM = (
    "smtpstep.app.commands.step",
    "smtpstep.app.commands.web.follow",
    "smtpstep.app.session.broadcast",
    "smtpstep.app.stepper_app",
    "smtpstep.app.session.confinement",
    "smtpstep.app.saving",
    "smtpstep.app.config",
    "smtpstep.app.screens.connection",
    "smtpstep.app.screens.dialogs",
    "smtpstep.app.screens.help",
    "smtpstep.app.screens.diagram",
    "smtpstep.protocol.server.process",
    "smtpstep.protocol.server.seat_client",
    "smtpstep.protocol.transport.asyncio_driver",
    "smtpstep.themes",
    "textual.drivers.web_driver",
    # Found by comparing a forked tab's modules at its first frame with its parent's: ~17 ms a tab.
    "concurrent.futures.thread",
    "email.generator",
    "textual.drivers.headless_driver",
    "textual.layouts.factory",
    "textual.layouts.horizontal",
    "textual.layouts.stream",
    "textual.pilot",
    "textual.scrollbar",
)
"""What a tab imports on its way to its first frame and first step: imported once, in the parent."""


# --- The parent ---------------------------------------------------------------------------------------


def run_preloader(args: argparse.Namespace, tab: Callable[[argparse.Namespace], int]) -> int:
    """Import once, then fork a tab's app for every ``fork`` the server sends, until it hangs up.

    ``tab`` runs one tab's app (``run_tab`` with the step command); a child returns through ``os._exit``.
    """
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # fd 0 is a child's stdin to be; until then it reads nothing
    os.close(devnull)
    for name in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(ImportError):
        from rich.cells import cell_len

        cell_len("✓ é 🔒")  # loads Rich's table of character widths, which every tab's first frame needs
    gc.collect()
    gc.freeze()  # the children share these objects' pages: no collection of theirs writes to them
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server ends us by hanging up
    _send(control, {"ready": os.getpid()})
    while True:
        try:
            readable, _, _ = select.select([control, wake_read], [], [])
        except InterruptedError:
            continue
        if wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)
        _reap(control)
        if control not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_CONTROL, 3)
        except OSError:
            return 0
        if not data:
            return 0  # the server hung up
        try:
            request = json.loads(data)
            if len(fds) != 3 or not isinstance(request, dict) or not isinstance(request.get("env"), dict):
                continue
            pid = os.fork()
            if pid == 0:
                _child(control, (wake_read, wake_write), fds, request["env"], args, tab)
            _send(control, {"started": pid})
        finally:
            for fd in fds:
                os.close(fd)


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        with contextlib.suppress(OSError):
            _send(control, {"ended": pid, "code": os.waitstatus_to_exitcode(status)})


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _child(control: socket.socket, wake: Sequence[int], fds: Sequence[int], env: dict[str, Any],
           args: argparse.Namespace, tab: Callable[[argparse.Namespace], int]) -> None:
    """A tab's app in the forked child; never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh Python
        control.close()
        for fd in wake:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.update({str(k): str(v) for k, v in env.items()})
        tempfile.tempdir = None  # TMPDIR is the tab's own now
        code = tab(args)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - a child never returns into the parent's loop
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


# --- The server's side ----------------------------------------------------------------------------


class ForkedProcess:
    """A tab's app forked by the preloaded parent, as the server sees it: like ``asyncio.subprocess.Process``."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader) -> None:
        self.pid = pid
        """Also its process group and session: the child called ``setsid``."""
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        """Set once the parent reaped it (or, if the parent is gone, once it is no longer there)."""
        self._ended = asyncio.Event()

    def ended(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._ended.set()

    async def wait(self) -> int:
        await self._ended.wait()
        assert self.returncode is not None
        return self.returncode

    async def watch_without_parent(self) -> None:
        """The parent is gone and cannot say when this ends: look for it in the process table."""
        while self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.ended(-1)
                return
            except PermissionError:
                pass
            await asyncio.sleep(0.2)


class Preloader:
    """The server's handle on the preloaded parent: start it, fork tabs from it, stop it."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self._socket: socket.socket | None = None
        self._starting: collections.deque[asyncio.Future[int]] = collections.deque()
        self._children: dict[int, ForkedProcess] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._early_ends: dict[int, int] = {}
        """Children reaped before their ``started`` was taken in: pid and exit code."""
        self._settled: asyncio.Event | None = None
        """Set once ``start`` has succeeded or failed."""

    @property
    def running(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def wait_started(self) -> bool:
        """Wait for ``start`` to end (if it began); whether the parent runs."""
        if self._settled is not None:
            await self._settled.wait()
        return self.running

    async def start(self) -> None:
        """Start the parent and wait until it has imported everything; ``OSError`` if it could not."""
        self._settled = asyncio.Event()
        try:
            await self._start()
        finally:
            self._settled.set()

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=theirs.fileno(), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, env=self.env, start_new_session=True)
        finally:
            theirs.close()
        ours.setblocking(False)
        self._socket = ours
        loop = asyncio.get_running_loop()
        try:
            first = await asyncio.wait_for(loop.sock_recv(ours, MAX_CONTROL), START_TIMEOUT)
        except TimeoutError:
            first = b""
        if not first or "ready" not in _parse(first):
            await self.stop()
            raise OSError("the preloaded parent did not start")
        self._reader = asyncio.ensure_future(self._read())

    async def fork(self, env: dict[str, str]) -> ForkedProcess:
        """A new child with ``env`` added to its environment, its stdin, stdout and stderr pipes to here."""
        if self._socket is None or not self.running:
            raise OSError("the preloaded parent is not running")
        loop = asyncio.get_running_loop()
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        async with self._lock:  # the parent answers in the order it was asked
            started: asyncio.Future[int] = loop.create_future()
            self._starting.append(started)
            try:
                socket.send_fds(self._socket, [json.dumps({"env": env}).encode()], [stdin_r, stdout_w, stderr_w])
            except OSError:
                self._starting.remove(started)
                for fd in (stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w):
                    os.close(fd)
                raise
            finally:
                for fd in (stdin_r, stdout_w, stderr_w):
                    with contextlib.suppress(OSError):
                        os.close(fd)
        pid = await started
        child = ForkedProcess(pid, await _writer(stdin_w), await _reader(stdout_r), await _reader(stderr_r))
        self._children[pid] = child
        if pid in self._early_ends:
            child.ended(self._early_ends.pop(pid))
        return child

    async def _read(self) -> None:
        assert self._socket is not None
        loop = asyncio.get_running_loop()
        try:
            while data := await loop.sock_recv(self._socket, MAX_CONTROL):
                message = _parse(data)
                if isinstance(message.get("started"), int) and self._starting:
                    future = self._starting.popleft()
                    if not future.done():
                        future.set_result(message["started"])
                elif isinstance(message.get("ended"), int):
                    pid, code = message["ended"], message.get("code")
                    code = code if isinstance(code, int) else -1
                    child = self._children.pop(pid, None)
                    if child is not None:
                        child.ended(code)
                    else:
                        self._early_ends[pid] = code  # it ended before its start was taken in
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for future in self._starting:
                if not future.done():
                    future.set_exception(OSError("the preloaded parent ended"))
            self._starting.clear()
            for child in self._children.values():
                asyncio.ensure_future(child.watch_without_parent())

    async def stop(self) -> None:
        """Hang up on the parent and see it end (its children are ended by the server, or end themselves)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self.process is not None and self.process.returncode is None:
            from smtpstep.app.commands.web import end_process_group

            await end_process_group(self.process, grace=2.0, term_grace=1.0)


def _parse(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


async def _reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 ** 16, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", 0))
    return reader


async def _writer(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(lambda: _WriteProtocol(loop), os.fdopen(fd, "wb", 0))
    return asyncio.StreamWriter(transport, protocol, None, loop)


class _WriteProtocol(asyncio.streams.FlowControlMixin):
    """A pipe's writing end for a ``StreamWriter`` (as asyncio's own subprocess protocol is)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._closed: asyncio.Future[None] = loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self._closed.done():
            self._closed.set_result(None)

    def _get_close_waiter(self, stream: asyncio.StreamWriter) -> asyncio.Future[None]:
        return self._closed


def can_fork() -> bool:
    """Whether tabs can be forked here (a POSIX system with ``fork`` and descriptor passing)."""
    return hasattr(os, "fork") and hasattr(socket, "send_fds") and sys.platform != "darwin"
