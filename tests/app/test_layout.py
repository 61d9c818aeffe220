"""A layout that uses the screen, and the small things a room notices.

The queue takes a share of the width: reply codes and the out-of-order note show at 80x24, and no command
is cut from 120 columns on. The header drops its least important parts first, so "step n of m" and the
"viewing step n" marker show at 64x20. The explanation opens at its top on each step; the wire log says
when lines wait below and ``End`` follows again. Help writes keys as people read them, the palette's
Theme command offers smtpstep's themes, the connection screen takes typing at once and keeps its error in
sight, ``z`` says what it did, and a replay offers only what works offline.
"""

from __future__ import annotations

from textual.widgets import Input, Label

from smtpstep.app.screens.connection import ConnectionScreen
from smtpstep.app.screens.dialogs import LineInputScreen
from smtpstep.app.screens.help import HelpScreen
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.app.widgets.session_header import SessionHeader
from smtpstep.app.widgets.wire_log import WireLog
from smtpstep.themes import THEMES
from tests.app.test_snapshots import NOW, SETTINGS, _app, free_port_server  # noqa: F401 - a fixture
from tests.support.drawn_cells import drawn_cells, row_text
from tests.support.waiting import started, step


def _rows(widget) -> list[str]:  # type: ignore[no-untyped-def]
    """What a widget drew, row by row (its content region, through the Line API)."""
    return [widget.render_line(y).text for y in range(widget.scrollable_content_region.height)]


def _screen_text(app: SmtpStepApp) -> list[str]:
    cells = drawn_cells(app.export_screenshot())
    return [row_text(cells, row) for row in range(app.size.height)]


async def test_the_queue_shows_codes_and_the_out_of_order_note_at_80x24_and_cuts_nothing_at_120x36(free_port_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app = _app(free_port_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        await step(pilot, times=3)  # connect, greeting, EHLO
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, LineInputScreen)
        app.screen.dismiss("DATA")  # before STARTTLS and MAIL: out of order
        await pilot.pause()
        rows = _rows(app.queue_widget)
        assert any("⚠ out of order" in row for row in rows), rows
        assert any("✓  3 250 EHLO" in row for row in rows), rows
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        view = app.session_view
        rows = _rows(app.queue_widget)
        shown = " ".join(" ".join(rows).split())
        assert not any("…" in row for row in rows), rows
        for planned in view.queue:
            assert " ".join(planned.command.label.split()) in shown, planned.command.label


async def test_at_64x20_the_header_keeps_the_step_and_the_viewing_marker_and_the_explanation_opens_at_its_top(
        free_port_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app = _app(free_port_server)
    async with app.run_test(size=(64, 20)) as pilot:
        await started(app)
        await step(pilot, times=3)  # EHLO: a long explanation, one block per keyword
        box = app.main_screen.query_one("#explain-box")
        box.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert box.scroll_y > 0
        await step(pilot, times=2)
        await pilot.pause()
        assert box.scroll_y == 0
        header = app.main_screen.query_one(SessionHeader)
        assert "step 5 of 12" in header.render().plain
        await pilot.press("left")
        await pilot.pause()
        line = _screen_text(app)[0]
        assert "step 4 of 12" in line and "VIEWING STEP 4" in line, line
        assert header.render().cell_len <= 64
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        line = _screen_text(app)[0]
        assert "smtpstep" in line and "localhost" in line and "returns to the live session" in line, line


async def test_the_wire_log_says_lines_wait_below_end_follows_again_and_z_says_what_it_did(
        free_port_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app = _app(free_port_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        wire = app.main_screen.query_one(WireLog)
        assert wire.toggle_fold().startswith("Nothing to fold: no message has been sent yet")
        await step(pilot, times=3)
        wire.focus()
        await pilot.press("home")
        await pilot.pause()
        assert not wire.following and wire.marker() is None  # nothing new yet
        await step(pilot)  # STARTTLS and its reply arrive below
        await pilot.pause()
        assert wire.unseen >= 2
        assert "new lines below" in _rows(wire)[-1]
        await pilot.press("end")
        await pilot.pause()
        assert wire.following and wire.marker() is None
        assert "new lines below" not in _rows(wire)[-1]
        await step(pilot, times=7)  # through the message
        assert wire.toggle_fold().startswith("Nothing to fold: the message is 17 lines")
        assert not wire.expanded


async def test_help_palette_and_connection_screen_speak_to_people(free_port_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from textual.command import CommandPalette

    app = _app(free_port_server)
    async with app.run_test(size=(100, 60)) as pilot:  # all of the help on screen
        await started(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(_screen_text(app))
        for keys in ("Space / n", "+ / =", "? / F1", "← / [", "Ctrl+P"):
            assert keys in text, keys
        assert "plus,equals_sign" not in text and "question_mark" not in text
        await pilot.press("escape")
        await pilot.pause()

        app.search_themes()  # what the palette's Theme command opens
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.pause()
        text = "\n".join(_screen_text(app))
        assert all(theme.name in text for theme in THEMES), text
        assert "textual-dark" not in text and "nord" not in text
        await pilot.press("escape")
        await pilot.pause()

        await pilot.resize_terminal(80, 24)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionScreen)
        assert isinstance(app.focused, Input) and app.focused.id == "server"
        await pilot.press("%", "ctrl+s")  # typed at once into the server field: not a host name
        await pilot.pause()
        error = app.screen.query_one("#error", Label)
        assert "✗" in str(error.render())
        assert 0 < error.region.bottom <= 24 and error.region.height >= 1
        said = str(error.render()).strip()
        assert any(said[:30] in row for row in _screen_text(app)), said  # drawn, not only laid out


async def test_a_replay_offers_only_what_works_offline_and_says_what_a_press_does(free_port_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from smtpstep.app.session.recording import record_session

    recording = await record_session(SETTINGS, free_port_server, now=NOW)  # type: ignore[arg-type]
    app = SmtpStepApp(None, replay=recording)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        footer = _screen_text(app)[-1]
        assert "Step" in footer and "Edit" not in footer and "Insert" not in footer
        assert "Connection" not in footer and "Restart" not in footer
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert not any(t.startswith(("Edit", "Insert", "Connection", "Restart", "Run to end")) for t in titles)
        step_help = next(c.help for c in app.get_system_commands(app.screen) if c.title.startswith("Step"))
        assert "next recorded step" in step_help
        explanation = app.main_screen.query_one(ExplanationPane).plain_text
        assert "Each press shows the next recorded step" in explanation
        assert "Each press sends" not in explanation
