"""Saving from the terminal app: the session as a transcript or a recording (key E), and an SVG of the
screen (key s), into the screenshot folder unless an absolute path is given. No file is replaced without
asking, and a tab of a listening ``smtpstep web`` saves only into its own folder and offers the file as a
download (``smtpstep.app.session.confinement``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.output.exports import SUFFIXES, ExportError, render
from smtpstep.app.output.svg import offline_svg, screenshot_name
from smtpstep.app.screens.dialogs import ConfirmScreen, LineInputScreen
from smtpstep.app.session.confinement import SaveRefused, current, free_path, save_path, screenshot_folder, write_new
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
        try:
            path = save_path(name, app.screenshot_dir)  # confined in a --listen tab: a name in its folder
        except SaveRefused as error:
            app.notify(f"Not saved: {error}", severity="error", timeout=8)
            return
        save(path, replace=False)

    def save(path: Path, replace: bool) -> None:
        try:
            write_new(path, render(recording, path.suffix, style=app.wire_log.style_name, show_secrets=reveal,
                                   theme=app.theme), replace=replace)
        except FileExistsError:  # never replaced without asking
            app.push_screen(ConfirmScreen("Replace the file?", f"{path} exists already. Replace it with this export?",
                                          yes="Replace"),
                            lambda yes: save(path, True) if yes else app.notify("Not saved: the file is as it was."))
            return
        except ExportError as error:
            app.notify(f"Not saved: {error}", severity="error", timeout=8)
            return
        except OSError as error:
            app.notify(f"Not saved: {path} cannot be written ({error.strerror or error})", severity="error", timeout=8)
            return
        app.notify(f"Saved {path}" + (" (secrets shown, as on screen)" if reveal else " (secrets redacted)"))
        offer(app, path)

    app.push_screen(LineInputScreen(
        "Export the session", f"A file name; its extension picks the format: {' '.join(SUFFIXES)}. "
        ".json is a recording that `smtpstep replay` opens offline.", "smtpstep-session.md"), done)


def save_screenshot(app: SmtpStepApp) -> None:
    """An SVG of the screen, named after the step shown."""
    view = app.timeline.shown or app.session_view
    step = view.steps_done if view else 0
    name = screenshot_name(step, view.last.commands[-1].label if view and view.last else "start")
    try:
        folder = screenshot_folder(app.screenshot_dir)
        folder.mkdir(parents=True, exist_ok=True)
        svg = offline_svg(app.export_screenshot(title=f"smtpstep — step {step}"))
        while True:
            path = free_path(folder / name)  # a second shot of the same step gets -2, never replaces the first
            try:
                write_new(path, svg)
                break
            except FileExistsError:
                continue
    except OSError as error:
        app.notify(f"Could not save the screenshot: {error.strerror or error}", severity="error")
        return
    app.notify(f"Saved {path}")
    offer(app, path)


def offer(app: SmtpStepApp, path: Path) -> None:
    """In a tab of a listening ``smtpstep web``, offer the file just saved to the browser as a download."""
    if current() is not None and app.is_web:
        app.deliver_binary(path, save_filename=path.name, open_method="download")
