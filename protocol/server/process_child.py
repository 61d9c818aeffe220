"""The built-in server's process, the child's side: ``python -m smtpstep.protocol.server.process_child``,
started by ``ServerProcess`` (``process.py``); the line protocol between the two is in ``pipe.py``.

The child runs ``LocalServer`` in the scenario asked for and, on request, STARTTLS-stripping relays
(``relay.py``) in front of its listeners, all on one asyncio loop; it reports on stdout and obeys the
commands on stdin, one JSON object per line.

Rules:

- The child never outlives the parent. It stops when its stdin ends (the parent closed it, exited or
  was killed), and on Linux when the parent's pipe thread ends (``PR_SET_PDEATHSIG``).
- SIGTERM, SIGHUP and SIGINT stop the child the way ``stop`` does: the listeners close, deliveries
  under way finish (the server never loses a message it said 250 to), the temporary CA folder goes.
- The child draws nothing: its stderr is the log file the parent names (or /dev/null), and its stdout
  is the pipe alone (file descriptor 1 is pointed at stderr once the pipe is taken from it).
- Log lines are written with control characters escaped; text from outside crosses the pipe as JSON
  strings, for whoever shows it to escape.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from smtpstep.protocol.server.facts import BANNER_NAME
from smtpstep.protocol.server.pipe import MAX_LINE, STOP_TIMEOUT, encode

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage, ServerNote
    from smtpstep.protocol.server.relay import StartTlsStripper
    from smtpstep.protocol.server.server import LocalServer

__all__ = ["main"]

log = logging.getLogger("smtpstep.server_process")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>."""


def main(argv: list[str] | None = None) -> NoReturn:
    """The child: run the server until stdin ends, a ``stop`` command, or a stop signal."""
    options = _parser().parse_args(argv)
    # A Ctrl-C in a terminal not yet in the app's raw mode reaches the whole group: the app stops this
    # process itself, so until the loop runs, that signal is not ours to act on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(options.parent)
    pipe = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to the log, never into the pipe
    _log_to_stderr()
    code = asyncio.run(_Child(options, pipe).run())
    # Everything is stopped and flushed by now; skipping the interpreter's teardown of aiosmtpd, trustme
    # and cryptography lets the app that waits for this process quit some 50 ms sooner.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m smtpstep.protocol.server.process_child",
                                     description="The built-in server for the smtpstep app (started by it).")
    parser.add_argument("--parent", type=int, required=True, help="the process id to die with")
    parser.add_argument("--scenario", default="normal")
    parser.add_argument("--certificate", default="valid")
    for name in ("plain", "submission", "submissions"):
        parser.add_argument(f"--{name}-port", type=int, default=0)
    parser.add_argument("--maildir", type=Path)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--fixed-clock", type=datetime.datetime.fromisoformat,
                        help="the one time the server knows (ISO 8601), and queue IDs numbered from it")
    return parser


def _die_with_parent(parent: int) -> None:
    """Ask Linux for SIGTERM when the thread that forked us ends, then make sure it had not already."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent was gone before the signal was asked for
        raise SystemExit(0)


class _EscapingFormatter(logging.Formatter):
    """Log lines with control characters written as ``\\xNN``: what a client sent never drives a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join("".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" for c in line)
                         for line in super().format(record).split("\n"))


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_EscapingFormatter(f"%(asctime)s %(levelname)s server[{os.getpid()}] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


class _Events(asyncio.Protocol):
    """The write end of the pipe (stdout); its loss means the parent is gone."""

    def __init__(self, gone: Callable[[], None]) -> None:
        self._gone = gone
        self.closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._gone()


class _Child:
    """The server's process: one loop for the server, its relays, the pipe and the commands."""

    def __init__(self, options: argparse.Namespace, pipe: int) -> None:
        self.options = options
        self._pipe = pipe
        self._server: LocalServer | None = None
        self._relays: dict[int, StartTlsStripper] = {}
        self._out: asyncio.WriteTransport | None = None
        self._done = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for number in STOP_SIGNALS:
            loop.add_signal_handler(number, self._done.set)
        self._out, events = await loop.connect_write_pipe(lambda: _Events(self._done.set),
                                                          open(self._pipe, "wb", buffering=0))
        try:
            return await self._serve(loop)
        finally:
            self._out.close()  # flushes what is buffered first
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(events.closed), STOP_TIMEOUT)

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> int:
        from smtpstep.protocol.server.maildir import numbered_names
        from smtpstep.protocol.server.server import LocalServer  # aiosmtpd, trustme: in this process only

        options = self.options
        fixed: dict[str, Any] = {}
        if options.fixed_clock is not None:
            when = options.fixed_clock
            fixed = {"clock": lambda: when, "maildir_names": numbered_names(int(when.timestamp()), BANNER_NAME)}
        try:
            server = LocalServer(scenario=options.scenario, certificate=options.certificate,
                                 plain_port=options.plain_port, submission_port=options.submission_port,
                                 submissions_port=options.submissions_port, maildir=options.maildir,
                                 state_dir=options.state_dir, on_received=self._received,
                                 on_note=self._note, **fixed)
        except ValueError as error:  # an unknown scenario or certificate
            self._send({"event": "error", "message": str(error)})
            return 2
        try:
            await server.start()
        except OSError as error:
            await server.stop()  # a CA folder made before the failure goes too
            self._send({"event": "error", "message": _start_failure(server.host, options, error),
                        "port_in_use": error.errno == errno.EADDRINUSE})
            return 1
        self._server = server
        commands = asyncio.ensure_future(self._read_commands(loop))
        try:
            self._send({"event": "ready", "ports": server.ports,
                        "ca_pem": server.ca_pem.decode("ascii"), "ca_path": str(server.ca_path),
                        "maildir": str(server.maildir_path), "scenario": server.scenario,
                        "describe": server.describe()})
            await self._done.wait()
        finally:
            commands.cancel()
            for relay in list(self._relays.values()):
                await relay.stop()
            self._relays.clear()
            await server.stop()  # deliveries under way finish; the CA folder is removed
        return 0

    def _send(self, event: dict[str, Any]) -> None:
        if self._out is not None and not self._out.is_closing():
            self._out.write(encode(event))

    def _received(self, record: ReceivedMessage) -> None:
        # Called on this loop before the client is told 250, so the parent hears of a message before
        # its client does. Counting a 25 MB message's lines here (tens of milliseconds) spares the app
        # from reading it.
        self._send({"event": "received", "key": record.key, "mail_from": record.mail_from,
                    "rcpt_tos": list(record.rcpt_tos), "listener": record.listener, "tls": record.tls,
                    "auth_user": record.auth_user, "stored_size": len(record.stored),
                    "trace_size": record.trace_size, "line_count": record.line_count})

    def _note(self, note: ServerNote) -> None:
        self._send({"event": "note", **note.report()})

    async def _read_commands(self, loop: asyncio.AbstractEventLoop) -> None:
        reader = asyncio.StreamReader(limit=MAX_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), open(0, "rb", buffering=0))
        try:
            while line := await reader.readline():
                try:
                    command = json.loads(line)
                except ValueError:
                    continue
                if isinstance(command, dict):
                    await self._obey(command)
        except (ValueError, ConnectionError) as error:  # a line over the limit, or a broken pipe
            log.warning("the command pipe failed: %s", error)
        finally:
            self._done.set()  # stdin ended: the parent is gone, or wants this process gone

    async def _obey(self, command: dict[str, Any]) -> None:
        from smtpstep.protocol.server.relay import StartTlsStripper

        server = self._server
        assert server is not None
        what, ident = command.get("do"), command.get("id")
        reply: dict[str, Any] = {}
        if what == "stop":
            self._done.set()
        elif what == "relay":
            port = command.get("upstream_port")
            if port not in server.ports.values():
                reply = {"error": f"the relay can only be put in front of the server's own listeners, not port {port}"}
            else:
                relay = StartTlsStripper(server.host, port, on_tamper=lambda text: self._send(
                    {"event": "tamper", "relay": ident, "text": text}))
                try:
                    await relay.start()
                except OSError as error:
                    reply = {"error": f"the man in the middle could not listen ({error.strerror or error})"}
                else:
                    self._relays[ident] = relay
                    reply = {"port": relay.port}
        elif what == "stop-relay":
            stopped = self._relays.pop(command.get("relay"), None)
            if stopped is not None:
                await stopped.stop()
        elif what == "scenario":
            try:
                server.set_scenario(str(command.get("name")))
            except ValueError as error:
                reply = {"error": f"the built-in server cannot switch scenario: {error}"}
            else:
                reply = {"scenario": server.scenario, "describe": server.describe()}
        else:
            reply = {"error": f"the built-in server has no command {what!r}"}
        if isinstance(ident, int):
            self._send({"event": "reply", "id": ident, **reply})


def _start_failure(host: str, options: argparse.Namespace, error: OSError) -> str:
    """Why ``LocalServer.start`` failed, in words that complete "the built-in server could not start: …"."""
    reason = error.strerror or str(error)
    if error.filename is not None:  # the Maildir or the CA file
        return f"{error.filename} cannot be used ({reason})"
    if error.errno == errno.EADDRINUSE:
        asked = sorted({port for port in (options.plain_port, options.submission_port, options.submissions_port)
                        if port})
        return f"port {' or '.join(map(str, asked))} on {host} is already in use"
    return f"it cannot listen on {host} ({reason})"


if __name__ == "__main__":
    main()
