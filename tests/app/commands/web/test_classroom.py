"""A classroom in the browser: keys pressed before the stepper is ready are kept, not lost.

Tabs here are WebSocket clients made with a plain socket (``tests.support.web``): what they read is what a
browser's terminal would draw.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.web import Frames, drawn, kill_quietly, open_socket, send_text, start_web

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc")


def test_keys_pressed_at_the_first_frame_wait_for_the_session_and_apply_in_order(tmp_path: Path) -> None:
    served = start_web(tmp_path)
    sock = open_socket(served.port)
    pids: list[int] = []
    try:
        pids = served.wait_for_tabs(1)
        frames = Frames(sock)
        frames.read_until(lambda f: b" smtpstep " in bytes(f.output), "the first frame")
        send_text(sock, json.dumps(["stdin", "n"]))  # the greeting, then
        send_text(sock, json.dumps(["stdin", "g"]))  # every other step: before the built-in server runs
        frames.read_until(lambda f: "starting…".encode() in drawn(f), "the screen saying it is starting")
        frames.read_until(lambda f: b"session finished" in drawn(f), "the session run to its end")
    finally:
        sock.close()
        assert served.stop() == 0
        kill_quietly(pids)
