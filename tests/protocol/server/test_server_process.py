"""The built-in server in a process of its own: what it reports over the pipe, a real STARTTLS + AUTH
session against it, a 25 MB message that stays out of the pipe, the relay and scenarios it runs, plain
sentences when it cannot start, and a child that never outlives its parent."""

from __future__ import annotations

import contextlib
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER, ReceivedMessage
from smtpstep.protocol.server.process import ServerProcess, ServerProcessError, StoredMessage
from tests.support.env import REPO
from tests.support.processes import ended, wait_for, wait_until_ended

MESSAGE = b"From: student@client.smtpstep.test\r\nTo: teacher@example.test\r\nSubject: hi\r\n\r\nHello.\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(maildir=tmp_path / "maildir", log_path=tmp_path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _received(server: ServerProcess) -> threading.Event:
    arrived = threading.Event()
    server.on_received = lambda record: arrived.set()
    return arrived


def _send(server: ServerProcess, message: bytes = MESSAGE) -> str:
    """A real STARTTLS + AUTH session over the submission listener; the "queued as" key."""
    context = ssl.create_default_context(cadata=server.ca_pem.decode("ascii"))
    with smtplib.SMTP("127.0.0.1", server.port_for("starttls"), timeout=120) as client:
        client.starttls(context=context)
        client.login(DEMO_USER, DEMO_PASSWORD)
        client.mail("student@client.smtpstep.test")
        client.rcpt("teacher@example.test")
        code, reply = client.data(message)
    assert code == 250, reply
    return reply.decode().rpartition("queued as ")[2]


def test_the_child_reports_its_ports_and_ca_and_serves_starttls_and_auth(server: ServerProcess) -> None:
    assert server.pid is not None and server.pid != os.getpid() and not ended(server.pid)
    ports = server.ports
    assert len(set(ports.values())) == 3 and all(ports.values())
    assert server.ca_path.read_bytes() == server.ca_pem and server.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    described = "\n".join(server.describe())
    assert f"127.0.0.1:{ports['submission']}" in described and str(server.ca_path) in described
    arrived = _received(server)

    key = _send(server)

    assert arrived.wait(30), "no received event"
    (record,) = server.received
    assert isinstance(record, StoredMessage)
    assert (record.key, record.mail_from, record.rcpt_tos) == (key, "student@client.smtpstep.test",
                                                               ("teacher@example.test",))
    assert (record.listener, record.tls, record.auth_user) == ("submission", True, DEMO_USER)
    on_disk = (server.maildir_path / "new" / key).read_bytes()
    assert record.stored == on_disk and record.original_content == MESSAGE
    assert record.stored_size == len(on_disk) and on_disk[record.trace_size:] == MESSAGE
    assert record.line_count == on_disk.count(b"\r\n")
    assert record.head(2) == on_disk[:on_disk.index(b"\r\n", on_disk.index(b"\r\n") + 2) + 2]


def test_a_stored_record_reads_like_the_in_process_one(server: ServerProcess) -> None:
    # The server side pane and `run --lesson` show either kind through the same attributes.
    arrived = _received(server)
    _send(server)
    assert arrived.wait(30)
    (record,) = server.received
    same = ReceivedMessage(key=record.key, mail_from=record.mail_from, rcpt_tos=record.rcpt_tos,
                           original_content=record.original_content, stored=record.stored,
                           listener=record.listener, tls=record.tls, auth_user=record.auth_user)
    for lines in (0, 1, 3, 50):
        assert record.head(lines) == same.head(lines)
    assert (record.trace_size, record.line_count) == (same.trace_size, same.line_count)


def test_a_message_a_mail_reader_moved_to_cur_is_still_found(server: ServerProcess) -> None:
    arrived = _received(server)
    key = _send(server)
    assert arrived.wait(30)
    maildir = server.maildir_path
    (maildir / "new" / key).rename(maildir / "cur" / f"{key}:2,S")
    (record,) = server.received
    assert record.original_content == MESSAGE


def test_a_25_mb_message_crosses_the_pipe_as_a_few_hundred_bytes(server: ServerProcess) -> None:
    line = b"The quick brown fox jumps over the lazy dog while the class watches each SMTP step.\r\n"
    body = b"Subject: big\r\n\r\n" + line * (25 * 1024 * 1024 // len(line))
    arrived = _received(server)
    before = server.pipe_bytes

    _send(server, body)

    assert arrived.wait(60)
    crossed = server.pipe_bytes - before
    assert 0 < crossed < 2000, crossed
    (record,) = server.received
    assert not any(isinstance(value, bytes) for value in vars(record).values())  # facts and a file name only
    on_disk = (server.maildir_path / "new" / record.key).read_bytes()
    assert record.stored_size == len(on_disk) and on_disk[record.trace_size:] == body
    assert record.line_count == on_disk.count(b"\r\n")
    wanted = on_disk[:record.trace_size].count(b"\r\n") + 2  # the trace fields, the Subject, the blank line
    assert record.head(wanted) == on_disk[:record.trace_size] + b"Subject: big\r\n\r\n"


def test_a_relay_in_the_child_strips_starttls_and_says_what_it_changed(server: ServerProcess) -> None:
    told = threading.Event()
    relay = server.start_relay(server.port_for("starttls"), on_tamper=lambda text: told.set())
    assert relay.port not in server.ports.values()
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        code, _ = client.ehlo()
        assert code == 250 and not client.has_extn("starttls")
    assert told.wait(30)
    assert any("deleted “250-STARTTLS”" in line for line in relay.tampering)
    relay.stop()
    wait_for(lambda: _refused(relay.port), what="the relay's port to close")
    with pytest.raises(ServerProcessError, match="own listeners"):
        server.start_relay(9)  # discard: not one of the server's listeners


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return True
    return False


def test_a_scenario_switch_reaches_the_child(server: ServerProcess) -> None:
    server.set_scenario("greylisting")
    assert server.scenario == "greylisting" and any("greylist" in line for line in server.describe())
    with smtplib.SMTP("127.0.0.1", server.port_for("none"), timeout=30) as client:
        client.ehlo()
        client.mail("student@client.smtpstep.test")
        code, _ = client.rcpt("teacher@example.test")
    assert code == 451
    with pytest.raises(ServerProcessError, match="scenario must be one of"):
        server.set_scenario("no-such-scenario")


def test_an_unknown_scenario_is_one_plain_sentence_and_leaves_no_process(tmp_path: Path) -> None:
    server = ServerProcess(scenario="no-such-scenario", maildir=tmp_path / "maildir")
    with pytest.raises(ServerProcessError) as raised:
        server.start()
    text = str(raised.value)
    assert "no-such-scenario" in text and "greylisting" in text and "\n" not in text and "Traceback" not in text
    assert server.pid is not None
    wait_until_ended(server.pid)


def test_a_port_in_use_is_said_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess(plain_port=port, maildir=tmp_path / "maildir")
        with pytest.raises(ServerProcessError) as raised:
            server.start()
    assert raised.value.port_in_use
    assert str(raised.value) == f"port {port} on 127.0.0.1 is already in use"
    assert server.pid is not None
    wait_until_ended(server.pid)


def test_stop_ends_the_child_and_removes_its_ca_folder(tmp_path: Path) -> None:
    server = ServerProcess(maildir=tmp_path / "maildir")
    server.start()
    folder, pid = server.ca_path.parent, server.pid
    assert folder.is_dir() and pid is not None
    threads = {thread.name for thread in threading.enumerate()}
    assert "smtpstep-server-pipe" in threads

    server.stop()

    assert not folder.exists() and ended(pid) and not server.is_running
    assert "smtpstep-server-pipe" not in {thread.name for thread in threading.enumerate()}
    server.stop()  # again: nothing to do


def test_the_childs_output_goes_to_the_log_file_never_the_terminal(server: ServerProcess, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert os.readlink(f"/proc/{server.pid}/fd/2") == str(log)
    assert os.readlink(f"/proc/{server.pid}/fd/1") == str(log)  # a stray print cannot reach the pipe either


def test_the_child_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    # PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: a worker thread calls start()
    # in the app and ends at once, so the fork must not be that thread's.
    server = ServerProcess(maildir=tmp_path / "maildir")
    worker = threading.Thread(target=server.start)
    worker.start()
    worker.join(120)
    assert not worker.is_alive() and server.is_running
    try:
        _send(server)
        assert server.pid is not None and not ended(server.pid)
    finally:
        server.stop()


PARENT = """
import os, sys, time
from pathlib import Path
from smtpstep.protocol.server.process import ServerProcess
server = ServerProcess(maildir=Path(sys.argv[1]))
server.start()
keeper = 0
if sys.argv[2] == "hold-pipe":
    # A forked copy of this process keeps both ends of the pipe open: only PR_SET_PDEATHSIG can end the child.
    keeper = os.fork()
    if keeper == 0:
        time.sleep(120)
        os._exit(0)
print(server.pid, keeper, server.ca_path.parent, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("mode", ["plain", pytest.param("hold-pipe", marks=pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"))])
def test_the_child_dies_when_its_parent_is_killed_with_sigkill(tmp_path: Path, mode: str) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "maildir"), mode], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(temp)})
    keeper = 0
    try:
        assert parent.stdout is not None
        child, keeper, folder = parent.stdout.readline().split()
        child_pid, keeper = int(child), int(keeper)
        assert not ended(child_pid) and Path(folder).is_dir()

        parent.send_signal(signal.SIGKILL)
        parent.wait(30)

        wait_until_ended(child_pid)
        wait_for(lambda: not Path(folder).exists(), what="the CA folder's removal")  # it stopped, not died
        assert not list(temp.glob("smtpstep-*"))
    finally:
        if parent.poll() is None:
            parent.kill()
        if keeper:
            with contextlib.suppress(OSError):
                os.kill(keeper, signal.SIGKILL)
