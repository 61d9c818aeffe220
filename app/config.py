"""The user's settings file: ``$XDG_CONFIG_HOME/smtpstep/config.json`` (the chosen theme, for now).

Never holds a password or anything secret. A missing or broken file means defaults, never an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "smtpstep" / "config.json"


def load() -> dict[str, object]:
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(**changes: object) -> None:
    """Merge ``changes`` into the file; failures to write are ignored (settings are a convenience)."""
    data = load()
    data.update(changes)
    path = config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def state_dir() -> Path:
    """``$XDG_STATE_HOME/smtpstep``, or ``~/.local/state/smtpstep`` (a relative value is ignored): where
    smtpstep keeps its logs."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "smtpstep"
