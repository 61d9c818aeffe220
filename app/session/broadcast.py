"""The classroom channel: a teacher's live session streamed, step by step, as the values a recording holds; and,
in quiz mode, the followers' answers coming back.

Holds ``Broadcast`` (the teacher's end, ``smtpstep --broadcast``: a Unix socket that followers connect to; it
sends the session so far as soon as one connects, and again after every step, and the quiz question open now;
beside it a second socket takes the followers' answers), ``follow`` (a follower's end, ``smtpstep web
--follow``: the session as it comes, the questions, and a word when the teacher leaves), ``send_answer`` (a
follower's answer), the framing they share, and ``classroom_socket`` (where the sockets live). What a follower
shows is what ``smtpstep replay`` shows of the same recording: each recording message is
``Recording.to_json()``, read back with ``Recording.from_json``.

Rules:
- secrets never cross: every message is the recording with its secrets redacted, whatever the teacher's
  screen shows (the reveal key changes the teacher's wire log only); a question names the command, masked as
  the wire log masks it, and never its reply;
- the session's channel is one way: the teacher's end shuts its reading side on every connection and never
  reads there, and a follower shuts its writing side; the answers socket takes one bounded line per
  connection and hands it to the quiz's ``Poll`` (which accepts a question id and an answer, or nothing):
  nothing a follower does reaches the teacher's stepper or its server;
- local only, no secret on a command line: Unix sockets in a folder only this user may open (0700, checked),
  the sockets themselves 0600; an answer from another user's process is dropped (``SO_PEERCRED``), and each
  follower is named by its process, so a follower that reconnects is still one follower;
- text from outside: a message is a 4-byte length, a kind byte and that much JSON; a length above
  ``recording.MAX_FILE_SIZE`` ends the connection before anything is read, and the JSON goes through
  ``Recording.from_json`` (values counted, nesting bounded, only the codec's classes) or ``Asking.from_json``
  (a few bounded fields), so a broken stream is one plain sentence; every renderer escapes what it shows;
- the teacher never waits for a follower: one whose unread messages pass ``MAX_BEHIND`` is dropped, a follower
  that falls behind skips to the newest recording it has, and an answer that is not in at once is dropped;
- no Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.session.quiz import MAX_ANSWER_LINE, Asking, answer_line
from smtpstep.app.session.recording import MAX_FILE_SIZE, Recording, RecordingError, new_meta

if TYPE_CHECKING:
    from smtpstep.app.session.stepper import SessionView, Stepper

SOCKET_NAME = "classroom.sock"
ANSWERS_NAME = "classroom-answers.sock"
"""Beside the classroom socket: where followers' answers come in."""

HEADER = struct.Struct(">I")
"""Each message: its length (4 bytes, big-endian), then that many bytes: a kind and JSON."""

RECORDING = b"R"
"""The kind of a message that holds the session so far (a recording)."""
ASKING = b"Q"
"""The kind of a message that holds the quiz question open now (``Asking``), or that none is."""

MAX_ANSWERING = 64
"""Answers read at the same time; a follower's connection beyond them is closed unread."""

ANSWER_WAIT = 2.0
"""Seconds the teacher's end waits for an answer's line once a follower connected."""

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


def frame(payload: bytes, kind: bytes = RECORDING) -> bytes:
    return HEADER.pack(len(payload) + 1) + kind + payload


def answers_socket(path: Path) -> Path:
    """The answers socket beside the classroom socket ``path``."""
    return path.with_name(ANSWERS_NAME)


@dataclass(frozen=True)
class TeacherLeft:
    """The teacher's session is gone (it ended, or its connection broke); a follower keeps what it shows."""


# --- The teacher's end --------------------------------------------------------------------------------


class Broadcast:
    """The teacher's end: every connected follower gets the session so far, then each step's."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or classroom_socket()
        self._server: asyncio.base_events.Server | None = None
        self._followers: set[asyncio.StreamWriter] = set()
        self._latest: bytes | None = None
        """The last recording sent: a follower that connects gets it at once."""
        self._asking: bytes | None = None
        """The question open now, if any: a follower that connects gets it after the recording."""
        self._answers: asyncio.base_events.Server | None = None
        self._answering = 0
        self.on_answer: Callable[[object, bytes], None] | None = None
        """Told each answer line that came in, with the follower who sent it (its process id)."""
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
        answers = answers_socket(self.path)
        with contextlib.suppress(FileNotFoundError):
            answers.unlink()  # ours: the classroom socket is, and nobody else listens there
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._joined, str(self.path))
            self._answers = await asyncio.start_unix_server(self._answered, str(answers), limit=MAX_ANSWER_LINE)
        except OSError as error:
            await self.close()
            raise BroadcastError(f"{self.path} cannot be listened on ({error.strerror or error})") from None
        finally:
            os.umask(old)

    async def _joined(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)  # a follower has nothing to say to the teacher
        self._followers.add(writer)
        for message in (self._latest, self._asking):
            if message is not None:
                writer.write(message)

    def send(self, payload: bytes) -> None:
        """Send ``payload`` (a recording's JSON) to every follower, and to each one that joins later."""
        self._latest = frame(payload)
        self.sent_at = time.monotonic()
        self._to_all(self._latest)

    def ask(self, asking: Asking) -> None:
        """Tell every follower (and each one that joins later) the question open now, or that none is."""
        message = frame(asking.to_json(), ASKING)
        self._asking = message if asking.question is not None else None
        self._to_all(message)

    def _to_all(self, message: bytes) -> None:
        for writer in list(self._followers):
            transport = writer.transport
            if transport.is_closing() or transport.get_write_buffer_size() > MAX_BEHIND:
                self._followers.discard(writer)
                writer.close()
                continue
            writer.write(message)

    async def _answered(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One follower's answer: one line, bounded, from a process of this user; handed to ``on_answer``."""
        self._answering += 1
        try:
            follower = _peer(writer.get_extra_info("socket"))
            if self._answering > MAX_ANSWERING or follower is None or self.on_answer is None:
                return
            line = await asyncio.wait_for(reader.readuntil(b"\n"), ANSWER_WAIT)
            self.on_answer(follower, line[:-1])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError,
                OSError):
            pass  # too long, cut short or too slow: dropped
        finally:
            self._answering -= 1
            writer.close()

    def send_session(self, stepper: Stepper, views: Sequence[SessionView], target: str, security: str) -> None:
        """The session so far, as a recording with its secrets redacted (``to_json``'s default)."""
        if not views:
            return
        meta = new_meta(target=target, security=security)
        self.send(Recording.from_stepper(stepper, views, meta).to_json().encode("ascii"))

    async def close(self) -> None:
        server, self._server = self._server, None
        answers, self._answers = self._answers, None
        if answers is not None:
            answers.close()
            with contextlib.suppress(FileNotFoundError):
                answers_socket(self.path).unlink()
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


def _peer(sock: socket.socket | None) -> object | None:
    """Who is at the other end of an answers connection: its process id where the system says (Linux), or the
    connection itself; None for a process of another user."""
    if sock is None:
        return None
    if hasattr(socket, "SO_PEERCRED"):
        try:
            pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                 struct.calcsize("3i")))
        except OSError:
            return None
        return pid if uid == os.getuid() else None
    return object()


# --- A follower's end ---------------------------------------------------------------------------------


def _check_length(header: bytes) -> int:
    (size,) = HEADER.unpack(header)
    if size > MAX_FILE_SIZE:
        raise RecordingError(f"the teacher's session sent a message of {size} bytes, more than a recording holds")
    if size < 1:
        raise RecordingError("the teacher's session sent an empty message")
    return size


Followed = Recording | RecordingError | Asking | TeacherLeft
"""What ``follow`` yields."""


async def follow(path: Path | None = None) -> AsyncIterator[Followed]:
    """The teacher's session each time it changes, and its open question, for as long as the caller iterates;
    ``TeacherLeft`` when the teacher's session goes away after it was there. It waits through a teacher who is
    not there yet or who started again. A broken message comes as its ``RecordingError``."""
    path = path or classroom_socket()
    while True:
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
        except OSError:
            await asyncio.sleep(RETRY)
            continue
        with contextlib.suppress(OSError):
            writer.get_extra_info("socket").shutdown(socket.SHUT_WR)
        heard, broken = False, None
        try:
            while True:
                for payload in await _newest(reader):
                    heard = True
                    yield _read(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except RecordingError as error:  # a length no message has: the stream cannot go on
            broken = error
        finally:
            writer.close()
        if broken is not None:
            yield broken
        if heard:
            yield TeacherLeft()
        await asyncio.sleep(RETRY)


def _read(payload: bytes) -> Recording | RecordingError | Asking:
    kind, body = payload[:1], payload[1:]
    if kind == ASKING:
        return Asking.from_json(body) or RecordingError("the teacher's quiz question could not be read")
    if kind != RECORDING:
        return RecordingError("the teacher's session sent a message of a kind this smtpstep does not know")
    try:
        return Recording.from_json(body.decode("utf-8"))
    except UnicodeDecodeError:
        return RecordingError("not UTF-8 text")
    except RecordingError as error:
        return error


async def _newest(reader: asyncio.StreamReader) -> list[bytes]:
    """The next message and any later ones already here, in order; a recording a later one replaces is left
    out (a follower that fell behind skips to the newest), a question never is."""
    messages = [await reader.readexactly(_check_length(await reader.readexactly(HEADER.size)))]
    while len(reader._buffer) >= HEADER.size:  # noqa: SLF001 - only what has arrived, never a wait
        size = _check_length(bytes(reader._buffer[:HEADER.size]))  # noqa: SLF001
        if len(reader._buffer) < HEADER.size + size:  # noqa: SLF001
            break
        await reader.readexactly(HEADER.size)
        messages.append(await reader.readexactly(size))
    last = max((i for i, m in enumerate(messages) if m[:1] == RECORDING), default=-1)
    return [m for i, m in enumerate(messages) if i >= last or m[:1] != RECORDING]


async def send_answer(question: str, guess: str, path: Path | None = None) -> bool:
    """Send a follower's answer to the teacher's session; whether it went out (the teacher may be gone)."""
    line = answer_line(question, guess)
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(answers_socket(path or classroom_socket()))), ANSWER_WAIT)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        writer.write(line)
        await asyncio.wait_for(writer.drain(), ANSWER_WAIT)
        return True
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        writer.close()


__all__ = ["Broadcast", "BroadcastError", "TeacherLeft", "classroom_socket", "follow", "send_answer"]
