"""A sans-I/O TLS client around ``ssl.MemoryBIO`` and ``SSLContext.wrap_bio``.

The engine owns this object; the drivers only move raw bytes. Bytes read from the socket go in with
``feed``; bytes to write come out of ``take_output`` (the handshake's flights, alerts) or
``encrypt``; plaintext comes out of ``decrypt``. Nothing here waits or touches a socket.

What was checked (Python 3.11, OpenSSL 3.0; tests/protocol/transport: test_transport.py for the
certificate failures and the key log, test_tls_records.py for the alert and the host-name rule):

- ``do_handshake`` raises ``SSLWantReadError`` until the peer's next flight is fed; it raises
  ``SSLCertVerificationError`` with ``verify_code`` / ``verify_message`` exactly as ``wrap_socket``
  and asyncio's ``start_tls`` do (same OpenSSL call underneath).
- On a failure the alert OpenSSL wants to send (7 bytes, bad_certificate / unknown_ca) is left in
  the outgoing BIO: ``take_output`` must be written, or the server never learns why. In TLS 1.3
  OpenSSL 3.0 sends it as a *plaintext* alert (the client has not switched its write keys yet).
- After a failed verification, the chain is still there: ``_sslobj.get_unverified_chain()`` (public
  from Python 3.13) gives what the server sent, in TLS 1.2 and 1.3 alike; ``get_verified_chain``
  then gives only what OpenSSL had built, and must not be shown as verified.
- ``version()``, ``cipher()``, ``getpeercert(binary_form=True)``, ``get_verified_chain`` work on an
  SSLObject after the handshake. ``server_hostname`` must be given to ``wrap_bio``: unlike
  ``wrap_socket`` (ssl.py raises "check_hostname requires server_hostname"), ``wrap_bio`` accepts
  None with ``check_hostname`` on, and the handshake then succeeds with NO host name check at all;
  ``MemoryTls`` refuses it. The name is sent as SNI unless it is an IP address.
- TLS 1.3 tickets arrive after the handshake as records that decrypt to no application data.
- ``keylog_filename`` is a property of the context and works for ``wrap_bio`` as for sockets
  (OpenSSL's keylog callback is per SSL_CTX; CPython appends a line per secret and flushes it).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator

READ_SIZE = 65536
WRITE_SLICE = 256 * 1024
"""Plaintext encrypted per call: one write request per slice, so a 25 MB message is never held as
ciphertext whole (about 16 records a slice)."""


class MemoryTls:
    """One TLS client connection over memory BIOs."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        if context.check_hostname and not server_hostname:
            # wrap_socket refuses this; wrap_bio does not, and the handshake then checks no name at all.
            raise ValueError("check_hostname requires server_hostname")
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=False,
                                    server_hostname=server_hostname)
        self.done = False
        self.eof = False

    # -- handshake ---------------------------------------------------------------------------------

    def handshake(self) -> bool:
        """Advance the handshake: True when it is complete, False when it waits for the peer.

        Raises ``ssl.SSLCertVerificationError`` / ``ssl.SSLError`` on failure; call ``take_output``
        afterwards anyway to send the alert."""
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.done = True
        return True

    def feed(self, data: bytes) -> None:
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    def take_output(self) -> bytes:
        return self.outgoing.read() if self.outgoing.pending else b""

    # -- application data --------------------------------------------------------------------------

    def encrypt(self, data: bytes | memoryview) -> bytes:
        """The records for ``data`` (all of it: memory BIOs never refuse a write)."""
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += self.obj.write(view[written:])
        return self.outgoing.read()

    def encrypt_slices(self, data: bytes | memoryview, size: int = WRITE_SLICE) -> Iterator[tuple[int, bytes]]:
        """(plaintext bytes covered, ciphertext) per slice of ``size`` plaintext bytes."""
        view = memoryview(data)
        for start in range(0, len(view), size):
            piece = view[start:start + size]
            yield len(piece), self.encrypt(piece)

    def decrypt(self) -> bytes:
        """All plaintext the fed records hold; b"" if none yet (a partial record, or a ticket).

        Sets ``eof`` when the peer sent close_notify. Raises ``ssl.SSLError`` for a broken record
        (bad MAC, not TLS) and ``ssl.SSLEOFError`` when the stream ended without close_notify."""
        parts = []
        while True:
            try:
                part = self.obj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.eof = True
                break
            if not part:  # CPython returns b"" (not SSLZeroReturnError) once close_notify was read
                self.eof = True
                break
            parts.append(part)
        return b"".join(parts)

    def close_notify(self) -> bytes:
        """The close_notify alert to send (``unwrap`` would wait for the peer's; we do not)."""
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        return self.take_output()


def prepare_keylog(path: str | os.PathLike[str]) -> None:
    """Make the key log readable by its owner only, before OpenSSL opens it for appending.

    CPython opens it with fopen(path, "a"): a new file would get the umask's 0644, and these are the
    keys to the session's traffic, password included. A file that exists already (SSLKEYLOGFILE is
    shared with browsers, and a context made by ``create_default_context`` opens it at once) is
    narrowed to its owner too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            try:
                os.fchmod(fd, 0o600)
            except PermissionError:  # another user's file: theirs to guard
                pass
    finally:
        os.close(fd)
