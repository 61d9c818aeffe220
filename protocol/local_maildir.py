"""Where the built-in server keeps what it accepts: one Maildir on disk.

Holds the default Maildir location and ``MaildirStore``, a thin, durable wrapper around the
standard library's ``mailbox.Maildir``.

Rules:

- ``add`` blocks (it writes and fsyncs a file); the server calls it from a worker thread, never on
  the event loop.
- ``add`` returns only once the message is in ``new/`` and the directory entry is on disk. The
  server says "250" only after that: once it has said so, it owns the message (RFC 5321 §6.1).
- A failed ``add`` leaves nothing behind: ``mailbox.Maildir.add`` writes to ``tmp/`` and removes the
  file there on error; only a finished file is linked into ``new/`` (the Maildir delivery
  protocol).
- This module parses no SMTP and knows nothing about envelopes or sessions.

On POSIX the file holds exactly the bytes given. ``mailbox`` translates ``\\n`` to ``os.linesep``
on the way in and back on the way out, so on Windows the file on disk differs but ``get_bytes``
still returns the original bytes.
"""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

__all__ = ["MaildirStore", "default_maildir_path"]


def default_maildir_path() -> Path:
    """``$XDG_DATA_HOME/smtpstep/maildir``, or ``~/.local/share/smtpstep/maildir`` without it.

    Per the XDG Base Directory specification, a relative or empty ``XDG_DATA_HOME`` is ignored.
    """
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if data_home and os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "smtpstep" / "maildir"


class MaildirStore:
    """A Maildir that the built-in server delivers to."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        """The Maildir's top directory (the one holding ``tmp``, ``new`` and ``cur``)."""
        self._maildir: mailbox.Maildir | None = None

    def open(self) -> None:
        """Create the Maildir (and its parents) if needed. Raises ``OSError`` if it cannot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # mailbox.Maildir creates tmp/new/cur only when it creates the top directory itself;
        # an existing but empty directory would make every delivery fail later.
        self.path.mkdir(mode=0o700, exist_ok=True)
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(mode=0o700, exist_ok=True)
        self._maildir = mailbox.Maildir(self.path, create=False)

    def add(self, message: bytes) -> str:
        """Store ``message`` durably and return its Maildir key (the file name in ``new/``)."""
        if self._maildir is None:
            self.open()
        assert self._maildir is not None
        key = self._maildir.add(message)  # writes tmp/<key>, fsyncs it, links it into new/
        _fsync_directory(self.path / "new")
        return key

    def get_bytes(self, key: str) -> bytes:
        """The stored message with ``key``, as ``mailbox`` reads it back."""
        if self._maildir is None:
            self.open()
        assert self._maildir is not None
        return self._maildir.get_bytes(key)

    def keys(self) -> list[str]:
        """Keys of every message in the Maildir, in no particular order."""
        if self._maildir is None:
            self.open()
        assert self._maildir is not None
        return self._maildir.keys()


def _fsync_directory(directory: Path) -> None:
    # The rename into new/ is only durable once the directory itself is synced.
    # Windows cannot open a directory for fsync; there the link is as durable as NTFS makes it.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
