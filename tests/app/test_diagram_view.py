"""The sequence diagram view (key ``d``): it grows step by step, marks the step shown, fits its width, and
looks the same every run (a snapshot at 120x36).

The built-in server runs with a fixed clock and fixed queue IDs, as ``smtpstep shots`` runs it, so the
"queued as" reply is the same every run; tests wait on the app's StepFinished message, never on the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from smtpstep.app.screens.diagram import DiagramScreen
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.sequence_diagram import TLS_GUTTER, SequenceDiagram, rows_of
from tests.support.waiting import started, step

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
SETTINGS = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                           password="classroom", display_name="localhost")


@pytest.fixture
def fixed_server(tmp_path: Path) -> Iterator[object]:
    """A server of each test's own: its queue IDs count from 1 in every test."""
    from smtpstep.protocol.server.maildir import numbered_names
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(maildir=tmp_path / "maildir", clock=lambda: NOW,
                         maildir_names=numbered_names(int(NOW.timestamp()), "mail.smtpstep.test"))
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


def _app(server: object, theme: str | None = "print") -> SmtpStepApp:
    return SmtpStepApp(SETTINGS, server=server, now=NOW, message_id="<diagram@client.smtpstep.test>",  # type: ignore[arg-type]
                       timings=False, theme=theme, screenshot_dir=Path("/nonexistent"))


def _view(app: SmtpStepApp) -> SequenceDiagram:
    assert isinstance(app.screen, DiagramScreen)
    return app.screen.query_one(SequenceDiagram)


async def test_the_diagram_grows_with_each_step_and_marks_the_step_looked_at(fixed_server) -> None:  # type: ignore[no-untyped-def]
    app = _app(fixed_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=3)
        await pilot.press("d")
        await pilot.pause()
        rows = _view(app).rows
        assert any("EHLO client.smtpstep.test" in row for row in rows)
        assert not any("STARTTLS ─" in row for row in rows)
        await step(pilot, times=2)  # STARTTLS and the handshake, with the diagram open
        await pilot.pause()
        rows = _view(app).rows
        starttls = next(i for i, row in enumerate(rows) if "── STARTTLS ─" in row)
        handshake = next(i for i, row in enumerate(rows) if "TLS handshake (TLSv1.3)" in row)
        assert starttls < handshake
        assert rows[handshake][4] == TLS_GUTTER and rows[starttls][4] != TLS_GUTTER  # TLS is marked, not coloured
        assert rows[handshake][:4].strip() == "5▶"  # the step shown
        await pilot.press("left")  # look back at step 4
        await pilot.pause()
        rows = _view(app).rows
        assert next(row for row in rows if "── STARTTLS ─" in row)[:4].strip() == "4▶"
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, DiagramScreen)


async def test_in_a_replay_the_diagram_grows_as_the_recording_is_stepped_through(fixed_server) -> None:  # type: ignore[no-untyped-def]
    from smtpstep.app.session.recording import record_session

    recording = await record_session(SETTINGS, fixed_server, now=NOW)
    app = SmtpStepApp(None, replay=recording, theme="print")  # type: ignore[arg-type]
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for _ in range(3):  # connect, greeting, EHLO
            await pilot.press("space")
        await pilot.press("d")
        await pilot.pause()
        rows = _view(app).rows
        assert any("EHLO client.smtpstep.test" in row for row in rows)
        assert not any("STARTTLS ─" in row for row in rows)  # not shown yet: the replay has not got there
        await pilot.press("space")
        await pilot.pause()
        assert any("── STARTTLS ─" in row for row in _view(app).rows)


def test_the_rows_fit_any_width_and_keep_every_exchange() -> None:
    import asyncio

    from smtpstep.app.session.diagram import diagram_of
    from smtpstep.app.session.recording import record_session

    recording = asyncio.run(record_session(SETTINGS, now=NOW))
    diagram = diagram_of(recording, current=3)
    for width in (40, 64, 80, 120, 200):
        rows = ["".join(text for text, _ in row.runs) for row in rows_of(diagram, width)]
        assert all(len(row) == width for row in rows), width
        assert sum("──▶" in row or "─▶" in row for row in rows) == 11  # every command (and the connect)
        assert sum("◀╌" in row for row in rows) == 11  # every reply


class TestDiagramView:
    def test_the_diagram_of_a_whole_session_at_120x36(self, snap_compare, fixed_server) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await started(pilot.app)
            await step(pilot, times=12)
            await pilot.press("d")
            await pilot.pause()

        assert snap_compare(_app(fixed_server), terminal_size=(120, 36), run_before=run_before)


@pytest.mark.parametrize("name", ["lesson.mmd", "lesson.puml", "lesson.diagram.svg"])
async def test_the_export_key_writes_the_diagram_a_file_name_asks_for(fixed_server, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input

    app = SmtpStepApp(SETTINGS, server=fixed_server, now=NOW, timings=False, screenshot_dir=tmp_path)  # type: ignore[arg-type]
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app)
        await step(pilot, times=7)  # through AUTH
        await pilot.press("E")
        await pilot.pause()
        app.screen.query_one(Input).value = name
        await pilot.press("enter")
        await pilot.pause()
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert "AUTH PLAIN" in text.replace("<U+0020>", " ").replace("#32;", " ")
    for secret in ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t"):
        assert secret not in text
    if name.endswith(".diagram.svg"):
        import xml.etree.ElementTree as ET

        assert ET.fromstring(text).tag == "{http://www.w3.org/2000/svg}svg"
