"""The terminal app shows text from outside escaped, never raw, and never lets it reach the clipboard or title.

Read from what the app draws: ``export_screenshot`` (the screen as SVG, tags and entities undone) after every
step against the hostile-text server, with a hostile lesson, a hostile certificate and a hostile recording.
Every pane counts, also those that render server text without calling the escaping function themselves (the
state pane's EHLO keywords): the app's output layer escapes every text it draws (``app/terminal.py``).

Then the real app in a pseudo-terminal, against the same server: none of the bytes it writes to the
terminal is an OSC 52 (clipboard) or OSC 0/1/2 (title) sequence, and the escaped text is what it draws.
"""

from __future__ import annotations

import html
import os
import re
import select
import struct
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot

from smtpstep.app.cli import build_parser
from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.recording import Recording
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from tests.support.env import REPO, clean_env
from tests.support.hostile_files import write_hostile_lesson
from tests.support.hostile_server import (
    ESCAPED_OSC52,
    HostileServer,
    assert_no_raw_controls,
    hostile_server_in_thread,
)
from tests.support.waiting import started, wait_for_step

STRANGER = SessionSettings(server=None, security="none", ca_file=None, insecure=False, user=None, password=None,
                           timeout=5)

SIZE = (160, 60)


async def screen_text(pilot: Pilot) -> str:
    """What the screen shows once every pane has laid out the last view (``Pilot.pause`` waits for the screen's
    messages), as text: the screenshot's SVG with its tags and entities undone."""
    await pilot.pause()
    svg = pilot.app.export_screenshot()
    assert_no_raw_controls(svg, "the screenshot's SVG")
    return html.unescape(re.sub(r"<[^>]*>", "", svg)).replace("\xa0", " ")


async def step_to_the_end(pilot: Pilot, limit: int = 20) -> list[str]:
    """Take every step (space); the screen's text after each one."""
    app: SmtpStepApp = pilot.app  # type: ignore[assignment]
    screens = []
    for _ in range(limit):
        view = await wait_for_step(app, app.run_action("step"))
        screens.append(await screen_text(pilot))
        if (view.last is not None and view.last.failure is not None) or view.halt or not view.queue:
            break
    return screens


async def test_every_pane_shows_a_hostile_server_escaped() -> None:
    async with HostileServer("hostile-text") as server:
        app = SmtpStepApp(replace(STRANGER, server=f"127.0.0.1:{server.port}"))
        async with app.run_test(size=SIZE) as pilot:
            await started(app)
            screens = await step_to_the_end(pilot)
            await pilot.press("d")  # the sequence diagram, a screen of its own
            diagram = await screen_text(pilot)

    assert_no_raw_controls(diagram, "the diagram screen")
    assert "250 2.0.0 queued \\x1b]52;c;" in diagram
    for text in screens:
        assert_no_raw_controls(text, "the screen")
    after_ehlo = screens[2]
    assert f"S: 220 hostile.test {ESCAPED_OSC52}" in after_ehlo  # the wire log
    assert "X-\\x1b]52;c;" in after_ehlo  # the EHLO keyword, in the state and explanation panes
    assert "[bold red]markup[/]" in after_ehlo  # markup as written, not interpreted
    assert "250 2.0.0 queued \\x1b]52;c;" in screens[-2]  # the reply to the message


async def test_a_hostile_lesson_is_shown_escaped(tmp_path: Path) -> None:
    lesson = write_hostile_lesson(tmp_path / "evil.toml")
    settings = settings_from_args(build_parser().parse_args(["step", "--lesson", str(lesson)]))
    app = SmtpStepApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        before = await screen_text(pilot)
        screens = await step_to_the_end(pilot)

    assert_no_raw_controls(before, "the screen")
    assert "\\x1b]52;c;" in before  # the intro: title and goal
    for text in screens:
        assert_no_raw_controls(text, "the screen")
        assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in text  # the narration of every step
    assert "evil\\x1b]0;TITLE\\x07.test" in screens[2]  # the lesson's EHLO name, on the wire


async def test_a_hostile_certificate_is_shown_escaped() -> None:
    async with HostileServer("hostile-text", hostile_certificate=True) as server:
        app = SmtpStepApp(replace(STRANGER, server=f"127.0.0.1:{server.port}", security="starttls"))
        async with app.run_test(size=SIZE) as pilot:
            await started(app)
            screens = await step_to_the_end(pilot)

    text = screens[-1]
    assert_no_raw_controls(text, "the screen")
    # The TLS pane: the subject (RFC 4514 escapes ";" as "\\;") and a name from the SAN; the pane wraps lines.
    assert "CN=\\x1b]52\\;c\\;cm0gL" in text and "PWNED-TITLE\\x07\\x1b[2J" in text
    assert "evil\\x1b]52;c;cm0gLXJmIH4=\\x07.test" in text


async def test_a_hostile_recording_is_replayed_escaped(tmp_path: Path) -> None:
    from tests.support.hostile_files import hostile_recording

    async with HostileServer("hostile-text") as server:
        app = SmtpStepApp(replace(STRANGER, server=f"127.0.0.1:{server.port}"))
        async with app.run_test(size=SIZE) as pilot:
            await started(app)
            await step_to_the_end(pilot)
            assert app.stepper is not None
            recording = Recording.from_stepper(app.stepper, app.timeline.views)
    evil = Recording.from_json(__import__("json").dumps(hostile_recording(__import__("json").loads(
        recording.to_json()))))
    app = SmtpStepApp(None, replay=evil)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(evil.steps):
            await pilot.press("right")
            await pilot.pause()
            text = await screen_text(pilot)
            assert_no_raw_controls(text, "the replay's screen")
    assert f"S: 221 2.0.0 {ESCAPED_OSC52}" in text and f"the connection is closed {ESCAPED_OSC52}" in text


# --- The real terminal ------------------------------------------------------------------------------------

try:
    import fcntl
    import termios
except ImportError:  # not a POSIX system: no pseudo-terminals
    fcntl = termios = None  # type: ignore[assignment]

OSC_FORBIDDEN = re.compile(rb"\x1b\](?:52|0|1|2);|\x9d(?:52|0|1|2);")
"""OSC 52 (clipboard) and OSC 0, 1, 2 (icon and window title), in their 7-bit and 8-bit forms."""
CSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
POINTER_SHAPE = re.compile(rb"\x1b\]22;[a-z-]+\x07")


@pytest.mark.skipif(termios is None, reason="needs POSIX pseudo-terminals")
def test_the_app_in_a_terminal_writes_no_clipboard_or_title_sequence(tmp_path: Path) -> None:
    with hostile_server_in_thread("hostile-text") as server:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
        env = clean_env(tmp_path, TERM="xterm-256color", COLORTERM="truecolor")
        env.pop("TEXTUAL", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "smtpstep.app.cli", "step", "--server", f"127.0.0.1:{server.port}",
             "--security", "none", "--timeout", "5"],
            cwd=REPO, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        output = bytearray()

        def read_until(wanted: bytes, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while wanted not in CSI.sub(b"", output):
                ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise AssertionError(f"{wanted!r} was never drawn; the app wrote …{bytes(output[-800:])!r}")
                try:
                    output.extend(os.read(master, 65536))
                except OSError:
                    raise AssertionError(f"the app ended before drawing {wanted!r}") from None

        try:
            read_until(b"Press space to take the first step")  # the session is ready for keys
            os.write(master, b"g")  # run to the end: every hostile reply is read and drawn
            read_until(b"221 2.0.0 \\x1b]52;c;")
            os.write(master, b"q")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # to the end of what the app writes (EIO once it has closed)
                if select.select([master], [], [], 1.0)[0]:
                    try:
                        if not (data := os.read(master, 65536)):
                            break
                    except OSError:
                        break
                    output.extend(data)
                elif process.poll() is not None:
                    break
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
            os.close(master)

    found = OSC_FORBIDDEN.findall(bytes(output))
    assert not found, f"the app wrote {found!r} to the terminal"
    # No BEL (a bell, or the end of an OSC sequence) but Textual's own OSC 22, which names the mouse pointer's shape.
    assert b"\x07" not in POINTER_SHAPE.sub(b"", bytes(output))
    assert output.count(b"\x1b[?1049h") == 1  # Textual's own switch to the other screen, and no other
    assert ESCAPED_OSC52.encode() in CSI.sub(b"", output)
    logs = list((tmp_path / "xdg_state_home").rglob("*.log"))
    assert logs  # the app's log was written (and holds nothing raw either)
    for log in logs:
        assert_no_raw_controls(log.read_text(encoding="utf-8", errors="replace"), str(log.name))
