"""Snapshot tests of the main screen at key steps, per size and theme (pytest-textual-snapshot).

Deterministic: the built-in server runs on fixed test ports, the clock and Message-ID are frozen,
step times are hidden, and no screen shows a certificate (they change every run). Plain ``def``
tests: ``snap_compare`` runs its own event loop. Update with ``pytest --snapshot-update`` and look
at the report before committing new snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp

PORTS = {"plain_port": 39025, "submission_port": 39587, "submissions_port": 39465}
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
SETTINGS = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                           password="classroom")


@pytest.fixture(scope="module")
def fixed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(maildir=tmp_path_factory.mktemp("maildir"), **PORTS)
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


def _app(server: object, theme: str | None = None) -> SmtpStepApp:
    return SmtpStepApp(SETTINGS, server=server, now=NOW, message_id="<snapshot@client.smtpstep.test>",
                       timings=False, theme=theme, screenshot_dir=Path("/nonexistent"))  # type: ignore[arg-type]


async def _wait_idle(pilot) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    app = pilot.app
    for _ in range(300):
        await pilot.pause()
        if not app.busy:  # noqa: SLF001
            return
        await asyncio.sleep(0.01)


def _steps(count: int):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        import asyncio

        for _ in range(300):  # the stepper is made once the screen's panes exist
            if pilot.app.stepper is not None:
                break
            await asyncio.sleep(0.01)
        for _ in range(count):
            await pilot.press("space")
            await _wait_idle(pilot)
        await pilot.pause()

    return run_before


class TestMainScreen:
    @pytest.mark.parametrize("size", [(80, 24), (120, 36)])
    def test_start_screen(self, snap_compare, fixed_server, size) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(_app(fixed_server), terminal_size=size, run_before=_steps(0))

    @pytest.mark.parametrize("size", [(80, 24), (120, 36)])
    def test_after_ehlo(self, snap_compare, fixed_server, size) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(_app(fixed_server), terminal_size=size, run_before=_steps(3))


class TestThemes:
    @pytest.mark.parametrize("theme", ["smtpstep-dark", "projector", "print", "high-contrast", "colorblind"])
    def test_after_ehlo_in_theme(self, snap_compare, fixed_server, theme) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(_app(fixed_server, theme), terminal_size=(120, 36), run_before=_steps(3))


class TestPresentation:
    @pytest.mark.parametrize("size", [(100, 30), (80, 24)])
    def test_presentation_after_ehlo(self, snap_compare, fixed_server, size) -> None:  # type: ignore[no-untyped-def]
        app = _app(fixed_server, "projector")
        app._present = True  # noqa: SLF001 - as `smtpstep step --present` would
        assert snap_compare(app, terminal_size=size, run_before=_steps(3))
