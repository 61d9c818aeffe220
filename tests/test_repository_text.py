"""The repository speaks of the project only: no machine-specific path, no tracker numbers, no people.

Every text file of the repository (code, tests, docs, benchmarks and their results, the CI script) is
read, as it is in the working tree, apart from the environment and caches a checkout grows (``.venv``,
``.git``, ``__pycache__``, ...). The patterns are built from pieces so that this file does not match itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support.env import REPO

TEXT = {".py", ".md", ".toml", ".tcss", ".sh", ".json", ".txt", ".cfg", ".ini", ".yml", ".yaml", ""}

FORBIDDEN = {
    "a machine-specific path": re.compile("/" + "work/|/" + r"root/|/home/(?!mtauser\b)\w+"),
    "an issue number": re.compile(r"\b" + "[Ii]ssue" + r"s? ?#?\d|\b" + "[Ii]ssue" + "'s\\b"),
    "a person": re.compile("another " + "engineer|other " + "engineers?|" + "engineer" + "'s"),
}
"""What must not appear. ``/home/mtauser`` is the account that ``benchmarks/mta/postfix-up.sh`` makes."""


def grown(name: str) -> bool:
    """A folder or file a checkout grows: the environment, caches, build output, and git's own (``.git``
    is a file in a worktree). Hidden names are all of that, but for ``.ci`` and ``.gitignore``."""
    return (name in ("__pycache__", "build", "dist") or name.endswith(".egg-info")
            or (name.startswith(".") and name not in (".ci", ".gitignore")))


def repository_files() -> list[Path]:
    found = []
    for folder, folders, files in os.walk(REPO):
        folders[:] = [name for name in folders if not grown(name)]
        found += [Path(folder) / name for name in files if not grown(name) and Path(name).suffix in TEXT]
    return found


def test_no_file_names_a_machine_path_an_issue_number_or_a_person() -> None:
    files = repository_files()
    assert any(path.name == "architecture.md" for path in files)
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for what, pattern in FORBIDDEN.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(REPO)}:{line}: {what}: {match.group()!r}")

    assert found == []
