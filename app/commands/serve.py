"""``smtpstep serve``: the built-in local server alone, in the foreground, until Ctrl-C.

Holds the ``serve`` flags and the loop that runs ``LocalServer``. It prints how to reach the server
(ports, the CA file to trust, the demo login, the Maildir), a ``ready`` line once it listens, and one
line per accepted message.

Rules:
- it binds loopback unless ``--listen`` names another address, and then it warns: the demo password
  is public and the server accepts mail from anyone who can reach it;
- a port in use, or any other start-up problem, is one plain sentence and exit 1;
- Ctrl-C (or SIGTERM) stops it quietly with exit 0, after deliveries in progress are on disk;
- aiosmtpd and trustme are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from smtpstep.app.session.settings import UsageError
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.scenarios import SCENARIOS  # names and summaries only: it loads no aiosmtpd

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage
    from smtpstep.protocol.server.server import LocalServer

DEFAULT_PORTS = {"submission": 8587, "submissions": 8465, "plain": 8025}
"""Unprivileged stand-ins for 587, 465 and 25."""

PORT_FLAGS = {"submission": "--port", "submissions": "--tls-port", "plain": "--plain-port"}

LOOPBACK = "127.0.0.1"


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``smtpstep serve``."""
    parser.add_argument("--port", type=_port, default=DEFAULT_PORTS["submission"], metavar="N",
                        help=f"STARTTLS submission listener, port-587 style (default {DEFAULT_PORTS['submission']}; "
                             "0 picks a free port)")
    parser.add_argument("--tls-port", type=_port, default=DEFAULT_PORTS["submissions"], metavar="N",
                        help=f"implicit-TLS listener, port-465 style (default {DEFAULT_PORTS['submissions']})")
    parser.add_argument("--plain-port", type=_port, default=DEFAULT_PORTS["plain"], metavar="N",
                        help=f"plain listener, port-25 style, STARTTLS optional (default {DEFAULT_PORTS['plain']})")
    parser.add_argument("--maildir", metavar="DIR",
                        help="where accepted messages go (default: $XDG_DATA_HOME/smtpstep/maildir)")
    parser.add_argument("--listen", metavar="ADDR",
                        help=f"the IP address to bind (default {LOOPBACK}); anything but loopback prints a warning")
    parser.add_argument("--scenario", metavar="NAME", default="normal", choices=SCENARIOS,
                        help="make the server depart from correct behaviour, as a lesson needs "
                             "(default normal; every scenario is listed below)")


def scenario_list() -> str:
    """Every scenario the server accepts, one line each, for ``serve --help``."""
    width = max(map(len, SCENARIOS))
    return "\n".join(["scenarios:"]
                     + [f"  {name:<{width}}  {kind.summary}" for name, kind in SCENARIOS.items()])


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"“{text}” is not a port number from 0 to 65535")
    return int(text)


def listen_address(value: str | None) -> tuple[str, bool]:
    """The address to bind and whether it is loopback; ``UsageError`` for anything but an IP address."""
    if value is None:
        return LOOPBACK, True
    text = value.strip()
    if text.lower() == "localhost":
        return LOOPBACK, True
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"--listen {value} is not an IP address; give one such as 127.0.0.1, ::1 or 0.0.0.0") from None
    return str(address), address.is_loopback


def serve(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the server until Ctrl-C or SIGTERM; return the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    host, loopback = listen_address(args.listen)
    ports = {"submission": args.port, "submissions": args.tls_port, "plain": args.plain_port}
    used: dict[int, str] = {}
    for name, port in ports.items():
        if port and port in used:
            raise UsageError(f"{used[port]} and {PORT_FLAGS[name]} are both {port}; each listener needs its own port")
        used[port] = PORT_FLAGS[name]

    from smtpstep.protocol.server.server import LocalServer  # aiosmtpd and trustme: only now

    maildir = Path(args.maildir).expanduser() if args.maildir else None
    if maildir is not None and maildir.exists() and not maildir.is_dir():
        raise UsageError(f"--maildir {args.maildir} is a file, not a folder")

    if not loopback:
        print(f"smtpstep: warning: listening on {host}, not loopback: anyone who can reach this machine can send "
              f"it mail, and the demo login {DEMO_USER} / {DEMO_PASSWORD} is public.", file=err, flush=True)

    def received(record: ReceivedMessage) -> None:
        print(f"received: from <{record.mail_from}> to {', '.join(f'<{r}>' for r in record.rcpt_tos)} "
              f"over {record.listener}{' (TLS)' if record.tls else ''}: {server.maildir_path / 'new' / record.key}",
              file=out, flush=True)

    server = LocalServer(
        host=host,
        submission_port=ports["submission"],
        submissions_port=ports["submissions"],
        plain_port=ports["plain"],
        maildir=maildir,
        scenario=args.scenario,
        on_received=received,
    )
    try:
        return asyncio.run(_serve(server, ports, out))
    except KeyboardInterrupt:
        return 0


async def _serve(server: LocalServer, requested: dict[str, int], out: TextIO) -> int:
    from smtpstep.protocol.server.server import serve_forever

    main = asyncio.current_task()
    try:
        # Before "ready": a supervisor may send SIGTERM as soon as it reads that line.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)  # type: ignore[union-attr]
    except (NotImplementedError, RuntimeError, AttributeError):
        pass  # Windows: Ctrl-C only
    try:
        try:
            await server.start()
        except OSError as error:
            raise _StartError(_start_problem(error, server.host, requested)) from None
        _announce(server, out)
        await serve_forever(server)  # stops the server when cancelled
    except asyncio.CancelledError:
        await server.stop()  # cancelled before serve_forever took over; safe to call twice
    return 0


def _announce(server: LocalServer, out: TextIO) -> None:
    for line in server.describe():
        print(line, file=out)
    host = f"[{server.host}]" if ":" in server.host else server.host
    reach = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(server.host, host)  # a wildcard is no place to connect to
    print(f"  try it       SMTPSTEP_PASSWORD={DEMO_PASSWORD} smtpstep run --server {reach}:{server.ports['submission']} "
          f"--ca {server.ca_path} --user {DEMO_USER}", file=out)
    print(f"ready: listening on {host}, ports {server.ports['submission']} (STARTTLS), "
          f"{server.ports['submissions']} (TLS), {server.ports['plain']} (plain); Ctrl-C stops the server",
          file=out, flush=True)


class _StartError(Exception):
    """The server could not start; ``str`` is one plain sentence."""


def _start_problem(error: OSError, host: str, requested: dict[str, int]) -> str:
    if error.filename:
        return f"the server could not use {error.filename}: {error.strerror or error}"
    if error.errno == errno.EADDRINUSE:
        for name, port in requested.items():
            if port and not _free(host, port):
                return (f"port {port} on {host} is already in use (is another smtpstep serve running?); "
                        f"choose another with {PORT_FLAGS[name]}, or 0 for any free port")
        return f"a port on {host} is already in use; choose others with --port, --tls-port and --plain-port"
    if error.errno in (errno.EACCES, errno.EPERM):
        low = [str(p) for p in requested.values() if 0 < p < 1024]
        hint = f"; ports below 1024 ({', '.join(low)}) need administrator rights" if low else ""
        return f"the server may not listen on {host}{hint} ({error.strerror or error})"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine, so the server cannot listen on it"
    return f"the server could not start on {host}: {error.strerror or error}"


def _free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def run_serve(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``serve`` with its start-up problems as one plain sentence on stderr and exit 1."""
    err = err if err is not None else sys.stderr
    try:
        return serve(args, out=out, err=err)
    except _StartError as error:
        print(f"smtpstep: {error}.", file=err, flush=True)
        return 1
