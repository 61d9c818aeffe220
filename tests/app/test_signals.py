"""SIGTERM, SIGHUP and SIGINT to the terminal app leave the terminal as it was, remove the temporary CA
folder and stop the built-in server's process.

Each case runs ``python -m smtpstep.app.cli`` in a pseudo-terminal with a private TMPDIR, reads what it
draws until the first frame is there (and, with the built-in server, until the server is ready), sends
the signal, and reads to the end: the bytes written after the signal must leave the alternate screen,
show the cursor and turn every mouse mode Textual turned on off again.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.env import REPO, clean_env
from tests.support.processes import server_children, wait_until_ended

try:
    import fcntl
    import termios
except ImportError:  # not a POSIX system: no pseudo-terminals to run the app in
    fcntl = termios = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(termios is None, reason="needs POSIX pseudo-terminals")

ROWS, COLS = 36, 120
DEADLINE = 60.0
"""Seconds for the app to draw (and its server to start) on a busy machine; beyond it the test fails."""

RESTORED = {
    "leaves the alternate screen": b"\x1b[?1049l",
    "shows the cursor": b"\x1b[?25h",
    "stops mouse reporting": b"\x1b[?1000l",
    "stops any-motion mouse reporting": b"\x1b[?1003l",
    "stops urxvt mouse reporting": b"\x1b[?1015l",
    "stops SGR mouse reporting": b"\x1b[?1006l",
}
"""What the terminal must be told on the way out: the reverse of every mode Textual's Linux driver sets."""
READY = b"Built-in server ready"
"""The notification the app shows once its server listens."""
CSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
"""A control sequence: styles change inside a word while a notification fades in."""


class Terminal:
    """The app in a pseudo-terminal: everything it wrote, read as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.process = subprocess.Popen([sys.executable, "-m", "smtpstep.app.cli", *argv], cwd=REPO, env=env,
                                        stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.master = master
        self.output = bytearray()

    def read_until(self, wanted: bytes, timeout: float = DEADLINE, *, text: bool = False) -> None:
        """Read until ``wanted`` was written (``text``: in what was drawn, control sequences left out)."""
        deadline = time.monotonic() + timeout
        while wanted not in (CSI.sub(b"", self.output) if text else self.output):
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f"{wanted!r} was not drawn; the app wrote {bytes(self.output[-600:])!r}")

    def read_to_end(self, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while self._read(deadline - time.monotonic()):
            if time.monotonic() > deadline:
                raise AssertionError("the app kept its terminal open")

    def _read(self, wait: float) -> bool:
        """Read what is there; False at the end of the output (every writer closed the terminal)."""
        ready, _, _ = select.select([self.master], [], [], max(wait, 0.0))
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the other side is closed
            return False
        self.output += data
        return bool(data)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        os.close(self.master)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorded session for ``smtpstep replay``, made by ``smtpstep run`` against its own server."""
    base = tmp_path_factory.mktemp("recording")
    path = base / "session.json"
    done = subprocess.run([sys.executable, "-m", "smtpstep.app.cli", "run", "--transcript", str(path)], cwd=REPO,
                          env=clean_env(base), stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return path


CASES = [
    pytest.param([], signal.SIGTERM, False, id="smtpstep-SIGTERM"),
    pytest.param([], signal.SIGHUP, False, id="smtpstep-SIGHUP"),
    pytest.param([], signal.SIGINT, False, id="smtpstep-SIGINT"),
    pytest.param([], signal.SIGHUP, True, id="smtpstep-SIGHUP-to-the-group"),
    pytest.param(["step"], signal.SIGTERM, False, id="step-SIGTERM"),
    pytest.param(["--lesson", "basic"], signal.SIGINT, False, id="lesson-SIGINT"),
    pytest.param(["replay", "RECORDING"], signal.SIGHUP, False, id="replay-SIGHUP"),
]


@pytest.mark.parametrize(("argv", "number", "group"), CASES)
def test_a_signal_puts_the_terminal_back_and_leaves_no_server_or_ca_folder(
        argv: list[str], number: signal.Signals, group: bool, tmp_path: Path, recording: Path) -> None:
    argv = [str(recording) if arg == "RECORDING" else arg for arg in argv]
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = clean_env(tmp_path, TMPDIR=str(temp), TERM="xterm-256color", COLORTERM="truecolor")
    env.pop("TEXTUAL", None)
    terminal = Terminal(argv, env)
    try:
        terminal.read_until(b"\x1b[?1049h")  # the alternate screen: Textual has started
        terminal.read_until(b"Wire log", text=True)  # the first frame
        servers = []
        if "replay" not in argv:
            terminal.read_until(READY, text=True)
            servers = server_children(terminal.process.pid)
            assert len(servers) == 1 and list(temp.glob("smtpstep-*"))
        drawn = len(terminal.output)

        if group:
            os.killpg(terminal.process.pid, number)  # what a closed terminal does: the whole foreground group
        else:
            terminal.process.send_signal(number)
        terminal.read_to_end()
        code = terminal.process.wait(DEADLINE)

        after = bytes(terminal.output[drawn:])
        for what, sequence in RESTORED.items():
            assert sequence in after, f"the app never {what} ({sequence!r}) after {number.name}"
        assert after.rfind(b"\x1b[?1049l") > after.rfind(b"\x1b[?1049h")  # left last, not re-entered
        assert b"Traceback" not in terminal.output
        assert code == 128 + number
        for pid in servers:
            wait_until_ended(pid)
        assert list(temp.glob("smtpstep-*")) == []
    finally:
        terminal.close()
