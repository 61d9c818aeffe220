"""A JSON codec for smtpstep's values: frozen dataclasses, enums, bytes, tuples, datetimes and paths.

``encode(value)`` gives data that ``json.dumps`` takes; ``decode(data)`` gives back an equal value.
Recordings (``smtpstep.app.session.recording``) are made of it.

Rules:
- only the classes in the registry are ever built from a file: a type name in the data is looked up
  there and never imported, so a recording cannot run code or make arbitrary objects;
- each dataclass is rebuilt through its own constructor, so its own checks run (an ``Ehlo`` with a
  line break in its name is refused when read back, exactly as when typed, RFC 5321 §2.3.8);
- every problem with the data is a ``CodecError`` holding one plain sentence, never another exception;
- nothing is encoded that could not be decoded again: an unregistered class is refused on the way out.
  ``SessionPlan`` is deliberately absent: it holds the password.
No I/O, no clock and no Textual here.

The format: a JSON array is a tuple. Everything else that JSON lacks is an object with one tag:
``{"$type": "Reply", "code": 250, ...}`` (a dataclass, its fields by name), ``{"$enum": "State.CLOSED"}``,
``{"$bytes": "EHLO x\\r\\n"}`` (bytes that are UTF-8 text, kept readable) or ``{"$b64": "..."}`` (any
other bytes, base64), ``{"$datetime": "2026-11-28T09:00:00+00:00"}``, ``{"$path": "/tmp/ca.pem"}``,
``{"$list": [...]}``, ``{"$frozenset": [...]}`` (sorted, so the output is stable) and
``{"$dict": [[key, value], ...]}``. With a ``Blobs`` table, bytes of ``BLOB_MIN`` octets or more are kept
once in the table and written as ``{"$blob": n}``, its index: the message a session sends sits in the
queue of every view before it is sent, and without this a recording held it a dozen times.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import enum
import json
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePath
from typing import Any

MAX_DEPTH = 200
"""Deepest nesting decoded; real values nest about a dozen levels, a hostile file could nest thousands."""

TOO_DEEP = "the file is nested too deeply"
"""What a ``CodecError`` for data nested past ``MAX_DEPTH`` says (and what a reader says for JSON nested past
what Python's parser takes)."""

BLOB_MIN = 4096
"""Bytes values this long or longer go into the ``Blobs`` table, once each."""

_TAGS = ("$type", "$enum", "$bytes", "$b64", "$datetime", "$path", "$list", "$frozenset", "$dict", "$blob")


class Blobs:
    """Long byte strings kept once per document, each referred to by its index (``{"$blob": n}``)."""

    def __init__(self) -> None:
        self.items: list[bytes] = []
        """The byte strings, in the order they were first met."""
        self._index: dict[bytes, int] = {}

    def ref(self, data: bytes) -> int:
        """The index of ``data``, added if it is new."""
        index = self._index.get(data)
        if index is None:
            index = self._index[data] = len(self.items)
            self.items.append(data)
        return index


class CodecError(ValueError):
    """Data that cannot be encoded or decoded; ``str(error)`` says why in plain words."""


Transform = Callable[[Any], Any]
"""Applied to every value before it is encoded (redaction uses it); returns the value to encode."""


class Codec:
    """Encodes and decodes the dataclasses and enums it was given, and nothing else."""

    def __init__(self, classes: Iterable[type]) -> None:
        self._classes: dict[str, type] = {}
        for cls in classes:
            if not (dataclasses.is_dataclass(cls) or issubclass(cls, enum.Enum)):
                raise TypeError(f"{cls.__qualname__} is neither a dataclass nor an enum")
            name = cls.__name__
            if name in self._classes and self._classes[name] is not cls:
                raise TypeError(f"two registered classes are called {name}")
            self._classes[name] = cls
        self._hints: dict[type, dict[str, Any]] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._classes)

    # -- encoding --------------------------------------------------------------------------------

    def encode(self, value: Any, *, transform: Transform | None = None, blobs: Blobs | None = None) -> Any:
        """``value`` as JSON-able data; ``transform`` may replace any value (and nested ones) first; with
        ``blobs``, long bytes go there and are referred to."""
        if transform is not None:
            value = transform(value)
        if value is None or isinstance(value, (bool, int, float, str)) and not isinstance(value, enum.Enum):
            return value
        if isinstance(value, enum.Enum):
            return {"$enum": f"{self._registered(type(value))}.{value.name}"}
        if isinstance(value, (bytes, bytearray)):
            if blobs is not None and len(value) >= BLOB_MIN:
                return {"$blob": blobs.ref(bytes(value))}
            return _encode_bytes(bytes(value))

        def encode(item: Any) -> Any:
            return self.encode(item, transform=transform, blobs=blobs)

        if isinstance(value, tuple):
            return [encode(item) for item in value]
        if isinstance(value, list):
            return {"$list": [encode(item) for item in value]}
        if isinstance(value, (frozenset, set)):
            items = [encode(item) for item in value]
            return {"$frozenset": sorted(items, key=lambda item: json.dumps(item, sort_keys=True))}
        if isinstance(value, dict):
            return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
        if isinstance(value, datetime.datetime):
            return {"$datetime": value.isoformat()}
        if isinstance(value, PurePath):
            return {"$path": str(value)}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out: dict[str, Any] = {"$type": self._registered(type(value))}
            for f in dataclasses.fields(value):
                out[f.name] = encode(getattr(value, f.name))
            return out
        raise CodecError(f"a {type(value).__name__} cannot be saved (smtpstep does not know that kind of value)")

    def _registered(self, cls: type) -> str:
        name = cls.__name__
        if self._classes.get(name) is not cls:
            raise CodecError(f"{_a(cls.__qualname__)} cannot be saved: it is not one of the values smtpstep records")
        return name

    # -- decoding --------------------------------------------------------------------------------

    def decode(self, data: Any, *, blobs: Sequence[bytes] = ()) -> Any:
        """The value that ``encode`` turned into ``data`` (``blobs``: the table its ``$blob`` values index).
        Raises ``CodecError`` for anything else."""
        return self._decode(data, 0, blobs)

    def _decode(self, data: Any, depth: int, blobs: Sequence[bytes]) -> Any:
        if depth > MAX_DEPTH:
            raise CodecError(f"{TOO_DEEP} (more than {MAX_DEPTH} levels)")
        if data is None or isinstance(data, (bool, int, float, str)):
            return data
        if isinstance(data, list):
            return tuple(self._decode(item, depth + 1, blobs) for item in data)
        if not isinstance(data, dict):
            raise CodecError(f"a {type(data).__name__} is not a value smtpstep writes")
        tags = [key for key in _TAGS if key in data]
        if len(tags) != 1:
            shown = ", ".join(sorted(map(str, data))[:5]) or "nothing"
            raise CodecError(f"an object with {shown} is not a value smtpstep writes")
        tag = tags[0]
        if tag == "$type":
            return self._dataclass(data, depth, blobs)
        if len(data) != 1:
            raise CodecError(f"a {tag[1:]} value has extra keys")
        body = data[tag]
        if tag == "$blob":
            if isinstance(body, bool) or not isinstance(body, int) or not 0 <= body < len(blobs):
                raise CodecError("a reference to a long value points at nothing the file holds")
            return blobs[body]
        if tag == "$enum":
            return self._enum(body)
        if tag == "$bytes":
            return _text(tag, body).encode("utf-8")
        if tag == "$b64":
            try:
                return base64.b64decode(_text(tag, body), validate=True)
            except (binascii.Error, ValueError):
                raise CodecError("a base64 value is not valid base64") from None
        if tag == "$datetime":
            try:
                return datetime.datetime.fromisoformat(_text(tag, body))
            except ValueError:
                raise CodecError(f"“{str(body)[:40]}” is not a date and time") from None
        if tag == "$path":
            return Path(_text(tag, body))
        if not isinstance(body, list):
            raise CodecError(f"a {tag[1:]} value must hold a list")
        items = [self._decode(item, depth + 1, blobs) for item in body]
        if tag == "$list":
            return items
        try:
            if tag == "$frozenset":
                return frozenset(items)
            return {k: v for k, v in (_pair(item) for item in items)}
        except TypeError:
            raise CodecError(f"a {tag[1:]} value holds something that cannot be a key") from None

    def _enum(self, body: Any) -> enum.Enum:
        name, _, member = _text("$enum", body).partition(".")
        cls = self._classes.get(name)
        if cls is None or not issubclass(cls, enum.Enum):
            raise CodecError(f"“{name}” is not a kind of value smtpstep records")
        try:
            return cls[member]
        except KeyError:
            raise CodecError(f"“{member}” is not a {name} smtpstep knows") from None

    def _dataclass(self, data: dict[str, Any], depth: int, blobs: Sequence[bytes]) -> Any:
        name = data["$type"]
        cls = self._classes.get(name) if isinstance(name, str) else None
        if cls is None or not dataclasses.is_dataclass(cls):
            raise CodecError(f"“{str(name)[:40]}” is not a kind of value smtpstep records")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [key for key in data if key != "$type" and key not in fields]
        if unknown:
            raise CodecError(f"{_a(name)} has no field “{unknown[0][:40]}” "
                             "(was the file made by a newer smtpstep?)")
        kwargs: dict[str, Any] = {}
        later: dict[str, Any] = {}
        for field_name, f in fields.items():
            if field_name not in data:
                has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                if f.init and not has_default:
                    raise CodecError(f"{_a(name)} lacks its field “{field_name}”")
                continue
            value = self._decode(data[field_name], depth + 1, blobs)
            hint = self._hints_of(cls).get(field_name)
            if hint is not None and not _fits(value, hint):
                raise CodecError(f"the field “{field_name}” of {_a(name)} holds a {type(value).__name__}, "
                                 f"which it cannot be")
            (kwargs if f.init else later)[field_name] = value
        try:
            obj = cls(**kwargs)
        except (TypeError, ValueError) as error:
            said = " ".join(str(error).split())[:160]
            raise CodecError(f"{_a(name)} in the data is not valid: {said}") from None
        for field_name, value in later.items():
            object.__setattr__(obj, field_name, value)
        return obj


    def _hints_of(self, cls: type) -> dict[str, Any]:
        hints = self._hints.get(cls)
        if hints is None:
            try:
                hints = typing.get_type_hints(cls)
            except Exception:  # noqa: BLE001 - a hint that does not resolve is simply not checked
                hints = {}
            self._hints[cls] = hints
        return hints


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded value can stand in a field annotated ``hint`` (unknown hints: yes)."""
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(item, args[0]) for item in value)
        return not args or (len(args) == len(value) and all(map(_fits, value, args)))
    if origin in (frozenset, set):
        return isinstance(value, frozenset) and all(_fits(item, args[0]) for item in value) if args else True
    if origin in (list, dict) or origin is not None:
        return isinstance(value, origin) if isinstance(origin, type) else True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _a(name: str) -> str:
    return f"an {name}" if name[:1].upper() in "AEIOU" else f"a {name}"


def _encode_bytes(data: bytes) -> dict[str, str]:
    try:
        return {"$bytes": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"$b64": base64.b64encode(data).decode("ascii")}


def _text(tag: str, body: Any) -> str:
    if not isinstance(body, str):
        raise CodecError(f"a {tag[1:]} value must be text")
    return body


def _pair(item: Any) -> tuple[Any, Any]:
    if not (isinstance(item, tuple) and len(item) == 2):
        raise CodecError("a dict value must hold [key, value] pairs")
    return item


def smtpstep_classes() -> tuple[type, ...]:
    """Every class a recording may hold: the session view and everything it is made of."""
    from smtpstep.app.session.stepper import SessionView
    from smtpstep.protocol.capabilities import Capabilities
    from smtpstep.protocol.client import Answer, ClientView, Discarded, Envelope, Session, Transaction
    from smtpstep.protocol.commands import (
        Auth,
        AuthResponse,
        Bdat,
        Connect,
        Data,
        DnsLookup,
        Ehlo,
        Expn,
        Helo,
        Help,
        MailFrom,
        MessageBody,
        Noop,
        Quit,
        Raw,
        RcptTo,
        ReadGreeting,
        Rset,
        StartTls,
        TlsHandshake,
        Verb,
        Vrfy,
    )
    from smtpstep.protocol.planner import Planned
    from smtpstep.protocol.replies import Reply
    from smtpstep.protocol.routing import DnsAnswer
    from smtpstep.protocol.states import State
    from smtpstep.protocol.transport.certificates import CertInfo, TlsInfo
    from smtpstep.protocol.transport.wire import Failure, RawEvent, Snapshot, StepResult, Target, WireChunk

    return (
        SessionView, Snapshot, StepResult, Target, WireChunk, RawEvent, Failure, Planned,
        ClientView, Session, Envelope, Answer, Discarded, Transaction, Capabilities, Reply, TlsInfo, CertInfo,
        Connect, ReadGreeting, TlsHandshake, Ehlo, Helo, StartTls, Auth, AuthResponse, MailFrom, RcptTo, Data,
        MessageBody, Bdat, Rset, Noop, Vrfy, Expn, Help, Quit, Raw, DnsLookup, DnsAnswer,
        State, Verb,
    )


_CODEC: Codec | None = None


def codec() -> Codec:
    """The codec for smtpstep's recorded values (built on first use)."""
    global _CODEC
    if _CODEC is None:
        _CODEC = Codec(smtpstep_classes())
    return _CODEC


def encode(value: Any, *, transform: Transform | None = None, blobs: Blobs | None = None) -> Any:
    """``value`` as JSON-able data, with smtpstep's registry."""
    return codec().encode(value, transform=transform, blobs=blobs)


def decode(data: Any, *, blobs: Sequence[bytes] = ()) -> Any:
    """The value ``encode`` made ``data`` from, with smtpstep's registry; ``CodecError`` otherwise."""
    return codec().decode(data, blobs=blobs)
