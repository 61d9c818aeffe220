"""The built-in server in a variant the benchmark compares with ``smtpstep serve``.

Usage: local_server_variant.py MAILDIR [--uvloop]

``smtpstep.protocol.server.server.LocalServer`` with its default settings, printing the line ``smtpstep serve``
prints for each message. Which ``protocol`` package it imports is up to ``PYTHONPATH``: the
benchmark's ``--baseline REV`` points it at ``protocol/`` as it was at that commit, to measure the
code before a change in the same run as the code after it. With ``--uvloop`` it runs on
``uvloop.new_event_loop()`` instead of asyncio's loop; uvloop is not a dependency of smtpstep
(install it where this script can import it, e.g. ``pip install --target uvloop-dir uvloop`` and
``PYTHONPATH=uvloop-dir``). That measures what moving ``smtpstep serve`` (``app/commands/serve.py``) and
the TUI's server (``protocol/server/loop_thread.py``) to uvloop would give. Prints the ports,
"trust CA PATH" and "ready:" like ``smtpstep serve``; stops on SIGTERM.
"""
import asyncio
import signal
import sys
from pathlib import Path

from smtpstep.protocol.server.server import LocalServer


async def main() -> None:
    def received(record) -> None:  # type: ignore[no-untyped-def]  # the line smtpstep serve prints
        print(f"received: from <{record.mail_from}> over {record.listener}: {record.key}", flush=True)

    server = LocalServer(maildir=Path(sys.argv[1]), on_received=received)
    await server.start()
    for name, port in server.ports.items():
        print(f"  {name}  127.0.0.1:{port}", flush=True)
    print(f"  trust CA     {server.ca_path}", flush=True)
    print("ready: variant server", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


if "--uvloop" in sys.argv[2:]:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
else:
    asyncio.run(main())
