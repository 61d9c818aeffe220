"""The tabs' processes: each tab an app in a process group of its own (spawned, or forked from the
preloaded parent), ended by its group (quit, SIGTERM, SIGKILL) with its pipes read to their end, and
its private folder (locked while it lives; orphans removed at the next start)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtpstep.app.commands.web.preload import PRELOAD, ForkedProcess, Preloader
from smtpstep.protocol.server.seat_client import SEATS_ENV

if TYPE_CHECKING:
    pass
from smtpstep.app.commands.web.limits import (
    LOCK_NAME,
    QUIT_GRACE,
    SEATS_FOLDER_PREFIX,
    TAB_ENV,
    TAB_FOLDER_PREFIX,
    TERM_GRACE,
)

# --- Ending processes -----------------------------------------------------------------------------


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to a process group; False if nothing was left in it."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


async def _exited(process: asyncio.subprocess.Process, seconds: float) -> bool:
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def end_process_group(process: asyncio.subprocess.Process, *, grace: float = QUIT_GRACE,
                            term_grace: float = TERM_GRACE) -> str:
    """Wait ``grace`` for ``process`` (a group leader) to exit, then SIGTERM its group, then SIGKILL it.

    Whatever the leader left behind in its group is killed too. Returns how it ended: quit, terminated
    or killed.
    """
    pgid = process.pid
    how = "quit"
    if not await _exited(process, grace):
        how = "terminated"
        signal_group(pgid, signal.SIGTERM)
        if not await _exited(process, term_grace):
            how = "killed"
            signal_group(pgid, signal.SIGKILL)
            await _exited(process, 10.0)
    signal_group(pgid, signal.SIGKILL)
    return how


# --- Tab folders ----------------------------------------------------------------------------------


def new_tab_folder(prefix: str = TAB_FOLDER_PREFIX) -> tuple[Path, int | None]:
    """A new tab folder (``smtpstep-web-tab-*``) and the descriptor of its locked lock file, held for as long as
    a running server looks after the tab (None where there is no ``fcntl``). The folder is made and locked
    under another name and then renamed, so that no tab folder is ever seen unlocked while its server lives."""
    making = Path(tempfile.mkdtemp(prefix="smtpstep-web-new-"))
    descriptor = None
    try:
        import fcntl
    except ImportError:
        pass
    else:
        descriptor = os.open(making / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    folder = making.with_name(prefix + making.name.removeprefix("smtpstep-web-new-"))
    os.rename(making, folder)
    return folder, descriptor


def remove_tab_folder(folder: Path, lock: int | None) -> None:
    """Remove a folder made by ``new_tab_folder``, then let go of its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    if lock is not None:
        os.close(lock)


def remove_orphaned_folders(temp: Path) -> list[Path]:
    """Remove the tab folders in ``temp`` that no running ``smtpstep web`` holds (their server was killed); the
    folders removed. A folder is held while its lock file is locked (``new_tab_folder``); one without a lock
    file (an older smtpstep's) is left alone for a minute."""
    try:
        import fcntl
    except ImportError:
        return []
    removed = []
    for folder in sorted([*temp.glob(f"{TAB_FOLDER_PREFIX}*"), *temp.glob(f"{SEATS_FOLDER_PREFIX}*")]):
        if not folder.is_dir() or folder.is_symlink():
            continue
        lock = folder / LOCK_NAME
        try:
            if not lock.exists():
                if time.time() - folder.stat().st_mtime < 60:
                    continue
            else:
                descriptor = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live server holds it
                finally:
                    os.close(descriptor)
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


# --- The server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TabCommand:
    """How a tab's app process is started."""

    argv: list[str]
    """Program and arguments; run without a shell."""
    env: dict[str, str] = field(repr=False)
    """Added to textual-serve's environment for the app (it may hold the password)."""


@cache
def tab_service_type() -> type:
    """textual-serve's ``AppService``, made to start its app in a process group and to end it for sure."""
    from textual_serve.app_service import AppService

    class TabService(AppService):  # type: ignore[misc, valid-type]
        """One tab's app process.

        textual-serve offers no public way to start the process differently, so this replaces
        ``_open_app_process`` and sets the ``_process`` and ``_stdin`` that ``AppService.run`` and
        ``stdin`` read, calls ``_build_environment``, and ends the process through ``_task``
        instead of ``stop``. textual-serve is pinned below 1.2 for this, and
        ``tests/app/commands/web/test_dependencies.py`` fails, naming the function, when the installed
        code differs from what this was written against.
        """

        def __init__(self, tab: TabCommand, preloader: Preloader | None = None, *,
                     seats: asyncio.Future[str | None] | None = None, **kwargs: Any) -> None:
            super().__init__(shlex.join(tab.argv), **kwargs)
            self._tab = tab
            self._preloader = preloader
            self._seats = seats
            """The shared built-in server's socket, once it runs: the app takes a seat there."""
            """Forks the app when it runs; otherwise the app is a process of its own (``--tabs spawn``)."""
            self._downloads = kwargs["download_manager"]
            self._ending: asyncio.Future[str] | None = None
            self._tmp: str | None = None
            """The app's own TMPDIR, removed once its group has ended, however it ended."""
            self._lock: int | None = None
            """The open, locked lock file in ``_tmp``: released (closed) once the folder is removed."""

        @property
        def pid(self) -> int | None:
            return None if self._process is None else self._process.pid

        @property
        def returncode(self) -> int | None:
            return None if self._process is None else self._process.returncode

        async def _open_app_process(self, width: int = 80,
                                    height: int = 24) -> asyncio.subprocess.Process | ForkedProcess:
            env = self._build_environment(width=width, height=height)
            env.update(self._tab.env)
            # The built-in server keeps its CA and keys in a temporary folder, which an app that is killed
            # (or that quits while the server is still starting) leaves behind; this one is removed for it.
            folder, self._lock = new_tab_folder()
            self._tmp = env["TMPDIR"] = str(folder)
            if self._seats is not None and (seats := await asyncio.shield(self._seats)):
                env[SEATS_ENV] = seats
            if self._preloader is not None and await self._preloader.wait_started():
                with contextlib.suppress(OSError):  # the parent is gone: this tab is spawned instead
                    forked = await self._preloader.fork({name: env[name] for name in FORKED_ENV if name in env})
                    self._process, self._stdin = forked, forked.stdin
                    return forked
            self._process = process = await asyncio.create_subprocess_exec(
                *self._tab.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # a group of its own: Ctrl-C in the terminal is the server's alone
            )  # the folder's lock (close-on-exec) stays the server's: it shows that someone looks after the tab
            self._stdin = process.stdin
            return process

        async def stop(self) -> None:
            await self.end()

        async def end(self) -> str:
            """Quit the app, and end its process group for sure; how it ended. Safe to call again."""
            if self._ending is None:
                self._ending = asyncio.ensure_future(self._end())
            return await asyncio.shield(self._ending)

        async def _end(self) -> str:
            try:
                return await self._end_process()
            finally:
                if self._tmp is not None:
                    remove_tab_folder(Path(self._tmp), self._lock)
                    self._lock = None

        async def _end_process(self) -> str:
            process = self._process
            if process is None:
                return "never started"
            if self._task is not None and process.returncode is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._downloads.cancel_app_downloads(
                        app_service_id=self.app_service_id), 1.0)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.send_meta({"type": "quit"}), 1.0)
            how = await end_process_group(process)
            if self._stdin is not None:
                self._stdin.close()
            if self._task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(self._task), 2.0)
                except (TimeoutError, Exception):
                    self._task.cancel()
                    with contextlib.suppress(BaseException):
                        await self._task
            # Read the pipes to their end (the group is gone, so it comes at once): the subprocess transport
            # then closes here, not when it is collected after the event loop has closed, which printed
            # "Event loop is closed" from BaseSubprocessTransport.__del__ as `web` ended.
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pipe.read(), 2.0)
            await asyncio.sleep(0)  # the transport's connection_lost callbacks
            return how

    return TabService


FORKED_ENV = ("COLUMNS", "ROWS", "TMPDIR", SEATS_ENV)
"""What a forked tab's environment has of its own; the rest is its preloaded parent's."""


def preloader_environment(tab: TabCommand) -> dict[str, str]:
    """The preloaded parent's environment: a tab's, as textual-serve makes it (Textual reads its driver, frame
    rate and colours when it is imported), with ``SMTPSTEP_WEB_TAB=preload``."""
    from textual_serve.app_service import AppService

    env = AppService._build_environment(argparse.Namespace(debug=False))
    env.update(tab.env)
    env[TAB_ENV] = PRELOAD
    return env
