"""The built-in server's options for pictures that must not change: a fixed clock for the Received field
and numbered queue IDs (``maildir.numbered_names``), as ``smtpstep shots`` runs it."""

from __future__ import annotations

import datetime
import smtplib
import threading
from pathlib import Path

from smtpstep.protocol.server.maildir import MaildirStore, numbered_names
from smtpstep.protocol.server.server import LocalServer

NOW = datetime.datetime(2026, 1, 12, 9, 0, tzinfo=datetime.timezone.utc)


def test_a_server_with_a_fixed_clock_and_numbered_names_says_and_stores_the_same_every_run(tmp_path: Path) -> None:
    replies, stored = [], []
    for run in range(2):
        server = LocalServer(maildir=tmp_path / f"maildir{run}", clock=lambda: NOW,
                             maildir_names=numbered_names(int(NOW.timestamp()), "mail.smtpstep.test"))
        server.start_in_thread()
        try:
            with smtplib.SMTP("127.0.0.1", server.ports["plain"], timeout=10) as client:
                client.ehlo("client.smtpstep.test")
                client.mail("student@client.smtpstep.test")
                client.rcpt("teacher@example.test")
                replies.append(client.data(b"Subject: fixed\r\n\r\nthe same\r\n"))
            stored.append(server.received[-1])
        finally:
            server.stop_thread()
    assert replies[0] == replies[1] == (250, b"2.0.0 OK: queued as 1768208400.M0P0Q1.mail.smtpstep.test")
    assert stored[0].stored == stored[1].stored
    assert b"for <teacher@example.test>; Mon, 12 Jan 2026 09:00:00 +0000" in stored[0].stored
    assert (tmp_path / "maildir0" / "new" / "1768208400.M0P0Q1.mail.smtpstep.test").is_file()


def test_numbered_names_are_unique_across_threads_and_skip_a_name_already_taken(tmp_path: Path) -> None:
    names = numbered_names(100, "host:with/odd")
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.extend(names() for _ in range(200))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 800
    assert all(name.endswith(r".host\072with\057odd") for name in seen)  # ":" would start Maildir flags

    store = MaildirStore(tmp_path / "md", names=numbered_names(100, "h"))
    store.open()
    (tmp_path / "md" / "new" / "100.M0P0Q1.h").write_bytes(b"someone else's")
    assert store.add(b"mine\r\n") == "100.M0P0Q2.h"
    assert (tmp_path / "md" / "new" / "100.M0P0Q1.h").read_bytes() == b"someone else's"
