"""How the built-in server takes a message it accepted: the trace fields put before it, the Maildir file
written by a worker thread, the reply to the final dot, and the latest messages kept in memory.

Rules:

- The reply is 250 only after the message is on disk: from then on the server owns the message
  (RFC 5321 §6.1). If storing fails the reply is 451, so the client keeps it (RFC 5321 §4.2.5).
- Disk writes run in worker threads (``MAILDIR_WRITERS`` of them), never on the event loop, so one
  large message does not stall the other sessions, and concurrent deliveries do not wait for each
  other's fsyncs.
- A delivery under way finishes even if its client hangs up; stopping waits for every one.
It decides no policy (``policy.py``, ``scenarios.py``) and speaks no SMTP (``smtp_session.py``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime
import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from aiosmtpd.smtp import SMTP, Envelope, Session

from smtpstep.protocol.server.facts import ReceivedMessage, ServerNote
from smtpstep.protocol.server.maildir import MaildirStore
from smtpstep.protocol.server.policy import trace_fields, with_protocol

__all__ = ["MAILDIR_WRITERS", "MAX_RECEIVED", "MAX_RECEIVED_BYTES", "Deliveries", "accept"]

log = logging.getLogger("smtpstep.local_server")

MAILDIR_WRITERS = 8
"""Threads storing messages at once. Each delivery mostly waits for its two fsyncs (the file, then
``new/``), and journalling file systems commit concurrent fsyncs together. When fsyncs were slow on
the shared benchmark disk (about 7 ms), one writer held the server to about 130 messages a second;
with several, the event loop is the limit."""
MAX_RECEIVED = 200
"""How many accepted messages ``LocalServer.received`` keeps in memory (the Maildir keeps all)."""
MAX_RECEIVED_BYTES = 128 * 1024 * 1024
"""Memory cap for those records; the newest message is always kept, whatever its size."""


class Deliveries:
    """The messages a server accepted: stored in worker threads, the latest kept (``received``)."""

    def __init__(self, store: MaildirStore, tell: Callable[[ReceivedMessage], None]) -> None:
        self._store = store
        self._tell = tell
        """Called with each stored message, on the server's loop."""
        self._received: collections.deque[ReceivedMessage | ServerNote] = collections.deque()
        self._received_bytes = 0
        self._received_lock = threading.Lock()
        self._tasks: set[asyncio.Task[str]] = set()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def received(self) -> list[ReceivedMessage | ServerNote]:
        """The latest accepted messages, oldest first, with the notes among them (a copy, safe to read from any
        thread)."""
        with self._received_lock:
            return list(self._received)

    def note(self, note: ServerNote) -> None:
        """Keep ``note`` among the messages: before the one it names in ``before``, else last."""
        with self._received_lock:
            keys = [record.key for record in self._received]
            self._received.insert(keys.index(note.before) if note.before in keys else len(keys), note)
            while len(self._received) > MAX_RECEIVED:
                self._received_bytes -= _footprint(self._received.popleft())

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writers for a server on ``loop``."""
        self._loop = loop
        # Several writers: each delivery waits for two fsyncs, and the file system commits
        # concurrent ones together; MaildirStore.add is safe to call from many threads.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=MAILDIR_WRITERS, thread_name_prefix="smtpstep-maildir")

    async def finish(self) -> None:
        """Wait for every delivery under way, including ones that begin meanwhile."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def close(self) -> None:
        """Stop the writers (idle by then: after ``finish``)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # idle by now: returns at once
            self._executor = None

    async def deliver(self, record: ReceivedMessage,
                      then: Callable[[ReceivedMessage], None] | None = None) -> str:
        """Store ``record`` and return the reply to the final dot; the delivery completes even if the
        caller is cancelled (its client hung up). ``then`` is called with the stored record (its key set),
        before the reply is returned."""
        assert self._loop is not None
        delivery = self._loop.create_task(self._store_one(record, then))
        self._tasks.add(delivery)
        delivery.add_done_callback(self._tasks.discard)
        # If the client hangs up now, the delivery still completes and is recorded: a duplicate
        # on the client's retry is acceptable, a lost message is not (RFC 5321 §6.1).
        return await asyncio.shield(delivery)

    def track(self, task: asyncio.Task[object]) -> None:
        """Count ``task`` (a relay hop under way) among the deliveries that stopping waits for."""
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]

    async def _store_one(self, record: ReceivedMessage, then: Callable[[ReceivedMessage], None] | None) -> str:
        assert self._loop is not None
        try:
            if self._executor is None:
                raise RuntimeError("the server is stopping")
            key = await self._loop.run_in_executor(self._executor, self._store.add, record.stored)
        except Exception as error:
            log.warning("could not store message from %s: %s", record.mail_from, error)
            reason = " ".join(f"{type(error).__name__}: {error}".split())
            # RFC 5321 §4.2.5: after a 4xx the message is still the client's to deliver.
            return f"451 4.3.0 Message not stored, please try again later ({reason})"
        stored = replace(record, key=key)
        self._remember(stored)
        if then is not None:
            then(stored)
        return f"250 2.0.0 OK: queued as {key}"

    def _remember(self, record: ReceivedMessage) -> None:
        with self._received_lock:
            self._received.append(record)
            self._received_bytes += _footprint(record)
            while len(self._received) > 1 and (
                len(self._received) > MAX_RECEIVED or self._received_bytes > MAX_RECEIVED_BYTES
            ):
                self._received_bytes -= _footprint(self._received.popleft())
        self._tell(record)


async def accept(deliveries: Deliveries, listener: str, smtp: SMTP, session: Session, envelope: Envelope,
                 when: datetime.datetime, added_fields: bytes, *, final: bool = True, by: str | None = None,
                 then: Callable[[ReceivedMessage], None] | None = None) -> str:
    """Store the message a session's DATA or BDAT ended with, behind its trace fields (Return-Path and
    Received, RFC 5321 §4.4) and the fields a scenario adds; the reply to the final dot. A message queued to
    be relayed on (not ``final``) gets no Return-Path: only final delivery adds it (RFC 5321 §4.4). ``by``
    names the receiving host in the Received field (the server's own name by default); ``then`` is called
    with the stored record."""
    ssl_object = smtp.transport.get_extra_info("ssl_object") if smtp.transport is not None else None
    tls_details = None
    if ssl_object is not None:
        cipher = ssl_object.cipher()
        tls_details = f"using {ssl_object.version()} with cipher {cipher[0] if cipher else 'unknown'}"
    auth_user = session.auth_data if session.authenticated else None
    original = envelope.original_content or b""
    rcpt_tos = tuple(envelope.rcpt_tos)
    mail_from = envelope.mail_from or "<>"
    headers = trace_fields(
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        helo=session.host_name or "",
        peer=session.peer,
        protocol=with_protocol(
            esmtp=session.extended_smtp,
            tls=ssl_object is not None,
            authenticated=bool(session.authenticated),
            smtputf8=envelope.smtp_utf8,
        ),
        tls_details=tls_details,
        when=when,
        **({"by": by} if by else {}),
    )
    if not final and headers.startswith(b"Return-Path:"):
        headers = headers.split(b"\r\n", 1)[1]
    record = ReceivedMessage(
        key="",
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        original_content=original,
        stored=headers + added_fields + original,
        listener=listener,
        tls=ssl_object is not None,
        auth_user=auth_user if isinstance(auth_user, str) else None,
    )
    return await deliveries.deliver(record, then)


def _footprint(record: ReceivedMessage | ServerNote) -> int:
    if isinstance(record, ServerNote):
        return 0
    return len(record.original_content) + len(record.stored)
