"""The line protocol between the built-in server's process and its parent (``process.py``,
``process_child.py``): its limits, the encoding of one line, and the start of the child.

The pipe carries one JSON object per line. The child's stdout says first ``ready`` (ports, CA, Maildir,
the ``describe()`` lines) or ``error`` (one plain sentence, and the child exits), then ``received`` (a
stored message's envelope, listener, TLS, login, sizes and Maildir key), ``note`` (what the server did
besides storing: a relay hop's session, its MX's DNS questions; ``facts.ServerNote``), ``tamper`` (what a relay
changed) and ``reply`` (to a command that had an ``id``). Its stdin takes commands: ``relay`` (start one
in front of a listener), ``stop-relay``, ``scenario`` and ``stop``.

Both sides read lines of at most ``MAX_LINE`` octets; a longer one is not from the other half and is
dropped. Text from outside (addresses, a login name) crosses as JSON strings, escaped by whoever shows it.
It imports no asyncio, aiosmtpd or cryptography: the parent (the app) loads it too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import IO, Any

__all__ = ["MAX_LINE", "STOP_TIMEOUT", "encode", "run_child"]

MAX_LINE = 64 * 1024
"""Longest JSON line either side reads; anything longer is not from the other half and is dropped."""
STOP_TIMEOUT = 10.0
"""Seconds the child gets to finish deliveries under way and remove its CA folder before it is killed."""


def encode(message: dict[str, Any]) -> bytes:
    """One report or command as the line that carries it (ASCII JSON: any text is escaped in it)."""
    return json.dumps(message).encode("ascii") + b"\n"


def run_child(argv: list[str], log_path: Path | None) -> subprocess.Popen[bytes]:
    """Start the child with pipes for its stdin and stdout, and its stderr appended to ``log_path`` (or
    thrown away when there is none, or it cannot be opened)."""
    log_file: IO[bytes] | int = subprocess.DEVNULL
    if log_path is not None:
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(log_path, "ab")  # noqa: SIM115 - closed below, once the child has it
        except OSError:
            log_file = subprocess.DEVNULL
    try:
        # Same process group as the app: a signal to the whole group (a closed terminal, a web tab
        # ended) reaches the child too, and it stops as cleanly as for "stop".
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                close_fds=True)
    finally:
        if not isinstance(log_file, int):
            log_file.close()
