"""The stepper app meets a representative set of faults: it shows the error and stays usable.

For each fault the explanation pane says what went wrong in plain words, no traceback reaches the
screen, a further key press is still handled, and ``r`` restarts the session, which can then take
steps again against the same server. The servers run on the test's event loop, like the app.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.protocol.replies import MAX_LINE
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.wire import READ_SIZE, Direction
from tests.support.hostile_server import HostileServer
from tests.support.waiting import started, step, wait_for_step

STRANGER = SessionSettings(server=None, security="none", ca_file=None, insecure=False, user=None, password=None,
                           timeout=2)
"""A session to a server that is not the built-in one (``server`` is filled in per test)."""


async def step_until_it_stops(app: SmtpStepApp, limit: int = 12) -> int:
    """Step until a step fails or the planner halts; return the steps taken."""
    for taken in range(1, limit + 1):
        view = await wait_for_step(app, app.run_action("step"))  # what space does (assert_still_usable presses keys)
        if (view.last is not None and view.last.failure is not None) or view.halt or not view.queue:
            return taken
    raise AssertionError("the session neither failed nor halted")


def explanation(app: SmtpStepApp) -> str:
    assert isinstance(app.screen, MainScreen)
    return app.screen.query_one(ExplanationPane).plain_text


async def assert_still_usable(pilot, app: SmtpStepApp) -> None:  # type: ignore[no-untyped-def]
    """A key press is still handled, and ``r`` starts a new session that can connect again."""
    before = app.wire_log.crlf_marks
    await pilot.press("l")  # line-end marks: any binding shows that keys still reach the app
    await pilot.pause()
    assert app.wire_log.crlf_marks is not before
    view = await wait_for_step(app, pilot.press("r"))
    assert view.state == State.DISCONNECTED and view.steps_done == 0
    assert app.wire_log.plain_lines() == []
    view = await step(pilot)  # connect again
    assert view.state != State.DISCONNECTED
    assert app.is_running


@pytest.mark.parametrize(("script", "words"), [
    ("garbage-greeting", "not an SMTP reply"),
    ("huge-line", f"longer than {MAX_LINE} octets"),
])
async def test_a_broken_greeting_is_explained_and_the_app_keeps_running(script: str, words: str) -> None:
    async with HostileServer(script) as server:
        app = SmtpStepApp(replace(STRANGER, server=f"127.0.0.1:{server.port}"))
        async with app.run_test(size=(100, 30)) as pilot:
            await started(app)
            assert await step_until_it_stops(app) == 2  # connect, greeting
            view = app.session_view
            assert view is not None and view.last is not None and view.last.failure is not None
            assert view.last.failure.kind == "protocol"
            text = explanation(app)
            assert "What went wrong" in text and words in text
            assert "Traceback" not in text
            assert view.state == State.CLOSED
            # What the app kept of the huge line is what it read: a bounded amount, not megabytes.
            read = sum(len(c.data) for c in app.stepper.transport.record.chunks  # type: ignore[union-attr]
                       if c.direction == Direction.SERVER)
            assert read <= MAX_LINE + READ_SIZE
            assert sum(len(line) for line in app.wire_log.plain_lines()) <= 2 * (MAX_LINE + READ_SIZE)
            await assert_still_usable(pilot, app)


async def test_a_421_at_rcpt_is_explained_and_the_app_keeps_running() -> None:
    async with HostileServer("421-at-rcpt") as server:
        app = SmtpStepApp(replace(STRANGER, server=f"127.0.0.1:{server.port}"))
        async with app.run_test(size=(100, 30)) as pilot:
            await started(app)
            await step_until_it_stops(app)
            view = app.session_view
            assert view is not None and view.last is not None
            assert view.last.answers[-1].reply.code == 421
            assert view.state == State.CLOSED and not view.queue  # no QUIT after 421 (RFC 5321 §3.8)
            text = explanation(app)
            assert "closing the connection" in text and "421" in text
            assert server.commands[-1].startswith(b"RCPT TO:")
            await assert_still_usable(pilot, app)


async def test_an_untrusted_certificate_is_explained_and_the_app_keeps_running(
    local_server_factory,  # type: ignore[no-untyped-def]
) -> None:
    # The built-in server with a certificate from a CA that ca_path does not hold, addressed as a stranger.
    server = await local_server_factory(certificate="untrusted")
    settings = replace(STRANGER, server=f"127.0.0.1:{server.port_for('starttls')}", security="starttls",
                       ca_file=server.ca_path)
    app = SmtpStepApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app)
        assert await step_until_it_stops(app) == 5  # connect, greeting, EHLO, STARTTLS, handshake
        view = app.session_view
        assert view is not None and view.last is not None and view.last.failure is not None
        assert view.last.failure.kind == "tls"
        text = explanation(app)
        assert "certificate was not accepted" in text
        assert view.snapshot.tls is not None and not view.snapshot.tls.verified
        assert server.received == []
        await assert_still_usable(pilot, app)
