"""The classroom channel: a teacher's live session streamed, step by step, as the values a recording holds.

Holds ``Broadcast`` (the teacher's end, ``smtpstep --broadcast``: a Unix socket that followers connect to; it
sends the session so far as soon as one connects, and again after every step), ``follow`` and
``first_recording`` (a follower's end, ``smtpstep web --follow``: the session as it comes), the framing they
share, and ``classroom_socket`` (where the socket lives). What a follower shows is what ``smtpstep replay``
shows of the same recording: each message is ``Recording.to_json()``, read back with ``Recording.from_json``.

Rules:
- secrets never cross: every message is the recording with its secrets redacted, whatever the teacher's
  screen shows (the reveal key changes the teacher's wire log only);
- one way only: the teacher's end shuts its reading side on every connection and never reads, and a
  follower shuts its writing side; nothing a follower does reaches the teacher's app or its server;
- local only, no secret on a command line: a Unix socket in a folder only this user may open (0700, checked),
  the socket itself 0600; no address is listened on and no token is needed (the file's permissions are the
  lock);
- text from outside: a message is a 4-byte length and that much JSON; a length above
  ``recording.MAX_FILE_SIZE`` ends the connection before anything is read, and the JSON goes through
  ``Recording.from_json`` (values counted, nesting bounded, only the codec's classes), so a broken stream is
  one plain sentence; every renderer escapes what a recording holds;
- the teacher never waits for a follower: one whose unread messages pass ``MAX_BEHIND`` is dropped, and a
  follower that falls behind skips to the newest message it has;
- no Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.session.recording import MAX_FILE_SIZE, Recording, RecordingError, new_meta

if TYPE_CHECKING:
    from smtpstep.app.session.stepper import SessionView, Stepper

SOCKET_NAME = "classroom.sock"

HEADER = struct.Struct(">I")
"""Each message: its length (4 bytes, big-endian), then that many bytes of JSON."""

MAX_BEHIND = 4 * 1024 * 1024
"""Bytes a follower may leave unread before the teacher's end drops it (a few sessions' worth)."""

RETRY = 0.3
"""Seconds a follower waits before it tries the socket again (no teacher yet, or the teacher restarted)."""


class BroadcastError(Exception):
    """The channel cannot be opened; ``str(error)`` says why in one plain sentence."""


def classroom_socket() -> Path:
    """``$XDG_RUNTIME_DIR/smtpstep/classroom.sock``, or the same under the state folder: one per user."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "smtpstep" / SOCKET_NAME
    from smtpstep.app.config import state_dir

    return state_dir() / SOCKET_NAME


def private_folder(folder: Path) -> None:
    """Make ``folder`` (0700) or check that it is this user's alone; ``BroadcastError`` if not."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        facts = folder.lstat()
    except OSError as error:
        raise BroadcastError(f"{folder} cannot be made ({error.strerror or error})") from None
    if not folder.is_dir() or folder.is_symlink():
        raise BroadcastError(f"{folder} is not a folder")
    if hasattr(os, "getuid") and (facts.st_uid != os.getuid() or facts.st_mode & 0o077):
        raise BroadcastError(f"{folder} may be opened by other users; make it yours alone (chmod 700)")


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


# --- The teacher's end --------------------------------------------------------------------------------


class Broadcast:
    """The teacher's end: every connected follower gets the session so far, then each step's."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or classroom_socket()
        self._server: asyncio.base_events.Server | None = None
        self._followers: set[asyncio.StreamWriter] = set()
        self._latest: bytes | None = None
        """The last message sent: a follower that connects gets it at once."""
        self.sent_at: float | None = None
        """``time.monotonic()`` of the last message (benchmarks measure a follower's delay from it)."""

    @property
    def followers(self) -> int:
        return len(self._followers)

    async def start(self) -> None:
        """Listen on the socket; ``BroadcastError`` if another session broadcasts there already."""
        private_folder(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(self.path))
                raise BroadcastError(f"another session broadcasts on {self.path} already")
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # left by a session that was killed
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._joined, str(self.path))
        except OSError as error:
            raise BroadcastError(f"{self.path} cannot be listened on ({error.strerror or error})") from None
        finally:
            os.umask(old)

    async def _joined(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)  # a follower has nothing to say to the teacher
        self._followers.add(writer)
        if self._latest is not None:
            writer.write(self._latest)

    def send(self, payload: bytes) -> None:
        """Send ``payload`` (a recording's JSON) to every follower, and to each one that joins later."""
        self._latest = frame(payload)
        self.sent_at = time.monotonic()
        for writer in list(self._followers):
            transport = writer.transport
            if transport.is_closing() or transport.get_write_buffer_size() > MAX_BEHIND:
                self._followers.discard(writer)
                writer.close()
                continue
            writer.write(self._latest)

    def send_session(self, stepper: Stepper, views: Sequence[SessionView], target: str, security: str) -> None:
        """The session so far, as a recording with its secrets redacted (``to_json``'s default)."""
        if not views:
            return
        meta = new_meta(target=target, security=security)
        self.send(Recording.from_stepper(stepper, views, meta).to_json().encode("ascii"))

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._followers):
            writer.close()
        self._followers.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# --- A follower's end ---------------------------------------------------------------------------------


def _check_length(header: bytes) -> int:
    (size,) = HEADER.unpack(header)
    if size > MAX_FILE_SIZE:
        raise RecordingError(f"the teacher's session sent a message of {size} bytes, more than a recording holds")
    return size


def first_recording(path: Path | None = None, *, timeout: float | None = None) -> Recording:
    """Wait for the teacher's session and return it as it is now (blocking; before a follower's app starts).
    ``TimeoutError`` after ``timeout`` seconds without one; ``RecordingError`` for a broken message."""
    path = path or classroom_socket()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(path))
                sock.shutdown(socket.SHUT_WR)
                size = _check_length(_exactly(sock, HEADER.size))
                return Recording.from_json(_exactly(sock, size).decode("utf-8"))
        except (OSError, EOFError):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"no session broadcasts on {path}") from None
            time.sleep(RETRY)
        except UnicodeDecodeError:
            raise RecordingError("the teacher's session sent text that is not UTF-8") from None


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(min(count - len(data), 1 << 20))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


async def follow(path: Path | None = None) -> AsyncIterator[Recording | RecordingError]:
    """The teacher's session each time it changes, for as long as the caller iterates; it waits through a
    teacher who is not there yet or who started again. A broken message comes as its ``RecordingError``."""
    path = path or classroom_socket()
    while True:
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
        except OSError:
            await asyncio.sleep(RETRY)
            continue
        with contextlib.suppress(OSError):
            writer.get_extra_info("socket").shutdown(socket.SHUT_WR)
        try:
            while True:
                payload = await _newest(reader)
                try:
                    yield Recording.from_json(payload.decode("utf-8"))
                except (RecordingError, UnicodeDecodeError) as error:
                    yield error if isinstance(error, RecordingError) else RecordingError("not UTF-8 text")
        except (asyncio.IncompleteReadError, ConnectionError, RecordingError):
            pass
        finally:
            writer.close()
        await asyncio.sleep(RETRY)


async def _newest(reader: asyncio.StreamReader) -> bytes:
    """The next message, or a later one already here: a follower that fell behind skips to the newest."""
    payload = await reader.readexactly(_check_length(await reader.readexactly(HEADER.size)))
    while len(reader._buffer) >= HEADER.size:  # noqa: SLF001 - only what has arrived, never a wait
        size = _check_length(bytes(reader._buffer[:HEADER.size]))  # noqa: SLF001
        if len(reader._buffer) < HEADER.size + size:  # noqa: SLF001
            break
        await reader.readexactly(HEADER.size)
        payload = await reader.readexactly(size)
    return payload


__all__ = ["Broadcast", "BroadcastError", "classroom_socket", "first_recording", "follow"]
