"""The built-in server under concurrency: many writers, many sessions, one Maildir, nothing lost.

Deliveries run on several writer threads (``MAILDIR_WRITERS``) with the store's
own thread-safe names, set sessions up from a per-listener template, and read simple addresses
without the e-mail header parser. These tests fail if any of that loses or mixes up a message,
serializes the writers again, or makes a session differ from one aiosmtpd would have made.
Everything runs on real loopback sockets against the real aiosmtpd, writing a real Maildir.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import os
import re
import shutil
import smtplib
import ssl
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

from smtpstep.protocol.server import maildir as local_maildir
from smtpstep.protocol.server import session_setup, smtp_session
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.maildir import MaildirStore, unique_name
from smtpstep.protocol.server.server import LocalServer

HOST = "127.0.0.1"
NAME = re.compile(r"\d+\.M\d{1,6}P\d+Q\d+\.[^/:]+")
"""A Maildir name as the convention writes it: seconds.MmicrosecondsPpidQcount.host."""


def body(n: int) -> bytes:
    return f"Subject: message {n}\r\n\r\n".encode() + f"line of message {n}\r\n".encode() * 40


def stored_body(stored: bytes) -> bytes:
    """The message after the server's Return-Path and Received fields."""
    rest = stored
    while rest.startswith((b"Return-Path:", b"Received:", b"\t")):
        rest = rest.partition(b"\r\n")[2]
    return rest


# --- The store ------------------------------------------------------------------------------------


def test_many_threads_adding_to_one_maildir_get_unique_names_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clock stands still, as it seems to for threads that read it in the same microsecond:
    # names must differ all the same. (mailbox.Maildir.add fails here: its _count races.)
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.25)
    monkeypatch.setattr(time, "time_ns", lambda: 1_800_000_000_250_000_000)
    # Two stores on one folder, as two LocalServers on the default Maildir are in one process.
    stores = [MaildirStore(tmp_path / "maildir"), MaildirStore(tmp_path / "maildir")]
    keys: dict[int, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def writer(first: int) -> None:
        start.wait()
        try:
            for n in range(first, first + 40):
                keys[n] = stores[n % 2].add(body(n))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(t * 40,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(keys) == 640
    assert len(set(keys.values())) == 640
    assert sorted(os.listdir(tmp_path / "maildir" / "new")) == sorted(keys.values())
    assert os.listdir(tmp_path / "maildir" / "tmp") == []
    reader = mailbox.Maildir(tmp_path / "maildir", create=False)
    for n, key in keys.items():
        assert NAME.fullmatch(key), key
        assert (tmp_path / "maildir" / "new" / key).read_bytes() == body(n)
        assert reader.get_bytes(key) == body(n)


def test_unique_names_from_many_threads_never_repeat(tmp_path: Path) -> None:
    names: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [unique_name() for _ in range(2000)]
        with lock:
            names.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(names) == 16000
    assert len(set(names)) == 16000
    assert all(NAME.fullmatch(name) for name in names)


def test_a_name_already_in_new_is_skipped_and_the_file_there_is_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MaildirStore(tmp_path / "maildir")
    store.open()
    (tmp_path / "maildir" / "new" / "taken").write_bytes(b"someone else's message")
    (tmp_path / "maildir" / "tmp" / "busy").write_bytes(b"a delivery in progress")
    names = iter(["taken", "busy", "free"])
    monkeypatch.setattr(local_maildir, "unique_name", lambda: next(names))
    assert store.add(b"mine") == "free"
    assert (tmp_path / "maildir" / "new" / "taken").read_bytes() == b"someone else's message"
    assert (tmp_path / "maildir" / "tmp" / "busy").read_bytes() == b"a delivery in progress"
    assert (tmp_path / "maildir" / "new" / "free").read_bytes() == b"mine"
    assert sorted(os.listdir(tmp_path / "maildir" / "tmp")) == ["busy"]


def test_a_store_that_finds_no_free_name_fails_instead_of_overwriting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MaildirStore(tmp_path / "maildir")
    store.open()
    (tmp_path / "maildir" / "new" / "taken").write_bytes(b"kept")
    monkeypatch.setattr(local_maildir, "unique_name", lambda: "taken")
    with pytest.raises(FileExistsError):
        store.add(b"mine")
    assert (tmp_path / "maildir" / "new" / "taken").read_bytes() == b"kept"
    assert os.listdir(tmp_path / "maildir" / "tmp") == []


def test_a_write_that_fails_halfway_leaves_nothing_in_tmp_or_new(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "maildir")
    with pytest.raises(TypeError):
        store.add("not bytes")  # type: ignore[arg-type]  # fails after the file was created in tmp/
    assert os.listdir(tmp_path / "maildir" / "tmp") == []
    assert os.listdir(tmp_path / "maildir" / "new") == []


def test_a_maildir_deleted_under_a_running_store_fails_the_add_and_a_new_one_is_used_after_close(
    tmp_path: Path,
) -> None:
    store = MaildirStore(tmp_path / "maildir")
    first = store.add(b"first")
    shutil.rmtree(tmp_path / "maildir")
    with pytest.raises(FileNotFoundError):
        store.add(b"second")  # never a 250 for a message that went nowhere
    store.close()
    key = store.add(b"third")
    assert os.listdir(tmp_path / "maildir" / "new") == [key] != [first]
    store.close()


def test_without_directory_descriptors_the_store_works_by_path(tmp_path: Path) -> None:
    # As on Windows, where directories cannot be opened.
    store = MaildirStore(tmp_path / "maildir")
    store.open()
    store._dirs.close()
    store._dirs = local_maildir._Folders(tmp_path / "maildir", None, None)
    keys = [store.add(body(n)) for n in range(3)]
    assert [store.get_bytes(key) for key in keys] == [body(n) for n in range(3)]
    assert os.listdir(tmp_path / "maildir" / "tmp") == []


# --- The server: many sessions at once ------------------------------------------------------------


async def deliver(port: int, numbers: range, keys: dict[int, str]) -> None:
    """One client session after another, as smtp-source does: connect, one message, QUIT."""
    for n in numbers:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for data, expect in ((b"", b"220"), (b"EHLO load.example\r\n", b"250"),
                                 (f"MAIL FROM:<s{n}@example.org>\r\n".encode(), b"250"),
                                 (f"RCPT TO:<r{n}@example.com>\r\n".encode(), b"250"),
                                 (b"DATA\r\n", b"354"), (body(n) + b".\r\n", b"250")):
                writer.write(data)
                while True:
                    line = await asyncio.wait_for(reader.readline(), 20)
                    if line[3:4] != b"-":
                        break
                assert line.startswith(expect), (n, data[:20], line)
            match = re.fullmatch(rb"250 2\.0\.0 OK: queued as (\S+)\r\n", line)
            assert match, line
            keys[n] = match.group(1).decode()
            writer.write(b"QUIT\r\n")
            with contextlib.suppress(ConnectionError):  # a stopping server hangs up instead
                await reader.readline()
        finally:
            writer.close()


async def test_fifty_concurrent_sessions_all_land_with_unique_names(local_server: LocalServer) -> None:
    keys: dict[int, str] = {}
    port = local_server.ports["plain"]
    await asyncio.gather(*(deliver(port, range(s * 4, s * 4 + 4), keys) for s in range(50)))
    assert len(keys) == 200
    assert len(set(keys.values())) == 200
    new = local_server.maildir_path / "new"
    assert sorted(p.name for p in new.iterdir()) == sorted(keys.values())
    assert list((local_server.maildir_path / "tmp").iterdir()) == []
    for n, key in keys.items():
        assert stored_body((new / key).read_bytes()) == body(n)
    records = {r.key: r for r in local_server.received}
    assert set(records) == set(keys.values())
    for n, key in keys.items():
        assert records[key].mail_from == f"s{n}@example.org"
        assert records[key].rcpt_tos == (f"r{n}@example.com",)
        assert records[key].original_content == body(n)


async def test_deliveries_are_written_by_several_writers_at_once(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow disk: each store takes 0.2 s. Writers at work at the same moment are counted, not seconds.
    real_add = local_server._store.add
    busy = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow_add(message: bytes) -> str:
        with lock:
            busy["now"] += 1
            busy["most"] = max(busy["most"], busy["now"])
        try:
            time.sleep(0.2)
            return real_add(message)
        finally:
            with lock:
                busy["now"] -= 1

    monkeypatch.setattr(local_server._store, "add", slow_add)
    keys: dict[int, str] = {}
    await asyncio.gather(*(deliver(local_server.ports["plain"], range(n, n + 1), keys) for n in range(12)))
    assert len(set(keys.values())) == 12
    assert busy["most"] >= 4  # several stores were under way at once
    assert len(list((local_server.maildir_path / "new").iterdir())) == 12


def test_threads_sending_over_starttls_and_auth_to_the_threaded_server_lose_nothing(
    threaded_server: LocalServer,
) -> None:
    context = ssl.create_default_context(cafile=str(threaded_server.ca_path))
    keys: dict[int, str] = {}
    errors: list[BaseException] = []

    def client(first: int) -> None:
        try:
            for n in range(first, first + 5):
                with smtplib.SMTP(HOST, threaded_server.ports["submission"], timeout=20) as smtp:
                    smtp.starttls(context=context)
                    smtp.login(DEMO_USER, DEMO_PASSWORD)
                    smtp.mail(f"s{n}@example.org")
                    smtp.rcpt("class@example.test")
                    code, reply = smtp.data(body(n))
                    assert code == 250, reply
                    keys[n] = reply.decode().rsplit(" ", 1)[1]
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=client, args=(t * 5,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(set(keys.values())) == 40
    new = threaded_server.maildir_path / "new"
    assert sorted(p.name for p in new.iterdir()) == sorted(keys.values())
    for n, key in keys.items():
        stored = (new / key).read_bytes()
        assert b"with ESMTPSA" in stored
        assert stored_body(stored) == body(n)


async def test_stop_waits_for_deliveries_in_flight_and_each_client_gets_its_250(
    local_server_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await local_server_factory()
    real_add = server._store.add
    entered = []
    loop = asyncio.get_running_loop()
    all_in = asyncio.Event()

    def slow_add(message: bytes) -> str:
        entered.append(message)
        if len(entered) == 6:
            loop.call_soon_threadsafe(all_in.set)
        time.sleep(0.3)
        return real_add(message)

    monkeypatch.setattr(server._store, "add", slow_add)
    keys: dict[int, str] = {}
    clients = asyncio.gather(*(deliver(server.ports["plain"], range(n, n + 1), keys) for n in range(6)))
    await asyncio.wait_for(all_in.wait(), 60)  # every final dot is in, writers busy (a hang fails the test)
    assert len(entered) == 6
    await server.stop()
    await clients
    assert len(keys) == 6
    assert sorted(p.name for p in (server.maildir_path / "new").iterdir()) == sorted(keys.values())


# --- Sessions made from a template equal sessions aiosmtpd makes ----------------------------------


LISTENER_SETTINGS = {
    "plain": {"tls_context": "context", "require_starttls": False, "auth_require_tls": True},
    "submission": {"tls_context": "context", "require_starttls": True, "auth_require_tls": True},
    "submissions": {"tls_context": None, "require_starttls": False, "auth_require_tls": False},
}


@pytest.mark.parametrize("listener", list(LISTENER_SETTINGS))
async def test_a_session_from_the_template_has_the_fields_aiosmtpd_gives_it(
    local_server: LocalServer, listener: str
) -> None:
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    settings = {k: (context if v == "context" else v) for k, v in LISTENER_SETTINGS[listener].items()}
    handler = smtp_session.ListenerHandler(local_server, listener)
    options = {"hostname": "mail.smtpstep.test", "ident": "ESMTP test", "data_size_limit": 1000,
               "enable_SMTPUTF8": True, "decode_data": False, "timeout": 300.0,
               "authenticator": smtp_session.authenticate, "loop": loop, **settings}
    template = session_setup.SessionTemplate(handler, **options)
    assert template.fast, "the template refused aiosmtpd's fields: sessions fall back to SMTP.__init__"

    made = [smtp_session.SmtpSession(handler, is_stopping=lambda: False, template=template, **options)
            for _ in range(2)]
    reference = smtp_session.SmtpSession(handler, is_stopping=lambda: False, **options)  # aiosmtpd's own
    fast, other = made
    assert set(vars(fast)) == set(vars(reference))
    for name, expected in vars(reference).items():
        value = vars(fast)[name]
        if name in ("_smtp_methods", "_auth_methods"):
            assert value.keys() == expected.keys()
            assert value is not vars(other)[name]
            for key, method in value.items():
                want = expected[key]
                if name == "_auth_methods":
                    assert method.is_builtin == want.is_builtin
                    method, want = method.method, want.method
                assert method.__func__ is want.__func__
                owner = fast if want.__self__ is reference else want.__self__
                assert method.__self__ is owner
        elif isinstance(expected, (asyncio.Future, asyncio.StreamReader)):
            assert isinstance(value, type(expected))  # the reader: a StreamReader with later pauses
            assert value is not vars(other)[name]  # each session gets its own
        elif name in ("_client_connected_cb", "_stream_reader_wr", "_is_stopping"):
            continue  # bound to (or referring to) each session itself
        else:
            assert value == expected, name
    assert fast._strong_reader._limit == reference._strong_reader._limit == 1001  # RFC 5321 §4.5.3.1.6


async def test_a_session_reads_a_message_whole_and_pauses_only_past_the_high_water_mark(
    local_server: LocalServer,
) -> None:
    # asyncio pauses a reader at twice its limit (2002 octets for aiosmtpd's line limit): every
    # message of a few KB used to stop and restart reading. Ours pauses past READ_HIGH_WATER, and
    # still pauses: a client cannot make a session buffer without bound.
    sessions_before = set(local_server._sessions)
    reader, writer = await asyncio.open_connection(HOST, local_server.ports["plain"])
    await reader.readline()
    (session,) = set(local_server._sessions) - sessions_before
    transport = session.transport
    assert transport.max_size == smtp_session.RECV_SIZE
    writer.write(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    for _ in range(4):
        while (await reader.readline())[3:4] == b"-":
            pass
    stream = session._reader  # aiosmtpd keeps the reader asyncio handed it
    pauses = []
    pause_reading = transport.pause_reading

    def counted_pause() -> None:
        pauses.append(len(stream._buffer))
        pause_reading()

    transport.pause_reading = counted_pause  # the real transport, its pauses counted
    writer.write(body(1) * 5 + b".\r\n")  # about 5 KB in one write
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"250 ")
    assert pauses == []
    writer.write(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    for _ in range(3):
        await asyncio.wait_for(reader.readline(), 5)
    writer.write(b"x" * 999 + b"\r\n")
    writer.write(b"y" * 100 * session_setup.READ_HIGH_WATER)  # one endless line, 6.4 MB
    deadline = time.monotonic() + 5
    while transport.is_reading() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert not transport.is_reading()
    assert pauses and all(n > session_setup.READ_HIGH_WATER for n in pauses)
    assert len(stream._buffer) <= session_setup.READ_HIGH_WATER + smtp_session.RECV_SIZE
    writer.close()


ADDRESSES = [
    "<alice@example.org>", "<Alice.Smith+tag@Mail.Example.COM>", "<a@b>", "<a@b.c> SIZE=1000",
    "<a@b.c>SIZE=1000", "<a@b.c>  BODY=8BITMIME SMTPUTF8", "<a@b.c> \t\x0b SIZE=1", "<a@b.c> (comment) SIZE=1",
    "<a@b.c>(comment)", "<a@b.c> ", "<>", "< a@b.c >", "<a..b@c.d>", "<.a@b.c>", "<a.@b.c>",
    '<"quoted local"@example.com>', "<a@[192.0.2.1]>", "<@route.example:a@b.c>", "<a@-b.c>", "<a@b..c>",
    "<caf\u00e9@example.com>", "<a@b.c", "a@b.c", "a@b.c SIZE=1", "<a b@c.d>", "<a@b.c>>", "<a@b.c.>",
    "<o'brien@example.com>", "<x!#$%&'*+/=?^_`{|}~-y@example.com>", "",
]


@pytest.mark.parametrize("arg", ADDRESSES)
async def test_the_quick_address_reader_agrees_with_aiosmtpds_parser(local_server: LocalServer, arg: str) -> None:
    handler = smtp_session.ListenerHandler(local_server, "plain")
    session = smtp_session.SmtpSession(handler, is_stopping=lambda: False, hostname="x",
                                           loop=asyncio.get_running_loop())
    assert session._getaddr(arg) == SMTP._getaddr(session, arg)


async def test_mail_parameters_after_a_simple_address_still_reach_aiosmtpd(local_server: LocalServer) -> None:
    reader, writer = await asyncio.open_connection(HOST, local_server.ports["plain"])

    async def send(line: str) -> bytes:
        writer.write(line.encode() + b"\r\n")
        while True:
            reply = await asyncio.wait_for(reader.readline(), 5)
            if reply[3:4] != b"-":
                return reply

    await reader.readline()
    await send("EHLO client.example")
    assert (await send(f"MAIL FROM:<a@example.org> SIZE={local_server.size_limit + 1}")).startswith(b"552")
    assert (await send("MAIL FROM:<a@example.org> FOO=1")).startswith(b"555")
    assert (await send("MAIL FROM:<a@example.org> SIZE=10 BODY=8BITMIME")).startswith(b"250")
    assert (await send("RCPT TO:<bob@example.com> NOTIFY=NEVER")).startswith(b"555")
    assert (await send('RCPT TO:<"bob smith"@example.com>')).startswith(b"250")
    writer.close()
