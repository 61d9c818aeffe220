"""Fixtures for the reliability suite (the scripted hostile server and the subprocess helpers are in
``tests/support``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.env import REPO


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: XDG directories under ``tmp_path``, no password from the caller's shell."""
    values = {k: v for k, v in os.environ.items() if k != "SMTPSTEP_PASSWORD"}
    values.update(
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PYTHONPATH=str(REPO),
    )
    return values
