"""BDAT against a real MTA: Postfix advertises CHUNKING (RFC 3030) by default, and smtpstep's client sends
it a message in BDAT chunks over real TLS, as ``--bdat`` does.

The Postfix is the private loopback instance of ``benchmarks/mta/postfix/up.sh`` (127.0.0.1:10025, STARTTLS
offered, local mail taken without AUTH, ``message_size_limit = 20000``). ``.ci/run`` installs and starts
it; the fixture starts it too when it is installed but not running (as root). Skipped only when Postfix is
not installed at all.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smtpstep.protocol.commands import Bdat, MessageBody, Verb
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.wire import Target
from tests.support.driver import drive
from tests.support.env import REPO

STATE = Path(os.environ.get("SMTPSTEP_MTA_STATE") or Path(os.environ.get("TMPDIR") or "/tmp") / "smtpstep-mtas")
"""Where benchmarks/mta keeps everything it makes (its lib.sh says the same)."""
PLAIN_PORT = int(os.environ.get("SMTPSTEP_POSTFIX_PLAIN_PORT") or 10025)
SIZE_LIMIT = 20000
"""postfix/up.sh's message_size_limit."""


@dataclass(frozen=True)
class Postfix:
    port: int
    ca_file: Path
    maildir: Path
    """student@smtpstep.test's Maildir (virtual(8) delivers there)."""


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    if shutil.which("postfix") is None and not Path("/usr/sbin/postfix").exists():
        pytest.skip("Postfix is not installed (.ci/run installs it with benchmarks/mta/install.sh postfix)")
    started = False
    if not _listening(PLAIN_PORT):
        if os.geteuid() != 0:
            pytest.fail("Postfix is installed but its loopback instance is not running, and only root can start "
                        "it: sudo bash benchmarks/mta/postfix/up.sh")
        subprocess.run(["bash", str(REPO / "benchmarks/mta/postfix/up.sh")], check=True, capture_output=True,
                       timeout=180)
        started = True
    try:
        yield Postfix(PLAIN_PORT, STATE / "ca" / "ca.pem", STATE / "postfix" / "mail" / "student" / "Maildir")
    finally:
        if started:
            subprocess.run(["bash", str(REPO / "benchmarks/mta/postfix/down.sh")], capture_output=True, timeout=60)


def _target(postfix: Postfix) -> Target:
    return Target(host="127.0.0.1", port=postfix.port, security="starttls", server_hostname="localhost",
                  ca_file=postfix.ca_file, timeout=20)


def _message(marker: str, lines: int = 12) -> bytes:
    body = "".join(f"line {n} of a message sent in BDAT chunks\r\n" for n in range(lines))
    return (f"From: student@smtpstep.test\r\nTo: student@smtpstep.test\r\nSubject: {marker}\r\n\r\n.a dot that "
            f"BDAT does not double\r\n{body}").encode()


def _stored(postfix: Postfix, marker: str) -> bytes | None:
    for path in (postfix.maildir / "new").glob("*"):
        data = path.read_bytes()
        if marker.encode() in data:
            return data
    return None


async def _delivered(postfix: Postfix, marker: str) -> bytes | None:
    """The stored message with ``marker``, once Postfix's queue manager has delivered it (a 250 to the end of
    the message means it took responsibility, RFC 5321 §6.1; delivery follows a moment later)."""
    for _ in range(200):
        stored = _stored(postfix, marker)
        if stored is not None:
            return stored
        await asyncio.sleep(0.05)
    return None


async def test_postfix_takes_a_message_in_bdat_chunks_with_a_250_to_each(postfix: Postfix) -> None:
    marker = f"bdat-{uuid.uuid4().hex}"
    message = _message(marker)
    plan = SessionPlan(security="starttls", mail_from="student@smtpstep.test", rcpt_tos=("student@smtpstep.test",),
                       message=message, bdat=200)
    transport = AsyncioTransport(_target(postfix))
    try:
        session = await drive(transport, plan)
    finally:
        await transport.close()
    assert session.failure is None
    assert session.halt is None
    caps = [a for a in session.answers if a.command.verb == Verb.EHLO][-1]
    assert "CHUNKING" in [line.split()[0] for line in caps.reply.lines[1:]]
    chunks = [a for a in session.answers if isinstance(a.command, Bdat)]
    assert len(chunks) == -(-len(MessageBody(message).canonical) // 200) > 2
    assert all(a.reply.code == 250 for a in chunks)  # RFC 3030 §2: a 250 to each chunk
    assert [a.command.last for a in chunks] == [False] * (len(chunks) - 1) + [True]
    assert "queued as" in chunks[-1].reply.text
    assert not any(a.command.verb in (Verb.DATA, Verb.MESSAGE) for a in session.answers)
    sent = b"".join(a.command.chunk for a in chunks)
    assert sent == MessageBody(message).canonical  # the message exactly, no dot doubled, no final dot
    stored = await _delivered(postfix, marker)
    assert stored is not None and stored.endswith(sent.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n"))


async def test_a_chunk_over_postfixs_limit_gets_552_and_only_rset_or_quit_may_follow(postfix: Postfix) -> None:
    marker = f"bdat-big-{uuid.uuid4().hex}"
    message = _message(marker, lines=SIZE_LIMIT // 40)
    assert len(message) > SIZE_LIMIT
    plan = SessionPlan(security="starttls", mail_from="student@smtpstep.test", rcpt_tos=("student@smtpstep.test",),
                       message=message, bdat=0, size_param=False)  # one chunk, no SIZE= to refuse it early
    transport = AsyncioTransport(_target(postfix))
    try:
        results = []
        last = None
        from smtpstep.protocol.planner import propose

        for _ in range(20):
            view = transport.client.view()
            if view.settled == State.READY_FOR_RSET:
                # RFC 3030 §2: after a failed BDAT "A RSET command MUST be issued to clear the transaction".
                assert view.allowed == {Verb.RSET, Verb.QUIT}
            proposal = propose(plan, view, last)
            if not proposal.steps:
                break
            result = await transport.step(proposal.commands[0])
            results.append(result)
            last = result.answers[-1] if result.answers else last
    finally:
        await transport.close()
    chunk = [a for r in results for a in r.answers if isinstance(a.command, Bdat)]
    assert len(chunk) == 1 and chunk[0].reply.code == 552 and chunk[0].command.last
    assert chunk[0].state == State.READY_FOR_RSET
    assert results[-1].answers[-1].command.verb == Verb.QUIT and results[-1].answers[-1].reply.code == 221
    assert _stored(postfix, marker) is None
