"""Follow mode end to end: a teacher's session broadcast from one ``smtpstep web --broadcast`` tab, stepped by
the test, and students' tabs of ``smtpstep web --follow``, as WebSocket clients and in a real Chromium.

Followers see each step as the teacher takes it, look back on their own, see no secret even when the teacher
reveals them, and send nothing anywhere: their tabs hold no TCP socket, and their keys change nothing on the
teacher's screen. Both servers share a private ``XDG_RUNTIME_DIR``, where the classroom socket lives.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.web import (
    Frames,
    Web,
    descendants,
    drawn,
    environment,
    kill_quietly,
    open_socket,
    send_text,
    start_web,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc")

SECRET_FORMS = (b"classroom", b"AHN0dWRlbnQAY2xhc3Nyb29t", b"Y2xhc3Nyb29t")
"""The demo password and the base64 forms AUTH PLAIN carries it in."""


@dataclass
class Classroom:
    teacher_web: Web
    teacher: Frames
    followers_web: Web
    tmp: Path

    def teacher_step(self) -> int:
        found = re.search(r"step (\d+) of", self.teacher.line(0))
        return int(found.group(1)) if found else -1

    def teacher_steps_to(self, number: int) -> None:
        """Press space in the teacher's tab, once a step, until its header says step ``number``."""
        while (now := self.teacher_step()) < number:
            send_text(self.teacher.sock, json.dumps(["stdin", " "]))
            self.teacher.read_until(lambda f: self.teacher_step() > now, f"step {now + 1} in the teacher's tab")

    def follower(self) -> Frames:
        frames = Frames(open_socket(self.followers_web.port), size=(100, 30))
        frames.read_until(lambda f: b" (live) " in drawn(f), "the follower's first screen")
        return frames


@pytest.fixture
def classroom(tmp_path: Path) -> Iterator[Classroom]:
    env = environment(tmp_path)  # one XDG_RUNTIME_DIR for both servers: the socket's folder
    teacher_web = start_web(tmp_path / "teacher", "--broadcast", "--max-tabs", "1", env=_in(tmp_path / "teacher", env))
    followers_web = start_web(tmp_path / "students", "--follow", env=_in(tmp_path / "students", env))
    teacher = Frames(open_socket(teacher_web.port), size=(100, 30))
    teacher.read_until(lambda f: "step 0 of" in f.line(0), "the teacher's stepper")
    try:
        yield Classroom(teacher_web, teacher, followers_web, tmp_path)
    finally:
        teacher.sock.close()
        for served in (followers_web, teacher_web):
            pids = served.tab_pids()
            assert served.stop() == 0
            kill_quietly(pids)
        assert not (tmp_path / "runtime" / "smtpstep" / "classroom.sock").exists()  # the teacher took it away


def _in(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the XDG folders but the runtime one (and TMPDIR) of a server of its own, in ``folder``."""
    own = environment(folder)
    return {**own, "XDG_RUNTIME_DIR": env["XDG_RUNTIME_DIR"]}


def _tcp_sockets(pid: int) -> list[str]:
    """The TCP sockets process ``pid`` holds open (socket inodes found in /proc/net/tcp and tcp6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                found.append(f"{fields[1]} -> {fields[2]}")
    return found


def test_followers_see_each_step_look_back_on_their_own_see_no_secret_and_send_nothing(classroom) -> None:
    first, second = classroom.follower(), classroom.follower()
    classroom.teacher_steps_to(2)  # connect, greeting
    for follower in (first, second):
        follower.read_until(lambda f: "step 2 of" in f.line(0) and b"S: 220 mail.smtpstep.test" in drawn(f),
                            "the teacher's greeting")

    # The teacher reveals the secrets on their own screen, then authenticates.
    send_text(classroom.teacher.sock, json.dumps(["stdin", "v"]))
    classroom.teacher.read_until(lambda f: b"Show secrets" in drawn(f), "the reveal dialog")
    send_text(classroom.teacher.sock, json.dumps(["stdin", "y"]))
    classroom.teacher_steps_to(7)  # EHLO, STARTTLS, the handshake, EHLO, AUTH PLAIN
    classroom.teacher.read_until(lambda f: SECRET_FORMS[1] in drawn(f), "the secret on the teacher's screen")
    for follower in (first, second):
        follower.read_until(lambda f: "step 7 of" in f.line(0) and b"S: 235 " in drawn(f), "the AUTH step")
        assert b"C: AUTH PLAIN ********" in drawn(follower)
        assert not any(secret in bytes(follower.output) for secret in SECRET_FORMS)

    # One student looks back; the teacher goes on; the other student follows; the first is where they were.
    first.output.clear()
    send_text(first.sock, json.dumps(["stdin", "\x1b[D"]))  # ←
    first.read_until(lambda f: "step 6 of" in f.line(0), "step 6 in the first follower")
    classroom.teacher_steps_to(8)  # MAIL FROM
    second.read_until(lambda f: "step 8 of" in f.line(0), "step 8 in the second follower")
    first.output.clear()
    send_text(first.sock, json.dumps(["stdin", "\x1b[C"]))  # →: one step on from where they were
    first.read_until(lambda f: "step 7 of" in f.line(0), "step 7 in the first follower")
    send_text(first.sock, json.dumps(["stdin", "\x1b[C"]))
    first.read_until(lambda f: "step 8 of" in f.line(0), "step 8 in the first follower")

    # Whatever a student presses reaches neither the teacher nor any server.
    classroom.teacher.output.clear()
    for key in ("r", "c", "\x1b", "g", "e", "i", "\x1b", " ", "n", "p", "p"):
        send_text(second.sock, json.dumps(["stdin", key]))
    send_text(second.sock, json.dumps(["stdin", "t"]))  # a theme of their own: the screen is drawn again
    second.output.clear()
    second.read_until(lambda f: b"Theme:" in drawn(f), "the student's theme changed")
    for pid in classroom.followers_web.tab_pids():
        for proc in [pid, *(p.pid for p in descendants(pid))]:
            assert _tcp_sockets(proc) == [], f"a follower's process {proc} holds a TCP socket"
    assert classroom.teacher_step() == 8
    classroom.teacher_steps_to(9)  # the teacher's session went on from step 8, nothing in between
    for follower in (first, second):
        assert not any(secret in bytes(follower.output) for secret in SECRET_FORMS)
        follower.sock.close()
