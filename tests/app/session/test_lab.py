"""The lab: the built-in server it starts runs in a process of its own, a lesson's man in the middle runs
there too, and a stop (even one that comes while the server is still starting) leaves no process behind."""

from __future__ import annotations

import smtplib
import ssl
import threading
from pathlib import Path

from smtpstep.app.session.lab import Lab
from smtpstep.app.session.settings import SessionSettings
from smtpstep.protocol.lessons.loader import load
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.process import ServerProcess
from tests.support.processes import ended, server_children, wait_for, wait_until_ended

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user=DEMO_USER,
                          password=DEMO_PASSWORD)


def test_the_lab_runs_its_server_in_a_process_of_its_own_and_stop_ends_it(tmp_path: Path) -> None:
    stored = threading.Event()
    lab = Lab(log_path=tmp_path / "server.log", on_received=lambda record: stored.set())
    lab.start()
    try:
        server = lab.server
        assert isinstance(server, ServerProcess) and server.pid in server_children()
        target = lab.target(BUILTIN)
        assert (target.port, target.ca_pem) == (server.port_for("starttls"), server.ca_pem)
        context = ssl.create_default_context(cadata=target.ca_pem.decode("ascii"))
        with smtplib.SMTP(target.host, target.port, timeout=60) as client:
            client.starttls(context=context)
            client.login(DEMO_USER, DEMO_PASSWORD)
            client.sendmail("student@client.smtpstep.test", ["teacher@example.test"], b"Subject: x\r\n\r\nhi\r\n")
        assert stored.wait(30)
        assert [record.auth_user for record in lab.received] == [DEMO_USER]
        folder, pid = server.ca_path.parent, server.pid
    finally:
        lab.stop()
    assert lab.server is None and ended(pid) and not folder.exists()
    assert server_children() == []


def test_a_stop_while_the_server_starts_leaves_no_process() -> None:
    lab = Lab()
    starting = threading.Thread(target=lab.start)
    starting.start()
    wait_for(lambda: server_children() != [], what="the server's process to be started")
    (pid,) = server_children()

    lab.stop()  # what quitting the app does while the server is still importing

    starting.join(60)
    assert not starting.is_alive() and lab.server is None
    wait_until_ended(pid)
    assert server_children() == []


def test_a_lesson_part_with_a_man_in_the_middle_gets_a_relay_in_the_servers_process() -> None:
    lesson = load("starttls-stripping")
    settings = BUILTIN.for_lesson(lesson, 0)
    assert lesson.part(0).session.mitm == "strip-starttls"
    lab = Lab()
    lab.start(lesson.scenario)
    try:
        target = lab.target(settings)
        relay = lab.relay
        assert relay is not None and target.port == relay.port
        assert relay.port not in lab.server.ports.values()  # type: ignore[union-attr]
        told = threading.Event()
        relay.on_tamper = lambda text: told.set()
        with smtplib.SMTP(target.host, target.port, timeout=60) as client:
            client.ehlo()
            assert not client.has_extn("starttls")
        assert told.wait(30) and relay.tampering

        lab.target(BUILTIN)  # a session without one: the relay goes
        assert lab.relay is None
    finally:
        lab.stop()
    assert server_children() == []


def test_in_a_web_tab_the_lab_takes_a_seat_in_the_shared_server_in_the_lessons_scenario(monkeypatch, tmp_path) -> None:
    from smtpstep.app.session import lab as lab_module
    from smtpstep.protocol.server.seat_client import SEATS_ENV, SeatClient

    shared = ServerProcess(shared=True, state_dir=tmp_path)
    shared.start()
    try:
        monkeypatch.setenv(SEATS_ENV, str(shared.seats_socket))
        lab_module.take_seat_early()  # as a tab's process starts, before its app
        lab = Lab()
        lab.start("greylisting")
        try:
            assert isinstance(lab.server, SeatClient) and lab.server.scenario == "greylisting"
            assert lab.server.pid is None and server_children() == [shared.pid]  # no process of its own
        finally:
            lab.stop()
    finally:
        shared.stop()


def test_a_web_tab_whose_shared_server_is_gone_starts_a_server_process_of_its_own(monkeypatch, tmp_path) -> None:
    from smtpstep.protocol.server.seat_client import SEATS_ENV, SeatClient

    monkeypatch.setenv(SEATS_ENV, "@smtpstep-seats-nobody-listens-here")
    lab = Lab(log_path=tmp_path / "server.log")
    lab.start()
    try:
        assert isinstance(lab.server, ServerProcess) and not isinstance(lab.server, SeatClient)
        assert lab.server.pid in server_children()
    finally:
        lab.stop()
