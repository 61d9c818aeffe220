"""``smtpstep web``: the stepper served to browser tabs through textual-serve, one app process per tab.

Holds the ``web`` flags, the command itself and the tab side: what a tab's process does so that it ends
when its server goes away. Beside it: ``limits.py`` (the numbers and names shared), ``page.py`` (textual-serve's
page, patched to load nothing from the network), ``server.py`` (the aiohttp server and the checks on every
message from a page), ``tabs.py`` (each tab's process group and folder, and how they end), ``preload.py`` (tabs
forked from a parent that loaded the stepper once) and ``follow.py`` (a tab of ``--follow``: the teacher's
broadcast session, read-only).

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
import ipaddress
import os
import re
import select
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from smtpstep.app.commands.web.limits import (
    _LOOPBACK_NAMES,
    DEFAULT_MAX_TABS,
    DEFAULT_PORT,
    FILES_FOLDER,
    LOOPBACK,
    ORPHAN_GRACE,
    PROG,
    TAB_ENV,
)
from smtpstep.app.commands.web.limits import HEIGHT as HEIGHT
from smtpstep.app.commands.web.limits import LOCK_NAME as LOCK_NAME
from smtpstep.app.commands.web.limits import SEATS_FOLDER_PREFIX as SEATS_FOLDER_PREFIX
from smtpstep.app.commands.web.limits import TAB_FOLDER_PREFIX as TAB_FOLDER_PREFIX
from smtpstep.app.commands.web.limits import WIDTH as WIDTH
from smtpstep.app.commands.web.page import FONT_FILES as FONT_FILES
from smtpstep.app.commands.web.page import offline_page as offline_page
from smtpstep.app.commands.web.page import page_template as page_template
from smtpstep.app.commands.web.page import textual_serve_folder as textual_serve_folder
from smtpstep.app.commands.web.preload import PRELOAD, can_fork, run_preloader
from smtpstep.app.commands.web.server import TabMessages as TabMessages
from smtpstep.app.commands.web.server import WebServer
from smtpstep.app.commands.web.tabs import TabCommand, remove_orphaned_folders
from smtpstep.app.commands.web.tabs import end_process_group as end_process_group
from smtpstep.app.commands.web.tabs import tab_service_type as tab_service_type
from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.settings import PASSWORD_ENV, UsageError

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
                          "read-only (with --quiz, a student's answer is all that goes back), secrets hidden, each student "
                          "stepping back and forth on their own screen")
    web.add_argument("--tabs", choices=("fork", "spawn"), default="fork",
                     help="how a tab's app starts: forked from a parent that imported the stepper once (fork, the "
                          "default: fast and small), or as a fresh Python process of its own (spawn)")
    web.add_argument("--tab-servers", choices=("shared", "own"), default="shared",
                     help="the built-in server of the tabs: one process shared by all, each tab with a seat of its own "
                          "(its own listeners, Maildir, scenario and relays; shared, the default), or a process per tab")
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
                       allowed_hosts=tuple(args.allow_host), fork=args.tabs == "fork" and can_fork(),
                       share_server=args.tab_servers == "shared" and settings.builtin and not args.follow
                       and hasattr(socket, "AF_UNIX"))
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
    from smtpstep.app.session.lab import take_seat_early

    take_seat_early()  # while the app starts: a seat in the shared built-in server, if there is one
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

