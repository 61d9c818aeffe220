"""The Textual stepper app: opens on the built-in server (or a real one) and takes one SMTP step per key.

The app turns key presses into intents for the ``Stepper`` (step, play, edit, restart...), runs each
step in an exclusive worker so the UI never freezes, and sets the main screen's one ``view`` from the
result. It parses no SMTP and decides no policy. Its helpers live in their own homes: the lab (the
built-in server and a lesson's relay, ``session/lab.py``), the timeline (looking back and replay,
``session/timeline.py``), playing at a pace (``playback.py``), the keys that only change how the panes
show the session (``screens/main.py``), and the coalescing of a command with its reply (the wire log).
No traceback ever reaches the screen: unexpected errors become a notification, with details in a log
file under the user's state directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from smtpstep.app.playback import OFFLINE_ACTIONS, REPLAY_HELP, Playback
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
from smtpstep.app.stepping import StepControl
from smtpstep.app.terminal import guard_rich_text, log_to
from smtpstep.app.widgets.command_queue import CommandQueue
from smtpstep.app.widgets.wire_log import WireLog
from smtpstep.protocol.transport.wire import Direction, WireChunk

if TYPE_CHECKING:
    from smtpstep.app.session.broadcast import Broadcast
    from smtpstep.app.session.recording import Recording
    from smtpstep.protocol.server.process import ServerProcess
    from smtpstep.protocol.server.server import LocalServer

_PALETTE_HELP = {
    "step": "Send the next command (or wait for the greeting, or run the TLS handshake)",
    "play": "Take a step every few seconds until the end or an error",
    "run_to_end": "Take every remaining step now",
    "edit": "Change the line the selected step will send",
    "insert": "Insert EHLO, HELO, NOOP, RSET, VRFY, HELP or any raw line before the selected step",
    "restart": "Close the connection and start a new session",
    "connection": "Change server, port, security, login, CA file, envelope or message",
    "reveal": "Show or hide AUTH payloads in the wire log",
    "crlf": "Show line ends as visible marks",
    "wire_style": "Switch between C:/S: and swaks style",
    "cycle_theme": "Switch to the next colour theme",
    "screenshot": "Save an SVG of the screen, named after the step",
    "export": "Save the session as a transcript (.txt .md .html .svg), a recording (.json) to replay, or its "
              "sequence diagram (.mmd .puml .diagram.svg)",
    "diagram": "Show the session as a sequence diagram, growing step by step",
    "quiz": "Predict the reply: before each reply is shown, guess its first digit (on or off)",
    "quiz_tally": "How many replies were guessed right so far",
}
"""One-line help for the command palette, by action."""

log = logging.getLogger("smtpstep")

EARLY_ACTIONS = ("step", "play", "run_to_end")
"""Keys that move through a session: pressed while it is still starting, they wait and then apply in order."""

STARTING = "starting… your keys will apply in order once the session is ready"


class SmtpStepApp(App[int]):
    """smtpstep's stepper."""

    TITLE = "smtpstep"
    CSS_PATH = ["app.tcss", "screens/main.tcss", "screens/dialogs.tcss", "screens/help.tcss", "screens/connection.tcss"]
    """Every style sheet is read once at start (a screen's own CSS_PATH would restyle everything again)."""
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("space,n", "step", "Step", id="step"),
        Binding("p", "play", "Play/pause", id="play"),
        Binding("plus,equals_sign", "faster", "Faster", id="faster", show=False),
        Binding("minus", "slower", "Slower", id="slower", show=False),
        Binding("g", "run_to_end", "Run to end", id="run-to-end"),
        Binding("escape", "cancel_step", "Cancel step", id="cancel", show=False),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("i", "insert", "Insert", id="insert"),
        Binding("x", "delete", "Delete", id="delete", show=False),
        Binding("k", "skip", "Skip next", id="skip", show=False),
        Binding("a", "replan", "Re-plan", id="replan", show=False),
        Binding("r", "restart", "Restart", id="restart"),
        Binding("c", "connection", "Connection", id="connection"),
        Binding("t", "cycle_theme", "Theme", id="cycle-theme"),
        Binding("s", "screenshot", "Screenshot", id="screenshot"),
        Binding("E", "export", "Export", id="export", show=False),
        Binding("d", "diagram", "Diagram", id="diagram", show=False),
        Binding("b", "record_layer", "TLS records", id="record-layer", show=False),
        Binding("left,left_square_bracket", "back", "Step back", id="back", show=False),
        Binding("right,right_square_bracket", "forward", "Step forward", id="forward", show=False),
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

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

        self.lab = Lab(server, log_path=state_dir() / "server.log", on_received=self._server_received)
        """The built-in server (in a process of its own) and a lesson's relay."""
        self._ui_loop: asyncio.AbstractEventLoop | None = None
        self.timeline = Timeline(replay.views if replay is not None else (), replay=replay is not None)
        """The session after each step, and the one being looked at."""
        self.stepper: Stepper | None = None
        self.steps = StepControl(self, timings=timings)
        """Taking steps: one, or all to the end; busy marks; consent to clear-text AUTH."""
        self.editing = QueueEditing(self)
        """The queue keys."""
        self.sessions = SessionControl(self, now=now, message_id=message_id)
        """Start, restart and switch sessions."""
        self.playback = Playback(self, self._play_tick, self._show_pace)
        self.quizzing = QuizControl(self, quiz)
        """Predict-the-reply: holds a step's reply back until the class has guessed it (``--quiz``, key Q)."""
        self._step_waiters: list[asyncio.Future[SessionView]] = []
        """Callers of ``next_step_finished`` waiting for the next StepFinished."""
        self._early: list[str] = []
        """Stepping keys pressed before the session existed (``EARLY_ACTIONS``), applied in order once it does."""
        self._process = ProcessSettings(freeze=True)
        self._requested_theme = theme
        self._choose_theme()
        self.broadcast = broadcast
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
        replay = REPLAY_HELP if self.timeline.replay else {}
        for owner, binding in [(self, b) for b in self.BINDINGS] + [(screen, b) for b in screen.BINDINGS]:
            if isinstance(binding, Binding) and binding.action != "quit" and self.check_action(binding.action, ()):
                key = self.get_key_display(dataclasses.replace(binding, key=binding.key.split(",")[0]))
                words = replay.get(binding.action) or _PALETTE_HELP.get(binding.action, "")
                yield SystemCommand(f"{binding.description} ({key})", words, partial(owner.run_action, binding.action))

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

    def _choose_theme(self) -> None:
        """Register the themes and pick one before the first styling pass (a later change restyles all)."""
        from smtpstep.app import config
        from smtpstep.themes import DEFAULT_THEME, THEMES

        for theme in THEMES:
            self.register_theme(theme)
        wanted = self._requested_theme or str(config.load().get("theme") or DEFAULT_THEME)
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME

    def on_mount(self) -> None:
        from smtpstep.app import config

        self.theme_changed_signal.subscribe(self, lambda theme: config.save(theme=theme.name))
        keymap = config.load().get("keymap")
        if isinstance(keymap, dict):
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        loop = self._ui_loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        self._process.enter(loop, self.exit)
        # The default screen composes its panes after the app's on_mount: start once they exist.
        self.call_after_refresh(self._start)
        if self.broadcast is not None:
            self.run_worker(self._start_broadcast(), group="broadcast", exit_on_error=False)

    def _start(self) -> None:
        screen = self.main_screen
        screen.presenting = self._present
        screen.quiz_on = self.quizzing.on
        if self._recording is not None:
            self._start_replay(self._recording)
            return
        screen.show_server = self.settings.lesson is not None
        if self.settings.tls_keys:
            self.notify(f"TLS keys are written to {self.settings.tls_keys} (--tls-keys or SSLKEYLOGFILE): that file "
                        "decrypts this session, AUTH and its password included.", severity="warning", timeout=20)
        if self.settings.lesson is not None and self.settings.lesson.shows_line_ends:
            self.wire_log.crlf_marks = True  # the smuggling lesson is about bare line ends: show them
        self.sessions.start()

    def freeze_heap_after_frame(self) -> None:
        self.call_after_refresh(self._process.freeze_now)

    async def on_unmount(self) -> None:
        self.sessions.closing = True
        self.playback.stop()
        if self.stepper is not None:
            await self.stepper.close()
        await asyncio.get_running_loop().run_in_executor(None, self.lab.stop)
        if self.broadcast is not None:
            await self.broadcast.close()
        self._process.exit()

    async def _start_broadcast(self) -> None:
        from smtpstep.app.session.broadcast import BroadcastError

        assert self.broadcast is not None
        try:
            await self.broadcast.start()
        except BroadcastError as error:
            self.broadcast = None
            self.notify(f"Not broadcasting: {error}.", severity="error", timeout=10)
            return
        self._send_session()
        self.notify("Broadcasting: students follow with smtpstep web --follow (secrets stay hidden from them).",
                    timeout=5)

    def _send_session(self) -> None:
        if self.broadcast is not None and self.stepper is not None:
            self.broadcast.send_session(self.stepper, self.timeline.views, self.settings.describe(self.server),
                                        self.settings.security)

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
            if self._early:
                self.call_later(self._apply_early)
            self._send_session()
            self.announce(view)
            if self._process.step_done():
                self.freeze_heap_after_frame()  # after the step's frame, not before it

    def announce(self, view: SessionView) -> None:
        """Say that ``view`` is the session after a step: StepFinished, and every ``next_step_finished``."""
        self.post_message(self.StepFinished(view))
        for waiter in self._step_waiters:
            if not waiter.done():
                waiter.set_result(view)

    async def next_step_finished(self, cause: Awaitable[object] | None = None) -> SessionView:
        """Await ``cause`` (a key press, an action), then the next StepFinished; its view, once the app has
        handled the message. For code outside the app's widgets (``smtpstep shots``, tests, benchmarks); no
        timeout of its own: the caller bounds the wait."""
        waiter: asyncio.Future[SessionView] = asyncio.get_running_loop().create_future()
        self._step_waiters.append(waiter)
        try:
            if cause is not None:
                await cause
            view = await waiter
        finally:
            self._step_waiters.remove(waiter)
        handled = asyncio.Event()
        if self.call_later(handled.set):  # queued behind the StepFinished message
            await handled.wait()
        return view

    def take_chunk(self, chunk: WireChunk) -> None:
        if self.quizzing.hold(chunk):
            return
        self.wire_log.add_chunk(chunk, hold=chunk.direction == Direction.CLIENT and self.busy is not None)

    def _server_received(self, record: object) -> None:
        """The built-in server stored a message (called from its pipe's thread): show it on the server side.
        A step under way shows it when it ends; this is for a report that came after the step's reply."""
        loop = self._ui_loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the app is gone
                loop.call_soon_threadsafe(self._show_received)

    def _show_received(self) -> None:
        if self.stepper is not None and not self.busy and not self.sessions.closing:
            self.publish()

    # -- looking back ----------------------------------------------------------------------------

    def action_back(self) -> None:
        if not self.busy and self.quizzing.pending is None:
            self._show(self.timeline.back())

    def action_forward(self) -> None:
        if self.timeline.viewing is None or self.quizzing.pending is not None:
            return
        view = self.timeline.forward()
        if view is not None:
            if self._recording is None or not self.quizzing.before_replayed(
                    view, self._recording.chunks, partial(self._show, view)):
                self._show(view)
        elif self.timeline.replay:
            self.playback.stop()
            self.notify("End of the recording.")
        else:
            self._back_to_live()

    def _start_replay(self, recording: Recording) -> None:
        screen = self.main_screen
        screen.target_label = f"{recording.meta.get('target', 'a recorded session')} (offline)"
        screen.replaying = True
        for chunk in recording.chunks:
            self.wire_log.add_chunk(chunk)
        self._show(self.timeline.shown)
        self.notify("Replay: space or → shows the next recorded step, ← the one before. Nothing is sent anywhere.",
                    timeout=5)

    def _show(self, view: SessionView | None) -> None:
        if view is not None:
            if not self.timeline.replay:  # a replay may be playing through its steps
                self.playback.stop()
            self.main_screen.show_past(view)

    def _back_to_live(self) -> None:
        self.timeline.live()
        self.main_screen.show_live()
        self.publish()

    # -- stepping --------------------------------------------------------------------------------

    @property
    def busy(self) -> str | None:
        """The label of the step under way, or None."""
        return self.steps.busy

    def _held(self, action: str) -> bool:
        """Keep a stepping key pressed while the session is starting; True when it was kept."""
        if self.stepper is not None or self.timeline.replay:
            return False
        self._early.append(action)
        if len(self._early) == 1:
            self.notify(STARTING, timeout=3)
        return True

    def _apply_early(self) -> None:
        """Apply the kept keys in order, each after the step the one before started has finished."""
        while self._early and self.stepper is not None and not self._stepping():
            getattr(self, f"action_{self._early.pop(0)}")()

    def _stepping(self) -> bool:
        return bool(self.busy) or any(w.group == "step" and w.state not in _ENDED for w in self.workers)

    def action_step(self) -> None:
        if self._held("step"):
            return
        if self.quizzing.pending is not None:
            self.quizzing.reveal()  # space shows the reply without a guess
        elif self.timeline.replay:
            self.action_forward()
        elif self.timeline.looking_back:
            self._back_to_live()
            self.notify("Back to the live session.")
        elif not self.sessions.next_lesson_part():
            self.steps.request(confirm=True)

    def action_run_to_end(self) -> None:
        if not self._held("run_to_end"):
            self.steps.run_to_end()

    def action_cancel_step(self) -> None:
        self.steps.cancel()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.steps.worker_changed(event)
        if event.worker.group == "step" and event.state in _ENDED and self._early:
            self.call_later(self._apply_early)
        if event.worker.group == "server" and event.state == WorkerState.ERROR:
            self.notify(f"The built-in server could not start: {event.worker.error}", severity="error", timeout=15)

    # -- playing ---------------------------------------------------------------------------------

    def action_play(self) -> None:
        if not self._held("play"):
            self.playback.toggle()

    def _play_tick(self) -> bool:
        if self.timeline.replay:
            self.action_forward()
            return not self.timeline.at_end
        return bool(self.busy) or self.steps.request(confirm=False)

    def _show_pace(self, pace: float | None) -> None:
        try:
            self.main_screen.playing = pace
        except LookupError:
            pass

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
        from smtpstep.themes import THEMES

        names = [t.name for t in THEMES]
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
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


_ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


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
