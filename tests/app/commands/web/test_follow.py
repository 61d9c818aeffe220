"""Follow mode end to end: a teacher's session broadcast from one ``smtpstep web --broadcast`` tab, stepped by
the test, and students' tabs of ``smtpstep web --follow``, as WebSocket clients and in a real Chromium.

Followers see each step as the teacher takes it, look back on their own, see no secret even when the teacher
reveals them, and send nothing anywhere: their tabs hold no TCP socket, and their keys change nothing on the
teacher's screen. Before the teacher starts they see a waiting screen, and after the teacher's session ends,
its last step and a line that says so. In quiz mode each answers the teacher's question on their own screen,
and the teacher's screen counts the answers. Both servers share a private ``XDG_RUNTIME_DIR``, where the
classroom socket lives.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.app.commands.web.conftest import _in
from tests.support.web import (
    Frames,
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


def _screen(frames: Frames) -> str:
    return "\n".join(frames.terminal.display)


def _shows(text: str):  # type: ignore[no-untyped-def]
    return lambda frames: text in _screen(frames)


def test_a_student_waits_for_the_teacher_answers_the_quiz_on_their_screen_and_sees_the_session_end(
        tmp_path) -> None:
    env = environment(tmp_path)
    students_web = start_web(tmp_path / "students", "--follow", env=_in(tmp_path / "students", env))
    teacher_web = None
    try:
        student = Frames(open_socket(students_web.port), size=(100, 30))
        student.read_until(_shows("Waiting for the teacher's session"), "the waiting screen")
        teacher_web = start_web(tmp_path / "teacher", "--broadcast", "--quiz", "--max-tabs", "1",
                                env=_in(tmp_path / "teacher", env))
        teacher = Frames(open_socket(teacher_web.port, "width=110&height=40"), size=(110, 40))
        teacher.read_until(lambda f: "step 0 of" in f.line(0), "the teacher's stepper")
        # The teacher's session takes the waiting screen's place by itself.
        student.read_until(lambda f: " (live) " in f.line(0), "the teacher's session on the student's screen")
        send_text(teacher.sock, json.dumps(["stdin", " "]))
        teacher.read_until(lambda f: "step 1 of" in f.line(0), "the connection step")
        send_text(teacher.sock, json.dumps(["stdin", " "]))
        teacher.read_until(_shows("Followers: 0 answered"), "the question and an empty tally on the teacher's screen")
        student.read_until(_shows("Step 2: What did the server answer to the connection"), "the question")
        assert "220" not in _screen(student).split("Step 2:")[1]  # the reply is not given away
        send_text(student.sock, json.dumps(["stdin", "5"]))
        student.read_until(_shows("Your answer: 5xx"), "the student's answer taken")
        teacher.read_until(_shows("Followers: 1 answered"), "the tally on the teacher's screen")
        assert "5xx no" in _screen(teacher) and "█" in _screen(teacher)
        send_text(teacher.sock, json.dumps(["stdin", "2"]))  # the room's guess: the reply is shown
        teacher.read_until(_shows("Followers: 1 answered · 0 right"), "the tally after the reveal")
        student.read_until(_shows("✗ Not this time"), "the student's verdict")
        assert "step 2 of" in student.line(0)

        # The teacher's session ends: the student keeps its last step, and a line says it ended.
        teacher.sock.close()
        assert teacher_web.stop() == 0
        student.read_until(lambda f: "teacher's session ended" in _screen(f), "the line that the session ended")
        assert "step 2 of" in student.line(0) and "S: 220 " in _screen(student)
        student.sock.close()
    finally:
        for served in (students_web, teacher_web):
            if served is not None:
                pids = served.tab_pids()
                served.stop()
                kill_quietly(pids)
