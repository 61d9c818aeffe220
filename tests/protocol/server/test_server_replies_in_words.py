"""The built-in server answers bytes that are not UTF-8 with a reply that names the problem, never a Python
exception's name.

aiosmtpd decodes a command's arguments as UTF-8 with surrogate escapes; an address or EHLO name with such
bytes once reached the policy or the Maildir and came back as ``451 4.3.0 Local server error:
UnicodeEncodeError``. Each case here is a real session on loopback, and nothing may be stored.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from smtpstep.protocol.server.server import LocalServer

PYTHON_NAME = re.compile(rb"[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Error|Exception)\b")


async def exchange(server: LocalServer, lines: list[bytes]) -> list[bytes]:
    """Send each line, read its whole reply; the last line of every reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.ports["plain"])
    try:
        assert (await reader.readline()).startswith(b"220")
        replies = []
        for line in lines:
            writer.write(line)
            await writer.drain()
            while (reply := await reader.readline())[3:4] == b"-":
                pass
            replies.append(reply)
        return replies
    finally:
        writer.close()


@pytest.mark.parametrize(("line", "code", "words"), [
    (b"RCPT TO:<\xff>\r\n", b"501 5.1.3", b"the recipient address"),
    (b"RCPT TO:<a@\xff.test>\r\n", b"501 5.1.3", b"the recipient address"),
    (b"RCPT TO:<\xc3@example.test>\r\n", b"501 5.1.3", b"the recipient address"),
])
async def test_a_recipient_that_is_not_utf8_gets_501_in_words(line: bytes, code: bytes, words: bytes,
                                                              local_server: LocalServer) -> None:
    replies = await exchange(local_server, [b"EHLO client.test\r\n", b"MAIL FROM:<a@example.test>\r\n", line,
                                            b"QUIT\r\n"])
    assert replies[2].startswith(code) and words in replies[2] and b"not UTF-8" in replies[2], replies[2]
    assert replies[2].isascii()
    assert not any(PYTHON_NAME.search(reply) for reply in replies), replies


async def test_a_sender_or_ehlo_name_that_is_not_utf8_gets_501_and_nothing_is_stored(local_server: LocalServer) -> None:
    replies = await exchange(local_server, [
        b"EHLO \xff.test\r\n", b"EHLO client.test\r\n", b"MAIL FROM:<\xff@example.test>\r\n",
        b"MAIL FROM:<a@example.test>\r\n", b"RCPT TO:<b@example.test>\r\n", b"DATA\r\n",
        b"Subject: after the refusals\r\n\r\nhello\r\n.\r\n", b"QUIT\r\n",
    ])
    assert replies[0].startswith(b"501 5.5.4") and b"the EHLO name" in replies[0]
    assert replies[2].startswith(b"501 5.1.7") and b"the sender address" in replies[2]
    assert replies[6].startswith(b"250")  # the session goes on: only the message with valid words is stored
    assert not any(PYTHON_NAME.search(reply) for reply in replies), replies
    assert len(local_server.received) == 1
    assert b"\xff" not in local_server.received[0].stored
