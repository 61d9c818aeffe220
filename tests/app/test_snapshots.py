"""Snapshot tests of the main screen at key steps, per size and theme (pytest-textual-snapshot).

Deterministic: the built-in server takes free ports and the screen calls it "localhost" (the settings'
``display_name``), the clock and Message-ID are frozen, step times are hidden, and no screen shows a
certificate (they change every run). Each step is awaited through the app's StepFinished message.
Plain ``def`` tests: ``snap_compare`` runs its own event loop. Update with ``pytest --snapshot-update``
and look at the report before committing new snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from tests.support.waiting import started, step

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
SETTINGS = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                           password="classroom", display_name="localhost")
"""The built-in server, named without the port it happens to get."""


@pytest.fixture(scope="module")
def free_port_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(maildir=tmp_path_factory.mktemp("maildir"))  # any free ports
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


def _app(server: object, theme: str | None = None, *, present: bool = False, quiz: str | None = None) -> SmtpStepApp:
    return SmtpStepApp(SETTINGS, server=server, now=NOW, message_id="<snapshot@client.smtpstep.test>",
                       timings=False, theme=theme, screenshot_dir=Path("/nonexistent"),
                       present=present, quiz=quiz)  # type: ignore[arg-type]


def _steps(count: int):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await started(pilot.app)
        if count:
            await step(pilot, times=count)

    return run_before


class TestMainScreen:
    @pytest.mark.parametrize("size", [(80, 24), (120, 36)])
    def test_start_screen(self, snap_compare, free_port_server, size) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(_app(free_port_server), terminal_size=size, run_before=_steps(0))

    @pytest.mark.parametrize("size", [(80, 24), (120, 36)])
    def test_after_ehlo(self, snap_compare, free_port_server, size) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(_app(free_port_server), terminal_size=size, run_before=_steps(3))


class TestThemes:
    @pytest.mark.parametrize("theme", ["smtpstep-dark", "projector", "print", "high-contrast", "colorblind"])
    def test_after_ehlo_in_theme(self, snap_compare, free_port_server, theme) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(_app(free_port_server, theme), terminal_size=(120, 36), run_before=_steps(3))
