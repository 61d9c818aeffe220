"""A follower's app in-process: the replay that grows as the teacher's broadcast sends steps.

A real ``Broadcast`` on a private Unix socket sends prefixes of a real recorded session (against the built-in
server), as the teacher's app would after each step; the follower's app (``web --follow``'s) runs under Pilot.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from smtpstep.app.commands.web.follow import _follower_app_type
from smtpstep.app.session.broadcast import HEADER, MAX_BEHIND, Broadcast, BroadcastError, first_recording
from smtpstep.app.session.recording import MAX_FILE_SIZE, Recording, RecordingError, record_session
from smtpstep.app.session.settings import SessionSettings
from tests.support.waiting import wait_for_step

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                          password="classroom")
SECRET_FORMS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t")


@pytest.fixture(scope="module")
def whole_session() -> Recording:
    return asyncio.run(record_session(BUILTIN))


def prefix(recording: Recording, steps: int) -> bytes:
    """The recording as the teacher's broadcast sends it after ``steps`` steps."""
    views = recording.views[: steps + 1]
    part = Recording(dict(recording.meta), views, recording.chunks[: views[-1].snapshot.wire_count],
                     hide=recording.hide)
    return part.to_json().encode()


@pytest.fixture
def socket_path(tmp_path: Path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime / "smtpstep" / "classroom.sock"


async def test_a_follower_follows_each_step_looks_back_alone_and_sees_no_secret(whole_session, socket_path) -> None:
    teacher = Broadcast(socket_path)
    await teacher.start()
    try:
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
        teacher.send(prefix(whole_session, 2))
        first = await asyncio.to_thread(first_recording, timeout=10)
        assert first.steps == 2
        app = _follower_app_type()(first, theme=None)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            assert app.main_screen.view.steps_done == 2  # the newest step, not the first
            view = await wait_for_step(app, _send(teacher, prefix(whole_session, 3)))
            assert view.steps_done == 3 and app.main_screen.view.steps_done == 3
            await pilot.press("left")
            assert app.main_screen.view.steps_done == 2  # looking back, on this screen alone
            await wait_for_step(app, _send(teacher, prefix(whole_session, 7)))  # through AUTH
            assert app.main_screen.view.steps_done == 2  # still where the student was
            await pilot.press("right")
            assert app.main_screen.view.steps_done == 3
            await pilot.press("right", "right", "right", "right")
            assert app.main_screen.view.steps_done == 7
            lines = app.wire_log.plain_lines()
            assert "C: AUTH PLAIN ********" in lines
            assert not any(secret in line for line in lines for secret in SECRET_FORMS)
            # The teacher starts again: the follower shows the new session from where it is.
            await wait_for_step(app, _send(teacher, prefix(whole_session, 0)))
            assert app.main_screen.view.steps_done == 0 and len(app.timeline.views) == 1
    finally:
        await teacher.close()
    assert not socket_path.exists()


async def _send(teacher: Broadcast, payload: bytes) -> None:
    teacher.send(payload)


async def test_another_teacher_is_refused_and_a_follower_that_reads_nothing_is_dropped(socket_path) -> None:
    teacher = Broadcast(socket_path)
    await teacher.start()
    try:
        with pytest.raises(BroadcastError, match="another session broadcasts"):
            await Broadcast(socket_path).start()
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.setblocking(False)
        await asyncio.get_running_loop().sock_connect(stuck, str(socket_path))
        while teacher.followers == 0:
            await asyncio.sleep(0.01)
        payload = b"x" * (1024 * 1024)
        for _ in range(2 * MAX_BEHIND // len(payload) + 2):  # the teacher never waits for it
            teacher.send(payload)
            await asyncio.sleep(0)
        assert teacher.followers == 0
        stuck.close()
    finally:
        await teacher.close()


def test_a_folder_others_may_open_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    with pytest.raises(BroadcastError, match="may be opened by other users"):
        asyncio.run(Broadcast(folder / "classroom.sock").start())


def test_a_broken_or_oversized_message_is_one_plain_sentence(tmp_path: Path) -> None:
    path = tmp_path / "fake.sock"
    for payload, said in ((HEADER.pack(MAX_FILE_SIZE + 1), "more than a recording holds"),
                          (HEADER.pack(7) + b"[1,2,3]", "not a smtpstep recording")):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)

        def serve(data: bytes = payload) -> None:
            conn, _ = server.accept()
            conn.sendall(data)
            conn.close()

        import threading

        thread = threading.Thread(target=serve)
        thread.start()
        with pytest.raises(RecordingError, match=said):
            first_recording(path, timeout=10)
        thread.join()
        server.close()
        path.unlink()
    assert MAX_BEHIND > 0
