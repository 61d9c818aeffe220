"""The HTTP and WebSocket server of ``smtpstep web``: the page, textual-serve's static files, one app
process per tab, the Host and Origin checks, and every message from a page checked and bounded
(``TabMessages``)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import shlex
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from smtpstep.app.commands.web.preload import Preloader
from smtpstep.protocol.server.process import ServerProcess, ServerProcessError

if TYPE_CHECKING:
    from aiohttp import web
from smtpstep.app.commands.web.limits import (
    _LOOPBACK_NAMES,
    HEARTBEAT,
    HEIGHT,
    MAX_MESSAGE,
    MAX_PING,
    PROG,
    SEATS_FOLDER_PREFIX,
    WIDTH,
)
from smtpstep.app.commands.web.page import page_template, textual_serve_folder
from smtpstep.app.commands.web.tabs import (
    TabCommand,
    new_tab_folder,
    preloader_environment,
    remove_tab_folder,
    tab_service_type,
)


class WebServer:
    """The HTTP and WebSocket server: the page, textual-serve's static files, one app process per tab."""

    def __init__(self, tab: TabCommand, *, host: str, port: int, loopback: bool, max_tabs: int,
                 out: TextIO, err: TextIO, allowed_hosts: Sequence[str] = (), fork: bool = False,
                 share_server: bool = False) -> None:
        self.tab = tab
        self.preloader = Preloader(tab.argv, preloader_environment(tab)) if fork else None
        """The parent every tab is forked from (``--tabs fork``), or None: each tab a process of its own."""
        self.shared: ServerProcess | None = None
        """The built-in server every tab takes a seat in (``--tab-servers shared``), or None: each tab starts one."""
        self._seats: asyncio.Future[str | None] | None = None
        """The shared server's socket once it runs (None if it could not start)."""
        self._shared_folder: tuple[Path, int | None] | None = None
        """Where the shared server keeps its socket and the seats' Maildirs: locked as a tab's folder is, so that
        a next ``web`` removes it if this one is killed."""
        if share_server:
            self._shared_folder = new_tab_folder(SEATS_FOLDER_PREFIX)
            self.shared = ServerProcess(shared=True, state_dir=self._shared_folder[0])
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
        self._seats = asyncio.ensure_future(self._share_server()) if self.shared is not None else None
        server = "a seat of its own in the built-in server they share" if self.shared else "its own built-in server"
        self._say(f"{PROG}: open {self._url(port)} in a browser; each tab gets its own stepper (and {server}).")
        self._say("Ctrl-C stops the server and every tab's app.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        self._say("ready")  # only now: a Ctrl-C right after it is a normal stop, not a KeyboardInterrupt
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
            if self.shared is not None:  # after the tabs: their seats are closed by now
                await loop.run_in_executor(None, self.shared.stop)
            if self._shared_folder is not None:
                remove_tab_folder(*self._shared_folder)
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

    async def _share_server(self) -> str | None:
        """Start the built-in server the tabs share; its socket, or None (each tab then starts its own)."""
        assert self.shared is not None
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.shared.start)
        except ServerProcessError as error:
            self._say(f"{PROG}: each tab starts a built-in server of its own (the shared one could not start: {error})")
            return None
        self._say(f"{PROG}: tabs share the built-in server in process {self.shared.pid}, each with its own "
                  "listeners, Maildir and scenario")
        return self.shared.seats_socket

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
        service = tab_service_type()(
            self.tab,
            self.preloader,
            write_bytes=socket.send_bytes,
            write_str=socket.send_str,
            close=socket.close,
            download_manager=self._textual_serve().download_manager,
            seats=self._seats,
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
