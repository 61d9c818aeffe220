"""The Textual stepper app: opens on the built-in server (or a real one) and takes one SMTP step per key.

The app turns key presses into intents for the ``Stepper`` (step, play, edit, restart...), runs each
step in an exclusive worker so the UI never freezes, and sets the main screen's one ``view`` from the
result. It parses no SMTP and decides no policy. Its helpers live in their own homes: the lab (the
built-in server and a lesson's relay, ``session/lab.py``), the timeline (``session/timeline.py``) and
looking back through it (``looking_back.py``), taking steps (``stepping.py``), starting and switching
sessions (``session_control.py``), playing at a pace (``playback.py``), keys pressed while the session
starts (``early_keys.py``), the classroom channel (``classroom.py``), callers waiting for a step
(``step_waiters.py``), the bindings and palette (``keys.py``, ``palette.py``), themes (``theming.py``),
the keys that only change how the panes show the session (``screens/main.py``), and the coalescing of
a command with its reply (the wire log).
No traceback ever reaches the screen: unexpected errors become a notification, with details in a log
file under the user's state directory.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from smtpstep.app.classroom import Classroom
from smtpstep.app.early_keys import ENDED, EarlyKeys
from smtpstep.app.keys import APP_BINDINGS
from smtpstep.app.looking_back import LookingBack
from smtpstep.app.palette import binding_commands
from smtpstep.app.playback import OFFLINE_ACTIONS, Playback, next_step, show_pace
from smtpstep.app.process_settings import ProcessSettings
from smtpstep.app.queue_editing import QueueEditing
from smtpstep.app.quizzing import QuizControl
from smtpstep.app.screens.help import HelpScreen
from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.lab import Lab
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.session.stepper import SessionView, Stepper
from smtpstep.app.session.timeline import Timeline
from smtpstep.app.session_control import SessionControl
from smtpstep.app.step_waiters import StepWaiters
from smtpstep.app.stepping import StepControl
from smtpstep.app.terminal import guard_rich_text, log_to
from smtpstep.app.theming import next_theme, pick_theme
from smtpstep.app.widgets.command_queue import CommandQueue
from smtpstep.app.widgets.wire_log import WireLog
from smtpstep.protocol.transport.wire import Direction, WireChunk

if TYPE_CHECKING:
    from smtpstep.app.session.broadcast import Broadcast
    from smtpstep.app.session.recording import Recording
    from smtpstep.protocol.server.process import ServerProcess
    from smtpstep.protocol.server.server import LocalServer

log = logging.getLogger("smtpstep")

class SmtpStepApp(App[int]):
    """smtpstep's stepper."""

    TITLE = "smtpstep"
    CSS_PATH = ["app.tcss", "screens/main.tcss", "screens/dialogs.tcss", "screens/help.tcss", "screens/connection.tcss"]
    """Every style sheet is read once at start (a screen's own CSS_PATH would restyle everything again)."""
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = APP_BINDINGS

    class StepFinished(Message):
        """A step (or a restart, or the start) is done and the screen shows its result. Tests, benchmarks
        and tools wait on this message rather than on the clock (``next_step_finished`` from outside the
        app's widgets)."""

        def __init__(self, view: SessionView) -> None:
            super().__init__()
            self.view = view
            """The session after the step."""

    def __init__(self, settings: SessionSettings, *, theme: str | None = None,
                 screenshot_dir: Path | None = None, now: datetime | None = None,
                 message_id: str | None = None, server: LocalServer | ServerProcess | None = None,
                 timings: bool = True, present: bool = False, replay: Recording | None = None,
                 quiz: str | None = None, broadcast: Broadcast | None = None) -> None:
        guard_rich_text()  # every text drawn shows controls as visible escapes, whatever a pane forgets
        super().__init__()
        self.settings = settings
        self.screenshot_dir = screenshot_dir or Path.cwd()
        self._present = present
        self._recording = replay
        """A recorded session to show offline (``smtpstep replay``): read-only, no network."""
        from smtpstep.app.config import state_dir

        self.timeline = Timeline(replay.views if replay is not None else (), replay=replay is not None)
        """The session after each step, and the one being looked at."""
        self.stepper: Stepper | None = None
        self.steps = StepControl(self, timings=timings)
        """Taking steps: one, or all to the end; busy marks; consent to clear-text AUTH."""
        self.editing = QueueEditing(self)
        """The queue keys."""
        self.sessions = SessionControl(self, now=now, message_id=message_id)
        """Start, restart and switch sessions."""
        self.lab = Lab(server, log_path=state_dir() / "server.log", on_received=self.sessions.server_received)
        """The built-in server (in a process of its own) and a lesson's relay."""
        self.playback = Playback(self, partial(next_step, self), partial(show_pace, self))
        self.quizzing = QuizControl(self, quiz)
        """Predict-the-reply: holds a step's reply back until the class has guessed it (``--quiz``, key Q)."""
        self._step_waiters = StepWaiters(self.call_later)
        """Callers of ``next_step_finished`` waiting for the next StepFinished."""
        self.early = EarlyKeys(self)
        """Stepping keys pressed before the session existed, applied in order once it does."""
        self.looking = LookingBack(self)
        """← and →: the steps taken, and back to the live session; a replay's start."""
        self._process = ProcessSettings(freeze=True)
        pick_theme(self, theme)
        self.classroom = Classroom(self, broadcast)
        """The classroom channel (``--broadcast``): followers get the session, secrets redacted, after each step."""

    @property
    def replay_recording(self) -> Recording | None:
        """The recording shown offline, if this is a replay."""
        return self._recording

    @property
    def server(self) -> LocalServer | ServerProcess | None:
        """The built-in server the session talks to, once it runs."""
        return self.lab.server

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the key bindings is also in the command palette, with its key."""
        yield from super().get_system_commands(screen)
        if not isinstance(screen, MainScreen):
            return
        yield from binding_commands(self, screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A replay leaves out of its footer and palette what cannot work offline (``OFFLINE_ACTIONS``)."""
        return not (self.timeline.replay and action in OFFLINE_ACTIONS)

    def search_themes(self) -> None:
        """The palette's Theme command offers smtpstep's themes (Textual's own leave its colours unset)."""
        from smtpstep.app.screens.dialogs import choose_theme

        choose_theme(self)

    # -- start and stop --------------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        from smtpstep.themes import APP_VARIABLES

        return dict(APP_VARIABLES)

    def on_mount(self) -> None:
        from smtpstep.app import config

        self.theme_changed_signal.subscribe(self, lambda theme: config.save(theme=theme.name))
        keymap = config.load().get("keymap")
        if isinstance(keymap, dict):
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        loop = self.sessions.loop = asyncio.get_running_loop()
        self.sessions.context = contextvars.copy_context()
        loop.set_exception_handler(self._loop_exception)
        self._process.enter(loop, self.exit)
        # The default screen composes its panes after the app's on_mount: start once they exist.
        self.call_after_refresh(self._start)
        if self.classroom.channel is not None:
            self.run_worker(self.classroom.start(), group="broadcast", exit_on_error=False)

    def _start(self) -> None:
        screen = self.main_screen
        screen.presenting = self._present
        screen.quiz_on = self.quizzing.on
        if self._recording is not None:
            self._start_replay(self._recording)
            return
        self.sessions.open()

    def freeze_heap_after_frame(self) -> None:
        self.call_after_refresh(self._process.freeze_now)

    async def on_unmount(self) -> None:
        self.sessions.closing = True
        self.playback.stop()
        if self.stepper is not None:
            await self.stepper.close()
        await asyncio.get_running_loop().run_in_executor(None, self.lab.stop)
        await self.classroom.close()
        self._process.exit()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # asyncio prints stray errors (a socket closed under a handshake, ...) to stderr, which would
        # scribble over the screen: log them instead.
        log.warning("asyncio: %s", context.get("message"), exc_info=context.get("exception"))

    # -- views -----------------------------------------------------------------------------------

    @property
    def main_screen(self) -> MainScreen:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("main screen not mounted")

    @property
    def wire_log(self) -> WireLog:
        return self.main_screen.query_one(WireLog)

    @property
    def queue_widget(self) -> CommandQueue:
        return self.main_screen.query_one(CommandQueue)

    @property
    def session_view(self) -> SessionView | None:
        return self.stepper.view(self.busy) if self.stepper else None

    def publish(self, *, after_step: bool = False) -> None:
        """Show the live session as the stepper has it now (unless looking back); after a step, say so."""
        if self.stepper is None or self.quizzing.pending is not None:
            return  # an open quiz question holds the step's result back until it is answered
        view = self.stepper.view(self.busy, after_step=after_step)
        self.timeline.record(view)
        if not self.timeline.looking_back:
            screen = self.main_screen
            screen.show_lesson(view, self.settings, self.lab.received)
            warning = self.stepper.head_warning() if not self.busy else None
            screen.warning = warning if view.queue else None
            screen.view = view
        if after_step:
            if self.early.waiting:
                self.call_later(self.early.apply)
            self.classroom.send()
            self.announce(view)
            if self._process.step_done():
                self.freeze_heap_after_frame()  # after the step's frame, not before it

    def announce(self, view: SessionView) -> None:
        """Say that ``view`` is the session after a step: StepFinished, and every ``next_step_finished``."""
        self.post_message(self.StepFinished(view))
        self._step_waiters.resolve(view)

    async def next_step_finished(self, cause: Awaitable[object] | None = None) -> SessionView:
        """Await ``cause`` (a key press, an action), then the next StepFinished; its view, once the app has
        handled the message. For code outside the app's widgets (``smtpstep shots``, tests, benchmarks); no
        timeout of its own: the caller bounds the wait."""
        return await self._step_waiters.next(cause)

    def take_chunk(self, chunk: WireChunk) -> None:
        if self.quizzing.hold(chunk):
            return
        self.wire_log.add_chunk(chunk, hold=chunk.direction == Direction.CLIENT and self.busy is not None)

    # -- looking back ----------------------------------------------------------------------------

    def action_back(self) -> None:
        self.looking.back()

    def action_forward(self) -> None:
        self.looking.forward()

    def _start_replay(self, recording: Recording) -> None:
        self.looking.start_replay(recording)

    # -- stepping --------------------------------------------------------------------------------

    @property
    def busy(self) -> str | None:
        """The label of the step under way, or None."""
        return self.steps.busy

    def action_step(self) -> None:
        if self.early.held("step"):
            return
        if self.quizzing.pending is not None:
            self.quizzing.reveal()  # space shows the reply without a guess
        elif self.timeline.replay:
            self.action_forward()
        elif self.timeline.looking_back:
            self.looking.live()
            self.notify("Back to the live session.")
        elif not self.sessions.next_lesson_part():
            self.steps.request(confirm=True)

    def action_run_to_end(self) -> None:
        if not self.early.held("run_to_end"):
            self.steps.run_to_end()

    def action_cancel_step(self) -> None:
        self.steps.cancel()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.steps.worker_changed(event)
        if event.worker.group == "step" and event.state in ENDED and self.early.waiting:
            self.call_later(self.early.apply)
        if event.worker.group == "server" and event.state == WorkerState.ERROR:
            self.notify(f"The built-in server could not start: {event.worker.error}", severity="error", timeout=15)

    # -- playing ---------------------------------------------------------------------------------

    def action_play(self) -> None:
        if not self.early.held("play"):
            self.playback.toggle()

    def action_faster(self) -> None:
        self.notify(f"Pace: one step every {self.playback.change(-1):g} s")

    def action_slower(self) -> None:
        self.notify(f"Pace: one step every {self.playback.change(+1):g} s")

    # -- editing the queue -----------------------------------------------------------------------

    def action_edit(self) -> None:
        self.editing.edit()

    def action_insert(self) -> None:
        self.editing.insert()

    def action_delete(self) -> None:
        self.editing.delete()

    def action_skip(self) -> None:
        self.editing.delete(next_only=True)

    def action_replan(self) -> None:
        self.editing.replan()

    def on_command_queue_selected(self, event: CommandQueue.Selected) -> None:
        self.editing.edit()

    # -- session ---------------------------------------------------------------------------------

    async def action_restart(self) -> None:
        await self.sessions.restart()

    def action_connection(self) -> None:
        self.sessions.ask_connection()

    # -- theme, help, files ----------------------------------------------------------------------

    def action_cycle_theme(self) -> None:
        next_theme(self)
        self.notify(f"Theme: {self.theme}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_export(self) -> None:
        from smtpstep.app.saving import ask_and_export

        ask_and_export(self, self._recording)

    def action_diagram(self) -> None:
        from smtpstep.app.screens.diagram import show_diagram

        show_diagram(self, self._recording)

    def action_record_layer(self) -> None:
        """Show (or hide) under each step's bytes the TLS records that carried them."""
        self.wire_log.record_layer = not self.wire_log.record_layer

    def action_screenshot(self) -> None:
        from smtpstep.app.saving import save_screenshot

        save_screenshot(self)


def run_tui_replay(recording: Recording, theme: str | None = None, *, quiz: str | None = None) -> int:
    """Show a recorded session offline, stepping forward and back."""
    app = SmtpStepApp(None, theme=theme, replay=recording, quiz=quiz)  # type: ignore[arg-type]
    result = app.run()
    return result if isinstance(result, int) else 0


def run_tui(settings: SessionSettings, theme: str | None = None, *, screenshot_dir: Path | None = None,
            present: bool = False, quiz: str | None = None, broadcast: bool = False) -> int:
    """Run the app until the user quits; the exit code for the shell."""
    from smtpstep.app.config import state_dir

    log_to(state_dir() / "smtpstep.log")
    channel = None
    if broadcast:
        from smtpstep.app.session.broadcast import Broadcast

        channel = Broadcast()
    app = SmtpStepApp(settings, theme=theme, screenshot_dir=screenshot_dir, present=present, quiz=quiz,
                      broadcast=channel)
    result = app.run()
    return result if isinstance(result, int) else 0
