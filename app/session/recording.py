"""A recorded session: the view before the first step and after each step, every wire chunk, and the raw bytes.

Holds ``Recording`` (made from a ``Stepper`` and the views taken of it, saved as JSON, loaded for
``smtpstep replay`` and exports) and ``record_session`` (a whole planned session, headless, for tests).

Rules:
- secrets are redacted on the way out unless asked: every wire chunk's secret spans become ********
  (the spans are kept, so renderers still know where a secret was), ``Auth.password`` and AUTH
  answers in commands become ******** too, and the password and the base64 strings that carry it are
  blanked wherever else they appear (a server echoing them, a hand-typed AUTH line);
- the raw events (the socket's own bytes, which a .pcapng export frames) are redacted byte for byte:
  a secret span or a password form becomes as many ``*``, so the TCP framing stays true; under TLS
  they are ciphertext, and the TLS keys are never stored;
- the session plan, which holds the password, is never stored;
- reading a broken, foreign or newer file raises ``RecordingError`` with one plain sentence: no
  traceback, and no class is made that is not in ``smtpstep.app.session.codec``'s registry;
- a recording is text from outside: its size is checked before it is read and no more than
  ``MAX_FILE_SIZE`` is ever read, nesting is bounded ("the file is nested too deeply"), and what it
  holds is shown escaped by every renderer (the transcript, the narration, the exports);
- no Textual here: the replay screen and the exports render what this holds.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtpstep.app.session.codec import TOO_DEEP, Blobs, CodecError, decode, encode
from smtpstep.app.session.options import password_forms
from smtpstep.app.session.settings import plan_for
from smtpstep.app.session.stepper import MAX_STEPS, REFUSED_BEFORE_SENDING, SessionView, Stepper
from smtpstep.app.session.transcript import SECRET_MASK
from smtpstep.protocol.commands import Auth, AuthResponse, Raw, Verb
from smtpstep.protocol.transport.wire import RawEvent, WireChunk

if TYPE_CHECKING:
    from smtpstep.app.session.settings import SessionSettings
    from smtpstep.protocol.server.server import LocalServer

FORMAT = "smtpstep recording"
"""The value of the file's ``format`` key: what tells a recording from any other JSON."""

VERSION = 3
"""The file layout's version; a newer one is refused with a plain sentence. 2 added ``blobs`` (long byte
strings kept once, ``codec.Blobs``), 3 the raw events and the session's wall-clock start (``raw``,
``started``); older files are read as they are (without raw bytes: no .pcapng from them)."""

MAX_FILE_SIZE = 64 * 1024 * 1024
"""Larger files are refused before anything is parsed, and no more than this is ever read (a device or a
pipe may never end). A recording of a normal session is under 100 KB; one whose message is the built-in
server's largest (32 MiB) is about 34 MB. What reading a file at the limit costs is measured in
``tests/reliability/test_memory_bounds.py`` and stated in docs/security.md."""


class RecordingError(Exception):
    """A recording cannot be read (or written); ``str(error)`` says why in one plain sentence."""


@dataclass
class Recording:
    """One session as it was, step by step."""

    meta: dict[str, Any]
    """smtpstep version, created (ISO date), target (a description), security, redacted, steps."""
    views: list[SessionView]
    """The view before the first step, then one after each step: ``views[n]`` is "after step n"."""
    chunks: list[WireChunk]
    """The whole wire record of the session."""
    hide: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """The password and the base64 forms that carry it, to blank on the way out; never saved."""
    raw: list[RawEvent] = field(default_factory=list)
    """The socket's own bytes and TCP events, in order (``wire.RawEvent``): what a .pcapng export frames."""
    started: float = 0.0
    """The session's start as wall-clock time (``time.time()``): the raw events' times count from it."""

    # -- making ----------------------------------------------------------------------------------

    @classmethod
    def from_stepper(cls, stepper: Stepper, views: Sequence[SessionView],
                     meta: dict[str, Any] | None = None) -> Recording:
        """The stepper's current session (its transport's wire record) with the views taken of it."""
        if not views:
            raise ValueError("a recording needs at least the view before the first step")
        plan = stepper.plan
        full = new_meta(target=stepper.target.address, security=stepper.target.security)
        full.update(meta or {})
        full["steps"] = len(views) - 1
        record = stepper.transport.record
        return cls(full, list(views), list(record.chunks), hide=password_forms(plan.username, plan.password),
                   raw=list(record.raw), started=record.started)

    # -- reading ---------------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """How many steps were taken (the views are one more)."""
        return len(self.views) - 1

    @property
    def redacted(self) -> bool:
        """True when the secrets were blanked before this recording was saved."""
        return bool(self.meta.get("redacted", False))

    def view_at(self, step: int) -> SessionView:
        """The view after ``step`` (0: before the first step)."""
        if not 0 <= step < len(self.views):
            raise IndexError(f"step {step} is not in this recording (it has steps 0 to {self.steps})")
        return self.views[step]

    def chunks_until(self, step: int) -> list[WireChunk]:
        """The wire chunks recorded up to the view after ``step``."""
        return self.chunks[: self.view_at(step).snapshot.wire_count]

    def chunks_of(self, step: int) -> list[WireChunk]:
        """The wire chunks of ``step`` alone (none for step 0)."""
        start = self.view_at(step - 1).snapshot.wire_count if step > 0 else 0
        return self.chunks[start: self.view_at(step).snapshot.wire_count]

    # -- saving ----------------------------------------------------------------------------------

    def to_json(self, *, show_secrets: bool = False) -> str:
        """The recording as JSON text; secrets redacted unless ``show_secrets``."""
        meta = dict(self.meta)
        meta["redacted"] = self.redacted or not show_secrets
        meta["steps"] = self.steps
        transform = None if show_secrets else _Redactor(self.hide)
        blobs = Blobs()
        try:
            views = encode(list(self.views), transform=transform, blobs=blobs)["$list"]
            chunks = encode(list(self.chunks), transform=transform, blobs=blobs)["$list"]
            raw = encode(list(self.raw), transform=transform, blobs=blobs)["$list"]
            document = {
                "format": FORMAT,
                "version": VERSION,
                "meta": _plain(meta, transform),
                "blobs": [encode(blob) for blob in blobs.items],
                "views": views,
                "chunks": chunks,
                "raw": raw,
                "started": self.started,
            }
        except CodecError as error:
            raise RecordingError(f"the session cannot be saved: {error}") from None
        # ASCII only: every control character (and any other language) is a \u escape, so the file is exact
        # and `cat` shows no control sequence; and its text costs one byte a character when read again.
        return json.dumps(document, ensure_ascii=True, indent=1) + "\n"

    def save(self, path: Path, *, show_secrets: bool = False) -> None:
        """Write the recording to ``path``; ``RecordingError`` when that fails."""
        text = self.to_json(show_secrets=show_secrets)
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as error:
            raise RecordingError(f"{path} cannot be written ({error.strerror or error})") from None

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, text: str) -> Recording:
        """The recording in ``text``; ``RecordingError`` for anything that is not one."""
        return cls._from_document(_parse(text))

    @classmethod
    def _from_document(cls, document: Any) -> Recording:
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise RecordingError("it is JSON, but not a smtpstep recording")
        version = document.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordingError("the recording does not say which version of the format it uses")
        if version > VERSION:
            raise RecordingError(f"the recording was made by a newer smtpstep (format {version}; this one reads "
                                 f"up to {VERSION}): update smtpstep to open it")
        meta, views, chunks = document.get("meta"), document.get("views"), document.get("chunks")
        blobs = document.get("blobs", [])
        raw, started = document.get("raw", []), document.get("started", 0.0)
        if not isinstance(meta, dict) or not isinstance(views, list) or not isinstance(chunks, list) \
                or not isinstance(blobs, list) or not isinstance(raw, list) \
                or not isinstance(started, (int, float)) or isinstance(started, bool):
            raise RecordingError("the recording is damaged: it lacks its meta data, views or wire chunks")
        try:
            blobs_ = []
            for index, item in enumerate(blobs):
                blobs_.append(decode(item))
                blobs[index] = None  # the text goes as its bytes come: one copy at a time
            if not all(isinstance(blob, bytes) for blob in blobs_):
                raise CodecError("its table of long values holds something else than bytes")
            views_ = [decode(item, blobs=blobs_) for item in views]
            chunks_ = [decode(item, blobs=blobs_) for item in chunks]
            raw_ = [decode(item, blobs=blobs_) for item in raw]
        except CodecError as error:
            said = str(error)
            raise RecordingError(said if said.startswith(TOO_DEEP) else f"the recording is damaged: {said}") from None
        except RecursionError:
            raise RecordingError(TOO_DEEP) from None
        if not views_ or not all(isinstance(v, SessionView) for v in views_):
            raise RecordingError("the recording is damaged: its views are not session views")
        if not all(isinstance(c, WireChunk) for c in chunks_):
            raise RecordingError("the recording is damaged: its wire record holds something else than chunks")
        if not all(isinstance(r, RawEvent) for r in raw_):
            raise RecordingError("the recording is damaged: its raw bytes hold something else than socket events")
        counts = [v.snapshot.wire_count for v in views_]
        if any(b < a for a, b in zip(counts, counts[1:])) or counts[-1] > len(chunks_) or counts[0] < 0:
            raise RecordingError("the recording is damaged: its views point at wire chunks it does not hold")
        return cls(meta, views_, chunks_, hide=_hide_from(views_), raw=raw_, started=float(started))

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read a recording file; ``RecordingError`` names the file and the problem."""
        path = Path(path)
        too_large = f"{path} is larger than {MAX_FILE_SIZE // (1024 * 1024)} MiB, more than a smtpstep recording holds"
        try:
            if path.is_dir():
                raise RecordingError(f"{path} is a folder, not a recording")
            if path.stat().st_size > MAX_FILE_SIZE:  # before a byte is read
                raise RecordingError(too_large)
            with path.open("rb") as file:
                data = file.read(MAX_FILE_SIZE + 1)  # and no further, whatever the file turns out to be
            if len(data) > MAX_FILE_SIZE:
                raise RecordingError(too_large)
            if len(data) > MAX_NON_ASCII_SIZE and not data.isascii():
                raise RecordingError(f"{path} is larger than {MAX_NON_ASCII_SIZE // (1024 * 1024)} MiB and not ASCII "
                                     "text, as smtpstep writes a recording")
            text = data.decode("utf-8")
            del data  # the bytes go before the text is parsed
        except FileNotFoundError:
            raise RecordingError(f"{path}: there is no such file") from None
        except OSError as error:
            raise RecordingError(f"{path} cannot be read ({error.strerror or error})") from None
        except UnicodeDecodeError:
            raise RecordingError(f"{path} is not a smtpstep recording: it is not UTF-8 text") from None
        try:
            document = _parse(text)
            del text  # the text goes before the values are built
            return cls._from_document(document)
        except RecordingError as error:
            raise RecordingError(f"{path}: {error}") from None


MAX_NON_ASCII_SIZE = 16 * 1024 * 1024
"""Largest recording with characters beyond ASCII (smtpstep writes ASCII; older versions did not). Python keeps
such text at up to four bytes a character, so this bounds its memory as ``MAX_FILE_SIZE`` bounds ASCII's."""

MAX_VALUES = 1_000_000
"""Most JSON values (objects, arrays, strings, numbers, literals) a recording may hold: a session of 100
steps holds about 100,000. Checked before parsing: memory grows with the count of values, not only with the
file's size (64 MiB of ``[],`` would be 22 million lists, about 1.4 GB)."""

_VALUE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[-0-9]+|true|false|null')
"""One JSON value's start: a whole string (so that nothing inside it counts), an object or array, a number,
a literal."""


def _parse(text: str) -> Any:
    """The JSON document in ``text``, its values counted first; ``RecordingError`` in plain words."""
    # Every value but the first of a container follows a comma, every key a colon: the counts of the four
    # characters bound the values from above. Only when that bound is over the limit (commas in a long
    # message...) are the values counted one by one, strings skipped whole, up to the limit.
    rough = text.count("[") + text.count("{") + text.count(",") + text.count(":") + 1
    if rough > MAX_VALUES:
        count = 0
        for count, _ in enumerate(_VALUE.finditer(text), 1):
            if count > MAX_VALUES:
                raise RecordingError(f"it holds more than {MAX_VALUES:,} values, more than a smtpstep recording has")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordingError(
            f"it is not a smtpstep recording: it is not valid JSON (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:  # Python's JSON parser recurses per level of nesting
        raise RecordingError(TOO_DEEP) from None


def _hide_from(views: Sequence[SessionView]) -> tuple[str, ...]:
    """The password forms to blank in a recording saved with its secrets (from its AUTH commands)."""
    forms: set[str] = set()
    for view in views:
        commands = [p.command for p in view.queue] + list(view.last.commands if view.last else ())
        for command in commands:
            if isinstance(command, Auth) and command.password != SECRET_MASK:
                forms.update(password_forms(command.username, command.password))
    return tuple(sorted(forms, key=len, reverse=True))


def new_meta(*, target: str, security: str, created: datetime.datetime | None = None) -> dict[str, Any]:
    """The meta data of a new recording: smtpstep's version, the date, the target and its security."""
    moment = created or datetime.datetime.now(datetime.timezone.utc)
    return {
        "smtpstep": _version(),
        "created": moment.isoformat(timespec="seconds"),
        "target": target,
        "security": security,
        "redacted": False,
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smtpstep")
    except PackageNotFoundError:
        return "(not installed)"


def _plain(meta: dict[str, Any], transform: Callable[[Any], Any] | None) -> dict[str, Any]:
    """Meta data as plain JSON (strings, numbers, booleans), blanked like everything else."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            value = str(value)
        out[str(key)] = transform(value) if transform is not None else value
    return out


# --- Redaction --------------------------------------------------------------------------------------


class _Redactor:
    """The codec's transform that takes every secret out of a value on its way to the file."""

    def __init__(self, hide: Sequence[str]) -> None:
        self.hide = tuple(h for h in hide if h)
        self.hide_bytes = tuple(h.encode() for h in self.hide)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, bytes):
            return self._bytes(value)
        if isinstance(value, WireChunk):
            return self._chunk(value)
        if isinstance(value, RawEvent):
            return self._raw(value)
        if isinstance(value, Auth) and value.password:
            return replace(value, password=SECRET_MASK)
        if isinstance(value, AuthResponse) and value.secret and value.payload:
            return replace(value, payload=SECRET_MASK)
        if isinstance(value, Raw) and value.acts_as == Verb.AUTH:
            out = value.render()
            if out.secrets:
                return Raw(out.redacted(SECRET_MASK.encode()).decode("utf-8", "replace").rstrip("\r\n"))
        return value

    def _text(self, text: str) -> str:
        for form in self.hide:
            text = text.replace(form, SECRET_MASK)
        return text

    def _bytes(self, data: bytes) -> bytes:
        for form in self.hide_bytes:
            data = data.replace(form, SECRET_MASK.encode())
        return data

    def _raw(self, event: RawEvent) -> RawEvent:
        """Secret spans and password forms masked byte for byte: a .pcapng made from it keeps true TCP numbers."""
        if not event.data:
            return event
        data = bytearray(event.data)
        for start, end in event.secrets:
            data[start:end] = b"*" * (end - start)
        masked = bytes(data)
        for form in self.hide_bytes:
            masked = masked.replace(form, b"*" * len(form))
        return replace(event, data=masked)

    def _chunk(self, chunk: WireChunk) -> WireChunk:
        """The secret spans replaced by the mask (new spans point at the masks), the rest blanked."""
        if not chunk.secrets:
            return chunk  # its data and note are blanked when the codec reaches them
        out, spans, last = bytearray(), [], 0
        for start, end in sorted(chunk.secrets):
            out += self._bytes(chunk.data[last:start])
            spans.append((len(out), len(out) + len(SECRET_MASK)))
            out += SECRET_MASK.encode()
            last = max(last, end)
        out += self._bytes(chunk.data[last:])
        return replace(chunk, data=bytes(out), secrets=tuple(spans))


# --- A whole planned session ------------------------------------------------------------------------


async def record_session(
    settings: SessionSettings,
    server: LocalServer | None = None,
    *,
    now: datetime.datetime | None = None,
    message_id: str | None = None,
    listener: Callable[[WireChunk], None] | None = None,
) -> Recording:
    """Run the planned session to its end with a ``Stepper`` and return its recording.

    With the built-in server and no ``server`` given, one is started for the session and stopped
    after. ``now`` and ``message_id`` fix the message's Date and Message-ID (for lecture notes and
    tests). The session stops where a person pressing "step" would have to decide: a command the
    session does not allow, or AUTH in clear text that needs consent.
    """
    own = None
    if settings.builtin and server is None:
        from smtpstep.protocol.server.server import LocalServer  # aiosmtpd and trustme: only for the built-in server

        own = server = LocalServer()
        await server.start()
    try:
        from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport

        stepper = Stepper(settings.target(server), plan_for(settings, now=now, message_id=message_id),
                          transport=AsyncioTransport, listener=listener)
        views = [stepper.view()]
        try:
            while stepper.head is not None and len(views) <= MAX_STEPS:
                if stepper.check_head() is not None:
                    break
                result = await stepper.step()
                views.append(stepper.view(after_step=True))
                if result is None or (result.failure is not None and result.failure.kind in REFUSED_BEFORE_SENDING):
                    break
        finally:
            await stepper.close()
        described = settings.describe(server)
        return Recording.from_stepper(stepper, views, new_meta(target=described, security=settings.security,
                                                               created=now))
    finally:
        if own is not None:
            await own.stop()


__all__ = ["FORMAT", "VERSION", "Recording", "RecordingError", "new_meta", "record_session"]
