"""The explanation pane explains the DSN and REQUIRETLS parameters a MAIL or RCPT carried (RFC 3461 §4, RFC 8689
§2), on a real session with the built-in server."""

from __future__ import annotations

from smtpstep.app.cli import build_parser
from smtpstep.app.session.narration import narrate
from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.stepper import Stepper
from smtpstep.protocol.commands import MailFrom
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport


async def test_the_requiretls_step_of_the_lesson_explains_the_parameter(local_server_factory):
    settings = settings_from_args(build_parser().parse_args(["step", "--lesson", "tls-between-servers"]))
    lesson = settings.lesson
    assert lesson is not None
    server = await local_server_factory(scenario=lesson.scenario)
    settings = settings.for_lesson(lesson, 2)
    stepper = Stepper(settings.target(server), settings.plan(date="Mon, 1 Jan 2024 00:00:00 +0000",
                                                             message_id="<dsn@client.smtpstep.test>"),
                      transport=AsyncioTransport)
    while not isinstance(stepper.queue[0].command, MailFrom):
        await stepper.step()
    await stepper.step()
    titles = [block.title for block in narrate(stepper.view())]
    await stepper.close()
    assert any(title.startswith("REQUIRETLS: ") for title in titles), titles
    assert not any(title.startswith("RET: ") for title in titles)


async def test_asked_dsn_parameters_reach_a_server_that_advertises_dsn_and_the_wire_log_decodes_them(local_server):
    from tests.protocol.server.test_dsn_parameters import _Recording

    recording = _Recording()
    local_server.hooks = recording
    settings = settings_from_args(build_parser().parse_args(
        ["run", "--security", "none", "--to", "a+b@example.test", "--notify", "success,failure", "--orcpt",
         "--ret", "HDRS", "--envid", "week 3=ok"]))
    stepper = Stepper(settings.target(local_server), settings.plan(date="Mon, 1 Jan 2024 00:00:00 +0000",
                                                                   message_id="<dsn@client.smtpstep.test>"),
                      transport=AsyncioTransport)
    while stepper.queue:
        await stepper.step()
    notes = [chunk.note for chunk in stepper.transport.record.chunks if chunk.note]
    await stepper.close()
    (request, recipients), = recording.seen
    assert (request.ret, request.envid) == ("HDRS", "week 3=ok")
    assert [(r.address, r.notify, r.orcpt) for r in recipients] == \
        [("a+b@example.test", ("SUCCESS", "FAILURE"), ("rfc822", "a+b@example.test"))]
    assert any("“week 3=ok”" in note for note in notes)
    assert any("original recipient is a+b@example.test" in note for note in notes)
