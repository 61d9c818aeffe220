"""``smtpstep web``: the stepper served to browser tabs through textual-serve, one app process per tab.

Holds the ``web`` flags, the page (textual-serve's own, patched to load nothing from the network), the
aiohttp server, the per-tab service that runs each app in a process group of its own and makes sure it
ends, and the tab side: what a tab's process does so that it ends when its server goes away. Beside it:
``preload.py`` (tabs forked from a parent that loaded the stepper once) and ``follow.py`` (a tab of
``--follow``: the teacher's broadcast session, read-only).

Each tab runs ``python -P -m smtpstep.app.cli web <the same options>`` with ``SMTPSTEP_WEB_TAB=1``: the same
parser turns the same words into the same options, so a tab is exactly ``smtpstep step`` with them. With
``--tabs fork`` (the default) that command runs once, with ``SMTPSTEP_WEB_TAB=preload``, and each tab is a
fork of it that runs the same ``run_tab``.

Rules:
- loopback unless ``--listen`` names another address, and then it warns, saying what a tab can do: whoever
  reaches the page starts an app process here, and the built-in server's demo password is public;
- the Host header is checked in every mode (no DNS rebinding): on loopback only loopback names, with
  ``--listen`` the listen address (any IP address of this machine for a wildcard), and in both the names given
  with ``--allow-host``; a WebSocket's Origin must name the same host;
- a tab of a ``--listen`` server is confined (``smtpstep.app.session.confinement``): it saves exports and
  screenshots only into its own folder, by name, and offers them to the browser as downloads; its
  connection screen reaches only the built-in server unless ``--allow-servers``;
- every message from the page is checked and bounded before it reaches a tab's app (``TabMessages``):
  ``resize`` is clamped as ``?width=``/``?height=`` are, typed input and pings are size-limited, anything
  else is ignored;
- ``--listen`` never goes with a login to a real server: every tab could reveal the password (key v);
- no password on a command line: the tabs get it in ``SMTPSTEP_PASSWORD``;
- the page loads nothing from the network: textual-serve links a web font from the internet; the page
  uses textual-serve's own copy of Roboto Mono, served from here, and the browser's local fonts for
  the symbols it lacks;
- a WebSocket is accepted only from a page that this server served (its Origin names the Host it asked),
  and on loopback only for a loopback host name, so that no other web site can drive a tab (DNS rebinding);
- when a tab closes, or the server stops, its app is asked to quit; SIGTERM and then SIGKILL to its
  process group follow if it does not; its pipes are read to their end, so nothing is left for the event loop
  after it closes (a quiet exit on SIGTERM); then its private TMPDIR is removed; a tab whose server vanished
  ends itself (its stdin hangs up), and a TMPDIR that a killed server left behind is removed when ``web``
  next starts (``remove_orphaned_folders``: a folder's lock is held while its tab lives);
- textual-serve, aiohttp and Textual are imported only when the command runs: ``smtpstep.app.cli`` imports this
  module to build its parser.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import json
import os
import re
import select
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from smtpstep.app.commands.web.preload import PRELOAD, ForkedProcess, Preloader, can_fork, run_preloader
from smtpstep.app.session.settings import PASSWORD_ENV, UsageError, settings_from_args

if TYPE_CHECKING:
    from aiohttp import web

PROG = "smtpstep web"

DEFAULT_PORT = 8000
"""textual-serve's own default."""

DEFAULT_MAX_TABS = 30
"""A class of students; each tab is an app process of about 80 MB."""

LOOPBACK = "127.0.0.1"

TAB_ENV = "SMTPSTEP_WEB_TAB"
"""Set to 1 in a tab's environment: ``smtpstep web`` then runs the app instead of a server."""

QUIT_GRACE = 3.0
"""Seconds a tab's app has to quit by itself before its process group gets SIGTERM."""

TERM_GRACE = 2.0
"""Seconds after SIGTERM before SIGKILL."""

ORPHAN_GRACE = 3.0
"""Seconds a tab whose server went away gives its app to quit before it exits hard."""

HEARTBEAT = 15.0
"""WebSocket ping interval: a browser that vanished without closing is noticed within about this."""

WIDTH = (80, 10, 1000)
"""A tab's terminal width: default, least, most. The same for ``?width=`` and every ``resize``."""

HEIGHT = (24, 5, 500)
"""A tab's terminal height: default, least, most."""

MAX_MESSAGE = 64 * 1024
"""Largest WebSocket message from a page (typed or pasted input, a resize, a ping); larger ones close it."""

MAX_PING = 256
"""Longest ping payload echoed back."""

TAB_FOLDER_PREFIX = "smtpstep-web-tab-"
"""Each tab's TMPDIR, made in the server's temporary folder."""

LOCK_NAME = ".smtpstep-web-tab.lock"
"""A file in each tab folder, locked by the server while the tab lives."""

FILES_FOLDER = "files"
"""Inside a tab's TMPDIR: where a confined tab saves exports and screenshots."""

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


# --- Flags ----------------------------------------------------------------------------------------


def add_web_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``smtpstep web`` on top of the stepper's own."""
    web = parser.add_argument_group("web")
    where = web.add_mutually_exclusive_group()
    where.add_argument("--host", metavar="ADDR", default=None,
                       help=f"the loopback address to serve on (default {LOOPBACK}); for other machines see --listen")
    where.add_argument("--listen", metavar="ADDR",
                       help="serve on this address so that other machines can open the page (e.g. 0.0.0.0); "
                            "prints a warning: whoever reaches it starts an app process here")
    web.add_argument("--port", type=_port, default=DEFAULT_PORT, metavar="N",
                     help=f"the HTTP port (default {DEFAULT_PORT}; 0 picks a free port)")
    web.add_argument("--max-tabs", type=_count, default=DEFAULT_MAX_TABS, metavar="N",
                     help=f"at most this many tabs (app processes) at once (default {DEFAULT_MAX_TABS})")
    web.add_argument("--allow-host", metavar="NAME", action="append", type=_host_name, default=[],
                     help="also answer to this host name (as browsers send it in Host), e.g. the machine's name on "
                          "the classroom network; repeatable. Other names get 403 (no DNS rebinding)")
    web.add_argument("--follow", action="store_true",
                     help="every tab follows the session a teacher broadcasts on this machine (smtpstep --broadcast): "
                          "read-only, secrets hidden, each student stepping back and forth on their own screen")
    web.add_argument("--tabs", choices=("fork", "spawn"), default="fork",
                     help="how a tab's app starts: forked from a parent that imported the stepper once (fork, the "
                          "default: fast and small), or as a fresh Python process of its own (spawn)")
    web.add_argument("--allow-servers", action="store_true",
                     help="with --listen: let tabs connect to servers other than their built-in one (key c)")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"“{text}” is not a port number from 0 to 65535")
    return int(text)


def _host_name(text: str) -> str:
    name = text.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"“{text}” is not a host name (letters, digits, hyphens and dots)")
    return name


_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"“{text}” is not a number from 1 to 1000")
    return int(text)


def bind_address(host: str | None, listen: str | None) -> tuple[str, bool]:
    """The address to bind and whether it is loopback; ``UsageError`` names a wrong one."""
    if listen is not None:
        address = _ip_address("--listen", listen)
        return str(address), address.is_loopback
    if host is None:
        return LOOPBACK, True
    address = _ip_address("--host", host)
    if not address.is_loopback:
        raise UsageError(
            f"--host {host} is not a loopback address; to let other machines open the page, say so with "
            f"--listen {host} (anyone who reaches it then starts an app process on this machine)"
        )
    return str(address), True


def _ip_address(flag: str, value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    text = value.strip()
    if text.lower() in _LOOPBACK_NAMES:
        return ipaddress.ip_address(LOOPBACK)
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"{flag} {value} is not an IP address; give one such as 127.0.0.1, ::1 or 0.0.0.0") from None


# --- The command ----------------------------------------------------------------------------------


def run_web(args: argparse.Namespace, words: Sequence[str], step: Callable[[argparse.Namespace], int], *,
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Serve the stepper until Ctrl-C; in a tab's process (``SMTPSTEP_WEB_TAB=1``), run the app itself.

    ``words`` are the command-line words after ``web``, given to each tab as they are; ``step`` runs the
    terminal app with parsed options (``smtpstep step``).
    """
    if os.environ.get(TAB_ENV) == "1":
        return run_tab(args, step)
    if os.environ.get(TAB_ENV) == PRELOAD:
        return run_preloader(args, lambda tab_args: run_tab(tab_args, step))
    out = out or sys.stdout
    err = err or sys.stderr
    host, loopback = bind_address(args.host, args.listen)
    if not loopback and args.user is not None and args.server is not None:
        raise UsageError(
            f"--listen with --user would hand the password for {args.user} to every browser that opens the "
            "page (the reveal key shows it); keep the page on loopback, or use the built-in server's demo login"
        )
    settings = settings_from_args(args)  # every problem is found here, once, and a password asked for here
    try:
        import aiohttp  # noqa: F401
        import textual_serve  # noqa: F401
    except ImportError as error:
        raise UsageError(f"smtpstep web needs textual-serve ({error}); install it with pip install textual-serve") from None

    env = {TAB_ENV: "1"}
    if args.user is not None and settings.password is not None:
        env[PASSWORD_ENV] = settings.password  # a tab finds it where `smtpstep step` looks, and asks nobody
    tab = TabCommand(argv=tab_argv(words), env=env)
    server = WebServer(tab, host=host, port=args.port, loopback=loopback, max_tabs=args.max_tabs, out=out, err=err,
                       allowed_hosts=tuple(args.allow_host), fork=args.tabs == "fork" and can_fork())
    if not loopback:
        _warn_listening(err, host, args.port, args.max_tabs, allow_servers=args.allow_servers,
                        names=server.host_names())
    remove_orphaned_folders(Path(tempfile.gettempdir()))
    return asyncio.run(server.run())


def tab_argv(words: Sequence[str]) -> list[str]:
    """The command a tab runs: this Python, with the project as installed (``-P``: not the working
    directory, which may hold another ``app`` folder), and the same options."""
    return [sys.executable, "-P", "-m", "smtpstep.app.cli", "web", *words]


def _warn_listening(err: TextIO, host: str, port: int, max_tabs: int, *, allow_servers: bool = False,
                    names: str = "") -> None:
    shown = f"[{host}]" if ":" in host else host
    reach = ("connect from this machine to any SMTP server it names (--allow-servers)" if allow_servers else
             "run SMTP sessions against its own built-in server (no other server: --allow-servers would allow it)")
    print(f"{PROG}: warning: serving on {shown}:{port}, not loopback: anyone who can reach this address can open "
          f"the stepper, and every tab starts an app process on this machine (at most {max_tabs} at once, "
          f"--max-tabs). A tab can {reach}, save exports and screenshots into a folder of its own (offered to the "
          "browser as downloads, nowhere else on this machine), and show everything its session shows. The "
          f"built-in server's demo password is public. The page answers to {names} (--allow-host adds a name).",
          file=err, flush=True)


# --- A tab's own process --------------------------------------------------------------------------


def run_tab(args: argparse.Namespace, step: Callable[[argparse.Namespace], int]) -> int:
    """Run the app for one tab, and end it when the server goes away. A tab of a server that others can
    reach (``--listen``) is confined: files only into its own folder, the built-in server only."""
    end_when_stdin_hangs_up(ORPHAN_GRACE)
    _, loopback = bind_address(args.host, args.listen)
    if not loopback:
        from smtpstep.app.session.confinement import Confinement, confine

        confine(Confinement(Path(tempfile.gettempdir()) / FILES_FOLDER, allow_servers=args.allow_servers))
    if getattr(args, "follow", False):
        from smtpstep.app.commands.web.follow import run_follower

        return run_follower(args)
    return step(args)


def end_when_stdin_hangs_up(grace: float) -> threading.Thread | None:
    """Ask the app to quit once the other end of stdin is gone (the server), and exit hard after ``grace``.

    Textual's web driver only stops reading when its stdin ends; the app would go on running, writing to a
    pipe nobody reads. ``poll`` reports the hang-up without reading, so the driver still gets every byte.
    """
    if not hasattr(select, "poll"):
        return None

    def watch() -> None:
        poller = select.poll()
        poller.register(0, 0)  # no events asked for: POLLHUP, POLLERR and POLLNVAL are reported anyway
        while True:
            try:
                if poller.poll():
                    break
            except InterruptedError:
                continue
        os.kill(os.getpid(), signal.SIGTERM)  # the web driver turns SIGTERM into a clean exit
        time.sleep(grace)
        os._exit(1)

    thread = threading.Thread(target=watch, name="smtpstep-web-orphan", daemon=True)
    thread.start()
    return thread


# --- The page -------------------------------------------------------------------------------------

_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE | re.DOTALL)
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>",
                              re.IGNORECASE | re.DOTALL)

FONT_FILES = {"normal": "RobotoMono-VariableFont_wght.ttf", "italic": "RobotoMono-Italic-VariableFont_wght.ttf"}
"""textual-serve ships Roboto Mono in its static folder but links Google's copy instead."""

_OFFLINE_HEAD = """
    <!-- smtpstep: nothing from the network. textual-serve's own Roboto Mono, from this server; the
         symbols it lacks (arrows, check marks, emoji) come from the browser's local fonts. -->
    <link rel="preload" href="{{ config.static.url }}fonts/%(normal)s" as="font" type="font/ttf" crossorigin />
    <style>
      @font-face {
        font-family: "Roboto Mono";
        font-style: normal;
        font-weight: 100 700;
        font-display: block;
        src: url("{{ config.static.url }}fonts/%(normal)s") format("truetype");
      }
      @font-face {
        font-family: "Roboto Mono";
        font-style: italic;
        font-weight: 100 700;
        font-display: block;
        src: url("{{ config.static.url }}fonts/%(italic)s") format("truetype");
      }
    </style>
    <script>
      // xterm.js measures its cell size when the page has loaded: let the font arrive first, but not
      // for long. textual.js has set window.onload by now.
      (function () {
        var start = window.onload;
        if (typeof start !== "function" || !document.fonts) return;
        window.onload = function (event) {
          var fonts = Promise.all([
            document.fonts.load("16px 'Roboto Mono'"),
            document.fonts.load("bold 16px 'Roboto Mono'"),
          ]);
          var patience = new Promise(function (resolve) { setTimeout(resolve, 2000); });
          Promise.race([fonts, patience]).catch(function () {}).then(function () {
            start(event);
            // Keys go to the stepper at once: nobody has to click into a projected page first.
            var input = document.querySelector(".textual-terminal textarea");
            if (input) input.focus();
          });
        };
      })();
    </script>
  </head>""" % FONT_FILES


def offline_page(template: str) -> str:
    """textual-serve's page template without anything from the network, with the local font."""
    text = _EXTERNAL_LINK.sub("", template)
    text = _EXTERNAL_SCRIPT.sub("", text)
    head_end = text.lower().rfind("</head>")
    if head_end < 0:
        raise ValueError("textual-serve's page template has no </head>")
    return text[:head_end] + _OFFLINE_HEAD.strip("\n") + text[head_end + len("</head>"):]


def textual_serve_folder() -> Path:
    import textual_serve

    return Path(textual_serve.__file__).resolve().parent


@cache
def page_template() -> str:
    return offline_page((textual_serve_folder() / "templates" / "app_index.html").read_text(encoding="utf-8"))


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


def new_tab_folder() -> tuple[Path, int | None]:
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
    folder = making.with_name(TAB_FOLDER_PREFIX + making.name.removeprefix("smtpstep-web-new-"))
    os.rename(making, folder)
    return folder, descriptor


def remove_orphaned_folders(temp: Path) -> list[Path]:
    """Remove the tab folders in ``temp`` that no running ``smtpstep web`` holds (their server was killed); the
    folders removed. A folder is held while its lock file is locked (``new_tab_folder``); one without a lock
    file (an older smtpstep's) is left alone for a minute."""
    try:
        import fcntl
    except ImportError:
        return []
    removed = []
    for folder in sorted(temp.glob(f"{TAB_FOLDER_PREFIX}*")):
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
def _tab_service_type() -> type:
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

        def __init__(self, tab: TabCommand, preloader: Preloader | None = None, **kwargs: Any) -> None:
            super().__init__(shlex.join(tab.argv), **kwargs)
            self._tab = tab
            self._preloader = preloader
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
            if self._preloader is not None and await self._preloader.wait_started():
                with contextlib.suppress(OSError):  # the parent is gone: this tab is spawned instead
                    forked = await self._preloader.fork({name: env[name] for name in FORKED_ENV})
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
                    shutil.rmtree(self._tmp, ignore_errors=True)
                if self._lock is not None:
                    os.close(self._lock)
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


FORKED_ENV = ("COLUMNS", "ROWS", "TMPDIR")
"""What a forked tab's environment has of its own; the rest is its preloaded parent's."""


def preloader_environment(tab: TabCommand) -> dict[str, str]:
    """The preloaded parent's environment: a tab's, as textual-serve makes it (Textual reads its driver, frame
    rate and colours when it is imported), with ``SMTPSTEP_WEB_TAB=preload``."""
    from textual_serve.app_service import AppService

    env = AppService._build_environment(argparse.Namespace(debug=False))
    env.update(tab.env)
    env[TAB_ENV] = PRELOAD
    return env


class WebServer:
    """The HTTP and WebSocket server: the page, textual-serve's static files, one app process per tab."""

    def __init__(self, tab: TabCommand, *, host: str, port: int, loopback: bool, max_tabs: int,
                 out: TextIO, err: TextIO, allowed_hosts: Sequence[str] = (), fork: bool = False) -> None:
        self.tab = tab
        self.preloader = Preloader(tab.argv, preloader_environment(tab)) if fork else None
        """The parent every tab is forked from (``--tabs fork``), or None: each tab a process of its own."""
        self.host = host
        self.port = port
        self.loopback = loopback
        """Only loopback host names may ask for the page (no DNS rebinding)."""
        self.allowed_hosts = frozenset(name.lower() for name in allowed_hosts)
        """Host names accepted besides the listen address (``--allow-host``)."""
        self.max_tabs = max_tabs
        self.out = out
        self.err = err
        self.tabs: dict[int, Any] = {}
        """Open tabs by number: their ``TabService``."""
        self._numbers = itertools.count(1)
        self._stopping = False
        self._sockets: set[web.WebSocketResponse] = set()
        self._helper: Any = None

    # Plumbing shared with textual-serve's own server: its downloads (a tab's files offered to its browser).
    def _textual_serve(self) -> Any:
        if self._helper is None:
            from textual_serve.server import Server

            self._helper = Server(shlex.join(self.tab.argv), host=self.host, port=self.port, title="smtpstep")
        return self._helper

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def make_app(self) -> web.Application:
        import aiohttp_jinja2
        import jinja2
        from aiohttp import web

        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            if not self.host_allowed(request.headers.get("Host")):
                raise web.HTTPForbidden(text=f"smtpstep web answers only to {self.host_names()}\n")
            if request.path == "/ws" and not self.origin_allowed(request.headers.get("Origin"), request.host):
                raise web.HTTPForbidden(text="smtpstep web: this connection does not come from its page\n")
            return await handler(request)

        app = web.Application(middlewares=[guard])
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": page_template()}), autoescape=True)
        static = textual_serve_folder() / "static"
        app.add_routes([
            web.get("/", self._index, name="index"),
            web.get("/ws", self._websocket, name="websocket"),
            web.get("/download/{key}", self._textual_serve().handle_download, name="download"),
            web.static("/static", static, show_index=False, name="static"),
        ])
        app.on_shutdown.append(self._close_sockets)
        return app

    async def run(self) -> int:
        """Serve until SIGINT, SIGTERM or SIGHUP; then end every tab's app. The exit code."""
        from aiohttp import web

        runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            shown = f"[{self.host}]" if ":" in self.host else self.host
            reason = "it is in use" if error.errno in (98, 48, 10048) else (error.strerror or str(error))
            print(f"{PROG}: cannot serve on {shown}:{self.port}: {reason}; pick another port with --port "
                  "(0 picks a free one).", file=self.err, flush=True)
            return 1
        port = runner.addresses[0][1]
        preloading = asyncio.ensure_future(self._preload()) if self.preloader is not None else None
        self._say(f"{PROG}: open {self._url(port)} in a browser; each tab gets its own stepper "
                  "(and its own built-in server).")
        self._say("Ctrl-C stops the server and every tab's app.")
        self._say("ready")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            self._stopping = True
            await self.end_tabs()
            await runner.cleanup()
            await self.end_tabs()  # a tab whose handler was cancelled during clean-up
            if preloading is not None:
                preloading.cancel()
                with contextlib.suppress(BaseException):
                    await preloading
            if self.preloader is not None:
                await self.preloader.stop()
        self._say(f"{PROG}: stopped")
        return 0

    async def _preload(self) -> None:
        """Start the parent tabs are forked from, while the page is already served (a tab that comes first
        waits for it); without it, tabs are spawned."""
        assert self.preloader is not None
        try:
            await self.preloader.start()
        except OSError as error:
            self._say(f"{PROG}: tabs start as processes of their own ({error})")
            return
        assert self.preloader.process is not None
        self._say(f"{PROG}: tabs are forked from process {self.preloader.process.pid}, which has the stepper loaded")

    def _url(self, port: int) -> str:
        host = self.host
        if ipaddress.ip_address(host).is_unspecified:
            host = "THIS-MACHINE"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    async def end_tabs(self) -> None:
        """End every tab's app, all at once."""
        services = list(self.tabs.values())
        if services:
            await asyncio.gather(*(service.end() for service in services), return_exceptions=True)

    async def _close_sockets(self, app: web.Application) -> None:
        from aiohttp import WSCloseCode

        for socket in list(self._sockets):
            with contextlib.suppress(Exception):
                await socket.close(code=WSCloseCode.GOING_AWAY, message=b"smtpstep web stopped")

    # --- Requests ---

    def host_allowed(self, host: str | None) -> bool:
        """Whether the Host header names this server, in every mode, so that a DNS name rebound to this
        machine by some web site (its page sends that name as Host) reaches no tab.

        Accepted: the names given with ``--allow-host``; on loopback, loopback names and addresses; with
        ``--listen ADDR``, ADDR itself, or, for a wildcard (0.0.0.0, ::), any IP address: an address typed
        into the browser is no name that a web site controls.
        """
        if not host:
            return False
        try:
            name = (urlsplit(f"//{host}").hostname or "").rstrip(".")
        except ValueError:  # a port that is not a number, brackets that do not close...
            return False
        if name in self.allowed_hosts:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return self.loopback and name in _LOOPBACK_NAMES
        if self.loopback:
            return address.is_loopback
        listen = ipaddress.ip_address(self.host)
        return address == listen or (listen.is_unspecified and address.version == listen.version)

    def host_names(self) -> str:
        """The names the page answers to, in words (for the warning and the 403 page)."""
        if self.loopback:
            names = ["loopback addresses (127.0.0.1, ::1)", "localhost"]
        elif ipaddress.ip_address(self.host).is_unspecified:
            names = ["this machine's IP addresses"]
        else:
            names = [self.host]
        names += sorted(self.allowed_hosts)
        return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]

    @staticmethod
    def origin_allowed(origin: str | None, host: str | None) -> bool:
        """A WebSocket must come from a page this server served: no other site may drive a tab."""
        if not origin or not host:
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()

    async def _index(self, request: web.Request) -> web.StreamResponse:
        import aiohttp_jinja2

        origin = f"{request.scheme}://{request.host}"
        websocket = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}/ws"
        context = {
            "font_size": _clamp(request.query.get("fontsize"), 16, 6, 64),
            "app_websocket_url": websocket,
            "config": {"static": {"url": f"{origin}/static/"}},
            "application": {"name": "smtpstep"},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        if self._stopping:
            raise web.HTTPServiceUnavailable(text="smtpstep web is stopping\n")
        if len(self.tabs) >= self.max_tabs:
            self._say(f"tab refused: {len(self.tabs)} tabs are open already (--max-tabs {self.max_tabs})")
            raise web.HTTPServiceUnavailable(text=f"smtpstep web: {self.max_tabs} tabs are open already\n")
        width = _clamp(request.query.get("width"), *WIDTH)
        height = _clamp(request.query.get("height"), *HEIGHT)
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE)
        await socket.prepare(request)
        number = next(self._numbers)
        service = _tab_service_type()(
            self.tab,
            self.preloader,
            write_bytes=socket.send_bytes,
            write_str=socket.send_str,
            close=socket.close,
            download_manager=self._textual_serve().download_manager,
        )
        self.tabs[number] = service
        self._sockets.add(socket)
        try:
            await service.start(width, height)
            self._say(f"tab {number}: app process {service.pid} started for {request.remote}")
            await TabMessages(socket, service).relay()
        except asyncio.CancelledError:
            pass
        except Exception as error:  # noqa: BLE001 - a broken tab must not stop the others
            self._say(f"tab {number}: {type(error).__name__}: {error}")
        finally:
            began = time.monotonic()
            how = await service.end()
            self.tabs.pop(number, None)
            self._sockets.discard(socket)
            with contextlib.suppress(Exception):
                await socket.close()
            if service.pid is not None:
                code = service.returncode
                self._say(f"tab {number}: app process {service.pid} ended ({how}, exit {code}, "
                          f"{time.monotonic() - began:.1f} s)")
        return socket


class TabMessages:
    """A page's messages to its tab's app, checked one by one: the protocol of textual-serve's page
    (``Server._process_messages``: ``stdin``, ``resize``, ``ping``, ``blur``, ``focus``), with every value's
    type checked and bounded. A page may be anyone's: ``resize`` is clamped like the query string (a
    10000x10000 terminal took one tab to 1.6 GB), and whatever does not fit is dropped, not passed on."""

    def __init__(self, socket: web.WebSocketResponse, service: Any) -> None:
        self.socket = socket
        self.service = service

    async def relay(self) -> None:
        """Pass the page's messages on until it closes."""
        from aiohttp import WSMsgType

        async for message in self.socket:
            if message.type == WSMsgType.TEXT and len(message.data) <= MAX_MESSAGE:
                await self.one(message.data)

    async def one(self, text: str) -> None:
        try:
            envelope = json.loads(text)
        except (ValueError, RecursionError):
            return
        if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
            return
        kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
        if kind == "stdin" and isinstance(data, str):
            await self.service.send_bytes(data.encode("utf-8", "replace"))
        elif kind == "resize" and isinstance(data, dict):
            await self.service.set_terminal_size(_clamp(data.get("width"), *WIDTH), _clamp(data.get("height"), *HEIGHT))
        elif kind == "ping" and isinstance(data, str | int | float) and len(str(data)) <= MAX_PING:
            await self.socket.send_json(["pong", data])
        elif kind == "blur":
            await self.service.blur()
        elif kind == "focus":
            await self.service.focus()


def _clamp(value: object, default: int, low: int, high: int) -> int:
    """``value`` (a query string's text or a number from a message) as a whole number from ``low`` to ``high``;
    ``default`` for anything that is none."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return default
    try:
        number = int(value)  # "12.5", NaN and infinity are not whole numbers
    except (ValueError, OverflowError):
        number = default
    return max(low, min(high, number))
