"""Fixtures shared by the app tests."""

from __future__ import annotations

import os

import pytest

from tests.support.env import REPO


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The user's directories under a temporary folder, and no password from the caller (for subprocesses)."""
    home = tmp_path_factory.mktemp("xdg")
    values = {k: v for k, v in os.environ.items() if k != "SMTPSTEP_PASSWORD"}
    values.update({name: str(home / name.lower()) for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                              "XDG_STATE_HOME")})
    values["PYTHONPATH"] = str(REPO)
    return values
