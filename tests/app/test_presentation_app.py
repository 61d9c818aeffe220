"""Presentation mode (``P``) on a zoomed terminal, and predict-the-reply (``--quiz``), in the real app.

At 64x20 and 80x24 the stage shows the caption, every line of the step's exchange and its paragraph
without scrolling (a message longer than the screen scrolls instead of being cut), with the line that
matters marked in words. Larger screens get context. The quiz holds the server's reply out of the wire
log and the panes until the guess, then shows exactly what the server said. Every wait is on the app's
StepFinished message or the quiz panel's Asked message, never on the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.quiz import Question
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.presentation import PresentationStage
from smtpstep.app.widgets.quiz_panel import QuizPanel
from smtpstep.app.widgets.sequence_diagram import SequenceDiagram
from smtpstep.protocol.commands import MessageBody
from smtpstep.protocol.lessons.loader import load
from tests.support.waiting import STEP_TIMEOUT, started, step, wait_for_step

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
SETTINGS = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                           password="classroom", display_name="localhost")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(maildir=tmp_path_factory.mktemp("maildir"))
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


def _app(settings: SessionSettings, server: object | None = None, **options: object) -> SmtpStepApp:
    return SmtpStepApp(settings, server=server, now=NOW, timings=False, screenshot_dir=Path("/nonexistent"),  # type: ignore[arg-type]
                       **options)  # type: ignore[arg-type]


def _plain(static: Static, width: int) -> str:
    """What a Static of the stage shows, as plain text at ``width`` cells."""
    console = Console(width=width, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(static.content)
    return capture.get()


def _squeezed(text: str) -> str:
    return "".join(text.split())


async def _asked(app: SmtpStepApp, cause: Awaitable[object]) -> Question:
    """Start ``cause`` and wait for the quiz panel's Asked message: the question on screen."""
    asked: asyncio.Future[Question] = asyncio.get_running_loop().create_future()

    def seen(question: Question | None) -> None:
        if question is not None and not asked.done():
            asked.set_result(question)

    app.watch(app.main_screen, "question", seen, init=False)
    await cause
    try:
        return await asyncio.wait_for(asked, STEP_TIMEOUT)
    except TimeoutError:
        pytest.fail("no quiz question was asked")


@pytest.mark.parametrize("size", [(64, 20), (80, 24)])
async def test_on_a_zoomed_terminal_each_step_shows_whole_with_the_keywords_new_after_starttls_marked(
        server, size) -> None:  # type: ignore[no-untyped-def]
    app = _app(SETTINGS, server, present=True, theme="projector")
    async with app.run_test(size=size) as pilot:
        view = await started(app)
        stage = app.main_screen.query_one(PresentationStage)
        exchange = stage.query_one("#exchange", Static)
        while view.queue:
            view = await step(pilot)
            await pilot.pause()
            shown = _squeezed(_plain(exchange, exchange.content_region.width))
            for line in app.wire_log.lines_of_step(view.steps_done):
                if line.kind != "timing" and not line.text.startswith("  "):  # certificate details: TLS pane
                    assert _squeezed(line.text) in shown, (view.steps_done, line.text)
            caption = _plain(stage.query_one("#caption", Static), 200)
            assert f"Step {view.steps_done} of" in caption
            assert stage.query_one("#stage-paragraph", Static).display
            message = any(isinstance(c, MessageBody) for c in view.last.commands)
            if not message:  # a message taller than the screen scrolls (its marked lines in sight), never cut
                assert stage.max_scroll_y == 0, (view.steps_done, "the stage had to scroll")
            if view.steps_done == 6:  # EHLO again after STARTTLS
                rows = _plain(exchange, exchange.content_region.width).splitlines()
                auth = next(row for row in rows if "250-AUTH" in row)
                assert "▶" in auth and "◀ new after STARTTLS" in auth
                assert not any("◀" in row for row in rows if "250-SIZE" in row)
        assert view.finished


async def test_at_160x48_the_stage_adds_the_step_before_and_the_diagram_and_leaves_no_blank_block(server) -> None:  # type: ignore[no-untyped-def]
    app = _app(SETTINGS, server, present=True, theme="print")
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app)
        view = await step(pilot, times=4)  # STARTTLS
        await pilot.pause()
        stage = app.main_screen.query_one(PresentationStage)
        assert stage.query_one("#stage-letters", Static).display
        assert stage.query_one("#stage-previous", Static).display
        diagram = stage.query_one(SequenceDiagram)
        assert diagram.display and any("STARTTLS" in row for row in diagram.rows)
        shown = sum(child.outer_size.height for child in stage.children if child.display)
        assert stage.size.height - shown < 6, "a block of blank rows under the stage"
        assert view.steps_done == 4


async def test_the_dot_stuffing_lesson_marks_each_doubled_dot_in_words() -> None:
    app = _app(SETTINGS.for_lesson(load("dot-stuffing"), 0), present=True)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await started(app)
        while view.queue and not any(isinstance(c, MessageBody) for c in (view.last.commands if view.last else ())):
            view = await step(pilot)
        await pilot.pause()
        exchange = app.main_screen.query_one("#exchange", Static)
        rows = _plain(exchange, exchange.content_region.width).splitlines()
        doubled = [row for row in rows if "◀ dot doubled" in row]
        assert doubled and all("C: .." in row and "▶" in row for row in doubled)


async def test_the_refused_recipient_is_marked_in_words() -> None:
    app = _app(SETTINGS.for_lesson(load("rejected-recipient"), 0), present=True)
    async with app.run_test(size=(64, 20)) as pilot:
        view = await started(app)
        while view.queue and not (view.last and view.last.answers and view.last.answers[-1].reply.code >= 500):
            view = await step(pilot)
        await pilot.pause()
        exchange = app.main_screen.query_one("#exchange", Static)
        text = " ".join(_plain(exchange, exchange.content_region.width).split())
        assert "▶ S: 550" in text and "◀ recipient refused" in text
        assert "▶ C: RCPT TO:<nobody@example.test> ◀ this recipient" in text


async def test_the_quiz_holds_the_reply_until_the_guess_then_shows_what_the_server_said(server) -> None:  # type: ignore[no-untyped-def]
    app = _app(SETTINGS, server, quiz="digit", present=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        await step(pilot)  # connect: no reply to guess
        screen: MainScreen = app.main_screen
        question = await _asked(app, pilot.press("space"))
        assert question.step == 2 and question.code == 220
        assert not any(line.startswith("S: 220") for line in app.wire_log.plain_lines())
        assert screen.view is not None and screen.view.steps_done == 1  # no pane has the reply yet
        assert "the reply?" in _plain(screen.query_one("#caption", Static), 200)
        view = await wait_for_step(app, pilot.press("2"))
        assert view.steps_done == 2 and screen.verdict is not None and screen.verdict.right
        assert any(line.startswith("S: 220 ") for line in app.wire_log.plain_lines())
        question = await _asked(app, pilot.press("space"))  # EHLO
        assert question.asked_about == "EHLO client.smtpstep.test"
        view = await wait_for_step(app, pilot.press("5"))
        assert view.steps_done == 3 and screen.verdict is not None and not screen.verdict.right
        assert screen.tally is not None and screen.tally.sentence.startswith("1 of 2")
        panel = screen.query_one(QuizPanel)
        assert panel.border_subtitle.startswith("1 of 2 replies guessed right")
        question = await _asked(app, pilot.press("space"))  # STARTTLS: answered with a click
        view = await wait_for_step(app, pilot.click("#quiz-2"))
        assert view.steps_done == 4 and screen.verdict is not None and screen.verdict.right
        await pilot.press("Q")  # the quiz off: the next reply shows at once
        view = await step(pilot)
        assert view.steps_done == 5 and screen.question is None and not app.quizzing.on


async def test_in_a_replay_the_quiz_asks_before_showing_the_recorded_reply(server) -> None:  # type: ignore[no-untyped-def]
    from smtpstep.app.session.recording import record_session

    recording = await record_session(SETTINGS, server, now=NOW)
    app = SmtpStepApp(None, replay=recording, quiz="code")  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("space")  # connect
        question = await _asked(app, pilot.press("space"))
        assert question.code == 220 and question.mode == "code"
        assert not any(line.startswith("S: 220") for line in app.wire_log.plain_lines())
        for key in "220":
            await pilot.press(key)
        await pilot.pause()
        screen = app.main_screen
        assert screen.verdict is not None and screen.verdict.right and screen.question is None
        assert any(line.startswith("S: 220 ") for line in app.wire_log.plain_lines())


async def test_the_stripping_lesson_shows_what_the_man_in_the_middle_deleted_as_the_line_that_matters() -> None:
    app = _app(SETTINGS.for_lesson(load("starttls-stripping"), 0), present=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        view = await step(pilot, times=3)  # connect, greeting, EHLO through the relay
        await pilot.pause()
        assert view.last is not None and view.last.commands[-1].label.startswith("EHLO")
        exchange = app.main_screen.query_one("#exchange", Static)
        text = " ".join(_plain(exchange, exchange.content_region.width).split())
        assert "S: 250-STARTTLS" not in text  # the client never saw it ...
        assert "▶ !! the man in the middle deleted “250-STARTTLS”" in text and "◀ changed in transit" in text
