"""The layers hold: import-linter's contracts (in ``pyproject.toml``) pass, and they would catch a break.

The contracts use wildcards, so a module added tomorrow is covered without editing a list. A second
check imports the pure core in a fresh interpreter and looks at what got loaded, which also sees an
import that only happens at run time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import smtpstep.protocol
from tests.support.env import REPO

NEVER_LOADED = ("textual", "asyncio", "ssl", "aiosmtpd", "trustme", "cryptography")
"""Not socket: the standard library's email.utils imports it (the contracts check what smtpstep imports)."""


def _lint(config: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", "--config", str(config), "--no-cache"],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_the_import_contracts_are_kept():
    result = _lint(REPO / "pyproject.toml", REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def _core_modules() -> list[str]:
    folder = Path(smtpstep.protocol.__file__).parent
    return sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")


def test_importing_the_core_loads_no_event_loop_socket_tls_server_or_ui():
    core = _core_modules()
    assert {"client", "states", "commands", "replies", "planner"} <= set(core)
    code = ("import sys, json\n" + "".join(f"import smtpstep.protocol.{name}\n" for name in core)
            + f"print(json.dumps(sorted(m for m in {list(NEVER_LOADED)!r} if m in sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert json.loads(result.stdout) == []


def test_the_contracts_catch_a_new_core_module_that_opens_a_socket(tmp_path):
    """The same contracts, on a small copy of the tree named ``fakestep``: a core module added there
    (not named in any list) that imports socket, even inside a function, breaks the first contract."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    text = json.dumps(config).replace("smtpstep", "fakestep")
    names = {name.rstrip(".*") for contract in json.loads(text)["contracts"]
             for key in ("source_modules", "forbidden_modules") for name in contract.get(key, ())}
    for name in sorted(n for n in names if n.startswith("fakestep.")):
        parts = name.split(".")
        for depth in range(2, len(parts) + 1):
            folder = tmp_path.joinpath(*parts[:depth])
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "__init__.py").touch()
    (tmp_path / "fakestep" / "protocol" / "brand_new.py").write_text("def later():\n    import socket\n")
    (tmp_path / "pyproject.toml").write_text(_toml(json.loads(text)), encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    result = _lint(tmp_path / "pyproject.toml", tmp_path, env)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "fakestep.protocol.brand_new is not allowed to import socket" in result.stdout


def _toml(config: dict) -> str:
    """The ``[tool.importlinter]`` table back as TOML (strings, booleans and lists of strings only)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(json.dumps(x) for x in v) + "]"
        return json.dumps(v)

    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {value(v)}" for k, v in config.items() if k != "contracts"]
    for contract in config["contracts"]:
        lines.append("\n[[tool.importlinter.contracts]]")
        lines += [f"{k} = {value(v)}" for k, v in contract.items()]
    return "\n".join(lines) + "\n"
