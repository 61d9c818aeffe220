"""The built-in server in a process of its own, the parent's side: ``ServerProcess`` starts the child
(``process_child.py``), reads what it reports in a thread of its own, and offers the facts the app reads
from a ``LocalServer``: ``ports``, ``port_for``, ``ca_pem``, ``ca_path``, ``maildir_path``, ``received``
(``StoredMessage``, ``stored.py``), ``describe()``; and relays in the child (``RemoteRelay``).

The terminal app, ``smtpstep web`` tabs and ``smtpstep shots`` run the built-in server this way, so that
its work (a 25 MB message read line by line, then written and fsynced) never holds the interpreter lock
the screen needs. ``smtpstep run`` and ``smtpstep serve`` keep ``LocalServer`` in their own process: they
draw nothing.

The pipe between the two carries one JSON object per line (``pipe.py``).

Why a program of its own (``-m``) and not ``multiprocessing``: a fork of the app would copy a process
that has threads (Textual's input thread, workers) and the terminal's state; ``multiprocessing``'s
spawn starts the same fresh interpreter but also imports the parent's ``__main__`` in the child (the
app's command line, or pytest), pickles its messages, and may start a resource tracker. A plain child
with a line protocol starts in the time its imports take, and every byte between the two can be
counted (the tests do).

Rules:

- A message's bytes never cross the pipe: the parent reads the lines it shows from the Maildir file
  (``StoredMessage``). A 25 MB message is a few hundred bytes of JSON.
- The child never outlives the parent (``process_child.py`` says how). On Linux it dies with the
  parent's pipe thread (``PR_SET_PDEATHSIG``): the kernel sends that signal when the *thread* that
  forked the child exits, not the process, so the child is forked by the thread that reads its pipe,
  which lives exactly as long as the child is wanted. (Forked by a worker thread that only waited for
  "ready", the child would get the signal as soon as that worker ended.)
- Text from outside (addresses, a login name) crosses as JSON strings; whoever shows it escapes it as
  it would a ``LocalServer``'s record.
- It imports no asyncio, aiosmtpd or cryptography: those load in the child only.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from smtpstep.protocol.server.facts import ServerNote, listener_port
from smtpstep.protocol.server.pipe import MAX_LINE, STOP_TIMEOUT, encode, run_child
from smtpstep.protocol.server.stored import StoredMessage

__all__ = ["RemoteRelay", "ServerProcess", "ServerProcessError", "StoredMessage"]

log = logging.getLogger("smtpstep.server_process")
log.addHandler(logging.NullHandler())

START_TIMEOUT = 60.0
"""Seconds to wait for "ready": the child imports aiosmtpd, trustme and cryptography and makes a CA
(under a second on an idle machine, several on a busy one)."""
REPLY_TIMEOUT = 10.0
"""Seconds to wait for the child's reply to a command (a relay listening, a scenario switched)."""
RECEIVED_KEPT = 200
"""How many stored messages the parent remembers (each is a few hundred bytes; the Maildir keeps all)."""
class ServerProcessError(Exception):
    """The built-in server's process could not start or answer, in plain words. From ``start``, the words
    complete "the built-in server could not start: …"; from a command, they are a sentence of their own."""

    def __init__(self, message: str, *, port_in_use: bool = False) -> None:
        super().__init__(message)
        self.port_in_use = port_in_use
        """True when a port asked for is taken (another one may do)."""


# --- What the parent is told -------------------------------------------------------------------------


class RemoteRelay:
    """A STARTTLS-stripping relay running in the server's process (``relay.StartTlsStripper`` there)."""

    def __init__(self, owner: ServerProcess, ident: int, on_tamper: Callable[[str], None] | None) -> None:
        self.port = 0
        """The port clients connect to, once it listens."""
        self.tampering: list[str] = []
        """What the relay changed or could not read, in plain words, oldest first."""
        self.on_tamper = on_tamper
        """Called with each new ``tampering`` line, on the pipe's thread."""
        self._owner = owner
        self._ident = ident

    def stop(self) -> None:
        """Ask the server's process to close it (without waiting: its connections end there)."""
        self._owner._forget_relay(self._ident)


# --- The parent's handle -----------------------------------------------------------------------------


class ServerProcess:
    """The built-in server, run by a child process; what the app reads from a ``LocalServer``, and relays.

    ``start()`` blocks until the child is ready (call it from a worker thread); ``stop()`` blocks until
    the child has ended. From any thread: read ``received``, ``ports``, ``describe()``; call
    ``start_relay`` and ``set_scenario`` (each waits for the child's reply, a millisecond or so).
    """

    host = "127.0.0.1"
    """Where every listener binds (loopback only)."""

    def __init__(self, *, scenario: str = "normal", plain_port: int = 0, submission_port: int = 0,
                 submissions_port: int = 0, maildir: Path | None = None, state_dir: Path | None = None,
                 certificate: str = "valid", log_path: Path | None = None,
                 fixed_clock: datetime.datetime | None = None,
                 on_received: Callable[[StoredMessage], None] | None = None, shared: bool = False) -> None:
        self.ports: dict[str, int] = {"plain": plain_port, "submission": submission_port,
                                      "submissions": submissions_port}
        """Listener name to port; the real ports once ready (0 before means "pick a free one")."""
        self.scenario = scenario
        """Name of the active scenario."""
        self.certificate = certificate
        """Which certificate variant the server presents."""
        self.ca_pem = b""
        """PEM of the CA to trust, once ready."""
        self.maildir_path: Path | None = Path(maildir) if maildir is not None else None
        """The Maildir every accepted message goes to (the server's default until ready)."""
        self.log_path = log_path
        """Where the child's stderr goes (its warnings, a crash); None for nowhere."""
        self.on_received = on_received
        """Called with each ``StoredMessage`` on the pipe's thread; an app forwards it to its own loop."""
        self.pid: int | None = None
        """The child's process id, once started."""
        self.pipe_bytes = 0
        """Bytes read from the child's reports so far (a 25 MB message adds a few hundred)."""
        self.seats_socket: str | None = None
        """Shared (``shared=True``): the Unix socket where each tab gets a seat of its own (``SeatClient``)."""
        self._ca_path: Path | None = None
        self._describe: list[str] = []
        self._argv = [sys.executable, "-m", "smtpstep.protocol.server.process_child",
                      "--parent", str(os.getpid()), "--scenario", scenario, "--certificate", certificate,
                      "--plain-port", str(plain_port), "--submission-port", str(submission_port),
                      "--submissions-port", str(submissions_port)]
        if maildir is not None:
            self._argv += ["--maildir", str(maildir)]
        if state_dir is not None:
            self._argv += ["--state-dir", str(state_dir)]
        if shared:
            self._argv.append("--shared")
        if fixed_clock is not None:  # pictures that must not change: the Received date, numbered queue IDs
            self._argv += ["--fixed-clock", fixed_clock.isoformat()]
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ready = threading.Event()
        self._failure: ServerProcessError | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        """Where commands are written: the child's stdin (a seat's connection for ``SeatClient``)."""
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._running = False
        self._received: collections.deque[StoredMessage | ServerNote] = collections.deque(maxlen=RECEIVED_KEPT)
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._relays: dict[int, RemoteRelay] = {}

    # --- Facts ------------------------------------------------------------------------------------

    @property
    def ca_path(self) -> Path:
        """File holding ``ca_pem``; exists while the server runs."""
        if self._ca_path is None:
            raise RuntimeError("the built-in server is not ready: ca_path does not exist yet")
        return self._ca_path

    @property
    def is_running(self) -> bool:
        """Whether the child is ready and has not ended."""
        return self._running

    @property
    def received(self) -> list[StoredMessage | ServerNote]:
        """The latest stored messages, oldest first, with the server's notes among them (a copy, safe to read
        from any thread)."""
        with self._lock:
            return list(self._received)

    def port_for(self, security: str) -> int:
        """The port for a client's security setting: ``none``, ``starttls`` or ``tls``."""
        return listener_port(self.ports, security)

    def describe(self) -> list[str]:
        """Lines telling a person how to reach and use the server (the server's own words)."""
        return list(self._describe) or ["smtpstep local server (starting)"]

    # --- Lifecycle --------------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the child and wait until it listens. Raises ``ServerProcessError`` (one plain sentence)."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the child (its pipe thread forks it) without waiting for it."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="smtpstep-server-pipe", daemon=True)
            self._thread.start()  # under the lock: stop() may join it as soon as it is there

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for "ready"; raise ``ServerProcessError`` if the child failed, ended or took too long."""
        if not self._ready.wait(timeout):
            self.stop()
            raise ServerProcessError(f"it was not ready within {timeout:g} seconds")
        if self._failure is not None:
            raise self._failure

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the child to stop and wait until it has (killing it after ``timeout``). Safe to call twice."""
        with self._lock:
            self._stopping = True
            process, thread, ready = self._process, self._thread, self._ready.is_set()
        if thread is None:
            return
        self._hang_up()
        if process is not None and not ready:  # still importing: nothing to finish, and SIGTERM ends it as cleanly
            with contextlib.suppress(OSError):
                process.terminate()
        thread.join(timeout)
        if thread.is_alive():
            self._abort(timeout)
            thread.join(timeout)

    def _abort(self, waited: float) -> None:
        """The child did not stop when asked: kill it."""
        with self._lock:
            process = self._process
        if process is not None:
            log.warning("the built-in server's process %s did not stop within %g s: killed", process.pid, waited)
            with contextlib.suppress(OSError):
                process.kill()

    # --- Commands ---------------------------------------------------------------------------------

    def start_relay(self, upstream_port: int, *, on_tamper: Callable[[str], None] | None = None,
                    timeout: float = REPLY_TIMEOUT) -> RemoteRelay:
        """Start a STARTTLS-stripping relay in front of the listener on ``upstream_port``; return once it listens."""
        ident = next(self._ids)
        relay = RemoteRelay(self, ident, on_tamper)
        with self._lock:
            self._relays[ident] = relay
        try:
            reply = self._request({"do": "relay", "upstream_port": upstream_port}, timeout, ident=ident)
        except ServerProcessError:
            with self._lock:
                self._relays.pop(ident, None)
            raise
        relay.port = int(reply["port"])
        return relay

    def set_scenario(self, name: str, *, timeout: float = REPLY_TIMEOUT) -> None:
        """Switch scenario (fresh state); sessions see it at their next command."""
        reply = self._request({"do": "scenario", "name": name}, timeout)
        self.scenario = str(reply["scenario"])
        self._describe = [str(line) for line in reply["describe"]]

    def _forget_relay(self, ident: int) -> None:
        with self._lock:
            self._relays.pop(ident, None)
        with contextlib.suppress(ServerProcessError):
            self._send({"do": "stop-relay", "relay": ident})

    def _request(self, command: dict[str, Any], timeout: float, *, ident: int | None = None) -> dict[str, Any]:
        ident = next(self._ids) if ident is None else ident
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self._lock:
            if not self._running:
                raise ServerProcessError("the built-in server is not running")
            self._pending[ident] = future
        try:
            self._send({**command, "id": ident})
            reply = future.result(timeout)
        except TimeoutError:
            raise ServerProcessError(f"the built-in server did not answer within {timeout:g} seconds") from None
        finally:
            with self._lock:
                self._pending.pop(ident, None)
        if "error" in reply:
            raise ServerProcessError(str(reply["error"]))
        return reply

    def _send(self, command: dict[str, Any]) -> None:
        out = self._out
        if out is None:
            raise ServerProcessError("the built-in server is not running")
        line = encode(command)
        with self._write_lock:
            try:
                out.write(line)
                out.flush()
            except (OSError, ValueError):  # the child has gone, or stdin was closed by stop()
                raise ServerProcessError("the built-in server's process has ended") from None

    def _hang_up(self) -> None:
        """Say stop, then close the child's stdin: either one ends it."""
        if self._out is None:
            return
        with contextlib.suppress(ServerProcessError):
            self._send({"do": "stop"})
        with self._write_lock, contextlib.suppress(OSError):
            self._out.close()

    # --- The pipe's thread ------------------------------------------------------------------------

    def _run(self) -> None:
        """Fork the child, then read its reports until it ends. This thread is the child's parent for
        ``PR_SET_PDEATHSIG``: it must live as long as the child does, and it does."""
        try:
            process = run_child(self._argv, self.log_path)
        except OSError as error:
            self._ended(ServerProcessError(f"its process could not be run ({error.strerror or error})"))
            return
        with self._lock:
            self._process, self.pid, self._out = process, process.pid, process.stdin
            stopping = self._stopping
        if stopping:
            self._hang_up()
            with contextlib.suppress(OSError):
                process.terminate()
        assert process.stdout is not None
        try:
            self._read_reports(process.stdout)
        finally:
            process.stdout.close()
            code = process.wait()
            with self._lock:
                stopped = self._stopping
            self._ended(None if stopped else ServerProcessError(
                f"its process ended (exit code {code}"
                + (f"; its log is {self.log_path})" if self.log_path is not None else ")")))

    def _read_reports(self, reports: IO[bytes]) -> None:
        """Take in the reports until they end."""
        try:
            while line := reports.readline(MAX_LINE):
                self.pipe_bytes += len(line)
                if not line.endswith(b"\n"):  # longer than any report: not one
                    while (rest := reports.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                        self.pipe_bytes += len(rest)
                    continue
                self._handle(line)
        except OSError as error:
            log.warning("reading the built-in server's pipe failed: %s", error)

    def _ended(self, failure: ServerProcessError | None) -> None:
        with self._lock:
            self._running = False
            pending, self._pending = list(self._pending.values()), {}
            if not self._ready.is_set():  # the child's own sentence first, if it said one
                self._failure = self._failure or failure or ServerProcessError("it was stopped before it was ready")
            self._ca_path = None
        for future in pending:
            future.set_exception(ServerProcessError("the built-in server's process has ended"))
        self._ready.set()

    def _handle(self, line: bytes) -> None:
        try:
            event = json.loads(line)
            kind = event["event"]
            if kind == "ready":
                self._take_ready(event)
            elif kind == "error":
                self._failure = ServerProcessError(str(event["message"]), port_in_use=bool(event.get("port_in_use")))
            elif kind == "received":
                self._take_received(event)
            elif kind == "note":
                self._take_note(ServerNote.from_report(event))
            elif kind == "tamper":
                self._take_tamper(event)
            elif kind == "reply":
                with self._lock:
                    future = self._pending.pop(int(event["id"]), None)
                if future is not None and not future.done():
                    future.set_result(event)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("the built-in server reported something unreadable (%s): %r", error, line[:200])

    def _take_ready(self, event: dict[str, Any]) -> None:
        if self._stopping:  # stop() came first: start() reports that once the child has ended
            return
        self.ports = {str(name): int(port) for name, port in event["ports"].items()}
        self.ca_pem = str(event["ca_pem"]).encode("ascii")
        self._ca_path = Path(event["ca_path"])
        self.maildir_path = Path(event["maildir"])
        self.scenario = str(event["scenario"])
        self._describe = [str(line) for line in event["describe"]]
        self.seats_socket = str(event["socket"]) if "socket" in event else None
        self._running = True
        self._ready.set()

    def _take_received(self, event: dict[str, Any]) -> None:
        assert self.maildir_path is not None
        record = StoredMessage.from_report(event, self.maildir_path)
        with self._lock:
            self._received.append(record)
        _tell(self.on_received, record)

    def _take_note(self, note: ServerNote) -> None:
        """A note goes before the message it names (as in the child's own list); ``on_received`` hears of it."""
        with self._lock:
            if len(self._received) == self._received.maxlen:
                self._received.popleft()
            keys = [record.key for record in self._received]
            self._received.insert(keys.index(note.before) if note.before in keys else len(keys), note)
        _tell(self.on_received, note)

    def _take_tamper(self, event: dict[str, Any]) -> None:
        with self._lock:
            relay = self._relays.get(int(event["relay"]))
        if relay is None:
            return
        text = str(event["text"])
        relay.tampering.append(text)
        _tell(relay.on_tamper, text)


def _tell(callback: Callable[[Any], None] | None, value: object) -> None:
    """Call a user's callback on the pipe's thread; what it raises is logged, and the pipe read on."""
    if callback is not None:
        try:
            callback(value)
        except Exception:
            log.exception("a callback of the built-in server's pipe failed")


