"""Saving from the terminal app: the session as a transcript, a recording or a sequence diagram (key E),
and an SVG of the screen (key s), into the screenshot folder unless an absolute path is given.

Screenshots are taken by ``clean_screenshot``: for the one frame of the capture the app has the
``-capturing`` class (``app.tcss``), which hides scrollbars, toasts and tooltips without moving anything,
and the SVG goes through ``svg.print_svg`` (the bundled font embedded, borders drawn as lines).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.output.exports import SUFFIXES, ExportError, export
from smtpstep.app.output.svg import print_svg, screenshot_name
from smtpstep.app.screens.dialogs import LineInputScreen
from smtpstep.app.session.diagram import lesson_meta
from smtpstep.app.session.recording import Recording, new_meta

if TYPE_CHECKING:
    from smtpstep.app.stepper_app import SmtpStepApp

CAPTURING = "-capturing"
"""The app's class while a screenshot is taken (``app.tcss`` hides scrollbars, toasts and tooltips)."""


def session_recording(app: SmtpStepApp) -> Recording | None:
    """The live session so far as a recording (with the lesson it follows and what a man in the middle
    changed, for its diagram), or None before the first session."""
    if app.stepper is None or not app.timeline.views:
        return None
    settings = app.settings
    meta = new_meta(target=settings.describe(app.server), security=settings.security)
    lesson = settings.lesson
    if lesson is not None:
        relay = app.lab.relay
        meta.update(lesson_meta(lesson, settings.lesson_part, list(relay.tampering) if relay is not None else []))
    return Recording.from_stepper(app.stepper, app.timeline.views, meta)


def ask_and_export(app: SmtpStepApp, recording: Recording | None) -> None:
    """Ask for a file name; its extension picks the format (``.json`` is a recording to replay)."""
    recording = recording or session_recording(app)
    if recording is None:
        return
    reveal = app.wire_log.show_secrets

    def done(name: str | None) -> None:
        if not name:
            return
        path = Path(name).expanduser()
        path = path if path.is_absolute() else app.screenshot_dir / path
        try:
            export(recording, path, style=app.wire_log.style_name, show_secrets=reveal, theme=app.theme)
        except ExportError as error:
            app.notify(f"Not saved: {error}", severity="error", timeout=8)
            return
        app.notify(f"Saved {path}" + (" (secrets shown, as on screen)" if reveal else " (secrets redacted)"))

    app.push_screen(LineInputScreen(
        "Export the session", f"A file name; its extension picks the format: {' '.join(SUFFIXES)}. "
        ".json is a recording that `smtpstep replay` opens offline; .mmd, .puml and .diagram.svg are the "
        "sequence diagram.", "smtpstep-session.md"), done)


async def clean_screenshot(app: SmtpStepApp, *, title: str | None = None) -> str:
    """The screen as SVG, fit to print, without toasts, tooltips or scrollbars (they come back after)."""
    app.add_class(CAPTURING)
    try:
        shot: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def take() -> None:
            if not shot.done():
                shot.set_result(app.export_screenshot(title=title))

        app.call_after_refresh(take)  # the next frame is drawn without them
        return print_svg(await shot)
    finally:
        app.remove_class(CAPTURING)


def save_screenshot(app: SmtpStepApp) -> None:
    """An SVG of the screen, named after the step shown; said in a notification once it is saved."""
    view = app.timeline.shown or app.session_view
    step = view.steps_done if view else 0
    name = screenshot_name(step, view.last.commands[-1].label if view and view.last else "start")

    async def save() -> None:
        svg = await clean_screenshot(app, title=f"smtpstep — step {step}")
        try:
            app.screenshot_dir.mkdir(parents=True, exist_ok=True)
            path = app.screenshot_dir / name
            path.write_text(svg, encoding="utf-8")
        except OSError as error:
            app.notify(f"Could not save the screenshot: {error.strerror or error}", severity="error")
            return
        app.notify(f"Saved {path}")

    app.run_worker(save(), group="screenshot", exit_on_error=False)
