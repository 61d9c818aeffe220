"""Contrast as drawn: the real app steps through a STARTTLS + AUTH session in each theme, and every cell of
what it draws is measured from its screenshot (``tests/support/drawn_cells.py``).

Text must reach 7:1 in the classroom and paper themes (projector, print, high-contrast: WCAG AAA) and 4.5:1
in the others (AA), whatever its style: finished (disabled, italic) steps, dim text, placeholders, the footer,
dialogs, toasts. Borders, the TLS gutter and scrollbar ends need 3:1, and a scrollbar's thumb 3:1 against
its track. One app run per theme: the main screen after STARTTLS (finished steps, every pane), a toast of
each severity, the help, the connection screen with an error, the secrets question, the edit line and the
command palette.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.themes import STRICT_THEMES, THEMES
from tests.app.test_snapshots import NOW, SETTINGS, free_port_server  # noqa: F401 - a fixture
from tests.support.drawn_cells import Region, drawn_cells, failures, scrollbar_contrast
from tests.support.waiting import started, step

SIZE = (120, 30)
"""The wide layout (every pane, the TLS one too), short enough for the panes to scroll."""


def _dialog_regions(app: SmtpStepApp) -> list[Region] | None:
    """Under a modal screen, where its widgets and toasts are drawn; None: the whole screen counts."""
    screen = app.screen
    if not screen.is_modal:
        return None
    return [tuple(w.region) for w in screen.children if w.display and w.region.area]  # type: ignore[misc]


def _scrollbars(app: SmtpStepApp) -> list[Region]:
    """Every scrollbar on screen, from the widgets' public scrollbar attributes."""
    regions = []
    for widget in app.screen.query("*"):
        for bar, shown in ((widget.vertical_scrollbar, widget.show_vertical_scrollbar),
                           (widget.horizontal_scrollbar, widget.show_horizontal_scrollbar)):
            if shown and bar.region.area:
                regions.append(tuple(bar.region))
    return regions  # type: ignore[return-value]


async def _screens(app: SmtpStepApp, pilot) -> list[tuple[str, str, list[Region] | None, list[Region]]]:  # type: ignore[no-untyped-def]
    shots = []

    async def shoot(label: str, *, scrollbars: bool = True) -> None:
        await pilot.pause()
        shots.append((label, app.export_screenshot(), _dialog_regions(app), _scrollbars(app) if scrollbars else []))

    async def dialog(key: str, label: str, *then: str) -> None:
        await pilot.press(key)
        await pilot.pause()
        assert app.screen.is_modal, f"{key} opened no dialog"
        for key in then:
            await pilot.press(key)
        await shoot(label)
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.is_modal

    await started(app)
    await step(pilot, times=4)  # finished steps above the next, the TLS pane, every pane scrolling
    await shoot("main screen after STARTTLS")
    app.notify("Saved a screenshot")
    app.notify("Pace: one step every 1 s", severity="warning")
    app.notify("Not changed: the line is empty", severity="error")
    await shoot("toasts", scrollbars=False)  # toasts cover scrollbars: those were measured without them
    app.clear_notifications()
    await dialog("question_mark", "help")
    await dialog("c", "connection screen with an error", "%", "ctrl+s")
    await dialog("v", "the secrets question")
    await dialog("i", "the line to insert")
    await dialog("ctrl+p", "command palette", "t")
    return shots


@pytest.mark.parametrize("theme", [t.name for t in THEMES])
async def test_everything_drawn_reaches_its_contrast(free_port_server, theme: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app = SmtpStepApp(SETTINGS, server=free_port_server, now=NOW,  # type: ignore[arg-type]
                      message_id="<contrast@client.smtpstep.test>", timings=False, theme=theme,
                      screenshot_dir=Path("/nonexistent"))
    minimum = 7.0 if theme in STRICT_THEMES else 4.5
    problems = []
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        shots = await _screens(app, pilot)
    for label, svg, within, scrollbars in shots:
        cells = drawn_cells(svg, include_blank=True)
        problems += [f"[{label}] {line}" for line in failures(cells, text_min=minimum, within=within)]
        for region in scrollbars:
            ratio = scrollbar_contrast(cells, region)
            if ratio is not None and ratio < 3:
                problems.append(f"[{label}] scrollbar at {region}: thumb on track {ratio:.2f} < 3")
    assert not problems, f"{theme}: below {minimum}:1 (text) or 3:1 (graphics)\n" + "\n".join(problems)


def test_the_measure_sees_a_disabled_option_drawn_too_faint() -> None:
    """The reader is not blind: Textual's own light theme draws disabled options below 4.5:1."""
    import asyncio

    from textual.app import App
    from textual.widgets import OptionList
    from textual.widgets.option_list import Option

    class Faint(App):
        def compose(self):  # type: ignore[no-untyped-def]
            yield OptionList(Option("finished step", disabled=True), Option("next step"))

    async def shoot() -> str:
        app = Faint()
        app.theme = "textual-light"
        async with app.run_test(size=(30, 5)):
            return app.export_screenshot()

    cells = drawn_cells(asyncio.run(shoot()))
    assert any("'f'" in line for line in failures(cells, text_min=4.5))
