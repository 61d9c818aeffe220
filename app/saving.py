"""Saving from the terminal app: the session as a transcript, a recording, a sequence diagram or a .pcapng (key E),
and an SVG of the screen (key s), into the screenshot folder unless an absolute path is given.
No file is replaced without asking, and a tab of a listening ``smtpstep web`` saves only into its own folder
and offers the file as a download (``smtpstep.app.session.confinement``).

Screenshots are taken by ``clean_screenshot``: for the one frame of the capture the app has the
``-capturing`` class (``app.tcss``), which hides scrollbars, toasts and tooltips without moving anything,
and the SVG goes through ``svg.print_svg`` (the bundled font embedded, borders drawn as lines).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.output.capture import export_pcapng
from smtpstep.app.output.exports import BINARY_SUFFIXES, SUFFIXES, ExportError, format_of, render
from smtpstep.app.output.svg import print_svg, screenshot_name
from smtpstep.app.screens.dialogs import ConfirmScreen, LineInputScreen
from smtpstep.app.session.confinement import SaveRefused, current, free_path, save_path, screenshot_folder, write_new
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
        meta.update(lesson_meta(lesson, settings.lesson_part, list(relay.tampering) if relay is not None else [],
                                app.lab.received))
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
        try:
            path = save_path(name, app.screenshot_dir)  # confined in a --listen tab: a name in its folder
        except SaveRefused as error:
            app.notify(f"Not saved: {error}", severity="error", timeout=8)
            return
        save(path, replace=False)

    def save(path: Path, replace: bool) -> None:
        if format_of(path) == ".pcapng":
            capture(path, replace)
            return
        try:
            write_new(path, render(recording, format_of(path), style=app.wire_log.style_name, show_secrets=reveal,
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

    def capture(path: Path, replace: bool) -> None:
        """A .pcapng: with the TLS keys only when smtpstep logs them (--tls-keys, SSLKEYLOGFILE) and the user
        says yes here, for whoever gets the file can then read the password."""
        if path.exists() and not replace:
            app.push_screen(ConfirmScreen("Replace the file?", f"{path} exists already. Replace it with this export?",
                                          yes="Replace"),
                            lambda yes: capture(path, True) if yes else app.notify("Not saved: the file is as it was."))
            return
        keylog = app.settings.tls_keys
        if keylog is None:
            write_capture(path, None)
            return
        app.push_screen(ConfirmScreen(
            "Embed the TLS keys?", f"The keys in {keylog} let Wireshark open the capture decrypted, AUTH included: "
            "whoever gets the file can read the password. Without them the TLS part stays ciphertext.",
            yes="Embed the keys"), lambda yes: write_capture(path, keylog if yes else None))

    def write_capture(path: Path, keylog: str | None) -> None:
        try:
            said = export_pcapng(recording, path, keylog=keylog, show_secrets=reveal)
        except ExportError as error:
            app.notify(f"Not saved: {error}", severity="error", timeout=8)
            return
        app.notify(f"Saved: {said}", timeout=12)
        offer(app, path)

    app.push_screen(LineInputScreen(
        "Export the session", f"A file name; its extension picks the format: {' '.join(SUFFIXES + BINARY_SUFFIXES)}. "
        ".json is a recording that `smtpstep replay` opens offline; .mmd, .puml and .diagram.svg are the "
        "sequence diagram; .pcapng is the session's bytes for Wireshark.", "smtpstep-session.md"), done)


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
            folder = screenshot_folder(app.screenshot_dir)  # a --listen tab's own folder
            folder.mkdir(parents=True, exist_ok=True)
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

    app.run_worker(save(), group="screenshot", exit_on_error=False)


def offer(app: SmtpStepApp, path: Path) -> None:
    """In a tab of a listening ``smtpstep web``, offer the file just saved to the browser as a download."""
    if current() is not None and app.is_web:
        app.deliver_binary(path, save_filename=path.name, open_method="download")
