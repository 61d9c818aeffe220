"""The pure core imports nothing that does I/O, keeps time or draws (STYLE.md, "Three layers")."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import protocol

CORE = ("client", "planner", "states", "replies", "commands", "capabilities", "sasl", "message")
"""The sans-I/O modules: everything in ``protocol`` but the transport, the built-in server and their helpers."""

NEVER_LOADED = ("textual", "asyncio", "ssl", "aiosmtpd", "trustme", "cryptography")
NEVER_IMPORTED = {"asyncio", "ssl", "socket", "time", "textual", "selectors", "threading"}

PACKAGE = Path(protocol.__file__).parent


def test_importing_the_core_loads_no_event_loop_tls_server_or_ui():
    code = (
        "import sys, json\n"
        + "".join(f"import protocol.{name}\n" for name in CORE)
        + f"print(json.dumps(sorted(m for m in {list(NEVER_LOADED)!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent)
    assert json.loads(result.stdout) == []


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("name", CORE)
def test_a_core_module_imports_no_io_clock_or_ui_module(name):
    imported = _imported(PACKAGE / f"{name}.py")
    assert not imported & NEVER_IMPORTED, sorted(imported & NEVER_IMPORTED)


def test_the_import_check_would_see_an_import_hidden_in_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def later():\n    import socket\n    from time import monotonic\n")
    assert _imported(sample) == {"socket", "time"}
