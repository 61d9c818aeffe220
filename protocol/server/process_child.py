"""The built-in server's process, the child's side: ``python -m smtpstep.protocol.server.process_child``,
started by ``ServerProcess`` (``process.py``); the line protocol between the two is in ``pipe.py``.

The child runs ``LocalServer`` in the scenario asked for and, on request, STARTTLS-stripping relays
(``relay.py``) in front of its listeners, all on one asyncio loop (``seats.Seat``); it reports on stdout and
obeys the commands on stdin, one JSON object per line. With ``--shared`` it serves a seat of its own to each
tab of a ``smtpstep web`` server instead (``seats.py``), and its own pipe says only ``ready`` and takes ``stop``.

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
from typing import Any, NoReturn

from smtpstep.protocol.server.facts import BANNER_NAME
from smtpstep.protocol.server.pipe import MAX_LINE, STOP_TIMEOUT, encode
from smtpstep.protocol.server.seats import Seat, serve_seats

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
    parser.add_argument("--shared", action="store_true",
                        help="serve every tab of a web server a seat of its own (seats.py), over a Unix socket")
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
    """The server's process: one loop for the server (or, shared, the tabs' seats), its relays, the pipe
    and the commands."""

    def __init__(self, options: argparse.Namespace, pipe: int) -> None:
        self.options = options
        self._pipe = pipe
        self._seat: Seat | None = None
        self._out: asyncio.WriteTransport | None = None
        self._done = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for number in STOP_SIGNALS:
            loop.add_signal_handler(number, self._done.set)
        self._out, events = await loop.connect_write_pipe(lambda: _Events(self._done.set),
                                                          open(self._pipe, "wb", buffering=0))
        try:
            if self.options.shared:
                return await serve_seats(self.options, self._send, self._read_commands(loop), self._done)
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
                                 state_dir=options.state_dir, **fixed)
        except ValueError as error:  # an unknown scenario or certificate
            self._send({"event": "error", "message": str(error)})
            return 2
        seat = Seat(server, self._send)
        server.on_received, server.on_note = seat.received, seat.note
        try:
            await server.start()
        except OSError as error:
            await server.stop()  # a CA folder made before the failure goes too
            self._send({"event": "error", "message": _start_failure(server.host, options, error),
                        "port_in_use": error.errno == errno.EADDRINUSE})
            return 1
        self._seat = seat
        commands = asyncio.ensure_future(self._read_commands(loop))
        try:
            self._send(seat.ready())
            await self._done.wait()
        finally:
            commands.cancel()
            await seat.close()  # deliveries under way finish; the CA folder is removed
        return 0

    def _send(self, event: dict[str, Any]) -> None:
        if self._out is not None and not self._out.is_closing():
            self._out.write(encode(event))

    async def _read_commands(self, loop: asyncio.AbstractEventLoop) -> None:
        reader = asyncio.StreamReader(limit=MAX_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), open(0, "rb", buffering=0))
        try:
            while line := await reader.readline():
                try:
                    command = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(command, dict):
                    continue
                if self._seat is None:  # shared: the seats take their own commands; this pipe only says stop
                    if command.get("do") == "stop":
                        break
                elif not await self._seat.obey(command):
                    break
        except (ValueError, ConnectionError) as error:  # a line over the limit, or a broken pipe
            log.warning("the command pipe failed: %s", error)
        finally:
            self._done.set()  # stdin ended: the parent is gone, or wants this process gone


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
