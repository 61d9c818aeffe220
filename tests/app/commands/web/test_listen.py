"""``smtpstep web --listen`` is safe to offer: who may ask for the page, what a page may send, what a tab may do.

Real servers on a wildcard address (``--listen 0.0.0.0 --port 0``), reached over loopback: the Host header is
checked in every mode (a rebinding name and a forged Host get 403), every WebSocket message is bounded (a
``resize`` to 10000x10000 reaches the app clamped), and a tab's exports stay in its own folder and reach the
browser as a download, by name only. The saving rules themselves, and the connection screen of a confined
tab, are tested in-process against ``smtpstep.app.session.confinement``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from smtpstep.app.commands import web
from smtpstep.app.session import confinement
from smtpstep.app.session.confinement import Confinement, SaveRefused, free_path, save_path, write_new
from tests.support.web import CURSOR, Frames, drawn, kill_quietly, open_socket, send_text, start_web

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc")


def get(port: int, host: str | None) -> int:
    """The status of ``GET /`` on loopback with ``host`` as the Host header (None: no Host header at all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n" if host is not None else "GET / HTTP/1.0\r\n\r\n"
        sock.sendall(head.encode())
        return int(sock.recv(4096).split(b" ", 2)[1])


def listening(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return start_web(tmp_path, "--listen", "0.0.0.0", *args, url=r"open http://THIS-MACHINE:(\d+)/")


# --- Who may ask ------------------------------------------------------------------------------------------


def test_with_listen_a_forged_host_and_a_rebinding_name_get_403(tmp_path: Path) -> None:
    served = listening(tmp_path, "--allow-host", "Classroom.Test")
    try:
        port = served.port
        assert get(port, f"127.0.0.1:{port}") == 200  # an address typed into the browser
        assert get(port, f"classroom.test:{port}") == 200  # --allow-host, any case
        assert get(port, f"classroom.test.:{port}") == 200
        for forged in (f"rebound.attacker.example:{port}", "evil.example", f"classroom.test.evil.example:{port}",
                       f"localhost:{port}", f"[::1]:{port}", "", f"127.0.0.1:{port}@evil.example", None):
            assert get(port, forged) == 403, forged
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(served.url, headers={"Host": "rebound.example"}), timeout=10)
        assert refused.value.code == 403
        assert "classroom.test" in refused.value.read().decode()
        assert served.tab_pids() == []
    finally:
        assert served.stop() == 0


def test_the_listen_warning_says_what_a_tab_can_do(tmp_path: Path) -> None:
    served = listening(tmp_path)
    try:
        warning = " ".join(served.err_lines)
        assert "warning: serving on 0.0.0.0:" in warning
        assert "its own built-in server (no other server: --allow-servers would allow it)" in warning
        assert "into a folder of its own (offered to the browser as downloads" in warning
        assert "demo password is public" in warning and "answers to this machine's IP addresses" in warning
    finally:
        assert served.stop() == 0
    served = listening(tmp_path, "--allow-servers")
    try:
        assert "connect from this machine to any SMTP server it names (--allow-servers)" in " ".join(served.err_lines)
    finally:
        assert served.stop() == 0


def test_allow_host_takes_names_and_addresses_only(capsys: pytest.CaptureFixture[str]) -> None:
    from smtpstep.app import cli

    assert cli.main(["web", "--listen", "0.0.0.0", "--allow-host", "not a/name"]) == 2
    assert "“not a/name” is not a host name" in capsys.readouterr().err


# --- What a page may send ---------------------------------------------------------------------------------


def export_as(sock: socket.socket, frames: Frames, name: str) -> None:
    """Key E, then ``name`` typed over the suggested one (it is selected) once the dialog shows, then Enter
    once the name is drawn: every key goes to the field that is there to take it."""
    frames.output.clear()
    send_text(sock, json.dumps(["stdin", "E"]))
    frames.read_until(lambda f: b"Enter to accept" in drawn(f), "the export dialog")
    frames.output.clear()
    send_text(sock, json.dumps(["stdin", name]))
    frames.read_until(lambda f: name.encode()[-12:] in drawn(f), f"{name} typed")
    frames.output.clear()
    send_text(sock, json.dumps(["stdin", "\r"]))


def test_a_resize_from_the_page_is_clamped_like_the_query_string(tmp_path: Path) -> None:
    served = start_web(tmp_path)
    pids: list[int] = []
    sock = open_socket(served.port, "width=5000&height=5000")  # the query string: clamped since it came
    try:
        pids = served.wait_for_tabs(1)
        frames = Frames(sock)
        frames.read_until(lambda f: b" smtpstep " in f.output, "the first screen")
        rows = [int(row) for row, _ in CURSOR.findall(bytes(frames.output))]
        assert rows and max(rows) <= web.HEIGHT[2]
        send_text(sock, json.dumps(["resize", {"width": 10000, "height": 10000}]))
        for hostile in ('["resize", {"width": "x", "height": null}]', '["resize", [1, 2]]', '["stdin", 5]',
                        '{"not": "a list"}', "[" * 20000 + "]" * 20000, '["ping", "' + "p" * 1000 + '"]', "[]"):
            send_text(sock, hostile)  # each dropped, none passed on or fatal
        send_text(sock, json.dumps(["ping", "still there?"]))
        frames.read_until(lambda f: any("still there?" in t for t in f.texts), "the pong")
        assert json.loads(frames.texts[-1]) == ["pong", "still there?"]
        before = len(frames.output)
        send_text(sock, json.dumps(["stdin", "w"]))  # a key that redraws the wire log: the whole new size
        frames.read_until(lambda f: len(f.output) > before and any(
            int(col) > 900 for _, col in CURSOR.findall(bytes(f.output[before:]))), "a redraw at the new width")
        cells = CURSOR.findall(bytes(frames.output[before:]))
        assert max(int(row) for row, _ in cells) <= web.HEIGHT[2]
        assert max(int(col) for _, col in cells) <= web.WIDTH[2]
        rss = int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pids[0]}/status").read_text()).group(1)) * 1024
        assert rss < 400 * 1024 * 1024  # a 10000x10000 screen took 1.6 GB
        assert served.tab_pids() == pids  # the tab lives on
    finally:
        sock.close()
        assert served.stop() == 0
        kill_quietly(pids)


# --- What a tab may do ------------------------------------------------------------------------------------


def test_a_tabs_export_stays_in_its_folder_and_reaches_the_browser_as_a_download(tmp_path: Path) -> None:
    served = listening(tmp_path)
    pids: list[int] = []
    sock = open_socket(served.port)
    home = tmp_path / "home"
    try:
        pids = served.wait_for_tabs(1)
        frames = Frames(sock)
        frames.read_until(lambda f: b"Press space" in f.output, "the first screen")
        outside = [home / "notes.md", tmp_path / "escape.md", Path("/tmp") / f"smtpstep-escape-{os.getpid()}.md"]
        for name in ("~/notes.md", "../../escape.md", str(outside[2]), "..md"):
            export_as(sock, frames, name)
            # The refusal quotes the name: a toast of the one before may still be on screen.
            frames.read_until(lambda f: f"(“{name}” has".encode() in drawn(f), f"the refusal of {name}")
        assert not any(path.exists() for path in outside)
        export_as(sock, frames, "session.md")
        frames.read_until(lambda f: any("deliver_file_start" in t for t in f.texts), "the download")
        key = json.loads(next(t for t in frames.texts if "deliver_file_start" in t))[1]
        with urllib.request.urlopen(f"{served.url}download/{key}", timeout=20) as download:
            assert 'filename=session.md' in download.headers["Content-Disposition"]
            assert download.read().startswith(b"# smtpstep session")
        saved = list((tmp_path / "tmp").glob(f"{web.TAB_FOLDER_PREFIX}*/{web.FILES_FOLDER}/session.md"))
        assert len(saved) == 1
        # The same name again: asked first, and nothing is replaced on "no".
        saved[0].write_text("the first export, kept", encoding="utf-8")
        export_as(sock, frames, "session.md")
        frames.read_until(lambda f: b"Replace the file?" in drawn(f), "the question")
        send_text(sock, json.dumps(["stdin", "n"]))
        frames.read_until(lambda f: b"Not saved: the file is as it was" in drawn(f), "the answer")
        assert saved[0].read_text(encoding="utf-8") == "the first export, kept"
    finally:
        sock.close()
        assert served.stop() == 0
        kill_quietly(pids)


@pytest.fixture
def confined(tmp_path: Path):  # type: ignore[no-untyped-def]
    confinement.confine(Confinement(tmp_path / "tab" / "files"))
    yield tmp_path / "tab" / "files"
    confinement.confine(None)


def test_a_confined_name_is_a_file_name_in_the_tab_folder(confined: Path, tmp_path: Path) -> None:
    assert save_path("session.md", tmp_path / "elsewhere") == confined / "session.md"
    assert save_path("Lesson 3 - EHLO.svg", tmp_path) == confined / "Lesson 3 - EHLO.svg"
    for name in ("/etc/passwd", "~/notes.txt", "../x.md", "a/b.md", "a\\b.md", ".hidden.md", "x..md",
                 "x" * 101 + ".md", "semi;colon.md", 'quote".md', "new\nline.md", "\x1b]52;c;x\x07.md"):
        with pytest.raises(SaveRefused):
            save_path(name, tmp_path)
    assert confinement.servers_allowed() is False


def test_unconfined_a_name_is_a_path_as_before(tmp_path: Path) -> None:
    assert save_path("x.md", tmp_path) == tmp_path / "x.md"
    assert save_path(str(tmp_path / "abs.md"), Path("/nowhere")) == tmp_path / "abs.md"
    assert save_path("~/x.md", tmp_path) == Path.home() / "x.md"
    assert confinement.servers_allowed() is True


def test_no_file_is_replaced_without_asking(tmp_path: Path) -> None:
    path = tmp_path / "kept.md"
    write_new(path, "first")
    with pytest.raises(FileExistsError):
        write_new(path, "second")
    assert path.read_text() == "first"
    write_new(path, "asked, and yes", replace=True)
    assert path.read_text() == "asked, and yes"
    shot = tmp_path / "03-ehlo.svg"
    shot.write_text("one")
    assert free_path(shot) == tmp_path / "03-ehlo-2.svg"
    (tmp_path / "03-ehlo-2.svg").write_text("two")
    assert free_path(shot) == tmp_path / "03-ehlo-3.svg"


async def test_a_confined_tab_reaches_only_its_built_in_server(confined: Path) -> None:
    from textual.widgets import Input

    from smtpstep.app.screens.connection import ConnectionScreen
    from smtpstep.app.session.settings import SessionSettings
    from smtpstep.app.stepper_app import SmtpStepApp
    from tests.support.waiting import started

    app = SmtpStepApp(SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user=None,
                                      password=None))
    async with app.run_test(size=(100, 40)) as pilot:
        await started(app)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConnectionScreen)
        server, ca = screen.query_one("#server", Input), screen.query_one("#ca", Input)
        assert server.disabled and ca.disabled
        server.value = "smtp.example.com:25"  # as a page could, around the disabled field
        ca.value = "/etc/passwd"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen  # refused, still open
        error = str(screen.query_one("#error").render())
        assert "only to its built-in server" in error and "--allow-servers" in error
