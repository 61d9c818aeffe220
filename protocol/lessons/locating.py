"""Where in a lesson file a problem is, for its ``LessonError``: the line of a table or key (``Locator``),
a field path in words (``where``), and a TOML syntax error on its line (``syntax_error``).

Best effort and pure: it reads the text it is given, and only to find lines.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from smtpstep.protocol.lessons.model import LessonError

__all__ = ["Locator", "Path_", "syntax_error", "where"]

Path_ = tuple[Any, ...]
"""A field's path in a lesson document: table names, keys and array indexes."""


def syntax_error(error: tomllib.TOMLDecodeError, source: str, text: str) -> LessonError:
    """A TOML syntax error as a ``LessonError`` on its line, in words for people."""
    said = str(error)
    match = re.search(r"\(at line (\d+), column (\d+)\)$", said)
    if match:
        problem = said[: match.start()].strip()
        return LessonError(f"this is not valid TOML: {problem} (column {match.group(2)})", source=source,
                           line=int(match.group(1)))
    match = re.search(r"\(at end of document\)$", said)
    problem = said[: match.start()].strip() if match else said
    return LessonError(f"this is not valid TOML: {problem} (at the end of the file)", source=source,
                       line=text.count("\n") + 1 if match else None)


def where(path: Path_) -> str:
    """A field path for people: ``("part", 1, "step", 2, "kind")`` is ``part 2, step 3, “kind”``."""
    words: list[str] = []
    index = 0
    while index < len(path):
        item = path[index]
        if index + 1 < len(path) and isinstance(path[index + 1], int):
            words.append(f"{item} {path[index + 1] + 1}")
            index += 2
            continue
        words.append(f"[{item}]" if item == "session" and index + 1 < len(path) else f"“{item}”")
        index += 1
    return ", ".join(words)


class Locator:
    """Finds the line of a table or key in TOML text, for error messages (best effort).

    It follows ``[table]`` and ``[[array]]`` headers, counting array elements as TOML does, and skips
    multi-line strings; keys in inline tables are found by their table's line.
    """

    _ARRAY = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\]")
    _TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- ]+?)\s*\]")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.headers: dict[Path_, int] = {(): 1}
        self.keys: dict[Path_, int] = {}
        arrays: dict[Path_, int] = {}
        current: Path_ = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            if (match := self._ARRAY.match(line)) is not None:
                parent = self._resolve(match.group(1).split(".")[:-1], arrays)
                array = parent + (match.group(1).split(".")[-1].strip(),)
                arrays[array] = arrays.get(array, 0) + 1
                current = array + (arrays[array] - 1,)
                self.headers[current] = number
                continue
            if (match := self._TABLE.match(line)) is not None:
                current = self._resolve(match.group(1).split("."), arrays)
                self.headers[current] = number
                continue
            if (match := self._KEY.match(line)) is not None:
                self.keys.setdefault(current + (match.group(1).strip('"'),), number)
                rest = line[match.end():]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_string = quote
                        break

    @staticmethod
    def _resolve(names: list[str], arrays: dict[Path_, int]) -> Path_:
        path: Path_ = ()
        for name in names:
            path += (name.strip(),)
            if path in arrays:
                path += (arrays[path] - 1,)
        return path

    def find(self, path: Path_) -> int | None:
        """The line of the key at ``path``, else of its nearest enclosing table."""
        while path:
            if path in self.keys:  # a key, or an inline table holding the field
                return self.keys[path]
            if path in self.headers:
                return self.headers[path]
            path = path[:-1]
        return None
