"""The built-in server as shipped, on a uvloop event loop instead of asyncio's: an experiment.

Usage: local_server_uvloop.py MAILDIR

``protocol.local_server.LocalServer`` unchanged, started on ``uvloop.new_event_loop()``. uvloop is not
a dependency of smtpstep; install it where this script can import it (for example
``pip install --target /tmp/uvloop uvloop`` and ``PYTHONPATH=/tmp/uvloop``). It measures what moving
``smtpstep serve`` (``app/serve.py``) and the TUI's server thread (``protocol/loop_thread.py``) to uvloop
would give. Prints the ports, "trust CA PATH" and "ready:" like ``smtpstep serve``; stops on SIGTERM.
"""
import asyncio
import signal
import sys
from pathlib import Path

import uvloop

from protocol.local_server import LocalServer


async def main() -> None:
    def received(record) -> None:  # type: ignore[no-untyped-def]  # the line smtpstep serve prints
        print(f"received: from <{record.mail_from}> over {record.listener}: {record.key}", flush=True)

    server = LocalServer(maildir=Path(sys.argv[1]), on_received=received)
    await server.start()
    for name, port in server.ports.items():
        print(f"  {name}  127.0.0.1:{port}", flush=True)
    print(f"  trust CA     {server.ca_path}", flush=True)
    print("ready: smtpstep's server on uvloop", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
