"""The Textual stepper app: opens on the built-in server (or a real one) and takes one SMTP step per key.

The app turns key presses into intents for the ``Stepper`` (step, play, edit, restart...), runs each
step in an exclusive worker so the UI never freezes, and sets the screen's one ``view`` from the
result. It parses no SMTP and decides no policy. No traceback ever reaches the screen: unexpected
errors become a notification, with details in a log file under the user's state directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import make_msgid
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from smtpstep.app.output.svg import offline_svg, screenshot_name
from smtpstep.app.screens.dialogs import ConfirmScreen, LineInputScreen
from smtpstep.app.screens.help import HelpScreen
from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.settings import SessionSettings, UsageError
from smtpstep.app.session.stepper import SessionView, Stepper
from smtpstep.app.widgets.command_queue import CommandQueue
from smtpstep.app.widgets.presentation import PresentationStage
from smtpstep.app.widgets.server_view import ServerView
from smtpstep.app.widgets.wire_log import WireLog
from smtpstep.protocol.commands import Connect, InvalidCommand, ReadGreeting, TlsHandshake
from smtpstep.protocol.message import format_date
from smtpstep.protocol.transport.wire import Direction, WireChunk

if TYPE_CHECKING:
    from smtpstep.app.session.recording import Recording
    from smtpstep.protocol.server.relay import StartTlsStripper
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
    "export": "Save the session as a transcript (.txt .md .html .svg) or a recording (.json) to replay",
}
"""One-line help for the command palette, by action."""

PACES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
"""Play speeds, seconds per step."""

HOLD_COMMAND_CHUNK = 0.05
"""Seconds a command's chunk may wait for its reply before the wire log shows it alone. A reply usually comes
within a millisecond: then both lines arrive as one burst and one frame, and no frame for the command
alone is drawn while the reply waits to be read (coalescing, as toolong's can_replace)."""

BUSY_SHOWN_AFTER = 0.1
"""Seconds before a running step is marked busy on screen. A reply within that time shows the step done in
one publish: marks that would flash for a frame would also hold the loop while the reply waits to be read."""

UI_SWITCH_INTERVAL = 0.001
"""How long another thread may hold the GIL while the UI thread waits for it (Python's default: 5 ms).

The built-in server runs in this process, in its own thread: while it takes a 25 MB message (aiosmtpd
reads it line by line) the UI thread got the GIL back only every 5 ms, for each of the many small steps a
frame takes, and the screen stood still for 180-380 ms. With 1 ms it drew every 55-80 ms, at the same
speed of sending (benchmarks/results/large_message.md; issue 8, item 6). Restored when the app ends."""

FREEZE_EVERY_STEPS = 200
"""Steps between two ``gc.freeze()`` calls (see ``SmtpStepApp._freeze_heap``). A NOOP step leaves about 95
objects the cycle collector tracks (views, snapshots, chunks): 200 steps keep a full collection to some
20,000 objects, a few milliseconds."""

log = logging.getLogger("smtpstep")


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "smtpstep"


class SmtpStepApp(App[int]):
    """smtpstep's stepper."""

    TITLE = "smtpstep"
    CSS_PATH = ["app.tcss", "screens/main.tcss"]
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
        Binding("v", "reveal", "Secrets", id="reveal-secrets", show=False),
        Binding("l", "crlf", "CRLF marks", id="crlf-marks", show=False),
        Binding("w", "wire_style", "C:/S: ↔ swaks", id="wire-style", show=False),
        Binding("z", "fold", "Fold/expand", id="fold", show=False),
        Binding("L", "toggle_tls", "TLS pane", id="tls-pane", show=False),
        Binding("o", "toggle_server", "Server side", id="server-side", show=False),
        Binding("t", "cycle_theme", "Theme", id="cycle-theme"),
        Binding("s", "screenshot", "Screenshot", id="screenshot"),
        Binding("E", "export", "Export", id="export", show=False),
        Binding("left,left_square_bracket", "back", "Step back", id="back", show=False),
        Binding("right,right_square_bracket", "forward", "Step forward", id="forward", show=False),
        Binding("P", "present", "Present", id="present", show=False),
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, settings: SessionSettings, *, theme: str | None = None,
                 screenshot_dir: Path | None = None, now: datetime | None = None,
                 message_id: str | None = None, server: LocalServer | None = None, timings: bool = True,
                 present: bool = False, replay: Recording | None = None) -> None:
        super().__init__()
        self._replay = replay
        """A recorded session to show offline (``smtpstep replay``): read-only, no network."""
        self.settings = settings
        self.screenshot_dir = screenshot_dir or Path.cwd()
        self._fixed_now = now
        self._fixed_message_id = message_id
        self._timings = timings
        self._present = present
        self._closing = False
        """Set on exit, so a server still starting in its thread stops itself."""
        self._proxy: StartTlsStripper | None = None
        """The lesson's man in the middle, when one runs."""
        self._views: list[SessionView] = []
        """The session as it was before the first step and after each one (for looking back)."""
        self._viewing: int | None = None
        """False hides step times (deterministic screenshots for tests and lecture notes)."""
        self._requested_theme = theme
        self._choose_theme()
        self.server: LocalServer | None = server
        self._own_server = server is None
        self.stepper: Stepper | None = None
        self._busy: str | None = None
        """The label of the step under way (set at once; the screen shows it after BUSY_SHOWN_AFTER)."""
        self._busy_shown = False
        """True once the running step's busy marks were published."""
        self._step_started = 0.0
        self._pace_index = PACES.index(1.5)
        self._playing = False
        self._play_timer = None
        self._busy_timer = None
        self._held: list[WireChunk] = []
        """The running step's command chunks, not yet in the wire log (HOLD_COMMAND_CHUNK)."""
        self._hold_timer = None
        self._steps_unfrozen = 0
        """Steps finished since the last ``_freeze_heap``."""
        self._switch_interval = sys.getswitchinterval()
        """The process's thread switch interval before the app set ``UI_SWITCH_INTERVAL``, restored at the end."""

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the key bindings is also in the command palette, with its key."""
        yield from super().get_system_commands(screen)
        if not isinstance(screen, MainScreen):
            return
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.action != "quit":
                key = self.get_key_display(dataclasses.replace(binding, key=binding.key.split(",")[0]))
                yield SystemCommand(f"{binding.description} ({key})", _PALETTE_HELP.get(binding.action, ""),
                                    partial(self.run_action, binding.action))

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
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        sys.setswitchinterval(UI_SWITCH_INTERVAL)
        # The default screen composes its panes after the app's on_mount: start once they exist.
        self.call_after_refresh(self._start)

    def _start(self) -> None:
        self._main_screen().presenting = self._present
        if self.settings is not None and self.settings.lesson is not None:
            self._main_screen().show_server = True
        if self._replay is not None:
            self._start_replay(self._replay)
            return
        self._main_screen().target_label = self.settings.describe(self.server)
        if self.settings.builtin and self.server is None:
            # After the first frame: importing aiosmtpd and making the CA would compete with it for the GIL.
            self.call_after_refresh(
                lambda: self.run_worker(self._start_server, thread=True, group="server", exit_on_error=False))
        else:
            self._new_stepper()

    def _start_server(self) -> None:
        from smtpstep.protocol.server.server import LocalServer

        lesson = self.settings.lesson
        server = LocalServer(scenario=lesson.scenario if lesson is not None else "normal")
        server.start_in_thread()
        if self._closing:  # the user quit while the server was starting: leave nothing behind
            server.stop_thread()
            return
        try:
            self.call_from_thread(self._server_ready, server)
        except RuntimeError:  # the app stopped in between
            server.stop_thread()

    def _server_ready(self, server: LocalServer) -> None:
        self.server = server
        self._header.target_label = self.settings.describe(server)
        self._new_stepper()
        ports = server.ports
        self.notify(f"Built-in server ready on 127.0.0.1: STARTTLS {ports['submission']}, "
                    f"TLS {ports['submissions']}, plain {ports['plain']}. Press space to start.", timeout=4)

    def _plan_and_target(self):  # type: ignore[no-untyped-def]
        now = self._fixed_now or datetime.now(timezone.utc)
        message_id = self._fixed_message_id or make_msgid(domain="client.smtpstep.test")
        plan = self.settings.plan(date=format_date(now), message_id=message_id)
        target = self.settings.target(self.server)
        lesson, part = self.settings.lesson, self.settings.lesson_part
        self._stop_proxy()
        if lesson is not None and lesson.part(part).session.mitm == "strip-starttls":
            from smtpstep.protocol.server.relay import StartTlsStripper

            self._proxy = StartTlsStripper(target.host, target.port)
            self._proxy.start_in_thread()
            target = lesson.target(target, part, port=self._proxy.port)
        return target, plan

    def _stop_proxy(self) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.stop_thread()

    def _new_stepper(self) -> None:
        target, plan = self._plan_and_target()
        self.stepper = Stepper(target, plan, listener=self._on_chunk)
        self._publish()
        self.call_after_refresh(self._freeze_heap)  # what start-up (or the session before) left alive

    def _freeze_heap(self) -> None:
        """Moves every object alive now out of the cycle collector's way (``gc.freeze``).

        A full collection walks every tracked object, and this process holds some 85,000 of them once
        Textual, the panes and the built-in server are up: each full collection took 75-130 ms, which
        landed inside a step's frame (issue 8, item 4). Frozen objects are never walked again, so each
        freeze leaves the collector only what came after: it runs once the session is ready and then every
        ``FREEZE_EVERY_STEPS`` steps, after the step's frame. Garbage is collected first, as nothing frozen is
        ever collected; what is alive at a freeze and dropped later inside a reference cycle (a dialog closed
        since, say) stays in memory. A process-wide policy, so it lives here, not in a widget.
        """
        self._steps_unfrozen = 0
        gc.collect()
        gc.freeze()

    def _reset_views(self) -> None:
        self._release_chunks()
        self._views = []
        self._viewing = None
        self._main_screen().viewing = None
        self.wire_log.clear()

    async def on_unmount(self) -> None:
        self._closing = True
        self._stop_play()
        await asyncio.get_running_loop().run_in_executor(None, self._stop_proxy)
        if self.stepper is not None:
            await self.stepper.close()
        if self.server is not None and self._own_server:
            await asyncio.get_running_loop().run_in_executor(None, self.server.stop_thread)
        gc.unfreeze()  # the process that ran the app (tests, a benchmark) gets the collector back as it was
        sys.setswitchinterval(self._switch_interval)  # and its thread switching

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # asyncio prints stray errors (a socket closed under a handshake, ...) to stderr, which would
        # scribble over the screen: log them instead.
        log.warning("asyncio: %s", context.get("message"), exc_info=context.get("exception"))

    # -- views -----------------------------------------------------------------------------------

    def _main_screen(self) -> MainScreen:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("main screen not mounted")

    @property
    def _header(self) -> MainScreen:
        """Header facts live on the main screen and reach the header by data binding."""
        return self._main_screen()

    @property
    def wire_log(self) -> WireLog:
        return self._main_screen().query_one(WireLog)

    @property
    def queue_widget(self) -> CommandQueue:
        return self._main_screen().query_one(CommandQueue)

    def _publish(self, *, after_step: bool = False) -> None:
        if self.stepper is None:
            return
        view = self.stepper.view(self._busy, after_step=after_step)
        if not self._busy and (not self._views or self._views[-1].steps_done != view.steps_done):
            self._views.append(view)
        if self._viewing is not None:
            return
        screen = self._main_screen()
        self._show_stage(view)
        self._show_lesson(view)
        refusal = self.stepper.check_head() if not self._busy else None
        screen.warning = str(refusal) if refusal is not None and _is_sendable(view) else None
        screen.view = view

    def _show_lesson(self, view: SessionView) -> None:
        from smtpstep.app.session.lesson_view import lesson_intro, lesson_narration

        screen = self._main_screen()
        if self.server is not None and self.settings is not None and self.settings.builtin:
            received = self.server.received
            pane = screen.query_one(ServerView)
            if [m.key for m in received] != [m.key for m in pane.messages]:  # walking 25 MB costs time
                pane.messages = tuple(received)
        lesson = self.settings.lesson if self.settings is not None else None
        if lesson is None:
            screen.lesson_note = None
            return
        part = self.settings.lesson_part
        if view.last is None:
            screen.lesson_note = " ".join(lesson_intro(lesson, part, first=part == 0))
        else:
            screen.lesson_note = lesson_narration(lesson, view, part)
        if view.finished and part + 1 < len(lesson.parts):
            screen.lesson_note = (screen.lesson_note or "") + (
                f"  ▶ Press space for part {part + 2} of {len(lesson.parts)}: {lesson.part(part + 1).title}.")

    def _show_stage(self, view: SessionView | None) -> None:
        screen = self._main_screen()
        if view is None or not screen.presenting:
            return  # the stage is hidden: finding a step's lines walks the whole wire log
        screen.query_one(PresentationStage).lines = self.wire_log.lines_of_step(view.steps_done)

    # -- looking back ----------------------------------------------------------------------------

    def action_back(self) -> None:
        if self._busy or len(self._views) < 2:
            return
        index = (self._viewing if self._viewing is not None else len(self._views) - 1) - 1
        if index >= 0:
            self._look_at(index)

    def action_forward(self) -> None:
        if self._viewing is None:
            return
        if self._replay is not None:
            if self._viewing + 1 < len(self._views):
                self._look_at(self._viewing + 1)
            else:
                self._stop_play()
                self.notify("End of the recording.")
            return
        if self._viewing + 1 >= len(self._views) - 1:
            self._back_to_live()
        else:
            self._look_at(self._viewing + 1)

    def _start_replay(self, recording: Recording) -> None:
        screen = self._main_screen()
        screen.target_label = f"{recording.meta.get('target', 'a recorded session')} (offline)"
        screen.replaying = True
        for chunk in recording.chunks:
            self.wire_log.add_chunk(chunk)
        self._views = list(recording.views)
        if self._views:
            self._look_at(0)
        self.notify("Replay: space or → steps forward, ← steps back. Nothing is sent anywhere.", timeout=5)

    def _look_at(self, index: int) -> None:
        self._stop_play()
        self._viewing = index
        view = self._views[index]
        screen = self._main_screen()
        self.wire_log.show_until(view.snapshot.wire_count)
        screen.viewing = view.steps_done
        screen.warning = None
        screen.view = view
        self._show_stage(view)

    def _back_to_live(self) -> None:
        self._viewing = None
        self._main_screen().viewing = None
        self.wire_log.show_until(None)
        self._publish()

    def action_present(self) -> None:
        screen = self._main_screen()
        screen.presenting = not screen.presenting
        self._show_stage(screen.view)

    @property
    def session_view(self) -> SessionView | None:
        return self.stepper.view(self._busy) if self.stepper else None

    def _on_chunk(self, chunk: WireChunk) -> None:
        if chunk.direction == Direction.CLIENT and self._busy:
            self._held.append(chunk)
            if self._hold_timer is None:
                self._hold_timer = self.set_timer(HOLD_COMMAND_CHUNK, self._release_chunks)
            return
        self._release_chunks()
        self.wire_log.add_chunk(chunk)

    def _release_chunks(self) -> None:
        """Put the held command chunks in the wire log (their reply came, the step ended, or they waited enough)."""
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        held, self._held = self._held, []
        for chunk in held:
            self.wire_log.add_chunk(chunk)

    # -- stepping --------------------------------------------------------------------------------

    def action_step(self) -> None:
        if self._replay is not None:
            self.action_forward()
            return
        if self._viewing is not None:
            self._back_to_live()
            self.notify("Back to the live session.")
            return
        lesson = self.settings.lesson
        if (self.stepper is not None and self.stepper.head is None and not self._busy and lesson is not None
                and self.settings.lesson_part + 1 < len(lesson.parts)):
            self.settings = lesson.apply(self.settings, self.settings.lesson_part + 1)
            self.run_worker(self.action_restart(), group="switch", exclusive=True, exit_on_error=False)
            return
        self._request_step(confirm=True)

    def _request_step(self, *, confirm: bool) -> bool:
        """Start the next step if possible; False when nothing was started."""
        stepper = self.stepper
        if stepper is None:
            self.notify("smtpstep is still starting (the built-in server makes its certificates first).")
            return False
        if self._busy:
            return False
        if stepper.head is None:
            self.notify("The session is finished. Press r to start a new one.")
            self._stop_play()
            return False
        refusal = stepper.check_head()
        if refusal is not None:
            self._stop_play()
            if not refusal.forceable:
                self.notify(f"Cannot send this now: {refusal}", severity="error", timeout=8)
                return False
            if confirm:
                def answered(yes: bool | None) -> None:
                    if yes:
                        self._start_step(force=True)

                self.push_screen(ConfirmScreen(
                    "This command is out of order",
                    f"{stepper.head.label}\n\nThe server will probably refuse it: {refusal}.", "Send anyway"),
                    answered)
                return False
        self._start_step(force=False)
        return True

    def _start_step(self, *, force: bool) -> None:
        assert self.stepper is not None and self.stepper.head is not None
        # Nothing is published before the command goes out: the busy marks wait for _tick_busy, so a reply
        # that comes at once is read while the loop is idle, not after a relayout.
        self._begin_busy()
        self.run_worker(self._do_step(force), group="step", exclusive=True, exit_on_error=False)

    def _begin_busy(self) -> None:
        assert self.stepper is not None and self.stepper.head is not None
        self._busy = self.stepper.head.label
        self._busy_shown = False
        self._step_started = time.monotonic()
        if self._busy_timer is None:
            self._busy_timer = self.set_interval(BUSY_SHOWN_AFTER, self._tick_busy)

    def _tick_busy(self) -> None:
        if not self._busy:
            return
        if not self._busy_shown:
            self._busy_shown = True
            self._publish()
        waited = time.monotonic() - self._step_started
        self._header.waited = waited if waited >= 0.3 else None

    async def _do_step(self, force: bool) -> None:
        assert self.stepper is not None
        try:
            result = await self.stepper.step(force=force)
        except Exception as error:  # noqa: BLE001 - nothing may reach the user as a traceback
            log.exception("step failed")
            self._step_finished()
            self.notify(f"Unexpected error: {error.__class__.__name__}: {error}. Details are in "
                        f"{state_dir() / 'smtpstep.log'}.", severity="error", timeout=10)
            return
        self._release_chunks()
        if result is not None:
            self.wire_log.end_step(len(self.stepper.history), result.elapsed if self._timings else None)
            if result.failure is not None:
                self._stop_play()
            if result.failure is not None and result.failure.kind == "policy":
                self.call_later(self._ask_cleartext_auth)
        self._step_finished()
        if self.stepper.halt and self._playing:
            self._stop_play()
            self.notify("Paused: the session cannot go on as planned (see the explanation).")

    def _step_finished(self) -> None:
        self._busy = None
        if self._busy_timer is not None:
            self._busy_timer.stop()
            self._busy_timer = None
        self._release_chunks()
        self._header.waited = None
        self._publish(after_step=True)
        self._steps_unfrozen += 1
        if self._steps_unfrozen >= FREEZE_EVERY_STEPS:
            self._steps_unfrozen = 0
            self.call_after_refresh(self._freeze_heap)  # after the step's frame, not before it

    def _ask_cleartext_auth(self) -> None:
        """AUTH without TLS to a real server goes only with the user's explicit consent."""
        stepper = self.stepper
        if stepper is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and self.stepper is stepper:
                stepper.allow_cleartext_auth()
                self._publish()
                self._request_step(confirm=True)

        self.push_screen(ConfirmScreen(
            "Send the password in clear text?",
            f"The connection to {stepper.target.address} is not encrypted. AUTH PLAIN and LOGIN are only base64: "
            "anyone on the path can read the user name and password. Send AUTH anyway, for this session only?",
            "Send in clear text"), answered)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "step" and event.state == WorkerState.CANCELLED:
            self._step_finished()
            self.notify("Step cancelled; the connection was closed. Press r to start again.", severity="warning")
        if event.worker.group == "server" and event.state == WorkerState.ERROR:
            self.notify(f"The built-in server could not start: {event.worker.error}", severity="error", timeout=15)

    def action_cancel_step(self) -> None:
        if self._busy:
            self.workers.cancel_group(self, "step")
        self._stop_play()

    # -- playing ---------------------------------------------------------------------------------

    @property
    def pace(self) -> float:
        return PACES[self._pace_index]

    def action_play(self) -> None:
        if self._playing:
            self._stop_play()
        else:
            self._playing = True
            self._header.playing = self.pace
            self._play_timer = self.set_interval(self.pace, self._play_tick)
            self._play_tick()

    def _play_tick(self) -> None:
        if self._replay is not None:
            self.action_forward()
            return
        if not self._busy and not self._request_step(confirm=False):
            self._stop_play()

    def _stop_play(self) -> None:
        self._playing = False
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None
        try:
            self._header.playing = None
        except LookupError:
            pass

    def _set_pace(self, delta: int) -> None:
        self._pace_index = max(0, min(len(PACES) - 1, self._pace_index + delta))
        if self._playing:
            self._stop_play()
            self.action_play()
        self.notify(f"Pace: one step every {self.pace:g} s")

    def action_faster(self) -> None:
        self._set_pace(-1)

    def action_slower(self) -> None:
        self._set_pace(+1)

    def action_run_to_end(self) -> None:
        if self.stepper is None or self._busy:
            return
        self._stop_play()
        self.run_worker(self._run_to_end(), group="step", exclusive=True, exit_on_error=False)

    async def _run_to_end(self) -> None:
        while self.stepper is not None and self.stepper.head is not None:
            refusal = self.stepper.check_head()
            if refusal is not None:
                self.notify(f"Stopped before an out-of-order command: {refusal}", severity="warning")
                return
            self._begin_busy()
            await self._do_step(False)
            if self.stepper.transport.failure is not None or self.stepper.halt:
                return

    # -- editing the queue -----------------------------------------------------------------------

    def _selected(self) -> int:
        return self.queue_widget.selected_index

    def action_edit(self) -> None:
        stepper = self.stepper
        if stepper is None or self._busy or not stepper.queue:
            return
        index = self._selected()
        command = stepper.queue[index].command
        if isinstance(command, (Connect, ReadGreeting, TlsHandshake)) or command.label.startswith("("):
            self.notify("This step sends no line you can edit (or carries a secret); insert a command instead.",
                        severity="warning")
            return

        def done(line: str | None) -> None:
            if line is None:
                return
            try:
                stepper.edit(index, line)
            except InvalidCommand as error:
                self.notify(f"Not changed: {error}", severity="error", timeout=8)
            self._publish()

        self.push_screen(LineInputScreen(f"Edit step {stepper.view().steps_done + index + 1}",
                                         "Change the line that will be sent (CRLF is added for you).",
                                         command.label), done)

    def action_insert(self) -> None:
        stepper = self.stepper
        if stepper is None or self._busy:
            return
        index = self._selected() if stepper.queue else 0

        def done(line: str | None) -> None:
            if line is None:
                return
            try:
                stepper.insert(index, line)
            except InvalidCommand as error:
                self.notify(f"Not inserted: {error}", severity="error", timeout=8)
            self._publish()

        self.push_screen(LineInputScreen(
            "Insert a command",
            "EHLO name · HELO name · NOOP · RSET · VRFY user · HELP · or any raw line. "
            "It goes before the selected step.", ""), done)

    def action_delete(self) -> None:
        if self.stepper is not None and not self._busy:
            self.stepper.delete(self._selected())
            self._publish()

    def action_skip(self) -> None:
        if self.stepper is not None and not self._busy:
            self.stepper.delete(0)
            self._publish()

    def action_replan(self) -> None:
        if self.stepper is not None and not self._busy:
            self.stepper.replan()
            self._publish()
            self.notify("The queue follows the plan again.")

    def on_command_queue_selected(self, event: CommandQueue.Selected) -> None:
        self.action_edit()

    # -- session ---------------------------------------------------------------------------------

    async def action_restart(self) -> None:
        if self.stepper is None:
            return
        self.workers.cancel_group(self, "step")
        self._stop_play()
        self._busy = None
        target, plan = self._plan_and_target()
        await self.stepper.restart(target, plan)
        self._reset_views()
        self._publish()
        self.notify("New session: press space for the first step.")

    def action_connection(self) -> None:
        from smtpstep.app.screens.connection import ConnectionScreen

        if self._replay is not None:
            self.notify("This is a replay: nothing can be changed or sent.")
            return
        def done(settings: SessionSettings | None) -> None:
            if settings is not None:
                self.run_worker(self._switch(settings), group="switch", exclusive=True, exit_on_error=False)

        self.push_screen(ConnectionScreen(self.settings), done)

    async def _switch(self, settings: SessionSettings) -> None:
        self.settings = settings
        if settings.builtin and self.server is None:
            from smtpstep.protocol.server.server import LocalServer

            server = LocalServer()
            await asyncio.get_running_loop().run_in_executor(None, server.start_in_thread)
            self.server, self._own_server = server, True
        self._header.target_label = settings.describe(self.server)
        try:
            target, plan = self._plan_and_target()
        except UsageError as error:
            self.notify(str(error), severity="error")
            return
        if self.stepper is None:
            self._new_stepper()
        else:
            self.workers.cancel_group(self, "step")
            await self.stepper.restart(target, plan)
        self._reset_views()
        self._publish()
        self.notify(f"Connected settings: {settings.describe(self.server)}. Press space to start.")

    # -- display toggles -------------------------------------------------------------------------

    def action_reveal(self) -> None:
        wire = self.wire_log
        if wire.show_secrets:
            wire.show_secrets = False
            self._header.secrets_shown = False
            return

        def answered(yes: bool | None) -> None:
            if yes:
                wire.show_secrets = True
                self._header.secrets_shown = True
                self._publish()

        self.push_screen(ConfirmScreen(
            "Show secrets?",
            "The wire log will show AUTH payloads (base64 of the user name and password) as they were sent. "
            "Anyone who can see the screen can decode them. A marker stays on screen while they are shown.",
            "Show secrets"), answered)

    def action_crlf(self) -> None:
        self.wire_log.crlf_marks = not self.wire_log.crlf_marks
        self._publish()

    def action_wire_style(self) -> None:
        self.wire_log.style_name = "swaks" if self.wire_log.style_name == "textbook" else "textbook"
        self._publish()

    def action_fold(self) -> None:
        self.wire_log.expanded = not self.wire_log.expanded

    def action_toggle_tls(self) -> None:
        screen = self._main_screen()
        screen.show_tls = not screen.show_tls

    def action_toggle_server(self) -> None:
        screen = self._main_screen()
        screen.show_server = not screen.show_server

    def action_cycle_theme(self) -> None:
        from smtpstep.themes import THEMES

        names = [t.name for t in THEMES]
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        self.notify(f"Theme: {self.theme}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_export(self) -> None:
        from smtpstep.app.output.exports import SUFFIXES, ExportError, export
        from smtpstep.app.session.recording import Recording

        if self._replay is not None:
            recording = self._replay
        elif self.stepper is not None and self._views:
            recording = Recording.from_stepper(self.stepper, self._views)
        else:
            return
        reveal = self.wire_log.show_secrets

        def done(name: str | None) -> None:
            if not name:
                return
            path = Path(name).expanduser()
            if not path.is_absolute():
                path = self.screenshot_dir / path
            try:
                export(recording, path, style=self.wire_log.style_name, show_secrets=reveal, theme=self.theme)
            except ExportError as error:
                self.notify(f"Not saved: {error}", severity="error", timeout=8)
                return
            secrets = " (secrets shown, as on screen)" if reveal else " (secrets redacted)"
            self.notify(f"Saved {path}{secrets}")

        self.push_screen(LineInputScreen(
            "Export the session", f"A file name; its extension picks the format: {' '.join(SUFFIXES)}. "
            ".json is a recording that `smtpstep replay` opens offline.", "smtpstep-session.md"), done)

    def action_screenshot(self) -> None:
        view = self.session_view
        step = view.steps_done if view else 0
        label = view.last.commands[-1].label if view and view.last else "start"
        name = screenshot_name(step, label)
        try:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            path = self.screenshot_dir / name
            path.write_text(offline_svg(self.export_screenshot(title=f"smtpstep — step {step}")), encoding="utf-8")
        except OSError as error:
            self.notify(f"Could not save the screenshot: {error.strerror or error}", severity="error")
            return
        self.notify(f"Saved {path}")


def _is_sendable(view: SessionView) -> bool:
    return bool(view.queue)


def run_tui_replay(recording: Recording, theme: str | None = None) -> int:
    """Show a recorded session offline, stepping forward and back."""
    app = SmtpStepApp(None, theme=theme, replay=recording)  # type: ignore[arg-type]
    result = app.run()
    return result if isinstance(result, int) else 0


def run_tui(settings: SessionSettings, theme: str | None = None, *, screenshot_dir: Path | None = None,
            present: bool = False) -> int:
    """Run the app until the user quits; the exit code for the shell."""
    directory = state_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=directory / "smtpstep.log", level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    except OSError:
        logging.basicConfig(handlers=[logging.NullHandler()])
    app = SmtpStepApp(settings, theme=theme, screenshot_dir=screenshot_dir, present=present)
    result = app.run()
    return result if isinstance(result, int) else 0
