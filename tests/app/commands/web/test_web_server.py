"""``smtpstep web`` without a browser: its flags, its page, who may open a tab, and how tabs end.

Tabs here are bare WebSocket handshakes made with a socket, so that a dropped connection can be a real
TCP reset. Whether an app process is gone is read from ``/proc`` (its process group is empty).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import signal
import subprocess
import sys
import termios
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from smtpstep.app import cli
from smtpstep.app.commands import web
from smtpstep.app.session.settings import UsageError
from tests.support.web import (
    CLEANUP_SECONDS,
    REPO,
    assert_groups_end,
    descendants,
    drop,
    environment,
    group_members,
    kill_quietly,
    leftovers,
    open_tab,
    start_web,
    tab_leftovers,
    wait_for_first_screen,
    wait_until,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc")


# --- Flags ----------------------------------------------------------------------------------------


def test_loopback_is_the_default_address():
    assert web.bind_address(None, None) == ("127.0.0.1", True)
    assert web.bind_address("::1", None) == ("::1", True)
    assert web.bind_address("localhost", None) == ("127.0.0.1", True)


def test_host_refuses_an_address_other_machines_can_reach_and_names_listen():
    with pytest.raises(UsageError, match=r"--host 192\.0\.2\.7 is not a loopback address.*--listen 192\.0\.2\.7"):
        web.bind_address("192.0.2.7", None)


def test_listen_takes_any_ip_address_but_no_host_name():
    assert web.bind_address(None, "0.0.0.0") == ("0.0.0.0", False)
    assert web.bind_address(None, "[::]") == ("::", False)
    with pytest.raises(UsageError, match="not an IP address"):
        web.bind_address(None, "classroom.example")


def test_listen_prints_a_warning(monkeypatch, capsys, tmp_path):
    async def no_server(self):  # nothing is bound: tests stay on loopback
        return 0

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(web.WebServer, "run", no_server)
    assert cli.main(["web", "--listen", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0:0, not loopback" in err
    assert "demo password is public" in err


def test_loopback_prints_no_warning(monkeypatch, capsys, tmp_path):
    async def no_server(self):
        return 0

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(web.WebServer, "run", no_server)
    assert cli.main(["web", "--port", "0"]) == 0
    assert capsys.readouterr().err == ""


def test_listen_with_a_login_to_a_real_server_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("SMTPSTEP_PASSWORD", "not-for-students")
    code = cli.main(["web", "--listen", "0.0.0.0", "--server", "smtp.example.test", "--user", "teacher"])
    assert code == 2
    assert "would hand the password for teacher to every browser" in capsys.readouterr().err


def test_host_and_listen_do_not_go_together(capsys):
    assert cli.main(["web", "--host", "127.0.0.1", "--listen", "0.0.0.0"]) == 2
    assert "give either --host or --listen, not both" in capsys.readouterr().err


def test_web_takes_every_option_of_step(capsys):
    def flags(command: str) -> set[str]:
        """The options ``smtpstep COMMAND --help`` lists."""
        assert cli.main([command, "--help"]) == 0
        return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", capsys.readouterr().out))

    step_flags, web_flags = flags("step"), flags("web")
    assert {"--server", "--security", "--theme", "--present"} <= step_flags  # the help was read
    assert step_flags <= web_flags
    assert {"--host", "--listen", "--port", "--max-tabs"} <= web_flags


def test_a_tab_runs_this_python_with_the_same_words_and_no_shell():
    argv = web.tab_argv(["--theme", "print", "--subject", "a; rm -rf ~ $(x)"])
    assert argv == [sys.executable, "-P", "-m", "smtpstep.app.cli", "web", "--theme", "print", "--subject", "a; rm -rf ~ $(x)"]


# --- The page -------------------------------------------------------------------------------------


def test_offline_page_drops_links_and_scripts_from_elsewhere():
    template = ('<html><head>\n<link rel="stylesheet" href="https://fonts.example/css?family=X" />\n'
                '<link rel="stylesheet" href="{{ config.static.url }}css/xterm.css" />\n'
                "<script src='//cdn.example/x.js'></script>\n</head><body></body></html>")
    page = web.offline_page(template)
    assert "fonts.example" not in page and "cdn.example" not in page
    assert "css/xterm.css" in page
    assert page.index("@font-face") < page.index("</head>")


def test_served_page_loads_nothing_from_the_network(tmp_path):
    served = start_web(tmp_path)
    try:
        page = urllib.request.urlopen(served.url, timeout=10).read().decode()
        urls = re.findall(r"""(?:href|src)\s*=\s*["']([^"']+)|url\(["']?([^"')]+)""", page)
        urls = [a or b for a, b in urls]
        assert urls, page
        outside = [u for u in urls if not u.startswith(f"http://127.0.0.1:{served.port}/")]
        assert outside == []
        assert "googleapis" not in page
        font = [u for u in urls if u.endswith("RobotoMono-VariableFont_wght.ttf")]
        assert font, "the page should name textual-serve's own Roboto Mono"
        with urllib.request.urlopen(font[0], timeout=10) as answer:
            assert answer.status == 200
            assert answer.read(4) == b"\x00\x01\x00\x00"  # a TrueType font
        assert served.tab_pids() == []  # the page alone starts no app
    finally:
        assert served.stop() == 0


def test_only_pages_from_this_server_may_open_a_tab(tmp_path):
    served = start_web(tmp_path)
    try:
        request = urllib.request.Request(served.url, headers={"Host": f"rebound.example:{served.port}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        for origin in ("http://evil.example", None, f"http://localhost:{served.port}"):
            sock, status = open_tab(served.port, origin=origin)
            sock.close()
            assert " 403 " in status, (origin, status)
        sock, status = open_tab(served.port, host=f"rebound.example:{served.port}")
        sock.close()
        assert " 403 " in status
        assert served.tab_pids() == []
    finally:
        assert served.stop() == 0


# --- Tabs and their processes ---------------------------------------------------------------------


def test_each_tab_runs_in_a_process_group_of_its_own_and_ends_when_its_connection_drops(tmp_path):
    served = start_web(tmp_path)
    pids: list[int] = []
    try:
        first, status = open_tab(served.port)
        assert " 101 " in status
        second, _ = open_tab(served.port)
        pids = served.wait_for_tabs(2)
        assert len(set(pids)) == 2
        for pid in pids:
            assert os.getpgid(pid) == pid != os.getpgid(served.process.pid)
            assert os.getsid(pid) == pid  # no terminal's Ctrl-C reaches it but through the server
        children = {proc.pid for proc in descendants(served.process.pid)}
        assert set(pids) <= children

        drop(first)  # a TCP reset, no goodbye
        assert_groups_end(pids[:1])
        served.wait_for_line(rf"^tab 1: app process {pids[0]} ended \(quit, exit 0, ")
        assert group_members(pids[1]), "the other tab must live on"

        second.close()
        assert_groups_end(pids[1:])
        assert wait_until(lambda: served.tab_tree() == [])
        assert served.process.poll() is None
        # Only the shared built-in server's folder is left while the server runs, and no seat in it.
        assert wait_until(lambda: tab_leftovers(tmp_path) == ([], [])), tab_leftovers(tmp_path)
    finally:
        code = served.stop()
        kill_quietly(pids)
    assert code == 0


def test_stopping_the_server_ends_every_tab(tmp_path):
    served = start_web(tmp_path)
    sockets = [open_tab(served.port)[0] for _ in range(2)]
    pids = served.wait_for_tabs(2)
    try:
        for sock in sockets:  # both apps are running, not starting
            wait_for_first_screen(sock)
        assert served.stop(signal.SIGTERM) == 0
        ended = [i for i, line in enumerate(served.lines) if " ended (" in line]
        assert len(ended) == 2 and all("(quit, exit 0, " in served.lines[i] for i in ended), served.lines
        # The server saw both apps quit before it said it stopped: it waited for them.
        assert max(ended) < served.lines.index("smtpstep web: stopped"), served.lines
        assert_groups_end(pids)
        assert leftovers(tmp_path) == []
        assert served.err_lines == [], served.err_lines  # quiet: no traceback, no "Exception ignored"
    finally:
        for sock in sockets:
            sock.close()
        kill_quietly(pids)


def test_a_tab_ends_itself_when_its_server_is_killed(tmp_path):
    served = start_web(tmp_path)
    sock, _ = open_tab(served.port)
    pids = served.wait_for_tabs(1)
    try:
        wait_for_first_screen(sock)  # the app runs
        served.process.kill()  # SIGKILL: the server cannot clean up
        served.process.wait()
        assert_groups_end(pids)  # nobody is left to end them: the app ended itself
        # The app cleaned up after itself; only the folder the server had made for it is left, with the lock
        # file that the server held while it lived.
        # The shared built-in server died with it, and removed its own folder inside the one made for it.
        assert wait_until(lambda: not list((tmp_path / "tmp").glob("*/smtpstep-seats-*")))
        left = leftovers(tmp_path)
        assert left and all(sorted(p.name for p in (tmp_path / "tmp" / name).iterdir()) == [web.LOCK_NAME]
                            for name in left), left
    finally:
        sock.close()
        kill_quietly(pids)
    # The next `smtpstep web` finds the folder orphaned (its lock is free) and removes it.
    again = start_web(tmp_path)
    try:
        assert tab_leftovers(tmp_path)[0] == []  # but the new server's own shared server's folder
    finally:
        assert again.stop() == 0


def test_tabs_closed_while_their_built_in_server_starts_leave_no_temporary_files(tmp_path):
    served = start_web(tmp_path)
    pids: list[int] = []
    try:
        sockets = [open_tab(served.port)[0] for _ in range(4)]
        pids = served.wait_for_tabs(4)
        for sock in sockets:  # at 0.5, 1.0, 1.5 and 2 seconds: before, during and after the server starts
            time.sleep(0.5)
            drop(sock)
        assert_groups_end(pids)
        assert wait_until(lambda: len([line for line in served.lines if " ended (" in line]) == 4)
        assert wait_until(lambda: tab_leftovers(tmp_path) == ([], [])), tab_leftovers(tmp_path)
    finally:
        assert served.stop() == 0
        kill_quietly(pids)


def test_no_more_tabs_than_max_tabs(tmp_path):
    served = start_web(tmp_path, "--max-tabs", "1")
    try:
        first, status = open_tab(served.port)
        assert " 101 " in status
        served.wait_for_tabs(1)
        second, status = open_tab(served.port)
        assert " 503 " in status
        second.close()
        first.close()
        served.wait_for_line(r"^tab 1: app process \d+ ended")
        third, status = open_tab(served.port)  # a closed tab frees its place
        assert " 101 " in status
        served.wait_for_tabs(2)
        third.close()
    finally:
        assert served.stop() == 0
        kill_quietly(served.tab_pids())


def test_a_typed_password_reaches_the_tabs_in_their_environment_never_on_a_command_line(tmp_path):
    controller, terminal = os.openpty()

    def own_terminal() -> None:  # the prompt must come from this pty, never from the terminal running the tests
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [sys.executable, "-m", "smtpstep.app.cli", "web", "--port", "0", "--server", "127.0.0.1:2", "--user", "teacher"],
        cwd=tmp_path, env=environment(tmp_path), stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, preexec_fn=own_terminal,
    )
    os.close(terminal)
    pids: list[int] = []
    try:
        prompt = b""
        deadline = time.monotonic() + 20
        while b"Password for teacher" not in prompt and time.monotonic() < deadline:
            prompt += os.read(controller, 1024)
        assert b"Password for teacher" in prompt
        os.write(controller, b"typed-s3cret\n")
        assert process.stdout is not None
        port = None
        while (line := process.stdout.readline().decode()) and line.strip() != "ready":
            if match := re.search(r"127\.0\.0\.1:(\d+)/", line):
                port = int(match.group(1))
        assert port is not None
        sock, status = open_tab(port)
        assert " 101 " in status
        while not (started := re.search(r"app process (\d+) started", process.stdout.readline().decode())):
            pass  # the line that says tabs are forked may come first
        pids = [int(started.group(1))]
        for pid in (process.pid, pids[0]):
            assert b"typed-s3cret" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"SMTPSTEP_PASSWORD=typed-s3cret\0" in Path(f"/proc/{pids[0]}/environ").read_bytes()
        assert b"typed-s3cret" not in Path(f"/proc/{process.pid}/environ").read_bytes()
        sock.close()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        os.close(controller)
        kill_quietly(pids)


# --- Ending a process group -----------------------------------------------------------------------

_STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_an_app_that_ignores_quit_and_sigterm_is_killed_with_its_whole_group():
    async def scenario() -> tuple[str, int]:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", _STUBBORN, stdout=asyncio.subprocess.PIPE,
                                                       start_new_session=True)
        assert process.stdout is not None
        grandchild = int(await process.stdout.readline())
        # The guard only fails a hang: the two 0.3 s graces are the function's own.
        how = await asyncio.wait_for(web.end_process_group(process, grace=0.3, term_grace=0.3), CLEANUP_SECONDS)
        return how, grandchild

    how, grandchild = asyncio.run(scenario())
    assert how == "killed"
    assert wait_until(lambda: not Path(f"/proc/{grandchild}").exists() or
                      Path(f"/proc/{grandchild}/stat").read_text().split(") ")[1][0] == "Z")


def test_an_app_that_quits_is_left_to_quit():
    async def scenario() -> str:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass", start_new_session=True)
        return await web.end_process_group(process, grace=5, term_grace=1)

    assert asyncio.run(scenario()) == "quit"


_ORPHAN = """
import signal, sys, time
sys.path.insert(0, {repo!r})
from smtpstep.app.commands.web import end_when_stdin_hangs_up
signal.signal(signal.SIGTERM, signal.SIG_IGN if {stubborn} else (lambda *a: sys.exit(7)))
end_when_stdin_hangs_up(0.5)
print("watching", flush=True)
for line in sys.stdin:  # the app reads its stdin, as Textual's web driver does
    print("the app read:", line.strip(), flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize(("stubborn", "code"), [(False, 7), (True, 1)])
def test_a_tab_whose_stdin_hangs_up_asks_its_app_to_quit_then_exits_hard(stubborn, code):
    process = subprocess.Popen([sys.executable, "-c", _ORPHAN.format(repo=str(REPO), stubborn=stubborn)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline() == b"watching\n"
    for data in (b"data is read by the app", b"not by the watcher"):  # two round trips: the watcher had time
        process.stdin.write(data + b"\n")
        process.stdin.flush()
        assert process.stdout.readline() == b"the app read: " + data + b"\n"
    assert process.poll() is None  # data did not set the watcher off
    process.stdin.close()
    # 7: the SIGTERM it was sent ended the app; 1: the watcher's hard exit after the grace (SIGTERM ignored).
    assert process.wait(timeout=CLEANUP_SECONDS) == code


def test_cli_help_does_not_import_the_web_stack():
    code = ("import sys, smtpstep.app.cli; smtpstep.app.cli.build_parser(); "
            "print(sorted(m for m in ('textual', 'textual_serve', 'aiohttp') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.stdout.strip() == "[]", result.stderr

