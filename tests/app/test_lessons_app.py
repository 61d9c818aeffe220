"""Lessons in the stepper: the scenario, narration per step, parts, the relay and the server's side."""

from __future__ import annotations

from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.app.widgets.server_view import ServerView
from smtpstep.protocol.lessons.loader import load
from smtpstep.protocol.states import State
from tests.support.waiting import started, step

BASE = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user=None, password=None)


def _lesson(name: str) -> SessionSettings:
    return BASE.for_lesson(load(name), 0)


async def _run_to_end(pilot, app: SmtpStepApp, limit: int = 40) -> None:  # type: ignore[no-untyped-def]
    """Start (the lesson's server may still be starting) and step until the queue is empty."""
    view = await started(app)
    for _ in range(limit):
        if not view.queue:
            return
        view = await step(pilot)
    raise AssertionError(f"the lesson part did not end within {limit} steps")


async def test_a_lesson_narrates_every_step_and_shows_the_server_side() -> None:
    app = SmtpStepApp(_lesson("rejected-recipient"))  # starts its own server in the lesson's scenario
    async with app.run_test(size=(120, 36)) as pilot:
        await _run_to_end(pilot, app)
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.has_class("-show-server")
        codes = [answer.reply.code for result in app.stepper.history for answer in result.answers]
        assert 550 in codes and codes[-1] == 221
        explanation = screen.query_one(ExplanationPane).plain_text
        assert explanation.startswith("Lesson")
        assert screen.lesson_note  # narration for the last step (QUIT)
        assert len(screen.query_one(ServerView).messages) == 1
        for index in range(1, len(app.timeline.views)):  # every step had its narration
            from smtpstep.app.session.lesson_view import lesson_narration

            assert lesson_narration(app.settings.lesson, app.timeline.views[index], 0), index


async def test_a_two_part_lesson_moves_to_its_second_part_with_one_key() -> None:
    app = SmtpStepApp(_lesson("greylisting"))
    async with app.run_test(size=(120, 36)) as pilot:
        await _run_to_end(pilot, app)
        first = [a.reply.code for r in app.stepper.history for a in r.answers]
        assert 451 in first
        assert "part 2" in (app.screen.lesson_note or "")
        fresh = await step(pilot)  # next part: a fresh session on the same server
        assert app.settings.lesson_part == 1 and fresh.steps_done == 0 and not app.stepper.history
        await _run_to_end(pilot, app)
        second = [a.reply.code for r in app.stepper.history for a in r.answers]
        assert 451 not in second and 250 in second
        assert app.stepper.transport.client.transactions[-1].reply.code == 250


async def test_a_new_part_shows_only_what_the_server_stored_in_it_not_the_part_before() -> None:
    app = SmtpStepApp(_lesson("spf"))  # part 1 is accepted and stored; part 2 is refused
    async with app.run_test(size=(120, 36)) as pilot:
        await _run_to_end(pilot, app)
        pane = app.screen.query_one(ServerView)
        assert [m for m in pane.messages if hasattr(m, "mail_from")], "part 1 stored its message"
        await step(pilot)  # part 2: a fresh session
        await _run_to_end(pilot, app)
        codes = [a.reply.code for r in app.stepper.history for a in r.answers]
        assert 550 in codes  # refused: nothing stored in this part
        assert not [m for m in pane.messages if hasattr(m, "mail_from")]
        drawn = "\n".join(pane.render_line(y).text for y in range(pane.size.height))
        assert "accepted a message" not in drawn and "earlier sessions not shown" in drawn


async def test_the_stripping_lesson_runs_through_its_man_in_the_middle() -> None:
    app = SmtpStepApp(_lesson("starttls-stripping"))
    async with app.run_test(size=(120, 36)) as pilot:
        await _run_to_end(pilot, app)
        assert app.lab.relay is not None
        sent = [c.data for c in app.stepper.transport.record.chunks if c.direction == "client"]
        assert not any(data.upper().startswith(b"AUTH") for data in sent)
        assert app.stepper.transport.client.state == State.CLOSED
        assert app.stepper.halt and "STARTTLS" in app.stepper.halt
    assert app.lab.relay is None  # stopped on exit
