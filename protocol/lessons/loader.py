"""Reading lessons: the shipped catalog (``files/*.toml``) and a user's own file, with a clear error
(``LessonError``) that names the file, the line and the field for anything wrong.

The format is documented in ``docs/lessons.md``; where in a file an error is, ``locating.py`` finds. The only I/O is reading the lesson file asked for,
or the catalog shipped with the package.

A lesson file is text from outside (a teacher downloads one), so everything in it is bounded before
anything is built from it, each limit one plain sentence naming the field: the file's size (read no
further than ``MAX_FILE_BYTES``), how deeply its tables and arrays nest (``MAX_NESTING``; deeper is "the
file is nested too deeply", also where Python's TOML parser would run out of stack), the number of parts
and steps, every text field's length (``TEXT_LIMITS``), and the message a session sends, body times
``body_repeat``, checked as a product before any copy is made (``MAX_MESSAGE_BYTES``).
"""


from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from smtpstep.protocol.commands import InvalidCommand, MessageBody, check_address, check_field
from smtpstep.protocol.dsn_parameters import DsnSyntaxError, check_envid, notify_words, ret_value
from smtpstep.protocol.lessons.locating import Locator, Path_, syntax_error, where
from smtpstep.protocol.lessons.model import (
    AUTH_CHOICES,
    DEFAULT_BODY,
    DNS_STEP_KINDS,
    FAILURE_KINDS,
    MAX_PROBES,
    MITM_MODES,
    STEP_KINDS,
    Lesson,
    LessonError,
    Part,
    SessionSpec,
    StepNote,
    probe_commands,
)

CATALOG_PACKAGE_DIR = "files"
"""Where the shipped lessons live inside this package."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_EXPECT = re.compile(r"^[2-5][0-9][0-9]( [245]\.[0-9]{1,3}\.[0-9]{1,3})?$")
_HOST = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_SUMMARY_LIMIT = 100

MAX_FILE_BYTES = 256 * 1024
"""Largest lesson file read; the shipped ones are 2-4 KB."""

MAX_NESTING = 10
"""Deepest nesting of tables and arrays in a lesson file; a lesson uses five ([[part.step]] ``expect``)."""

MAX_PARTS = 20
"""Most parts (sessions) in one lesson."""

MAX_STEPS_PER_PART = 100
"""Most [[step]] tables in one part: a session stops after 100 steps anyway (``app.session.stepper.MAX_STEPS``)."""

MAX_RECIPIENTS = 100
"""Most addresses in ``to``: RFC 5321 §4.5.3.1.8 has servers accept at least 100 recipients."""

MAX_MESSAGE_BYTES = 1024 * 1024
"""Largest message a lesson sends (``body`` times ``body_repeat``, or ``raw_message``), in UTF-8 octets:
enough to exceed any SIZE a lesson shows, far below what fills a teacher's memory."""

TEXT_LIMITS = {
    "title": 200, "goal": 4000, "intro": 4000, "say": 2000, "kind": 200, "subject": 500, "helo": 255,
    "user": 255, "password": 255, "sni": 253,
    **{name: 64 for name in ("scenario", "security", "auth", "mitm", "quit_after", "failure")},  # one of a few words
}
"""Most characters in each text field (the summary has its own limit, ``_SUMMARY_LIMIT``)."""
from smtpstep.protocol.planner import PHASES, SECURITIES

# --- Loading ------------------------------------------------------------------------------------


def catalog_names() -> list[str]:
    """The names of the shipped lessons, in catalog order."""
    return [lesson.name for lesson in catalog()]


def catalog() -> list[Lesson]:
    """Every shipped lesson, in catalog order (``order``, then name)."""
    folder = resources.files(__package__).joinpath(CATALOG_PACKAGE_DIR)
    lessons = [
        parse(entry.read_bytes(), name=entry.name[: -len(".toml")], source=f"{CATALOG_PACKAGE_DIR}/{entry.name}")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    ]
    return sorted(lessons, key=lambda lesson: (lesson.order, lesson.name))


def load(name_or_path: str | Path) -> Lesson:
    """A shipped lesson by name ("starttls"), or a lesson file by path; ``LessonError`` if it cannot be."""
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text).expanduser()
        try:
            with path.open("rb") as file:  # read no further than the limit: a device or a pipe may never end
                data = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise LessonError("there is no such lesson file", source=text) from None
        except IsADirectoryError:
            raise LessonError("this is a folder; give a lesson file ending in .toml", source=text) from None
        except OSError as error:
            raise LessonError(f"the file cannot be read ({error.strerror or error})", source=text) from None
        stem = path.name[: -len(".toml")] if path.name.endswith(".toml") else path.name
        return parse(data, name=stem, source=text)
    if not _NAME.match(text):
        raise LessonError("a lesson name is lower-case letters, digits and hyphens (or give a path to a .toml file)",
                          source=text)
    entry = resources.files(__package__).joinpath(CATALOG_PACKAGE_DIR, f"{text}.toml")
    if not entry.is_file():
        known = ", ".join(catalog_names())
        raise LessonError(f"there is no lesson of that name; `smtpstep lessons` lists them: {known}",
                          source=text)
    return parse(entry.read_bytes(), name=text, source=f"{CATALOG_PACKAGE_DIR}/{text}.toml")


def parse(data: bytes, *, name: str, source: str) -> Lesson:
    """A lesson from the bytes of its TOML file; ``source`` names the file in errors."""
    if len(data) > MAX_FILE_BYTES:
        raise LessonError(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB, far more than a lesson needs",
                          source=source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise LessonError("the file is not UTF-8 text", source=source, line=line) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise syntax_error(error, source, text) from None
    except RecursionError:  # the parser recurses per level of nesting
        raise LessonError(_TOO_DEEP, source=source) from None
    if _nesting(document) > MAX_NESTING:
        raise LessonError(_TOO_DEEP, source=source)
    return _Reader(text, source).lesson(document, name)


_TOO_DEEP = f"the file is nested too deeply (a lesson file nests tables and arrays at most {MAX_NESTING} levels)"


def _nesting(document: Any) -> int:
    """How deeply tables and arrays nest in ``document`` (a table of scalars is 1), without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            break
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


# --- Checking -----------------------------------------------------------------------------------

_LESSON_KEYS = {"title", "summary", "goal", "scenario", "order", "line_ends", "session", "step", "part", "exit"}
_PART_KEYS = {"title", "intro", "session", "step", "exit"}
_STEP_KEYS = {"kind", "say", "expect", "failure"}
_SESSION_KEYS = {
    "security": "security", "auth": "auth", "user": "user", "password": "password", "helo": "helo",
    "from": "mail_from", "to": "rcpt_tos", "subject": "subject", "body": "body", "body_repeat": "body_repeat",
    "raw_message": "raw_message", "exact": "exact", "pipelining": "pipelining", "bdat": "bdat",
    "declare_size": "declare_size",
    "allow_cleartext_auth": "allow_cleartext_auth", "sni": "sni", "mitm": "mitm", "quit_after": "quit_after",
    "mx": "mx", "probes": "probes",
    "verify": "verify", "mta": "mta", "notify": "notify", "ret": "ret", "envid": "envid", "orcpt": "orcpt",
    "requiretls": "requiretls",
}
"""Keys of a ``[session]`` table, and the ``SessionSpec`` field each one sets."""
_SESSION_TYPES: dict[str, type] = {
    "body_repeat": int, "bdat": int, "exact": bool, "pipelining": bool, "declare_size": bool, "allow_cleartext_auth": bool,
    "to": list, "mx": bool, "probes": tuple, "verify": bool, "mta": bool, "orcpt": bool, "requiretls": bool,
}
"""Keys whose value is not a string."""
_TYPE_WORDS = {int: "a whole number", bool: "true or false", list: "a list of addresses", str: "a string",
               tuple: "a list of command lines"}

_T = TypeVar("_T")


class _Reader:
    """Turns the parsed TOML into a ``Lesson``, naming the line and field of the first problem."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = Locator(text)

    def fail(self, path: Path_, problem: str) -> LessonError:
        return LessonError(problem, source=self.source, line=self.lines.find(path), where=where(path))

    # -- tables ------------------------------------------------------------------------------------

    def lesson(self, doc: dict[str, Any], name: str) -> Lesson:
        self.known(doc, (), _LESSON_KEYS)
        title = self.text(doc, (), "title")
        summary = self.text(doc, (), "summary")
        if "\n" in summary.strip() or len(summary) > _SUMMARY_LIMIT:
            raise self.fail(("summary",), f"the summary is the one line `smtpstep lessons` shows: at most "
                                          f"{_SUMMARY_LIMIT} characters, no line break")
        goal = self.text(doc, (), "goal")
        scenario = self.text(doc, (), "scenario", default="normal")
        if not _NAME.match(scenario):
            raise self.fail(("scenario",), f"“{scenario}” is not a scenario name (lower-case words with hyphens, "
                                           "as `smtpstep serve --scenario` takes)")
        order = self.integer(doc, (), "order", default=1000, low=0, high=100_000)
        line_ends = doc.get("line_ends")
        if line_ends is not None and not isinstance(line_ends, bool):
            raise self.fail(("line_ends",), "this must be true or false")
        shared = self.table(doc, (), "session")
        self.known(shared, ("session",), set(_SESSION_KEYS))
        if "part" in doc:
            for key in ("step", "exit"):
                if key in doc:
                    raise self.fail((key,), f"with [[part]] tables, “{key}” belongs inside each part")
            parts_raw = doc["part"]
            if not isinstance(parts_raw, list) or not parts_raw or not all(isinstance(p, dict) for p in parts_raw):
                raise self.fail(("part",), "“part” must be one or more [[part]] tables")
            if len(parts_raw) > MAX_PARTS:
                raise self.fail(("part",), f"a lesson has at most {MAX_PARTS} parts, not {len(parts_raw)}")
            parts = tuple(self.part(raw, ("part", index), shared) for index, raw in enumerate(parts_raw))
        else:
            parts = (self.part({k: doc[k] for k in ("step", "exit") if k in doc}, (), shared, title=title),)
        return Lesson(name=name, title=title, summary=summary.strip(), goal=goal, scenario=scenario,
                      parts=parts, source=self.source, order=order, line_ends=line_ends)

    def part(self, raw: dict[str, Any], path: Path_, shared: dict[str, Any], *, title: str = "") -> Part:
        if path:
            self.known(raw, path, _PART_KEYS)
            title = self.text(raw, path, "title")
        intro = self.text(raw, path, "intro", default="") if path else ""
        own = self.table(raw, path, "session") if path else {}
        if path:
            self.known(own, path + ("session",), set(_SESSION_KEYS))
        origin = {key: ("session", key) for key in shared}
        origin.update({key: path + ("session", key) for key in own})
        spec = self.session({**shared, **own}, origin)
        steps_raw = raw.get("step")
        if not isinstance(steps_raw, list) or not steps_raw or not all(isinstance(s, dict) for s in steps_raw):
            raise self.fail(path + ("step",) if "step" in raw else path or ("step",),
                            "a lesson needs a [[step]] table for every step its session takes"
                            if not path else "each part needs a [[part.step]] table for every step its session takes")
        if len(steps_raw) > MAX_STEPS_PER_PART:
            raise self.fail(path + ("step",), f"a session has at most {MAX_STEPS_PER_PART} steps, not {len(steps_raw)}")
        steps = tuple(self.step(s, path + ("step", index)) for index, s in enumerate(steps_raw))
        exit_code = self.integer(raw, path, "exit", default=None, low=0, high=255)
        return Part(title=title, intro=intro, session=spec, steps=steps, exit=exit_code)

    def step(self, raw: dict[str, Any], path: Path_) -> StepNote:
        self.known(raw, path, _STEP_KEYS)
        kind = self.text(raw, path, "kind")
        for piece in kind.split("+"):
            if piece not in STEP_KINDS.values() and piece not in DNS_STEP_KINDS:
                raise self.fail(path + ("kind",), f"“{piece}” is not a kind of step; use one of "
                                                  f"{', '.join((*STEP_KINDS.values(), *DNS_STEP_KINDS))} (a "
                                                  "pipelined group joins "
                                                  "several with +, as in mail+rcpt+data)")
        say = self.text(raw, path, "say")
        expect_raw = raw.get("expect", [])
        expect = (expect_raw,) if isinstance(expect_raw, str) else expect_raw
        if not isinstance(expect, list | tuple) or not all(isinstance(e, str) for e in expect):
            raise self.fail(path + ("expect",), "“expect” is a reply such as \"250\" or \"550 5.1.1\", or a list "
                                                "of them for a pipelined group")
        for wanted in expect:
            if not _EXPECT.match(wanted):
                raise self.fail(path + ("expect",), f"“{wanted}” is not a reply code: write three digits, "
                                                    "optionally a space and an enhanced code (\"550 5.1.1\")")
        if len(expect) > len(kind.split("+")):
            raise self.fail(path + ("expect",), f"{len(expect)} replies expected for a step of "
                                                f"{len(kind.split('+'))} command(s)")
        failure = raw.get("failure")
        if isinstance(failure, str) and len(failure) > TEXT_LIMITS["failure"]:
            raise self.fail(path + ("failure",), _too_long(TEXT_LIMITS["failure"]))
        if failure is not None and failure not in FAILURE_KINDS:
            raise self.fail(path + ("failure",), f"“{failure}” is not a failure kind; use one of "
                                                 f"{', '.join(FAILURE_KINDS)}")
        return StepNote(kind=kind, say=" ".join(say.split()), expect=tuple(expect), failure=failure)

    def session(self, raw: dict[str, Any], origin: dict[str, Path_]) -> SessionSpec:
        def fail(key: str, problem: str) -> LessonError:
            return self.fail(origin.get(key, ("session", key)), problem)

        values: dict[str, Any] = {}
        for key, value in raw.items():
            wanted = _SESSION_TYPES.get(key, str)
            kind = list if wanted is tuple else wanted  # a TOML array arrives as a list
            if (isinstance(value, bool) and wanted is int) or not isinstance(value, kind):
                raise fail(key, f"this must be {_TYPE_WORDS[wanted]}")
            if isinstance(value, str) and key in TEXT_LIMITS and len(value) > TEXT_LIMITS[key]:
                raise fail(key, _too_long(TEXT_LIMITS[key]))
            values[_SESSION_KEYS[key]] = value
        self._message_size(raw, fail)
        if values.get("security", "starttls") not in SECURITIES:
            raise fail("security", f"“{values['security']}” is not a security setting; use one of "
                                   f"{', '.join(SECURITIES)}")
        if "auth" in values:
            values["auth"] = "none" if values["auth"].lower() == "none" else values["auth"].upper()
            if values["auth"] not in AUTH_CHOICES:
                raise fail("auth", f"“{raw['auth']}” is not a choice; use one of {', '.join(AUTH_CHOICES)}")
        for key in ("user", "password", "subject"):
            if key in raw:
                self._field(fail, key, raw[key])
        if "helo" in raw:
            self._field(fail, "helo", raw["helo"])
            if not raw["helo"] or any(c.isspace() for c in raw["helo"]):
                raise fail("helo", "the EHLO name is one word, such as client.example.test (RFC 5321 §4.1.1.1)")
        if "from" in raw:
            self._address(fail, "from", raw["from"], allow_null=True)
        if "to" in raw:
            if not raw["to"] or not all(isinstance(a, str) for a in raw["to"]):
                raise fail("to", "this must be a list of one or more addresses")
            if len(raw["to"]) > MAX_RECIPIENTS:
                raise fail("to", f"a lesson sends to at most {MAX_RECIPIENTS} recipients, not {len(raw['to'])}")
            for address in raw["to"]:
                self._address(fail, "to", address)
            values["rcpt_tos"] = tuple(raw["to"])
        if "probes" in raw:
            probes = raw["probes"]
            if len(probes) > MAX_PROBES or not all(isinstance(line, str) and len(line) <= 512 for line in probes):
                raise fail("probes", f"this must be a list of at most {MAX_PROBES} command lines such as "
                                     "\"VRFY student\"")
            try:
                probe_commands(probes)
            except ValueError as error:  # InvalidCommand is one too
                raise fail("probes", str(error)) from None
            values["probes"] = tuple(probes)
        if "\0" in raw.get("body", ""):
            raise fail("body", "the body contains a NUL byte, which a mail message cannot carry")
        if not 1 <= raw.get("body_repeat", 1) <= 100_000:
            raise fail("body_repeat", "this must be from 1 to 100000")
        if not 0 <= raw.get("bdat", 0) <= 2**31:
            raise fail("bdat", "this must be a chunk size in octets, 0 (the whole message in one chunk) or more")
        if "bdat" in raw and raw.get("exact"):
            raise fail("bdat", "a message sent exactly as given goes with DATA; leave out bdat or exact")
        if raw.get("quit_after", PHASES[0]) not in PHASES:
            raise fail("quit_after", f"“{raw['quit_after']}” is not a phase; use one of {', '.join(PHASES)}")
        if raw.get("mitm", MITM_MODES[0]) not in MITM_MODES:
            raise fail("mitm", f"“{raw['mitm']}” is not a man in the middle smtpstep has; use one of "
                               f"{', '.join(MITM_MODES)}")
        for key, read in (("notify", notify_words), ("ret", ret_value), ("envid", check_envid)):
            if key in raw:  # RFC 3461 §4.1, §4.3, §4.4
                try:
                    values[key] = read(raw[key])
                except DsnSyntaxError as error:
                    raise fail(key, str(error)) from None
        if "sni" in raw and not _HOST.match(raw["sni"]):
            raise fail("sni", f"“{raw['sni']}” is not a host name")
        if raw.get("exact"):
            if "raw_message" not in raw:
                raise fail("exact", "“exact = true” sends raw_message as given: give raw_message too")
            try:
                MessageBody(raw["raw_message"].encode("utf-8"), exact=True)
            except InvalidCommand as error:
                raise fail("raw_message", str(error)) from None
        return SessionSpec(**values)

    @staticmethod
    def _message_size(raw: dict[str, Any], fail: Any) -> None:
        """The message is at most ``MAX_MESSAGE_BYTES``: checked on the lengths, before a copy is made."""
        limit = f"{MAX_MESSAGE_BYTES // 1024} KiB"
        if "raw_message" in raw and len(raw["raw_message"].encode("utf-8")) > MAX_MESSAGE_BYTES:
            raise fail("raw_message", f"a lesson's message is at most {limit}")
        body = raw.get("body", DEFAULT_BODY)
        repeat = raw.get("body_repeat", 1)
        size = len(body.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            raise fail("body", f"a lesson's message is at most {limit}")
        if 1 <= repeat <= 100_000 and size * repeat > MAX_MESSAGE_BYTES:
            raise fail("body_repeat", f"{repeat} copies of the body make {size * repeat:,} octets; a lesson's "
                                      f"message is at most {limit}")

    @staticmethod
    def _field(fail: Any, key: str, value: str) -> None:
        try:
            check_field(f"“{key}”", value)
        except InvalidCommand as error:
            raise fail(key, str(error)) from None

    @staticmethod
    def _address(fail: Any, key: str, value: str, *, allow_null: bool = False) -> None:
        try:
            check_address(f"“{key}”", value, allow_null=allow_null)
        except InvalidCommand as error:
            raise fail(key, str(error)) from None

    # -- values ------------------------------------------------------------------------------------

    def known(self, table: dict[str, Any], path: Path_, keys: set[str]) -> None:
        for key in table:
            if key not in keys:
                close = ", ".join(sorted(keys))
                raise self.fail(path + (key,), f"unknown field; this table takes {close}")

    def text(self, table: dict[str, Any], path: Path_, key: str, default: str | None = None) -> str:
        if key not in table:
            if default is not None:
                return default
            raise self.fail(path, f"the field “{key}” is missing")
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path + (key,), "this must be a non-empty string")
        if len(value) > TEXT_LIMITS.get(key, len(value)):
            raise self.fail(path + (key,), _too_long(TEXT_LIMITS[key]))
        return value

    def integer(self, table: dict[str, Any], path: Path_, key: str, *, default: _T, low: int, high: int) -> int | _T:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(path + (key,), f"this must be a whole number from {low} to {high}")
        return value

    def table(self, parent: dict[str, Any], path: Path_, key: str) -> dict[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(path + (key,), f"“{key}” must be a table ([{'.'.join(map(str, path + (key,)))}])")
        return value


def _too_long(limit: int) -> str:
    return f"this is longer than the {limit:,} characters a lesson may put here"
