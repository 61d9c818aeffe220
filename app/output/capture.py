"""A recording exported as a .pcapng capture for Wireshark: the session's own bytes framed by
``pcapng.py``, with this session's TLS keys embedded when the user names a key log, and one sentence on
what the file holds (keys or not, how Wireshark decodes its port).

Failures are ``ExportError`` sentences. The keys are embedded only when asked for, and the file is then
readable by its owner alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.output.exports import ExportError, plural
from smtpstep.protocol.transport.wire import DEFAULT_PORTS

if TYPE_CHECKING:
    from smtpstep.app.session.recording import Recording

__all__ = ["PCAPNG_NO_KEYS", "PCAPNG_WITH_KEYS", "export_pcapng"]


PCAPNG_NO_KEYS = ("the TLS part is ciphertext in it: to read it decrypted in Wireshark, run the session with "
                  "--tls-keys FILE (or SSLKEYLOGFILE set), which embeds the keys, or point Wireshark's TLS "
                  "preference “(Pre)-Master-Secret log filename” at such a key log file")
"""What an export without keys says about the TLS in it (a plaintext session needs no keys)."""

PCAPNG_WITH_KEYS = ("it holds the TLS keys: Wireshark opens it decrypted, AUTH included, so whoever has the "
                    "file can read the password")


def export_pcapng(recording: Recording, path: Path, *, keylog: Path | str | None = None,
                  show_secrets: bool = False) -> str:
    """Write the recording's raw bytes as a .pcapng; returns one sentence on what it holds (keys or not).

    ``keylog``: an NSS key log file; this session's lines in it (picked by the client randoms of its own
    ClientHellos) are embedded in a Decryption Secrets Block. None: ciphertext only."""
    from smtpstep.app.output.pcapng import client_randoms, keylog_lines, write_pcapng

    if not recording.raw:
        raise ExportError("this recording holds no raw bytes (it was made by an older smtpstep), so there is "
                          "no capture to write")
    randoms = client_randoms(recording.raw)
    keys = None
    if keylog is not None and randoms:
        try:
            keys = keylog_lines(Path(keylog).read_bytes(), randoms) or None
        except OSError as error:
            raise ExportError(f"the TLS key log {keylog} cannot be read ({error.strerror or error})") from None
        if keys is None:
            raise ExportError(f"the TLS key log {keylog} holds no keys of this session")
    target = recording.views[-1].snapshot.target
    standard = DEFAULT_PORTS.get(target.security) if target.builtin else None
    labels = {n: view.last.commands[-1].label for n, view in enumerate(recording.views) if view.last is not None}
    try:
        with open(path, "wb", buffering=1 << 20) as out:
            if keys is not None:  # the keys to the password: the owner's alone, as the key log is
                os.fchmod(out.fileno(), 0o600)
            packets = write_pcapng(out, recording.raw, started=recording.started, keylog=keys,
                                   show_secrets=show_secrets, server_port=standard, labels=labels)
    except OSError as error:
        raise ExportError(f"{path} cannot be written ({error.strerror or error})") from None
    except ValueError as error:
        raise ExportError(str(error)) from None
    said = f"{path} holds {plural(packets, 'packet')} of one TCP connection"
    if standard is not None:
        said += (f" (the built-in server's port {target.port} is shown as {standard}, the standard port for "
                 "its security, so that Wireshark decodes SMTP without “Decode As”)")
    elif target.port not in DEFAULT_PORTS.values():
        said += (f" (Wireshark decodes port {target.port} as SMTP after “Decode As…”, or in tshark with "
                 f"-d tcp.port=={target.port},smtp)")
    if keys is not None:
        return f"{said}; {PCAPNG_WITH_KEYS}"
    return f"{said}; {PCAPNG_NO_KEYS}" if randoms else said
