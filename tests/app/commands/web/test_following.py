"""A follower's app in-process: the waiting screen, the replay that grows as the teacher's broadcast sends
steps, and the line that says the teacher's session ended.

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

from smtpstep.app.commands.web.follow import ENDED, WAITING, _follower_app_type
from smtpstep.app.session.broadcast import HEADER, MAX_BEHIND, RECORDING, Broadcast, BroadcastError, follow
from smtpstep.app.session.recording import MAX_FILE_SIZE, Recording, RecordingError
from smtpstep.app.session.settings import SessionSettings
from tests.support.waiting import STEP_TIMEOUT, wait_for_step

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                          password="classroom")
SECRET_FORMS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t")


def prefix(recording: Recording, steps: int) -> bytes:
    """The recording as the teacher's broadcast sends it after ``steps`` steps."""
    views = recording.views[: steps + 1]
    part = Recording(dict(recording.meta), views, recording.chunks[: views[-1].snapshot.wire_count],
                     hide=recording.hide)
    return part.to_json().encode()


async def test_a_follower_waits_for_the_teacher_follows_each_step_looks_back_alone_and_sees_no_secret(
        whole_session, socket_path) -> None:
    app = _follower_app_type()(None, theme=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert str(app.screen.query_one("#waiting").render()) == WAITING  # nobody broadcasts yet
        await pilot.press("left", "space", "question_mark")  # nothing to look at: nothing happens
        assert app.waiting is app.screen
        teacher = Broadcast(socket_path)
        await teacher.start()
        try:
            assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
            assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
            view = await wait_for_step(app, _send(teacher, prefix(whole_session, 2)))
            assert view.steps_done == 2 and app.main_screen.view.steps_done == 2  # the newest step, not the first
            assert app.waiting is None and app.screen is app.main_screen
            assert app.main_screen.target_label.endswith("(live)")
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
            await wait_for_step(app, _send(teacher, prefix(whole_session, 4)))
        finally:
            await teacher.close()
        assert not socket_path.exists()
        # The teacher's session ended: the last step stays, and the header says so.
        label = await wait_for_value(app.main_screen, "target_label", lambda text: ENDED in text)
        assert "(live)" not in label and app.main_screen.view.steps_done == 4
        assert "S: 250" in "\n".join(app.wire_log.plain_lines())
        # A new session of the teacher's shows by itself.
        teacher = Broadcast(socket_path)
        await teacher.start()
        try:
            view = await wait_for_step(app, _send(teacher, prefix(whole_session, 1)))
            assert view.steps_done == 1 and app.main_screen.target_label.endswith("(live)")
        finally:
            await teacher.close()


async def _send(teacher: Broadcast, payload: bytes) -> None:
    teacher.send(payload)


async def wait_for_value(widget, name: str, holds):  # type: ignore[no-untyped-def]
    """The first value of ``widget``'s reactive ``name`` (now or next) for which ``holds`` is true."""
    found: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    def watch(value: object) -> None:
        if not found.done() and holds(value):
            found.set_result(value)

    widget.app.watch(widget, name, watch)
    try:
        return await asyncio.wait_for(found, STEP_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"{name} never came to the awaited value (it is {getattr(widget, name)!r})")


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


async def test_a_broken_or_oversized_message_is_one_plain_sentence(tmp_path: Path) -> None:
    path = tmp_path / "fake.sock"
    for payload, said in ((HEADER.pack(MAX_FILE_SIZE + 1), "more than a recording holds"),
                          (HEADER.pack(8) + RECORDING + b"[1,2,3]", "not a smtpstep recording"),
                          (HEADER.pack(3) + b"X{}", "of a kind this smtpstep does not know"),
                          (HEADER.pack(9) + b"Q[\"quiz\"]", "quiz question could not be read")):
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes = payload) -> None:
            writer.write(data)
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(serve, str(path))
        followed = follow(path)
        try:
            news = await asyncio.wait_for(anext(followed), 10)
        finally:
            await followed.aclose()
            server.close()
            path.unlink()
        assert isinstance(news, RecordingError) and said in str(news)
    assert MAX_BEHIND > 0
