"""Where the terminal app may write files and which servers it may reach: open on the user's own machine,
confined in a browser tab that ``smtpstep web --listen`` serves to anyone who can reach it.

Holds ``Confinement`` (the tab's own folder, and whether it may choose another server), set once in a tab's
process before its app starts (``confine``) and read by the app (``current``); and the rules every save
follows, confined or not:

- a file the user names (an export, key ``E``) is never replaced without asking: ``write_new`` refuses an
  existing file (``FileExistsError``) unless the caller asked and was told yes;
- a screenshot (key ``s``) takes a free name next to the one it would have had (``-2``, ``-3``...);
- confined, a name is a file name, not a path (``save_path``: no ``/``, ``\\``, ``~``, ``..``, no leading dot,
  letters, digits, ``.``, ``-``, ``_`` and spaces only, at most ``MAX_NAME`` characters), and the file goes
  into the tab's folder, nowhere else; the app then offers it to the browser as a download;
- confined without ``--allow-servers``, the session stays on the built-in server (``servers_allowed``).

No Textual here: the app asks, this decides.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MAX_NAME = 100
"""Longest file name a confined tab may give."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]*")
"""A confined tab's file name: also safe in an HTTP header (the browser's download names it)."""


@dataclass(frozen=True)
class Confinement:
    """What a tab of a listening ``smtpstep web`` may do."""

    folder: Path
    """The tab's own folder: every export and screenshot goes here (removed when the tab ends)."""
    allow_servers: bool = False
    """``smtpstep web --allow-servers``: the connection screen may name another server."""


_current: Confinement | None = None


def confine(confinement: Confinement | None) -> None:
    """Confine this process (a tab's), its folder made now, private to the user; None lifts it (tests)."""
    global _current
    if confinement is not None:
        confinement.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _current = confinement


def current() -> Confinement | None:
    """This process's confinement, or None: the app runs on the user's own machine."""
    return _current


def servers_allowed() -> bool:
    """Whether the connection screen may name a server other than the built-in one."""
    return _current is None or _current.allow_servers


class SaveRefused(ValueError):
    """A name a confined tab may not save under; ``str`` says why in one plain sentence."""


def save_path(name: str, folder: Path) -> Path:
    """Where a file the user named goes: confined, the name alone in the tab's folder (``SaveRefused`` for a
    path or an odd name); otherwise ``~`` expanded and a relative name in ``folder``."""
    if _current is None:
        path = Path(name).expanduser()
        return path if path.is_absolute() else folder / path
    if "/" in name or "\\" in name or name.startswith("~") or ".." in name:
        raise SaveRefused(f"give a file name, not a path: this page saves into its own folder and offers the file "
                          f"as a download (“{name[:40]}” has /, \\, ~ or ..)")
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise SaveRefused(f"a file name here is letters, digits, dots, dashes, underscores and spaces, at most "
                          f"{MAX_NAME} characters, starting with a letter or a digit")
    return _current.folder / name


def screenshot_folder(folder: Path) -> Path:
    """Where screenshots go: the tab's folder when confined, else ``folder``."""
    return _current.folder if _current is not None else folder


def free_path(path: Path) -> Path:
    """``path`` if nothing is there, else the first of ``stem-2.suffix``, ``stem-3.suffix``... that is free."""
    if not path.exists():
        return path
    number = 2
    while (candidate := path.with_name(f"{path.stem}-{number}{path.suffix}")).exists():
        number += 1
    return candidate


def write_new(path: Path, text: str, *, replace: bool = False) -> None:
    """Write ``text`` to ``path``; unless ``replace``, only if no file is there (``FileExistsError``), decided
    by the operating system in the same call that creates it (``O_EXCL``): nothing can slip in between."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    descriptor = os.open(path, flags, 0o644)
    with open(descriptor, "w", encoding="utf-8", newline="\n") as file:
        file.write(text)
