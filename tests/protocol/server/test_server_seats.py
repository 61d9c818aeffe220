"""One built-in server process shared by the tabs of a web server: each tab a seat of its own (listeners,
Maildir, scenario, relays), its reports on its own connection only, a seat that dies is a closed
connection, and nothing is left when the process stops."""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.process import ServerProcess, ServerProcessError, StoredMessage
from smtpstep.protocol.server.seat_client import SeatClient, connectable
from tests.support.processes import ended, wait_for

MESSAGE = b"From: student@client.smtpstep.test\r\nTo: teacher@example.test\r\nSubject: hi\r\n\r\nHello.\r\n"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(shared=True, state_dir=tmp_path_factory.mktemp("shared"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seats(shared: ServerProcess) -> Iterator[list[tuple[SeatClient, list[StoredMessage], threading.Event]]]:
    made = []
    for _ in range(2):
        got: list[StoredMessage] = []
        arrived = threading.Event()
        seat = SeatClient(str(shared.seats_socket), on_received=lambda record, got=got, arrived=arrived: (
            got.append(record), arrived.set()))
        seat.start()
        made.append((seat, got, arrived))
    try:
        yield made
    finally:
        for seat, _, _ in made:
            seat.stop()


def _send(seat: ServerProcess) -> None:
    """A STARTTLS + AUTH session on the seat's submission listener, trusting the CA it was given."""
    context = ssl.create_default_context(cadata=seat.ca_pem.decode("ascii"))
    with smtplib.SMTP("127.0.0.1", seat.port_for("starttls"), timeout=60) as client:
        client.starttls(context=context)
        client.login(DEMO_USER, DEMO_PASSWORD)
        assert client.sendmail("student@client.smtpstep.test", ["teacher@example.test"], MESSAGE) == {}


def test_each_seat_has_its_own_listeners_and_maildir_and_hears_of_its_own_mail_only(shared, seats) -> None:
    (first, first_got, arrived), (second, second_got, _) = seats
    assert not set(first.ports.values()) & set(second.ports.values())
    assert first.maildir_path != second.maildir_path
    assert first.ca_pem == second.ca_pem == shared.ca_pem  # one CA: the same trust anchor for every tab
    assert first.pid is None and shared.pid is not None and not ended(shared.pid)  # no process of its own
    _send(first)
    assert arrived.wait(30)
    assert [record.mail_from for record in first.received] == ["student@client.smtpstep.test"]
    assert first_got[0].original_content.endswith(b"Hello.\r\n")
    assert first_got[0].maildir == first.maildir_path
    assert second.received == [] and second_got == []
    assert not list(second.maildir_path.rglob("*.*"))  # nothing in the other seat's Maildir
    assert any(str(first.port_for("starttls")) in line for line in first.describe())


def test_a_seat_has_its_own_scenario_and_relays_in_front_of_its_own_listeners_only(seats) -> None:
    (first, _, _), (second, _, _) = seats
    first.set_scenario("greylisting")
    assert (first.scenario, second.scenario) == ("greylisting", "normal")
    with smtplib.SMTP("127.0.0.1", second.port_for("none"), timeout=60) as client:  # the other seat: no greylist
        assert client.sendmail("a@client.smtpstep.test", ["b@example.test"], MESSAGE) == {}
    relay = first.start_relay(first.port_for("starttls"))
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=60) as client:
        client.ehlo()
        assert not client.has_extn("starttls")  # the man in the middle took it away
    with pytest.raises(ServerProcessError, match="only be put in front of the server's own listeners"):
        first.start_relay(second.port_for("starttls"))


def test_a_tab_that_dies_is_a_closed_connection_its_seat_goes_and_the_others_go_on(shared, seats) -> None:
    (other, _, arrived), _ = seats
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # a tab's seat, held by a raw connection
    sock.connect(connectable(str(shared.seats_socket)))
    sock.sendall(b'{"do": "open", "scenario": "normal"}\n')
    ready = json.loads(sock.makefile("rb").readline())
    folder = Path(ready["maildir"]).parent
    assert ready["event"] == "ready" and folder.is_dir()
    sock.close()  # what the kernel does when the tab's process is killed: no goodbye
    wait_for(lambda: not folder.exists(), what="the dead tab's seat folder gone")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ready["ports"]["plain"]), timeout=5).close()
    _send(other)  # the shared server and the other seat live on
    assert arrived.wait(30)


def test_a_connection_that_does_not_open_a_seat_is_closed_and_harms_no_one(shared, seats) -> None:
    (seat, _, arrived), _ = seats
    for garbage in (b"\xff\xfe not json\n", b'["open"]\n' + b"x" * 70_000 + b"\n", b'{"do": "relay"}\n'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(connectable(str(shared.seats_socket)))
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            assert sock.makefile("rb").read() == b""  # no seat, no report: just closed
    _send(seat)
    assert arrived.wait(30)


def test_stopping_the_shared_server_closes_every_seat_and_removes_its_folder(tmp_path: Path) -> None:
    server = ServerProcess(shared=True, state_dir=tmp_path)
    server.start()
    seat = SeatClient(str(server.seats_socket))
    seat.start()
    assert seat.is_running and list(tmp_path.iterdir())
    server.stop()
    assert ended(server.pid)
    assert list(tmp_path.iterdir()) == []
    seat.stop()
    with pytest.raises(ServerProcessError, match="cannot be reached"):
        SeatClient(str(server.seats_socket)).start()
