"""The hook the terminal app calls: given a SessionView, the lesson's narration for the step just taken."""

from __future__ import annotations

import pytest

from smtpstep.app.cli import build_parser
from smtpstep.app.session.lesson_view import lesson_intro, lesson_narration
from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.stepper import Stepper
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport


@pytest.mark.parametrize("name", ["auth-login", "greylisting"])
async def test_stepping_a_lesson_narrates_every_step_through_the_view(local_server_factory, name):
    settings = settings_from_args(build_parser().parse_args(["step", "--lesson", name]))
    lesson = settings.lesson
    assert lesson is not None
    server = await local_server_factory(scenario=lesson.scenario)
    for part in range(len(lesson.parts)):
        settings = settings.for_lesson(lesson, part)
        stepper = Stepper(settings.target(server), settings.plan(date="Mon, 1 Jan 2024 00:00:00 +0000",
                                                                 message_id="<lesson@client.smtpstep.test>"), transport=AsyncioTransport)
        assert lesson_narration(lesson, stepper.view(), part) is None  # before the first step: the intro
        assert lesson_intro(lesson, part, first=part == 0)
        said = []
        while stepper.queue:
            await stepper.step()
            said.append(lesson_narration(lesson, stepper.view(), part))
        await stepper.close()
        assert said == [note.say for note in lesson.parts[part].steps]


async def test_an_edited_queue_leaves_the_lessons_path_and_gets_no_narration(local_server):
    settings = settings_from_args(build_parser().parse_args(["step", "--lesson", "basic"]))
    lesson = settings.lesson
    stepper = Stepper(settings.target(local_server), settings.plan(date="Mon, 1 Jan 2024 00:00:00 +0000",
                                                                   message_id="<x@client.smtpstep.test>"), transport=AsyncioTransport)
    await stepper.step()
    await stepper.step()
    stepper.insert(0, "NOOP")
    await stepper.step()
    assert lesson_narration(lesson, stepper.view()) is None
    await stepper.close()
