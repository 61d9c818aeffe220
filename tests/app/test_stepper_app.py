"""Pilot tests of the stepper app: real sessions against the built-in server and a server that hangs up."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from textual.worker import Worker, WorkerState

from smtpstep.app import process_settings
from smtpstep.app.screens.dialogs import ConfirmScreen, LineInputScreen
from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.protocol.states import State
from tests.support.stalling_server import stalls_after_greeting
from tests.support.waiting import started, step, wait_for_step, wait_for_view

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                          password="classroom")
SECRET_FORMS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t")


def _wire(app: SmtpStepApp) -> list[str]:
    return app.wire_log.plain_lines()


def _explanation(app: SmtpStepApp) -> str:
    pane = app.screen.query_one(ExplanationPane) if isinstance(app.screen, MainScreen) else None
    assert pane is not None
    return pane.plain_text


async def test_a_whole_session_steps_through_the_built_in_server(local_server) -> None:  # type: ignore[no-untyped-def]
    messages: list[object] = []
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        await started(app)
        view = app.session_view
        assert view is not None and view.state == State.DISCONNECTED
        planned = view.total
        assert planned == 12
        connected = await step(pilot)  # connect
        assert connected.steps_done == 1 and connected.state == State.AWAITING_GREETING
        assert app.session_view.state == State.AWAITING_GREETING
        await step(pilot)  # greeting
        assert any(line.startswith("S: 220 mail.smtpstep.test") for line in _wire(app))
        await step(pilot, times=2)  # EHLO, STARTTLS
        assert app.session_view.snapshot.client.session.capabilities is not None
        await step(pilot)  # TLS handshake
        assert app.session_view.snapshot.tls is not None and app.session_view.snapshot.tls.version == "TLSv1.3"
        assert any("ClientHello" in line for line in _wire(app))
        view = await step(pilot, times=planned - app.session_view.steps_done)  # the rest, to QUIT
        assert not view.queue and view.steps_done == app.session_view.steps_done
        assert view.state == State.CLOSED
        assert view.steps_done == planned
        lines = _wire(app)
        for expected in ("C: EHLO client.smtpstep.test", "C: STARTTLS", "C: MAIL FROM:", "C: RCPT TO:", "C: DATA",
                         "C: .", "S: 221 2.0.0 Bye"):
            assert any(line.startswith(expected) for line in lines), expected
        assert any(line.startswith("C: ..This line starts with a dot") for line in lines)  # dot-stuffed on the wire
        assert not any(secret in line for line in lines for secret in SECRET_FORMS)
        assert "C: AUTH PLAIN ********" in lines
        assert len(local_server.received) == 1
        steps = [m for m in messages if isinstance(m, Worker.StateChanged) and m.worker.group == "step"]
        assert sum(1 for m in steps if m.state == WorkerState.SUCCESS) == planned
        finished = [m.view for m in messages if isinstance(m, SmtpStepApp.StepFinished)]
        assert [v.steps_done for v in finished] == list(range(planned + 1))  # the start, then one per step


async def test_revealing_secrets_asks_first_and_keeps_a_marker(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=7)  # through AUTH PLAIN
        assert "C: AUTH PLAIN ********" in _wire(app)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert "C: AUTH PLAIN AHN0dWRlbnQAY2xhc3Nyb29t" in _wire(app)
        header = str(app.screen.query_one("#header").render())
        assert "SECRETS SHOWN" in header
        await pilot.press("v")
        await pilot.pause()
        assert "C: AUTH PLAIN ********" in _wire(app)
        assert "SECRETS SHOWN" not in str(app.screen.query_one("#header").render())


async def test_an_out_of_order_command_is_explained_and_sent_only_when_confirmed(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=2)  # connect, greeting
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, LineInputScreen)
        await pilot.press(*"MAIL FROM:<x@example.test>")
        await pilot.press("enter")
        await pilot.pause()
        assert app.stepper is not None and app.stepper.head is not None
        assert app.stepper.head.label == "MAIL FROM:<x@example.test>"
        assert isinstance(app.screen, MainScreen) and app.screen.warning is not None
        assert "EHLO" in str(app.screen.warning)
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert app.session_view.steps_done == 2  # nothing sent
        await pilot.press("space")
        await pilot.pause()
        view = await wait_for_step(app, pilot.press("y"))
        assert view.steps_done == 3
        assert any(line.startswith(("S: 503", "S: 530")) for line in _wire(app))  # refused, as warned


async def test_a_raw_line_with_a_line_feed_is_refused_before_sending(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        assert app.stepper is not None
        before = list(app.stepper.queue)
        app.stepper.queue  # the queue is only changed through the app's insert action
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LineInputScreen)
        screen.dismiss("NOOP\r\nQUIT")
        await pilot.pause()
        assert app.stepper.queue == before


@asynccontextmanager
async def hang_up_after_ehlo() -> AsyncIterator[int]:
    """A server that greets, answers EHLO, then closes the connection on the next command."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 flaky.test ESMTP\r\n")
        await writer.drain()
        await reader.readline()
        writer.write(b"250-flaky.test\r\n250 8BITMIME\r\n")
        await writer.drain()
        await reader.readline()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_closing_mid_session_is_shown_and_the_app_keeps_running() -> None:
    async with hang_up_after_ehlo() as port:
        settings = replace(BUILTIN, server=f"127.0.0.1:{port}", security="none", user=None, password=None, timeout=5)
        app = SmtpStepApp(settings)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(app)
            await step(pilot, times=4)  # connect, greeting, EHLO, MAIL -> closed
            view = app.session_view
            assert view.last is not None and view.last.failure is not None
            assert view.last.failure.kind == "closed"
            assert view.state == State.CLOSED
            assert "closed the connection" in _explanation(app)
            assert any(line.startswith("  !!") and "closed the connection" in line for line in _wire(app))
            assert "Traceback" not in _explanation(app)
            await wait_for_step(app, pilot.press("r"))  # one key restarts the session
            assert app.session_view.state == State.DISCONNECTED
            assert app.session_view.steps_done == 0
            assert _wire(app) == []
            await step(pilot, times=2)
            assert any(line.startswith("S: 220 flaky.test") for line in _wire(app))


async def test_an_unknown_host_is_a_plain_error_not_a_crash() -> None:
    settings = replace(BUILTIN, server="no-such-host.invalid:25", security="none", user=None, password=None,
                       timeout=5)
    app = SmtpStepApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        await step(pilot)
        view = app.session_view
        assert view.last is not None and view.last.failure is not None
        assert view.last.failure.kind == "resolve"
        assert "could not be resolved" in _explanation(app)


async def test_the_screenshot_key_saves_an_offline_svg_named_after_the_step(local_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server, screenshot_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        await step(pilot, times=3)
        await pilot.press("s")
        await app.workers.wait_for_complete()
    files = list(tmp_path.glob("*.svg"))
    assert [f.name for f in files] == ["smtpstep-step03-ehlo-client-smtpstep-test.svg"]
    svg = files[0].read_text()
    assert "cdnjs" not in svg and "url(http" not in svg and "Fira" not in svg
    assert "url(data:font/woff;base64," in svg  # the bundled font, embedded
    assert "font-variant-ligatures: none" in svg
    assert "EHLO" in svg


async def test_the_connection_screen_switches_security_without_restarting(local_server) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Select

    from smtpstep.app.screens.connection import ConnectionScreen

    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConnectionScreen)
        screen.query_one("#security", Select).value = "tls"
        await wait_for_step(app, pilot.press("ctrl+s"))  # the new session is ready
        assert app.stepper is not None and app.stepper.target.port == local_server.port_for("tls")
        await step(pilot, times=3)  # connect, TLS handshake, greeting
        view = app.session_view
        assert view.snapshot.client.session.implicit_tls and view.snapshot.client.session.tls
        assert any(line.startswith("S: 220") for line in _wire(app))
        assert "implicit TLS" in str(app.screen.query_one("#header").render())


async def test_a_slow_step_shows_its_wait_and_escape_cancels_it() -> None:
    async with stalls_after_greeting() as port:
        settings = replace(BUILTIN, server=f"127.0.0.1:{port}", security="none", user=None, password=None,
                           timeout=20)
        app = SmtpStepApp(settings)
        async with app.run_test(size=(120, 36)) as pilot:
            await started(app)
            await step(pilot, times=2)
            await pilot.press("space")  # EHLO: the server never answers
            waiting = await wait_for_view(app, lambda view: view.busy is not None)  # marked busy after a moment
            assert waiting.busy is not None and waiting.busy.startswith("EHLO")
            header = str(app.screen.query_one("#header").render())
            assert "⧗ EHLO" in header and "Esc cancels" in header
            view = await wait_for_step(app, pilot.press("escape"))
            assert view.state == State.CLOSED and view.busy is None
            assert app.session_view.busy is None


async def test_the_theme_key_cycles_through_smtpsteps_themes(local_server) -> None:  # type: ignore[no-untyped-def]
    from smtpstep.themes import THEMES

    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        seen = [app.theme]
        for _ in THEMES:
            await pilot.press("t")
            await pilot.pause()
            seen.append(app.theme)
        assert seen[0] == seen[-1]
        assert sorted(set(seen)) == sorted(t.name for t in THEMES)


async def test_the_chosen_theme_is_remembered_for_the_next_start(local_server) -> None:  # type: ignore[no-untyped-def]
    from smtpstep.app import config

    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        await pilot.press("t")
        await pilot.pause()
        chosen = app.theme
    assert config.load()["theme"] == chosen
    again = SmtpStepApp(BUILTIN, server=local_server)
    async with again.run_test(size=(80, 24)) as pilot:
        await started(again)
        assert again.theme == chosen


async def test_auth_in_clear_text_to_a_real_server_needs_consent_in_a_dialog(local_server) -> None:  # type: ignore[no-untyped-def]
    # The built-in plain listener, addressed as a "real" server: smtpstep must not send AUTH without asking.
    settings = replace(BUILTIN, server=f"127.0.0.1:{local_server.port_for('none')}", security="none", user=None,
                       password=None, timeout=5)
    app = SmtpStepApp(settings)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=3)  # connect, greeting, EHLO
        await pilot.press("i")
        await pilot.pause()
        await pilot.press(*"AUTH PLAIN AHN0dWRlbnQAY2xhc3Nyb29t")
        await pilot.press("enter")
        await pilot.pause()
        wrote = len([c for c in app.stepper.transport.record.chunks if c.direction == "client"])
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # out of order first: the plain listener offered no AUTH
        refused = await wait_for_step(app, pilot.press("y"))
        assert refused.last is not None and refused.last.failure is not None
        assert refused.last.failure.kind == "policy"  # refused before sending
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # then consent to clear text is asked
        assert len([c for c in app.stepper.transport.record.chunks if c.direction == "client"]) == wrote
        await pilot.press("n")
        await pilot.pause()
        assert not app.stepper.target.allow_cleartext_auth
        await pilot.press("space")
        await pilot.pause()
        await wait_for_step(app, pilot.press("y"))  # out of order, sent anyway: refused by the policy again
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # asked again
        await wait_for_step(app, pilot.press("y"))  # once consent is given, the confirmed command goes out
        client_lines = [line for line in _wire(app) if line.startswith("C: AUTH")]
        assert client_lines == ["C: AUTH PLAIN ********"]  # sent after consent, still redacted


async def test_every_key_action_is_also_in_the_command_palette(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)):
        await started(app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for wanted in ("Step (space)", "Run to end (g)", "Edit (e)", "Insert (i)", "Restart (r)",
                       "Screenshot (s)", "Theme (t)", "Secrets (v)", "CRLF marks (l)"):
            assert wanted in titles, wanted


async def test_keys_can_be_remapped_in_the_config_file(local_server) -> None:  # type: ignore[no-untyped-def]
    from smtpstep.app import config

    config.save(keymap={"step": "j"})
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        view = await step(pilot, "j")
        assert view.steps_done == 1


def test_quitting_leaves_no_server_thread_or_socket_behind() -> None:
    import threading

    before = {t.ident for t in threading.enumerate()}

    async def scenario() -> None:
        app = SmtpStepApp(BUILTIN)  # starts its own built-in server in a thread
        async with app.run_test(size=(80, 24)) as pilot:
            await started(app)
            assert app.server is not None and app.server.is_running
            await step(pilot, times=3)  # a live connection is open
            server = app.server
        assert not server.is_running

    asyncio.run(scenario())
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []


async def test_stepping_back_shows_an_earlier_step_while_the_connection_stays(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=4)  # connect, greeting, EHLO, STARTTLS
        live_lines = _wire(app)
        await pilot.press("left", "left")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.viewing == 2 and screen.view is not None and screen.view.steps_done == 2
        assert screen.view.state == State.READY_FOR_HELLO
        assert "VIEWING STEP 2" in str(screen.query_one("#header").render())
        assert not any("EHLO" in line for line in _wire(app))  # the log as it was after step 2
        assert app.stepper.transport.client.state == State.AWAITING_TLS_HANDSHAKE  # live session untouched
        await pilot.press("right", "right")
        await pilot.pause()
        assert screen.viewing is None and _wire(app) == live_lines
        await pilot.press("left")
        await pilot.press("space")  # back to live first, no step taken
        await pilot.pause()
        assert screen.viewing is None and app.session_view.steps_done == 4


async def test_presentation_mode_shows_a_caption_and_the_last_exchange(local_server) -> None:  # type: ignore[no-untyped-def]
    from smtpstep.app.widgets.presentation import PresentationStage, caption

    app = SmtpStepApp(BUILTIN, server=local_server, present=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app)
        await step(pilot, times=3)
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.has_class("-present")
        assert not screen.query_one("#queue").display or not screen.query_one("#top").display
        text = caption(app.session_view)
        assert text.startswith("Step 3 of 12") and text.endswith("250")
        stage = screen.query_one(PresentationStage)
        assert any(line.text.startswith("EHLO client.smtpstep.test") for line in stage.lines)
        await pilot.press("P")
        await pilot.pause()
        assert not screen.has_class("-present")


async def test_the_export_key_saves_a_recording_that_replays_every_step(local_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from smtpstep.app.session.recording import Recording

    app = SmtpStepApp(BUILTIN, server=local_server, screenshot_dir=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=7)  # through AUTH
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, LineInputScreen)
        app.screen.dismiss("lesson.json")
        await pilot.pause()
    saved = tmp_path / "lesson.json"
    text = saved.read_text()
    assert not any(secret in text for secret in SECRET_FORMS)
    recording = Recording.load(saved)
    assert recording.steps == 7
    replay = SmtpStepApp(None, replay=recording)  # type: ignore[arg-type]
    async with replay.run_test(size=(120, 36)) as pilot:
        await pilot.pause()  # a replay has no session to start: its screen shows the recording
        assert replay.screen.view is not None and replay.screen.view.steps_done == 0
        for _ in range(7):
            await pilot.press("space")
        await pilot.pause()
        assert replay.screen.view.steps_done == 7
        assert "C: AUTH PLAIN ********" in _wire(replay)
        assert "REPLAY" in str(replay.screen.query_one("#header").render())
        await pilot.press("left")
        await pilot.pause()
        assert replay.screen.view.steps_done == 6
        assert not any(line.startswith("C: AUTH") for line in _wire(replay))


async def test_the_app_moves_what_lives_long_out_of_the_collectors_way_and_gives_it_back_on_quit(
        local_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(process_settings, "FREEZE_EVERY_STEPS", 2)
    gc.unfreeze()
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await pilot.pause()
        # Textual, the panes and the session: tens of thousands of objects a full collection no longer walks.
        assert gc.get_freeze_count() > 20_000, gc.get_freeze_count()
        await step(pilot)  # connect: not yet FREEZE_EVERY_STEPS steps
        await pilot.pause()
        grown = len(gc.get_objects())  # what came since (a frozen object that dies is freed all the same)
        await step(pilot)  # the greeting: the second step, frozen after its frame
        await pilot.pause()
        assert len(gc.get_objects()) < grown // 2
    assert gc.get_freeze_count() == 0


async def test_the_app_leaves_the_thread_switch_interval_alone(local_server) -> None:  # type: ignore[no-untyped-def]
    # The built-in server the app starts runs in a process of its own: no server thread competes with the
    # screen for the interpreter lock, so the app has no reason to change how often threads switch.
    before = sys.getswitchinterval()
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot)
        assert sys.getswitchinterval() == before
    assert sys.getswitchinterval() == before
