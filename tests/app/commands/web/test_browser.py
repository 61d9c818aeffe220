"""``smtpstep web`` in a real headless Chromium (Debian's package, driven by playwright; no browser download).

The page draws the terminal on a canvas, so the test reads the screen the way the browser builds it:
a script added before the page's own taps the WebSocket, and ``pyte`` (a terminal emulator) replays
every byte the browser received. Symbols are checked by drawing them with the terminal's own fonts.
Set ``SMTPSTEP_WEB_SCREENSHOTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.web import (
    assert_groups_end,
    drawn,
    kill_quietly,
    processes,
    send_text,
    start_web,
    tab_leftovers,
    wait_until,
)

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pyte = pytest.importorskip("pyte", reason="pyte is not installed (pip install -e '.[test]')")

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium); "
                                                ".ci/run installs it"),
]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

TAP = """
(() => {
  const Native = window.WebSocket;
  window.__received = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string") return;
        const bytes = new Uint8Array(event.data);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        window.__received.push(btoa(text));
      });
    }
  };
})();
"""
"""Keeps a copy of every byte the terminal is sent, before the page's own script makes its socket."""

UNDRAWN = """(chars) => {
  const font = "32px 'Roboto Mono', Monaco, 'Courier New', monospace";  // the terminal's, in textual.js
  const canvas = document.createElement("canvas");
  canvas.width = 96; canvas.height = 48;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const inked = (ch) => {
    context.clearRect(0, 0, 96, 48);
    context.font = font; context.fillStyle = "#000"; context.textBaseline = "top";
    context.fillText(ch, 8, 4);
    const data = context.getImageData(0, 0, 96, 48).data;
    for (let i = 3; i < data.length; i += 4) if (data[i]) return true;
    return false;
  };
  return chars.filter((ch) => !inked(ch));
}"""
"""The characters no font on this machine can draw (Chromium draws nothing for them)."""


class Screen:
    """The terminal as the browser has it, rebuilt from the bytes the page received."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        self.screen = pyte.Screen(400, 120)
        self.stream = pyte.ByteStream(self.screen)
        self.seen = 0

    def text(self) -> str:
        chunks = self.page.evaluate(f"window.__received.slice({self.seen})")
        self.seen += len(chunks)
        for chunk in chunks:
            self.stream.feed(base64.b64decode(chunk))
        return "\n".join(line.rstrip() for line in self.screen.display).rstrip()

    def step(self) -> int:
        """The step number in the header (0 before the first)."""
        match = re.search(r"│ step (\d+) of \d+ │", self.text())
        return int(match.group(1)) if match else -1

    def step_to(self, number: int, timeout: float = 30.0) -> None:
        """Press the step key until the header says step ``number``.

        The app ignores the key until its built-in server runs and while a step is under way (it says
        so), so a key is pressed again when one had no effect.
        """
        deadline = time.monotonic() + timeout
        while (now := self.step()) < number:
            if time.monotonic() > deadline:
                raise AssertionError(f"stuck at step {now}; the terminal shows:\n{self.text()}")
            self.page.keyboard.press("Space")
            moved = time.monotonic() + 2.0
            while self.step() == now and time.monotonic() < moved:
                self.page.wait_for_timeout(50)

    def wait_for(self, *needles: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if all(needle in text for needle in needles):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never showed {needles}; it shows:\n{text}")
            self.page.wait_for_timeout(100)


@pytest.fixture
def browser_context(tmp_path: Path) -> Iterator[object]:
    profile = tmp_path / "chromium-profile"  # a fresh --user-data-dir for each test
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1280, "height": 800}, env={**os.environ, "HOME": str(tmp_path),
                                                          "XDG_CONFIG_HOME": str(tmp_path / "chromium-config"),
                                                          "XDG_CACHE_HOME": str(tmp_path / "chromium-cache")},
        )
        context.add_init_script(TAP)
        try:
            yield context
        finally:
            try:
                context.close()
            except Exception:  # noqa: BLE001 - a test may have killed the browser on purpose
                pass


def _open_stepper(context, served, requests: list[str]):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.goto(served.url)
    screen = Screen(page)
    screen.wait_for("Command queue", "Wire log")
    # The page gives the terminal the keys by itself; the test makes sure of it, as a person would click.
    assert page.evaluate("document.activeElement.classList.contains('xterm-helper-textarea')")
    page.focus("textarea.xterm-helper-textarea")
    return page, screen


def _keep(page, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    page.screenshot(path=str(path))
    if folder := os.environ.get("SMTPSTEP_WEB_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / name)
    return path


def test_stepping_in_chromium_shows_the_greeting_and_the_ehlo_reply_and_closing_the_tab_ends_its_app(
        tmp_path, browser_context):
    served = start_web(tmp_path)
    requests: list[str] = []
    pids: list[int] = []
    try:
        page, screen = _open_stepper(browser_context, served, requests)
        pids = served.wait_for_tabs(1)
        screen.step_to(3)  # connect, read the greeting, EHLO
        text = screen.wait_for("S: 220 mail.smtpstep.test", "C: EHLO client.smtpstep.test", "S: 250-mail.smtpstep.test")
        assert "step 3 of" in text
        assert "S: 250 " in text  # the last line of the EHLO reply
        page.wait_for_timeout(500)  # let the canvas catch up with the bytes
        assert _keep(page, tmp_path, "web-after-ehlo.png").stat().st_size > 10_000

        # Offline: everything came from this server, and the font is textual-serve's own copy.
        assert requests and all(url.startswith(served.url) for url in requests), requests
        fonts = page.evaluate("[...document.fonts].map(f => f.family + ' ' + f.status)")
        assert '"Roboto Mono" loaded' in fonts or "Roboto Mono loaded" in fonts, fonts

        # No missing glyphs: every symbol on the screen, except the lines and blocks xterm.js draws itself.
        symbols = sorted({ch for ch in text if ord(ch) > 127 and not ch.isspace() and not 0x2500 <= ord(ch) <= 0x259F})
        assert symbols, "the stepper shows some symbols (✓, →, …)"
        undrawn = page.evaluate(UNDRAWN, symbols)
        assert undrawn == [], (f"no font on this machine draws {undrawn}; a classroom desktop has one, here install "
                               "Debian's fonts-symbola (.ci/run does)")

        page.close()  # the tab goes away, with no goodbye from the app
        assert_groups_end(pids)
        served.wait_for_line(rf"^tab 1: app process {pids[0]} ended \(quit, exit 0, ")  # it quit cleanly
        assert wait_until(lambda: served.tab_tree() == [])
        assert served.process.poll() is None
        assert wait_until(lambda: tab_leftovers(tmp_path) == ([], [])), tab_leftovers(tmp_path)
    finally:
        code = served.stop()
        kill_quietly(pids)
    assert code == 0


def test_a_browser_killed_outright_leaves_no_app_process(tmp_path, browser_context):
    served = start_web(tmp_path)
    requests: list[str] = []
    pids: list[int] = []
    try:
        page, screen = _open_stepper(browser_context, served, requests)
        screen.step_to(1)
        second, second_screen = _open_stepper(browser_context, served, requests)  # a second tab: its own app
        second_screen.wait_for("step 0 of")
        pids = served.wait_for_tabs(2)
        assert len(set(pids)) == 2

        profile = str(tmp_path / "chromium-profile")
        browser = [proc.pid for proc in processes() if profile in proc.cmdline]
        assert browser, "the browser's processes are found by their profile folder"
        for pid in browser:
            os.kill(pid, signal.SIGKILL)  # no tab closes: the sockets just drop
        assert_groups_end(pids)
        assert wait_until(lambda: served.tab_tree() == [])
        assert served.process.poll() is None
        assert wait_until(lambda: tab_leftovers(tmp_path) == ([], [])), tab_leftovers(tmp_path)
    finally:
        code = served.stop()
        kill_quietly(pids)
    assert code == 0


def test_a_follower_in_chromium_sees_the_teachers_steps_looks_back_alone_and_sees_no_secret(
        classroom, browser_context):
    page = browser_context.new_page()
    page.goto(f"http://127.0.0.1:{classroom.followers_web.port}/")
    screen = Screen(page)
    screen.wait_for("(live)", "Command queue", "Wire log")
    page.focus("textarea.xterm-helper-textarea")
    send_text(classroom.teacher.sock, json.dumps(["stdin", "v"]))  # the teacher shows the secrets on their screen
    classroom.teacher.read_until(lambda f: b"Show secrets" in drawn(f), "the reveal dialog")
    send_text(classroom.teacher.sock, json.dumps(["stdin", "y"]))
    classroom.teacher_steps_to(7)  # through AUTH PLAIN
    text = screen.wait_for("step 7 of", "C: AUTH PLAIN ********", "S: 235 ")
    assert not any(secret in text for secret in ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t"))
    page.keyboard.press("ArrowLeft")  # this student looks back; the teacher goes on
    screen.wait_for("step 6 of")
    classroom.teacher_steps_to(8)
    page.keyboard.press("ArrowRight")
    screen.wait_for("step 7 of")
    page.keyboard.press("ArrowRight")
    screen.wait_for("step 8 of", "C: MAIL FROM:")
    assert _keep(page, classroom.tmp, "web-follower.png").stat().st_size > 10_000
    page.close()
