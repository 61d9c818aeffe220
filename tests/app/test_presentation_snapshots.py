"""Snapshots of presentation mode on a zoomed terminal (64x20 and 80x24), and of a quiz question.

The same deterministic set-up as ``test_snapshots.py`` (its app): the server is named
"localhost", the clock and Message-ID are fixed, step times hidden; each step is awaited through the app's
StepFinished message, the question through the quiz panel's Asked one. Plain ``def`` tests:
``snap_compare`` runs its own event loop. Look at the report before committing updated snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.test_presentation_app import _asked
from tests.app.test_snapshots import _app, _steps
from tests.support.waiting import started, step, wait_for_step


@pytest.fixture(scope="module")
def free_port_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(maildir=tmp_path_factory.mktemp("maildir"))  # any free ports: the screen says "localhost"
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


class TestPresentation:
    @pytest.mark.parametrize("size", [(64, 20), (80, 24)])
    def test_ehlo_after_starttls_with_the_new_keywords_marked(self, snap_compare, free_port_server, size) -> None:  # type: ignore[no-untyped-def]
        app = _app(free_port_server, "projector", present=True)  # as `smtpstep step --present` makes it
        assert snap_compare(app, terminal_size=size, run_before=_steps(6))

    def test_a_quiz_question_before_the_ehlo_reply_at_80x24(self, snap_compare, free_port_server) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await started(pilot.app)
            await step(pilot, times=1)  # connect (nothing to guess)
            await _asked(pilot.app, pilot.press("space"))  # the greeting
            await wait_for_step(pilot.app, pilot.press("space"))  # shown without a guess
            await _asked(pilot.app, pilot.press("space"))  # EHLO
            await pilot.pause()

        app = _app(free_port_server, "high-contrast", present=True, quiz="digit")
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
