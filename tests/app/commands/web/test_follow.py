"""Follow mode end to end: a teacher's session broadcast from one ``smtpstep web --broadcast`` tab, stepped by
the test, and students' tabs of ``smtpstep web --follow``, as WebSocket clients and in a real Chromium.

Followers see each step as the teacher takes it, look back on their own, see no secret even when the teacher
reveals them, and send nothing anywhere: their tabs hold no TCP socket, and their keys change nothing on the
teacher's screen. Both servers share a private ``XDG_RUNTIME_DIR``, where the classroom socket lives.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.web import (
    descendants,
    drawn,
    send_text,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc")

SECRET_FORMS = (b"classroom", b"AHN0dWRlbnQAY2xhc3Nyb29t", b"Y2xhc3Nyb29t")
"""The demo password and the base64 forms AUTH PLAIN carries it in."""


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
