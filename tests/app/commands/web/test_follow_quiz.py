"""Quiz mode for followers, in-process: the teacher's question on a follower's screen, one answer sent back,
and the tally on the teacher's screen.

The teacher's side is the real app with ``--quiz`` and a real ``Broadcast`` on a private Unix socket, stepping
against a real built-in server; followers are the real follower app under Pilot, or the classroom channel's
own follower end (``follow``, ``send_answer``), or other processes that write to the answers socket (the
teacher counts one answer per follower process). Hostile answers come over the same socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Static

from smtpstep.app.commands.web.follow import _follower_app_type
from smtpstep.app.session.broadcast import Broadcast, answers_socket, follow, send_answer
from smtpstep.app.session.quiz import MAX_ANSWER_LINE, Asking, RoomTally
from smtpstep.app.session.recording import Recording
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.quiz_panel import QuizPanel
from tests.app.commands.web.test_following import BUILTIN, prefix, wait_for_value
from tests.support.waiting import started, wait_for_step

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="followers are told apart by SO_PEERCRED")


def _panel_text(app: SmtpStepApp) -> str:
    panel = app.main_screen.query_one(QuizPanel)
    return "\n".join(str(part.render()) for part in panel.query(Static) if part.display)


async def test_a_follower_answers_the_teachers_question_once_and_is_graded_when_the_teacher_reveals(
        whole_session, socket_path) -> None:
    teacher = Broadcast(socket_path)
    await teacher.start()
    answers: asyncio.Queue[tuple[object, bytes]] = asyncio.Queue()
    teacher.on_answer = lambda follower, line: answers.put_nowait((follower, line))
    app = _follower_app_type()(None, theme=None)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for_step(app, _later(teacher.send, prefix(whole_session, 2)))
            teacher.ask(Asking("abc123", 3, "EHLO client\x1b[2J", "digit"))
            question = await wait_for_value(app.main_screen, "question", lambda q: q is not None)
            assert question.step == 3 and question.asked_about == "EHLO client\\x1b[2J"  # escaped
            text = _panel_text(app)
            assert "Step 3: What did the server answer to EHLO client\\x1b[2J?" in text
            assert "Your answer goes to the teacher's screen" in text and "Space" not in text
            await pilot.press("space")  # a follower's space shows nothing early: it only looks at steps
            assert app.main_screen.question is not None
            await pilot.press("2")
            follower, line = await asyncio.wait_for(answers.get(), 10)
            assert follower == os.getpid() and json.loads(line) == {"question": "abc123", "answer": "2"}
            await pilot.pause()
            assert "Your answer: 2xx done" in _panel_text(app)
            assert not app.main_screen.query_one("#quiz-buttons").display
            await pilot.press("5")  # one answer a question: this one goes nowhere
            teacher.ask(Asking("abc123", 3, "EHLO client", "digit"))  # the same question again: it stands
            # The teacher shows the reply: the follower's own verdict, from the reply the recording holds.
            await wait_for_step(app, _later(teacher.send, prefix(whole_session, 3)))
            verdict = await wait_for_value(app.main_screen, "verdict", lambda v: v is not None)
            assert verdict.right and verdict.guess == "2" and "250" in verdict.sentence
            assert app.main_screen.question is None
            # The next question: answered with 3; the queue of answers proves 5 was never sent.
            teacher.ask(Asking(None))
            teacher.ask(Asking("def456", 4, "STARTTLS", "digit"))
            await wait_for_value(app.main_screen, "question", lambda q: q is not None and q.step == 4)
            await pilot.press("3")
            follower, line = await asyncio.wait_for(answers.get(), 10)
            assert json.loads(line) == {"question": "def456", "answer": "3"}
            # The question goes away unrevealed (the teacher started again): it leaves the screen, ungraded.
            teacher.ask(Asking(None))
            await wait_for_value(app.main_screen, "question", lambda q: q is None)
            assert app.main_screen.verdict is None and answers.empty()
    finally:
        await teacher.close()
    assert not answers_socket(socket_path).exists()


async def _later(call, *args) -> None:  # type: ignore[no-untyped-def]
    call(*args)


def _answer_from_another_process(path: Path, line: bytes) -> None:
    """A follower of its own (another process): it writes ``line`` to the answers socket and ends."""
    code = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
            "s.sendall(bytes.fromhex(sys.argv[2])); s.close()")
    subprocess.run([sys.executable, "-S", "-c", code, str(path), line.hex()], check=True, timeout=20)


async def _raw(path: Path, data: bytes) -> None:
    """Write ``data`` to the answers socket as this process and wait until the teacher closed the connection."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    await writer.drain()
    if not data.endswith(b"\n") and len(data) <= MAX_ANSWER_LINE:
        writer.write_eof()
    await asyncio.wait_for(reader.read(), 10)  # the teacher reads one line at most, then closes
    writer.close()


async def _room(app: SmtpStepApp, holds) -> RoomTally:  # type: ignore[no-untyped-def]
    return await wait_for_value(app.main_screen.query_one(QuizPanel), "room", lambda r: r is not None and holds(r))


async def _news(stream: AsyncIterator[object], kind: type) -> object:
    while True:
        news = await asyncio.wait_for(anext(stream), 10)
        if isinstance(news, kind):
            return news


async def test_the_teachers_screen_counts_one_answer_per_follower_drops_hostile_and_late_ones_and_goes_on(
        local_server, socket_path) -> None:
    app = SmtpStepApp(BUILTIN, server=local_server, timings=False, quiz="digit", broadcast=Broadcast(socket_path),
                      screenshot_dir=Path("/nonexistent"))
    async with app.run_test(size=(120, 40)) as pilot:
        stream = follow(socket_path)
        try:
            await started(app)
            await wait_for_step(app, pilot.press("space"))  # the connection: nothing to guess
            await pilot.press("space")  # the greeting: its reply held back for the guess
            asking = await _news(stream, Asking)
            assert asking.step == 2 and asking.about == "the connection (its greeting)"
            assert app.main_screen.question is not None
            room = await _room(app, lambda r: r.answered == 0)
            assert "Followers: 0 answered" in _panel_text(app)
            qid, answers = asking.question, answers_socket(socket_path)
            late = follow(socket_path)  # a follower that joins now gets the session so far, then the question
            try:
                assert isinstance(await asyncio.wait_for(anext(late), 10), Recording)
                assert (await asyncio.wait_for(anext(late), 10)).question == qid
            finally:
                await late.aclose()

            # Hostile lines from this process count for nothing, and cost it no vote.
            for data in (b"x" * (MAX_ANSWER_LINE * 4) + b"\n",  # too long: dropped unread
                         b"{not json\n", b"\xff\xfe\n", b"[" * 200 + b"\n", b'"2"\n',
                         json.dumps({"question": "nope", "answer": "2"}).encode() + b"\n",
                         json.dumps({"question": qid, "answer": "7"}).encode() + b"\n",
                         json.dumps({"question": qid, "answer": "22"}).encode() + b"\n",
                         json.dumps({"question": qid, "answer": 2}).encode() + b"\n",
                         json.dumps({"question": qid, "answer": "2", "keys": "q"}).encode() + b"\n",
                         json.dumps({"question": qid, "answer": "2"}).encode()):  # no line end: cut short
                await _raw(answers, data)
            assert await send_answer(qid, "4", socket_path)
            room = await _room(app, lambda r: r.answered == 1)
            assert await send_answer(qid, "3", socket_path)  # again, as after a reconnection: not counted
            for line in (b"2", b"2", b"5"):  # three more followers, each a process of its own
                _answer_from_another_process(answers, json.dumps({"question": qid, "answer": line.decode()})
                                             .encode() + b"\n")
            room = await _room(app, lambda r: r.answered == 4)
            assert dict(room.counts) == {"2": 2, "3": 0, "4": 1, "5": 1}
            assert room.sentence == "4 answered: 2xx 2 · 3xx 0 · 4xx 1 · 5xx 1"
            text = _panel_text(app)
            assert "Followers: 4 answered" in text and "2xx done" in text and "█" in text

            await pilot.resize_terminal(120, 24)  # a zoomed projector: the counts in one line
            await pilot.pause()
            assert "Followers: 4 answered  2xx 2 · 3xx 0 · 4xx 1 · 5xx 1" in _panel_text(app)
            await pilot.resize_terminal(120, 40)
            await pilot.pause()
            # The teacher's class guesses 2: the reply is shown, the tally says how many followers were right.
            view = await wait_for_step(app, pilot.press("2"))
            assert view.steps_done == 2
            room = await _room(app, lambda r: r.code == 220)
            assert room.right == 2 and "Followers: 4 answered · 2 right" in _panel_text(app)
            assert "✓ the server's reply" in _panel_text(app)
            recording = await _news(stream, Recording)
            assert recording.steps == 2
            assert (await _news(stream, Asking)).question is None  # closed after the step went out
            # A late answer (from a follower that had not answered) counts nowhere.
            _answer_from_another_process(answers, json.dumps({"question": qid, "answer": "2"}).encode() + b"\n")
            await _raw(answers, b"\n")  # handled after the late answer was (connections are taken in order)
            assert app.main_screen.query_one(QuizPanel).room.answered == 4
            await pilot.press("space")  # EHLO: the next question, a new tally
            asking = await _news(stream, Asking)
            assert asking.step == 3 and asking.question != qid
            assert await send_answer(asking.question, "2", socket_path)
            room = await _room(app, lambda r: r.answered >= 1)
            assert room.answered == 1 and dict(room.counts)["2"] == 1
            view = await wait_for_step(app, pilot.press("2"))
            assert view.steps_done == 3 and app.main_screen.verdict.right  # the teacher's session went on
        finally:
            await stream.aclose()
