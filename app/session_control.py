"""Sessions in the terminal app: the first one (once the built-in server runs), a restart (key r), a
switch to other connection settings (key c), and the next part of a lesson.

``SessionControl`` asks the lab where to connect, makes the stepper on the asyncio transport, and
clears what the screen showed of the session before. The app shows the new session.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import TYPE_CHECKING

from smtpstep.app.session.settings import SECURITY_WORDS, SessionSettings, UsageError, plan_for
from smtpstep.app.session.stepper import Stepper

if TYPE_CHECKING:
    from datetime import datetime

    from smtpstep.app.stepper_app import SmtpStepApp
    from smtpstep.protocol.planner import SessionPlan
    from smtpstep.protocol.transport.wire import Target


class SessionControl:
    """Start, restart and switch the app's session."""

    def __init__(self, app: SmtpStepApp, *, now: datetime | None, message_id: str | None) -> None:
        self._app = app
        self._now = now
        self._message_id = message_id
        """A fixed Date and Message-ID (lecture notes and tests), or None for fresh ones."""
        self.closing = False
        """Set on exit, so a server still starting stops itself."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.context: contextvars.Context | None = None
        """The app's own context (its active app), for callbacks scheduled from the server's pipe thread."""
        """The app's event loop, once it runs (the built-in server's reports come from another thread)."""

    def open(self) -> None:
        """The live session's start, once the main screen's panes exist: what the settings ask to be shown
        (the server side for a lesson, line ends for one about them, a warning for a key log), then the
        first session."""
        app = self._app
        settings = app.settings
        app.main_screen.show_server = settings.lesson is not None
        if settings.tls_keys:
            app.notify(f"TLS keys are written to {settings.tls_keys} (--tls-keys or SSLKEYLOGFILE): that file "
                       "decrypts this session, AUTH and its password included.", severity="warning", timeout=20)
        if settings.lesson is not None and settings.lesson.shows_line_ends:
            app.wire_log.crlf_marks = True  # the smuggling lesson is about bare line ends: show them
        self.start()

    def server_received(self, record: object) -> None:
        """The built-in server stored a message (called from its pipe's thread): show it on the server side.
        A step under way shows it when it ends; this is for a report that came after the step's reply."""
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the app is gone
                # In the app's context: a callback scheduled from another thread would get that thread's,
                # where Textual finds no active app (a pane measuring its lines then raises).
                loop.call_soon_threadsafe(self._show_received, context=self.context)

    def _show_received(self) -> None:
        app = self._app
        if app.is_running and app.stepper is not None and not app.busy and not self.closing:
            app.publish()

    def start(self) -> None:
        """The first session: on a real server at once; on the built-in one once it runs."""
        app = self._app
        app.main_screen.target_label = app.settings.describe(app.server)
        if app.settings.builtin and not app.lab.ready:
            # After the first frame: importing aiosmtpd and making the CA would compete with it.
            app.call_after_refresh(lambda: app.run_worker(self._start_lab, thread=True, group="server",
                                                          exit_on_error=False))
        else:
            self._new_stepper()

    def _start_lab(self) -> None:
        app = self._app
        lesson = app.settings.lesson
        app.lab.start(lesson.scenario if lesson is not None else "normal")
        if self.closing:  # the user quit while the server was starting: leave nothing behind
            app.lab.stop()
            return
        try:
            app.call_from_thread(self._lab_ready)
        except RuntimeError:  # the app stopped in between
            app.lab.stop()

    def _lab_ready(self) -> None:
        app = self._app
        app.main_screen.target_label = app.settings.describe(app.server)
        self._new_stepper()
        ports = app.server.ports if app.server is not None else {}
        app.notify(f"Built-in server ready on 127.0.0.1: STARTTLS {ports.get('submission')}, "
                   f"TLS {ports.get('submissions')}, plain {ports.get('plain')}. Press space to start.", timeout=4)

    def _target_and_plan(self) -> tuple[Target, SessionPlan]:
        """The target and plan of a new session (the lab starts a lesson part's relay if it has one); the
        header names both the relay and the server behind it."""
        app = self._app
        plan = plan_for(app.settings, now=self._now, message_id=self._message_id)
        target = app.lab.target(app.settings)
        label = app.settings.describe(app.server)
        if app.lab.relay is not None and app.server is not None:
            label = f"relay → {label}" if app.settings.display_name else (
                f"relay :{target.port} → server :{app.server.port_for(app.settings.security)} "
                f"{SECURITY_WORDS[app.settings.security]}")
        app.main_screen.target_label = label
        return target, plan

    def _new_stepper(self) -> None:
        from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport

        app = self._app
        target, plan = self._target_and_plan()
        app.stepper = Stepper(target, plan, transport=AsyncioTransport, listener=app.take_chunk)
        app.publish(after_step=True)
        app.freeze_heap_after_frame()  # what start-up (or the session before) left alive

    async def restart(self) -> None:
        app = self._app
        if app.stepper is None or app.timeline.replay:
            return
        app.workers.cancel_group(app, "step")
        app.playback.stop()
        app.steps.busy = None
        target, plan = self._target_and_plan()
        await app.stepper.restart(target, plan)
        self._cleared()
        app.notify("New session: press space for the first step.")

    def _cleared(self) -> None:
        app = self._app
        app.quizzing.drop()  # a question about the old session goes with it
        app.wire_log.release()
        app.timeline.reset()
        app.main_screen.viewing = None
        app.wire_log.clear()
        app.publish(after_step=True)

    def ask_connection(self) -> None:
        from smtpstep.app.screens.connection import ConnectionScreen

        app = self._app
        if app.timeline.replay:
            app.notify("This is a replay: nothing can be changed or sent.")
            return

        def done(settings: SessionSettings | None) -> None:
            if settings is not None:
                app.run_worker(self._switch(settings), group="switch", exclusive=True, exit_on_error=False)

        app.push_screen(ConnectionScreen(app.settings), done)

    async def _switch(self, settings: SessionSettings) -> None:
        app = self._app
        app.settings = settings
        if settings.builtin and not app.lab.ready:
            await asyncio.get_running_loop().run_in_executor(None, app.lab.start)
        app.main_screen.target_label = settings.describe(app.server)
        if app.stepper is None:
            self._new_stepper()
        else:
            try:
                target, plan = self._target_and_plan()
            except UsageError as error:
                app.notify(str(error), severity="error")
                return
            app.workers.cancel_group(app, "step")
            await app.stepper.restart(target, plan)
        self._cleared()
        app.notify(f"Connected settings: {settings.describe(app.server)}. Press space to start.")

    def next_lesson_part(self) -> bool:
        """At the end of a lesson part, move on to the next part (a new session); False if there is none."""
        app = self._app
        lesson, part = app.settings.lesson, app.settings.lesson_part
        if app.stepper is None or app.stepper.head is not None or app.busy or lesson is None:
            return False
        if part + 1 >= len(lesson.parts):
            return False
        app.settings = app.settings.for_lesson(lesson, part + 1)
        app.run_worker(self.restart(), group="switch", exclusive=True, exit_on_error=False)
        return True
