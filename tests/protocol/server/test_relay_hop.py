"""The relaying scenario's second hop: the submission server's own SMTP session to the receiving MX, shown
byte for byte on the server side; the Received chain and the Return-Path at delivery; the bounce for a
recipient the MX refuses; a hop that cannot connect leaves the message queued; notes cross the pipe."""

from __future__ import annotations

import datetime
import email
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpstep.app.session.lesson_view import server_lines
from smtpstep.protocol.dsn_parameters import DsnRecipient, DsnRequest
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER, ServerNote
from smtpstep.protocol.server.server import LocalServer

MESSAGE = (b"From: Student <student@client.smtpstep.test>\r\nTo: teacher@example.test\r\nSubject: two hops\r\n\r\n"
           b"Hello.\r\n.A line that starts with a dot\r\n")


class Recorder:
    """A TCP proxy for one connection that keeps every byte each way (what crossed the wire)."""

    def __init__(self, upstream: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream = upstream
        self.sent = bytearray()
        """Client to server."""
        self.received = bytearray()
        """Server to client."""
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        inside, _ = self.listener.accept()
        outside = socket.create_connection(("127.0.0.1", self.upstream))
        pumps = [threading.Thread(target=self._pump, args=(inside, outside, self.sent)),
                 threading.Thread(target=self._pump, args=(outside, inside, self.received))]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        inside.close()
        outside.close()
        self.done.set()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, kept: bytearray) -> None:
        while data := source.recv(65536):
            kept += data
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def relaying(threaded_server: LocalServer) -> Iterator[LocalServer]:
    threaded_server.set_scenario("relaying")
    yield threaded_server


def submit(server: LocalServer, rcpts: list[str], sender: str = "student@client.smtpstep.test",
           mail_options: tuple[str, ...] = (), rcpt_options: dict[str, tuple[str, ...]] | None = None) -> str:
    """STARTTLS, AUTH and one message on the submission listener; the reply to the final dot."""
    context = ssl.create_default_context(cadata=server.ca_pem.decode("ascii"))
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=60) as client:
        client.ehlo("client.smtpstep.test")
        client.starttls(context=context)
        client.ehlo("client.smtpstep.test")
        client.login(DEMO_USER, DEMO_PASSWORD)
        if mail_options:
            assert client.has_extn("dsn")
        code, reply = client.mail(sender, list(mail_options))
        assert code == 250, reply
        for rcpt in rcpts:
            code, reply = client.rcpt(rcpt, list((rcpt_options or {}).get(rcpt, ())))
            assert code == 250, reply
        code, reply = client.data(MESSAGE)
    assert code == 250, reply
    return reply.decode()


def notes(server: LocalServer) -> list[ServerNote]:
    return [record for record in server.received if isinstance(record, ServerNote)]


def messages(server: LocalServer) -> list:
    return [record for record in server.received if not isinstance(record, ServerNote)]


def test_the_relay_hops_lines_in_the_server_view_are_the_bytes_that_crossed_the_wire(relaying: LocalServer):
    recorder = Recorder(relaying.ports["plain"])
    relaying.hooks.mx_port = recorder.port  # type: ignore[attr-defined]
    submit(relaying, ["teacher@example.test"])
    assert recorder.done.wait(30)
    (note,) = notes(relaying)
    shown = server_lines(note)
    sent = [line.text[3:] for line in shown if line.text.startswith("C: ")]
    got = [line.text[3:] for line in shown if line.text.startswith("S: ")]
    assert "".join(line + "\r\n" for line in sent).encode() == bytes(recorder.sent)
    assert "".join(line + "\r\n" for line in got).encode() == bytes(recorder.received)
    assert sent[0] == "EHLO mail.smtpstep.test" and sent[-1] == "QUIT" and "..A line that starts with a dot" in sent
    assert [line.text for line in shown if line.text.startswith("DNS: ")] == [
        "DNS: MX example.test? → 10 mx.example.test.",
        "DNS: A mx.example.test? → 127.0.0.1"]  # the same lookups as the client's DNS steps: A found, no AAAA asked


def test_the_delivered_message_has_the_return_path_over_one_received_field_per_hop(relaying: LocalServer):
    submit(relaying, ["teacher@example.test"])
    queued, delivered = messages(relaying)
    assert [getattr(record, "listener", "note") for record in relaying.received] == ["submission", "note", "plain"]
    assert not queued.stored.startswith(b"Return-Path:")  # only final delivery adds it (RFC 5321 §4.4)
    header = delivered.stored.split(b"\r\n\r\n", 1)[0].decode()
    fields = [line.split(":", 1)[0] for line in header.split("\r\n") if not line.startswith("\t")]
    assert fields[:3] == ["Return-Path", "Received", "Received"]
    assert header.startswith("Return-Path: <student@client.smtpstep.test>\r\nReceived: from mail.smtpstep.test")
    assert "by mx.example.test" in header.split("Received:")[1] and "by mail.smtpstep.test" in header.split("Received:")[2]
    assert delivered.stored.endswith(queued.stored)  # the MX put its fields on top of the queued copy


def test_a_recipient_the_mx_refuses_comes_back_to_the_sender_as_an_rfc3464_report(relaying: LocalServer):
    submit(relaying, ["teacher@example.test", "gone@example.test"])
    queued, delivered, bounce = messages(relaying)
    assert delivered.rcpt_tos == ("teacher@example.test",)
    assert bounce.mail_from == "<>" and bounce.rcpt_tos == ("student@client.smtpstep.test",)
    assert bounce.stored.startswith(b"Return-Path: <>\r\n")
    report = email.message_from_bytes(bounce.original_content)
    assert report.get_content_type() == "multipart/report" and report.get_param("report-type") == "delivery-status"
    human, status, returned = report.get_payload()
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_recipient = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; mail.smtpstep.test"
    assert per_recipient["Final-Recipient"] == "rfc822; gone@example.test"
    assert (per_recipient["Action"], per_recipient["Status"]) == ("failed", "5.1.1")
    assert per_recipient["Remote-MTA"] == "dns; mx.example.test"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 5.1.1 <gone@example.test>: no such mailbox here"
    assert returned.get_content_type() == "text/rfc822-headers"
    assert "Subject: two hops" in returned.get_payload()
    (note,) = notes(relaying)
    assert ("server", "550 5.1.1 <gone@example.test>: no such mailbox here") in note.lines


def test_a_hop_that_cannot_connect_leaves_the_message_queued_and_sends_a_delay_notice(relaying: LocalServer):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    relaying.hooks.mx_port = port  # type: ignore[attr-defined]
    reply = submit(relaying, ["teacher@example.test"])
    queued, notice = messages(relaying)
    assert queued.key in reply and Path(relaying.maildir_path / "new" / queued.key).read_bytes() == queued.stored
    per_recipient = email.message_from_bytes(notice.original_content).get_payload()[1].get_payload()[1]
    assert per_recipient["Action"] == "delayed" and per_recipient["Status"].startswith("4.")
    (note,) = notes(relaying)
    assert ("note", f"new/{queued.key} stays queued; this server does not retry on its own.") in note.lines
    assert any(kind == "note" and "refused" in text for kind, text in note.lines)  # why, in plain words


def test_a_message_from_the_null_sender_is_relayed_but_never_bounced(relaying: LocalServer):
    submit(relaying, ["gone@example.test"], sender="")
    assert len(messages(relaying)) == 1  # the queued message, and no bounce
    (note,) = notes(relaying)
    assert ("client", "MAIL FROM:<>") in note.lines
    assert note.lines[-1] == ("note", "The message had a null reverse-path: no notice about it is sent (RFC 5321 §6.1).")


def test_a_note_from_the_servers_process_arrives_before_the_message_it_delivered(tmp_path: Path):
    from smtpstep.protocol.server.process import ServerProcess, StoredMessage

    server = ServerProcess(scenario="relaying", maildir=tmp_path / "maildir", log_path=tmp_path / "server.log")
    arrived = threading.Event()
    server.on_received = lambda record: arrived.set() if isinstance(record, ServerNote) else None
    server.start()
    try:
        submit(server, ["teacher@example.test"])  # type: ignore[arg-type]
        assert arrived.wait(30)
        kinds = [type(record) for record in server.received]
        assert kinds == [StoredMessage, ServerNote, StoredMessage]
        assert server.received[1].before == server.received[2].key
        assert ("client", "RCPT TO:<teacher@example.test>") in server.received[1].lines
    finally:
        server.stop()


def test_a_notes_report_stays_under_the_pipes_line_limit_whatever_it_holds():
    import json

    from smtpstep.protocol.server.pipe import MAX_LINE

    note = ServerNote("hop-x", tuple(("client", "é" * 5000) for _ in range(1000)))
    report = note.report()
    assert len(json.dumps(report)) < MAX_LINE
    assert report["lines"][-1] == ["note", "… the rest of this note was too long to report"]
    assert ServerNote.from_report(report).lines[0] == ("client", "é" * 1000)


def test_a_domain_dns_gives_nowhere_to_deliver_bounces_with_5_1_2_and_no_session(relaying: LocalServer):
    submit(relaying, ["friend@bank.test"])
    queued, bounce = messages(relaying)
    per_recipient = email.message_from_bytes(bounce.original_content).get_payload()[1].get_payload()[1]
    assert (per_recipient["Action"], per_recipient["Status"]) == ("failed", "5.1.2")
    assert per_recipient["Diagnostic-Code"] is None  # no server said anything
    (note,) = notes(relaying)
    assert [kind for kind, _ in note.lines].count("client") == 0
    assert ("dns", "DNS: MX bank.test? → no MX record (NOERROR, empty answer)") in note.lines


async def test_the_senders_dsn_parameters_reach_the_bounce():
    from smtpstep.protocol.server.facts import ReceivedMessage
    from smtpstep.protocol.server.relay_hop import relay_message

    delivered: list[ReceivedMessage] = []

    async def deliver(record: ReceivedMessage) -> str:
        delivered.append(record)
        return "250 2.0.0 OK: queued as bounce-1"

    queued = ReceivedMessage(key="q1", mail_from="a@client.smtpstep.test", rcpt_tos=("x@bank.test",),
                             original_content=MESSAGE, stored=MESSAGE, listener="submission", tls=True, auth_user="a")
    outcome = await relay_message(queued, mx_port=1, deliver=deliver, dsn=DsnRequest(ret="FULL", envid="QQ314159"),
                                  dsn_recipients=[DsnRecipient("x@bank.test", None, ("rfc822", "X@bank.test"))],
                                  when=datetime.datetime(2026, 12, 5, tzinfo=datetime.timezone.utc))
    report = email.message_from_bytes(delivered[0].original_content)
    per_message, per_recipient = report.get_payload()[1].get_payload()
    assert per_message["Original-Envelope-Id"] == "QQ314159"
    assert per_recipient["Original-Recipient"] == "rfc822;X@bank.test"
    assert report.get_payload()[2].get_content_type() == "message/rfc822"
    assert outcome.note.before == "bounce-1"


def test_dsn_is_offered_on_submission_not_by_the_mx_and_the_senders_parameters_shape_the_reports(
        relaying: LocalServer):
    with smtplib.SMTP("127.0.0.1", relaying.ports["plain"], timeout=60) as mx:
        mx.ehlo("mx.client.test")
        assert not mx.has_extn("dsn")  # the MX could send no "delivered" report, so it offers none
    submit(relaying, ["teacher@example.test", "gone@example.test", "former@example.test"],
           mail_options=("RET=HDRS", "ENVID=lesson+2B1"),
           rcpt_options={"teacher@example.test": ("NOTIFY=SUCCESS",),
                         "gone@example.test": ("NOTIFY=FAILURE", "ORCPT=rfc822;old-name@example.test"),
                         "former@example.test": ("NOTIFY=NEVER",)})
    queued, delivered, report = messages(relaying)
    assert delivered.rcpt_tos == ("teacher@example.test",)
    per_message, *groups = email.message_from_bytes(report.original_content).get_payload()[1].get_payload()
    assert per_message["Original-Envelope-Id"] == "lesson+1"  # xtext decoded (RFC 3461 §4.4)
    by_recipient = {group["Final-Recipient"]: group for group in groups}
    assert set(by_recipient) == {"rfc822; gone@example.test", "rfc822; teacher@example.test"}  # NEVER: none
    gone, teacher = by_recipient["rfc822; gone@example.test"], by_recipient["rfc822; teacher@example.test"]
    assert (gone["Action"], gone["Original-Recipient"]) == ("failed", "rfc822;old-name@example.test")
    assert (teacher["Action"], teacher["Status"]) == ("relayed", "2.0.0")  # RFC 3461 §5.2.2
    (note,) = notes(relaying)
    assert any("<former@example.test>" in text and "NOTIFY" in text for kind, text in note.lines if kind == "note")


def test_notify_never_means_no_bounce_at_all(relaying: LocalServer):
    submit(relaying, ["gone@example.test"], rcpt_options={"gone@example.test": ("NOTIFY=NEVER",)})
    assert len(messages(relaying)) == 1  # the queued message only
