"""A running ``smtpstep web`` for tests, and what the operating system says about its processes.

``start_web`` runs the real command as a subprocess on loopback with a free port and throwaway XDG
folders. Process facts come from ``/proc``, not from what the server prints: a tab's app has ended when
no live process is left in its process group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.env import REPO

CLEANUP_SECONDS = 12.0
"""More than the server's quit, SIGTERM and SIGKILL waits together (3 + 2 + a little)."""


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k != "SMTPSTEP_PASSWORD"}
    values.update(
        XDG_DATA_HOME=str(tmp / "data"), XDG_STATE_HOME=str(tmp / "state"), XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_CACHE_HOME=str(tmp / "cache"), XDG_RUNTIME_DIR=str(tmp / "runtime"), PYTHONPATH=str(REPO),
        TMPDIR=str(tmp / "tmp"),
    )
    values.update(extra)
    for folder in ("runtime", "tmp"):
        (tmp / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    return values


def leftovers(tmp: Path) -> list[str]:
    """What the tabs' apps left in their temporary folder (each built-in server makes one and removes it)."""
    return sorted(path.name for path in (tmp / "tmp").iterdir())


def tab_leftovers(tmp: Path) -> tuple[list[str], list[str]]:
    """What the tabs left while their server runs: the folders in its temporary folder but the shared built-in
    server's own (``smtpstep-web-seats-*``), and the seats still open in that one."""
    seats = sorted(path.name for path in (tmp / "tmp").glob("smtpstep-web-seats-*/smtpstep-seats-*/seat-*"))
    return [name for name in leftovers(tmp) if not name.startswith("smtpstep-web-seats-")], seats


@dataclass
class Web:
    """A running ``smtpstep web`` and every line it printed so far."""

    process: subprocess.Popen[bytes]
    port: int = 0
    lines: list[str] = field(default_factory=list)
    err_lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_for_line(self, pattern: str, timeout: float = 20.0, start: int = 0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                if match := regex.search(line):
                    return match
            time.sleep(0.05)
        raise AssertionError(f"smtpstep web never printed /{pattern}/; it printed:\n" + "\n".join(self.lines)
                             + "\nstderr:\n" + "\n".join(self.err_lines))

    @property
    def preloader_pid(self) -> int | None:
        """The process tabs are forked from (``--tabs fork``, the default), if the server said it started one."""
        found = re.search(r"tabs are forked from process (\d+)", "\n".join(self.lines))
        return int(found.group(1)) if found else None

    @property
    def shared_server_pid(self) -> int | None:
        """The built-in server the tabs share (``--tab-servers shared``, the default), once the server said so."""
        found = re.search(r"tabs share the built-in server in process (\d+)", "\n".join(self.lines))
        return int(found.group(1)) if found else None

    def tab_tree(self) -> list[Proc]:
        """The server's descendants but the preloaded parent and the shared built-in server: every tab's app
        and what it started."""
        return [proc for proc in descendants(self.process.pid)
                if proc.pid not in (self.preloader_pid, self.shared_server_pid)]

    def tab_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"^tab \d+: app process (\d+) started", "\n".join(self.lines), re.M)]

    def wait_for_tabs(self, count: int, timeout: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(pids := self.tab_pids()) >= count:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"expected {count} tabs; smtpstep web printed:\n" + "\n".join(self.lines))

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("smtpstep web did not stop in time") from None


def start_web(tmp: Path, *args: str, env: dict[str, str] | None = None,
              stdin: int | None = subprocess.DEVNULL, url: str = r"open http://127\.0\.0\.1:(\d+)/") -> Web:
    """``smtpstep web --port 0 ARGS`` (loopback, unless ARGS say otherwise: ``url`` is then the line that
    names the port); returns once it printed ``ready``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "smtpstep.app.cli", "web", "--port", "0", *args],
        cwd=tmp, env=env or environment(tmp), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    web = Web(process)
    for stream, lines in ((process.stdout, web.lines), (process.stderr, web.err_lines)):
        threading.Thread(target=_collect, args=(stream, lines), daemon=True).start()
    match = web.wait_for_line(url)
    web.port = int(match.group(1))
    web.wait_for_line(r"^ready$")
    return web


def _collect(stream, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    for raw in iter(stream.readline, b""):
        lines.append(raw.decode("utf-8", "replace").rstrip("\n"))


# --- Processes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str
    cmdline: str


def processes() -> list[Proc]:
    """Every live process (zombies are not running anything and are left out)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                text = stat.read().decode("utf-8", "replace")
            with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                cmdline = cmd.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            continue
        found.append(Proc(int(entry), int(fields[1]), int(fields[2]), fields[0], cmdline))
    return found


def group_members(pgid: int) -> list[Proc]:
    return [proc for proc in processes() if proc.pgid == pgid]


def descendants(pid: int) -> list[Proc]:
    every = processes()
    children: dict[int, list[Proc]] = {}
    for proc in every:
        children.setdefault(proc.ppid, []).append(proc)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def wait_until(condition: Callable[[], bool], timeout: float = CLEANUP_SECONDS) -> bool:
    """Whether ``condition()`` holds within ``timeout`` seconds: a guard for what only polling can see (the
    process table, files), never a measure of speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def ps_listing() -> str:
    """``ps`` as a person would run it, for failure messages and the record."""
    result = subprocess.run(["ps", "-eo", "pid,pgid,ppid,stat,etime,args"], capture_output=True, text=True)
    return "\n".join(line for line in result.stdout.splitlines() if "smtpstep.app.cli" in line or "PID" in line)


def assert_groups_end(pgids: Sequence[int], timeout: float = CLEANUP_SECONDS) -> None:
    """Every process group in ``pgids`` empties (``timeout`` only guards against a hang)."""
    ended = wait_until(lambda: not any(group_members(pgid) for pgid in pgids), timeout)
    assert ended, f"app processes left after {timeout:g} s:\n{ps_listing()}"


# --- A tab without a browser ----------------------------------------------------------------------


def open_tab(port: int, origin: str | None = "auto", host: str | None = None) -> tuple[socket.socket, str]:
    """A WebSocket handshake to ``/ws`` as a browser page would make it; the socket and the status line."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    host = host or f"127.0.0.1:{port}"
    origin = f"http://{host}" if origin == "auto" else origin
    headers = [
        "GET /ws?width=100&height=30 HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: c210cHN0ZXAgdGFiIGtleQ==", "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        headers.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return sock, answer.split(b"\r\n", 1)[0].decode()


def wait_for_first_screen(sock: socket.socket, timeout: float = CLEANUP_SECONDS) -> None:
    """Read a tab's output until its app has drawn its first screen (the header's " smtpstep ")."""
    sock.settimeout(timeout)  # only a guard: a tab that never draws fails the test
    seen = b""
    while b" smtpstep " not in seen:
        data = sock.recv(65536)
        if not data:
            raise AssertionError("the tab closed before its app drew a screen")
        seen = seen[-64:] + data


def drop(sock: socket.socket) -> None:
    """Close with a TCP reset and no WebSocket close frame: a browser that vanished."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def kill_quietly(pids: Sequence[int]) -> None:
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


# --- A tab's frames, as a browser reads and sends them ---------------------------------------------


def open_socket(port: int, query: str = "width=100&height=30") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    host = f"127.0.0.1:{port}"
    sock.sendall((f"GET /ws?{query} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: c210cHN0ZXAgdGFiIGtleQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert b" 101 " in answer.split(b"\r\n", 1)[0], answer
    return sock


def send_text(sock: socket.socket, text: str) -> None:
    """One masked text frame, as a browser sends it (RFC 6455 §5.3)."""
    send_frame(sock, 0x1, text.encode())


def send_frame(sock: socket.socket, opcode: int, payload: bytes) -> None:
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([0x80 | size]) if size < 126 else
                            bytes([0x80 | 126]) + struct.pack(">H", size) if size < 65536 else
                            bytes([0x80 | 127]) + struct.pack(">Q", size))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


class Frames:
    """What a tab sends its page: binary frames (the terminal's output) and text frames (meta), in order.

    With ``size`` (the tab's width and height), a terminal emulator (pyte) also keeps the screen as the page
    shows it: Textual redraws only what changed, so a line's new text may come a few characters at a time.
    """

    def __init__(self, sock: socket.socket, size: tuple[int, int] | None = None) -> None:
        self.sock = sock
        self.buffer = b""
        self.output = bytearray()
        self.texts: list[str] = []
        self._stream = None
        if size is not None:
            import pyte

            self.terminal = pyte.Screen(*size)
            self._stream = pyte.ByteStream(self.terminal)

    def line(self, row: int) -> str:
        """Row ``row`` of the screen as the page shows it now (needs ``size``)."""
        return self.terminal.display[row]

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the tab closed its WebSocket")
            self.buffer += data
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def read_until(self, found, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
        """Read frames until ``found(self)`` holds; fail after ``timeout`` (a guard against a hang only)."""
        deadline = time.monotonic() + timeout
        while not found(self):
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                first, second = self._exactly(2)
            except TimeoutError:
                raise AssertionError(f"never saw {what}; last output: {bytes(self.output[-300:])!r}") from None
            size = second & 0x7F
            if size == 126:
                size = struct.unpack(">H", self._exactly(2))[0]
            elif size == 127:
                size = struct.unpack(">Q", self._exactly(8))[0]
            payload = self._exactly(size)
            if first & 0x0F == 0x9:  # the server's heartbeat: a browser answers, or the server hangs up
                send_frame(self.sock, 0xA, payload)
            elif first & 0x0F == 2:
                self.output += payload
                if self._stream is not None:
                    self._stream.feed(payload)
            elif first & 0x0F == 1:
                self.texts.append(payload.decode())


CURSOR = re.compile(rb"\x1b\[(\d+);(\d+)H")
CSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def drawn(frames: Frames) -> bytes:
    """The text a tab drew since ``frames.output`` was last cleared, control sequences left out."""
    return CSI.sub(b"", bytes(frames.output))
