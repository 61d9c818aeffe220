"""The app and its built-in server's process: the server runs apart from the screen, what it stores
reaches the Server side pane, and nothing of it is left once the app has quit."""

from __future__ import annotations

import os

from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.server_view import ServerView
from smtpstep.protocol.lessons.loader import load
from smtpstep.protocol.server.process import ServerProcess
from tests.support.processes import ended, server_children
from tests.support.waiting import started, step

BASE = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                       password="classroom")


async def test_the_app_runs_its_server_apart_and_leaves_nothing_of_it_after_quitting() -> None:
    app = SmtpStepApp(BASE.for_lesson(load("basic")))
    async with app.run_test(size=(120, 36)) as pilot:
        view = await started(app)
        server = app.server
        assert isinstance(server, ServerProcess) and server.pid != os.getpid() and server.pid in server_children()
        folder, pid = server.ca_path.parent, server.pid
        view = await step(pilot, times=len(view.queue))
        assert not view.queue and view.last is not None and view.last.failure is None
        # The server reported the message before it said 250 to it, and QUIT took a step since.
        pane = app.screen.query_one(ServerView)
        assert len(pane.messages) == 1
        assert any(f"queued as {pane.messages[0].key}" in line for line in app.wire_log.plain_lines())
    assert pid is not None and ended(pid) and not folder.exists()
    assert server_children() == []
