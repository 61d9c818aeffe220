"""The built-in server with the proposed delivery fix patched in, to measure it before it is made for real.

Usage: local_server_parallel_writes.py MAILDIR [WRITERS]

``protocol.local_server.LocalServer`` as shipped, except that deliveries run on WRITERS threads
(default 8) instead of one: ext4 (like most journalling file systems) commits concurrent fsyncs
together, so parallel writers store many more messages per second than one writer paying a whole
journal commit per message. Maildir name creation is put under a lock so that two writers never pick
the same name. Prints the ports, "ca PATH" and "ready" like ``smtpstep serve``; stops on SIGTERM.
"""
import asyncio
import concurrent.futures
import mailbox
import signal
import sys
import threading
from pathlib import Path

from protocol.local_server import LocalServer

WRITERS = int(sys.argv[2]) if len(sys.argv) > 2 else 8
_names = threading.Lock()
_create_tmp = mailbox.Maildir._create_tmp


def _create_tmp_locked(self):  # type: ignore[no-untyped-def]
    with _names:
        return _create_tmp(self)


mailbox.Maildir._create_tmp = _create_tmp_locked  # type: ignore[method-assign]


async def main() -> None:
    server = LocalServer(maildir=Path(sys.argv[1]))
    await server.start()
    server._executor.shutdown(wait=True)  # type: ignore[union-attr]
    server._executor = concurrent.futures.ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="maildir")
    for name, port in server.ports.items():
        print(f"  {name}  127.0.0.1:{port}", flush=True)
    print(f"  trust CA     {server.ca_path}", flush=True)
    print("ready: patched server", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


asyncio.run(main())
