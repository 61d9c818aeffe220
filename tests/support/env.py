"""Where the repository is, and the environment a test gives a ``smtpstep`` subprocess.

Every subprocess gets the user's directories under a temporary folder and never a password from the
caller's shell: no test reads or writes the real user's config, data or state.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root (the folder that holds ``pyproject.toml``)."""

PASSWORD_ENV = "SMTPSTEP_PASSWORD"


def clean_env(base: Path, **extra: str) -> dict[str, str]:
    """This process's environment without a password, with XDG_{CONFIG,DATA,STATE}_HOME under ``base``."""
    values = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    values.update({name: str(base / name.lower()) for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                              "XDG_STATE_HOME")})
    values.update(extra)
    return values
