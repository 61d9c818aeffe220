"""Load generator for benchmarks/server_throughput.py: many concurrent SMTP sessions, one message each.

Usage: smtp_load.py HOST PORT MESSAGES SESSIONS BYTES FROM TO [--tls CA_FILE --user USER]
(password from $SMTPSTEP_PASSWORD)

``SESSIONS`` sessions run at once until ``MESSAGES`` messages were sent, one message per connection,
as ``smtp-source`` does (and as a class does: each student's client connects, sends, quits). With
``--tls`` each session does STARTTLS with certificate verification and AUTH PLAIN first. Writes are
followed by TCP_QUICKACK (see starttls_stall.py) so that Postfix's post-handshake ticket does not
stall EHLO for 40 ms. Prints one JSON line: sent, accepted, failures, seconds.
"""
import argparse
import asyncio
import base64
import json
import os
import socket
import ssl
import time

parser = argparse.ArgumentParser()
for name in ("host", "port", "messages", "sessions", "size", "sender", "rcpt"):
    parser.add_argument(name)
parser.add_argument("--tls")
parser.add_argument("--user")
args = parser.parse_args()
MESSAGES, SESSIONS, SIZE = int(args.messages), int(args.sessions), int(args.size)
QUICKACK = getattr(socket, "TCP_QUICKACK", None)
line = b"The quick brown fox jumps over the lazy dog while the class watches each SMTP step.\r\n"
BODY = (f"From: <{args.sender}>\r\nTo: <{args.rcpt}>\r\nSubject: load\r\n\r\n".encode()
        + (line * (SIZE // len(line) + 1))[:SIZE] + b"\r\n.\r\n")
AUTH = base64.b64encode(f"\0{args.user}\0{os.environ.get('SMTPSTEP_PASSWORD', '')}".encode()).decode()
context = ssl.create_default_context(cafile=args.tls) if args.tls else None
state = {"next": 0, "accepted": 0, "failures": 0, "errors": {}}


async def command(reader, writer, data: bytes, expect: str) -> None:  # type: ignore[no-untyped-def]
    if data:
        writer.write(data)
        if QUICKACK is not None:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
    while True:
        reply = await reader.readline()
        if not reply:
            raise ConnectionError("closed")
        if reply[3:4] != b"-":
            break
    if not reply.decode(errors="replace").startswith(expect):
        raise RuntimeError(reply.decode(errors="replace").strip())


async def one() -> None:
    reader, writer = await asyncio.open_connection(args.host, int(args.port))
    try:
        await command(reader, writer, b"", "220")
        await command(reader, writer, b"EHLO load.smtpstep.test\r\n", "250")
        if context is not None:
            await command(reader, writer, b"STARTTLS\r\n", "220")
            await writer.start_tls(context, server_hostname=args.host)
            await command(reader, writer, b"EHLO load.smtpstep.test\r\n", "250")
            await command(reader, writer, f"AUTH PLAIN {AUTH}\r\n".encode(), "235")
        await command(reader, writer, f"MAIL FROM:<{args.sender}>\r\n".encode(), "250")
        await command(reader, writer, f"RCPT TO:<{args.rcpt}>\r\n".encode(), "250")
        await command(reader, writer, b"DATA\r\n", "354")
        await command(reader, writer, BODY, "250")
        state["accepted"] += 1
        try:
            await command(reader, writer, b"QUIT\r\n", "221")
        except (OSError, ConnectionError, RuntimeError):
            pass
    finally:
        writer.close()


async def session_loop() -> None:
    while state["next"] < MESSAGES:
        state["next"] += 1
        try:
            await one()
        except Exception as error:  # noqa: BLE001 - counted, reported
            state["failures"] += 1
            key = f"{type(error).__name__}: {error}"[:120]
            state["errors"][key] = state["errors"].get(key, 0) + 1


async def main() -> None:
    start = time.perf_counter()
    await asyncio.gather(*(session_loop() for _ in range(SESSIONS)))
    print(json.dumps({"sent": state["next"], "accepted": state["accepted"], "failures": state["failures"],
                      "errors": state["errors"], "seconds": time.perf_counter() - start}))


asyncio.run(main())
