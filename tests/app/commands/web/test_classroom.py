"""A classroom in the browser: keys pressed before the stepper is ready are kept, not lost; tabs forked from
a preloaded parent, each with a seat of its own in the one shared built-in server, stay apart (mail, reports,
crashes), and nothing is left when the server stops.

Tabs here are WebSocket clients made with a plain socket (``tests.support.web``): what they read is what a
browser's terminal would draw.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.support.web import (
    Frames,
    assert_groups_end,
    descendants,
    drawn,
    kill_quietly,
    leftovers,
    open_socket,
    send_text,
    start_web,
    wait_until,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc")


def _screen(frames: Frames) -> str:
    return "\n".join(frames.terminal.display)


def _seats_socket(pid: int | None) -> str:
    """The start of the shared server's socket name as ``/proc/net/unix`` lists it (abstract: ``@``)."""
    return f"@smtpstep-seats-{pid}-"


def _run_and_show_server_side(sock, frames: Frames) -> None:  # type: ignore[no-untyped-def]
    """Run the tab's session to its end, then show the server's side (key o)."""
    send_text(sock, json.dumps(["stdin", "g"]))
    frames.read_until(lambda f: b"session finished" in drawn(f), "the session run to its end")
    send_text(sock, json.dumps(["stdin", "o"]))


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


def test_forked_tabs_are_isolated_and_nothing_is_left_when_the_server_stops(tmp_path: Path) -> None:
    served = start_web(tmp_path)
    served.wait_for_line(r"tabs are forked from process \d+")  # the default
    served.wait_for_line(r"tabs share the built-in server in process \d+")  # the default too
    sockets = [open_socket(served.port) for _ in range(2)]
    pids: list[int] = []
    try:
        pids = served.wait_for_tabs(2)
        tabs = [Frames(sock, size=(100, 30)) for sock in sockets]
        for tab in tabs:
            tab.read_until(lambda f: "step 0 of" in f.line(0), "a ready stepper")
        for pid in pids:  # each a forked child of the preloaded parent, in a session of its own
            assert os.getpgid(pid) == pid == os.getsid(pid)
            assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == served.preloader_pid
            assert descendants(pid) == []  # no server process of its own: a seat in the shared one
        assert served.shared_server_pid not in pids
        # The first tab's session delivers a message; its server side shows it, the other tab's shows none.
        _run_and_show_server_side(sockets[0], tabs[0])
        tabs[0].read_until(lambda f: "accepted a message over its" in _screen(f), "the first tab's message")
        send_text(sockets[1], json.dumps(["stdin", "o"]))
        tabs[1].read_until(lambda f: "stored no message yet" in _screen(f), "the other tab's empty server side")
        os.killpg(pids[0], signal.SIGKILL)  # one tab's app dies outright
        assert_groups_end(pids[:1])
        assert Path(f"/proc/{served.shared_server_pid}").exists()  # for the shared server a closed connection
        _run_and_show_server_side(sockets[1], tabs[1])  # the other goes on, to the end of its session
        tabs[1].read_until(lambda f: _screen(f).count("accepted a message over its") == 1, "its own one message")
        seats = _seats_socket(served.shared_server_pid)
        assert seats in Path("/proc/net/unix").read_text()
        assert served.stop() == 0
        assert seats not in Path("/proc/net/unix").read_text()  # the socket (abstract: no file) went with it
        assert_groups_end(pids)
        assert wait_until(lambda: descendants(served.process.pid) == [] and
                          not Path(f"/proc/{served.preloader_pid}").exists())
        assert leftovers(tmp_path) == []
    finally:
        for sock in sockets:
            sock.close()
        served.stop()
        kill_quietly(pids)
