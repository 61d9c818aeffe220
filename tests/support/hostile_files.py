"""Hostile files for tests: a lesson file and a recording with ``HOSTILE_TEXT`` in every text field.

``write_hostile_lesson(path)`` writes a valid two-part lesson (it runs on the built-in server) whose
title, summary, goal, part titles, intros, every step's narration, subject, EHLO name and body carry
the hostile text, written with TOML's ``\\uXXXX`` escapes (TOML allows no raw control characters).
``hostile_recording(document)`` takes a recording's JSON (one made against the hostile-text server, whose
replies already carry the text) and puts the text into its meta data, every note, the session's names
and addresses, the client's lines and the step history as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.hostile_server import HOSTILE_TEXT


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string, every character that is not printable ASCII as ``\\uXXXX``."""
    out = []
    for char in text:
        if char in '"\\' or not (char.isprintable() and char.isascii()):
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


EVIL = toml_string(HOSTILE_TEXT)
EVIL_NO_NUL = toml_string(HOSTILE_TEXT.replace("\0", ""))
"""For fields that go on the wire, where smtpstep refuses NUL before anything is sent."""


def hostile_lesson_text() -> str:
    steps = ["connect", "greeting", "ehlo", "mail", "rcpt", "data", "message", "quit"]
    expect = {"greeting": "220", "ehlo": "250", "mail": "250", "rcpt": "250", "data": "354", "message": "250",
              "quit": "221"}
    lines = [
        f"title = {toml_string('Evil ' + HOSTILE_TEXT)}",
        f"summary = {toml_string(HOSTILE_TEXT[:60])}",
        f"goal = {EVIL}",
        'scenario = "normal"',
        "[session]",
        'security = "none"',
        f"subject = {EVIL_NO_NUL}",
        f"body = {EVIL_NO_NUL}",
        'helo = "evil\\u001b]0;TITLE\\u0007.test"',
    ]
    for part in (1, 2):
        lines += ["[[part]]", f"title = {toml_string(f'Part {part} ' + HOSTILE_TEXT)}", f"intro = {EVIL}", "exit = 0"]
        for kind in steps:
            lines += ["[[part.step]]", f'kind = "{kind}"', f"say = {EVIL}"]
            if kind in expect:
                lines.append(f'expect = "{expect[kind]}"')
    return "\n".join(lines) + "\n"


def write_hostile_lesson(path: Path) -> Path:
    path.write_text(hostile_lesson_text(), encoding="utf-8")
    return path


_TEXT_FIELDS = {"note", "hello_name", "mail_from", "domain", "name", "history"}
"""Fields of a recording's values that hold text a renderer shows (looked up by name)."""


def hostile_recording(document: dict[str, Any]) -> dict[str, Any]:
    """The recording ``document`` (parsed JSON) with ``HOSTILE_TEXT`` added to every text field it shows."""
    for key in ("target", "created", "smtpstep"):
        document["meta"][key] = f"{document['meta'][key]} {HOSTILE_TEXT}"

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(item) for item in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if key in _TEXT_FIELDS and isinstance(item, str):
                # An EHLO name is one word without NUL, or it is refused on loading as when typed (RFC 5321
                # §2.3.8, §4.1.1.1).
                evil = HOSTILE_TEXT.replace("\0", "").replace(" ", "") if key == "name" else HOSTILE_TEXT
                item = f"{item}{evil}" if key == "name" else f"{item} {evil}"
            elif key in _TEXT_FIELDS and isinstance(item, list) and all(isinstance(i, str) for i in item):
                item = [f"{i} {HOSTILE_TEXT}" for i in item]
            elif key == "data" and value.get("direction") == "client" and isinstance(item, dict) \
                    and "$bytes" in item and item["$bytes"].startswith("EHLO"):
                item = {"$bytes": item["$bytes"].replace("\r\n", f" {HOSTILE_TEXT}\r\n")}
            out[key] = walk(item)
        return out

    document["views"] = walk(document["views"])
    document["chunks"] = walk(document["chunks"])
    return document


def write_hostile_recording(source: Path, path: Path) -> Path:
    document = json.loads(source.read_text(encoding="utf-8"))
    path.write_text(json.dumps(hostile_recording(document), ensure_ascii=False), encoding="utf-8")
    return path
