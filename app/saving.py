"""Saving from the terminal app: the session as a transcript or a recording (key E), and an SVG of the
screen (key s), into the screenshot folder unless an absolute path is given."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.output.exports import SUFFIXES, ExportError, export
from smtpstep.app.output.svg import offline_svg, screenshot_name
from smtpstep.app.screens.dialogs import LineInputScreen
from smtpstep.app.session.recording import Recording

if TYPE_CHECKING:
    from smtpstep.app.stepper_app import SmtpStepApp


def ask_and_export(app: SmtpStepApp, recording: Recording | None) -> None:
    """Ask for a file name; its extension picks the format (``.json`` is a recording to replay)."""
    if recording is None and app.stepper is not None and app.timeline.views:
        recording = Recording.from_stepper(app.stepper, app.timeline.views)
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
        ".json is a recording that `smtpstep replay` opens offline.", "smtpstep-session.md"), done)


def save_screenshot(app: SmtpStepApp) -> None:
    """An SVG of the screen, named after the step shown."""
    view = app.timeline.shown or app.session_view
    step = view.steps_done if view else 0
    name = screenshot_name(step, view.last.commands[-1].label if view and view.last else "start")
    try:
        app.screenshot_dir.mkdir(parents=True, exist_ok=True)
        path = app.screenshot_dir / name
        path.write_text(offline_svg(app.export_screenshot(title=f"smtpstep — step {step}")), encoding="utf-8")
    except OSError as error:
        app.notify(f"Could not save the screenshot: {error.strerror or error}", severity="error")
        return
    app.notify(f"Saved {path}")
