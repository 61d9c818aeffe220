"""Where the built-in server keeps what it accepts: one Maildir on disk.

Holds the default Maildir location and ``MaildirStore``, which delivers into a Maildir the way the
Maildir protocol asks (write into ``tmp/``, fsync, link into ``new/``) and reads it back through
the standard library's ``mailbox.Maildir``.

Rules:

- ``add`` blocks (it writes and fsyncs a file, then the directory); the server calls it from worker
  threads, never on the event loop.
- ``add`` is safe to call from many threads at once, and from several processes on one Maildir:
  names come from a lock-protected counter (with the time, pid and host, as the Maildir naming
  convention has it), and the file is created with ``O_EXCL`` and linked with ``link()``, which
  both fail rather than overwrite, so a clash means a new name, never a lost message.
  ``mailbox.Maildir.add`` is not thread-safe: its class-wide ``_count`` races, and two threads
  in the same microsecond get the same name and an ``ExternalClashError``.
- ``add`` returns only once the file's data is fsynced, the message is in ``new/`` and that
  directory entry is fsynced too. The server says "250" only after that: once it has said so, it
  owns the message (RFC 5321 §6.1). Concurrent fsyncs are committed together by journalling file
  systems (ext4, XFS), which is why parallel writers store more messages per second than one.
- A failed ``add`` leaves nothing behind: the file is written in ``tmp/`` and removed there on error;
  only a finished file is linked into ``new/`` (the Maildir delivery protocol).
- This module parses no SMTP and knows nothing about envelopes or sessions.

On POSIX the file holds exactly the bytes given. As ``mailbox`` does, ``\\n`` becomes ``os.linesep`` on
the way in (and back on the way out, in ``get_bytes``), so on Windows the file on disk differs but
``get_bytes`` still returns the original bytes.
"""

from __future__ import annotations

import contextlib
import itertools
import mailbox
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["MaildirStore", "default_maildir_path", "numbered_names", "unique_name"]

_LINESEP = os.linesep.encode()
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_NAME_ATTEMPTS = 20
"""Names tried before ``add`` gives up; a clash needs another process with our pid and clock."""
_counter = itertools.count(1)
"""Deliveries by this process, shared by every ``MaildirStore`` (several may write one Maildir)."""
_counter_lock = threading.Lock()
_pid = os.getpid()
"""This process's id, read once (and again in a forked child): one system call less per message."""


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
_HOST = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
"""This machine's name, as it goes into Maildir names (read once: names stay unique without it)."""


def default_maildir_path() -> Path:
    """``$XDG_DATA_HOME/smtpstep/maildir``, or ``~/.local/share/smtpstep/maildir`` without it.

    Per the XDG Base Directory specification, a relative or empty ``XDG_DATA_HOME`` is ignored.
    """
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if data_home and os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "smtpstep" / "maildir"


def unique_name() -> str:
    """A new Maildir file name: ``seconds.MmicrosecondsPpidQcount.host``, unique across threads.

    The format is the Maildir convention's (and ``mailbox``'s); the count, taken under a lock,
    makes two names from one process differ even within one microsecond. A ``/`` or ``:`` in the
    host name is written as ``\\057`` or ``\\072``: ``:`` starts a Maildir flags suffix.
    """
    with _counter_lock:
        count = next(_counter)
    now = time.time_ns()
    return f"{now // 1_000_000_000}.M{now // 1000 % 1_000_000}P{_pid}Q{count}.{_HOST}"


def numbered_names(seconds: int, host: str) -> Callable[[], str]:
    """Maildir names that are the same in every run: ``seconds.M0P0Q1.host``, ``...Q2.host``, ... (thread-safe).

    For pictures that must not change from run to run (``smtpstep shots``), into a Maildir of their own:
    a clash with an existing file still only means the next name (``MaildirStore.add``).
    """
    counter = itertools.count(1)
    lock = threading.Lock()
    safe = host.replace("/", r"\057").replace(":", r"\072")

    def name() -> str:
        with lock:
            return f"{seconds}.M0P0Q{next(counter)}.{safe}"

    return name


class MaildirStore:
    """A Maildir that the built-in server delivers to."""

    def __init__(self, path: Path, *, names: Callable[[], str] | None = None) -> None:
        self.path = Path(path)
        """The Maildir's top directory (the one holding ``tmp``, ``new`` and ``cur``)."""
        self.names = names
        """Where new file names come from: a fixed series (``numbered_names``), or None for ``unique_name``."""
        self._dirs: _Folders | None = None
        self._maildir: mailbox.Maildir | None = None

    def open(self) -> None:
        """Create the Maildir (and its parents) if needed. Raises ``OSError`` if it cannot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # mailbox.Maildir creates tmp/new/cur only when it creates the top directory itself;
        # an existing but empty directory would make every delivery fail later.
        self.path.mkdir(mode=0o700, exist_ok=True)
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(mode=0o700, exist_ok=True)
        if self._dirs is None:
            self._dirs = _Folders.open(self.path)
        self._maildir = mailbox.Maildir(self.path, create=False)

    def close(self) -> None:
        """Let go of the open folders; a later ``add`` opens the Maildir again."""
        dirs, self._dirs, self._maildir = self._dirs, None, None
        if dirs is not None:
            dirs.close()

    def add(self, message: bytes) -> str:
        """Store ``message`` durably and return its Maildir key (the file name in ``new/``).

        Thread-safe. Raises ``OSError`` (and leaves nothing in the Maildir) if the message could
        not be stored.
        """
        if self._dirs is None:
            self.open()
        dirs = self._dirs
        assert dirs is not None
        data = message if _LINESEP == b"\n" else message.replace(b"\n", _LINESEP)
        for _ in range(_NAME_ATTEMPTS):
            key = self.names() if self.names is not None else unique_name()
            tmp, dest = dirs.tmp_name(key), dirs.new_name(key)
            try:
                fd = os.open(tmp, _CREATE_FLAGS, 0o600, dir_fd=dirs.tmp_fd)
            except FileExistsError:
                continue  # another process picked the same name: take the next one
            try:
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if not _publish(tmp, dest, dirs):
                    continue
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dirs.tmp_fd)
                raise
            if dirs.new_fd is not None:
                # The link into new/ is durable only once the directory itself is synced.
                os.fsync(dirs.new_fd)
            return key
        raise FileExistsError(f"no free Maildir name in {self.path} after {_NAME_ATTEMPTS} attempts")

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


class _Folders:
    """``tmp/`` and ``new/`` held open (POSIX), so each delivery names files relative to them.

    Creating, linking and syncing through the same open directories means the fsync covers the
    very directory the link went into, whatever happens to the Maildir's path meanwhile (if it
    is deleted, the link fails and the client is told to retry), and it saves path lookups and
    an open and a close of ``new/`` per message. Where directories cannot be opened (Windows), the
    fds are None and full paths are used; there the link is as durable as NTFS makes it.
    """

    def __init__(self, path: Path, tmp_fd: int | None, new_fd: int | None) -> None:
        self.path = path
        self.tmp_fd = tmp_fd
        self.new_fd = new_fd

    @classmethod
    def open(cls, path: Path) -> _Folders:
        if not (os.name == "posix" and {os.open, os.link, os.unlink} <= os.supports_dir_fd):
            return cls(path, None, None)
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
        tmp_fd = os.open(path / "tmp", flags)
        try:
            new_fd = os.open(path / "new", flags)
        except BaseException:
            os.close(tmp_fd)
            raise
        return cls(path, tmp_fd, new_fd)

    def tmp_name(self, key: str) -> str:
        return key if self.tmp_fd is not None else os.path.join(self.path, "tmp", key)

    def new_name(self, key: str) -> str:
        return key if self.new_fd is not None else os.path.join(self.path, "new", key)

    def close(self) -> None:
        for fd in (self.tmp_fd, self.new_fd):
            if fd is not None:
                os.close(fd)
        self.tmp_fd = self.new_fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _publish(tmp: str, dest: str, dirs: _Folders) -> bool:
    """Move the finished file from ``tmp/`` into ``new/``; False (and no file left) if ``dest`` exists.

    ``link`` never replaces an existing file, so a clash cannot overwrite another message.
    """
    try:
        os.link(tmp, dest, src_dir_fd=dirs.tmp_fd, dst_dir_fd=dirs.new_fd)
    except FileExistsError:
        os.unlink(tmp, dir_fd=dirs.tmp_fd)
        return False
    except (AttributeError, PermissionError, NotImplementedError):
        # No hard links here (some network and FAT file systems): rename, as mailbox does. rename
        # would replace an existing file, so look first; only another process with our pid and
        # clock could slip a file in between.
        if os.path.lexists(dest if dirs.new_fd is None else os.path.join(dirs.path, "new", dest)):
            os.unlink(tmp, dir_fd=dirs.tmp_fd)
            return False
        os.rename(tmp, dest, src_dir_fd=dirs.tmp_fd, dst_dir_fd=dirs.new_fd)
        return True
    os.unlink(tmp, dir_fd=dirs.tmp_fd)
    return True
