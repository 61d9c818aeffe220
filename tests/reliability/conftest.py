"""Fixtures and import paths for the reliability suite.

The scripted hostile server lives in ``tests/protocol/hostile.py`` (and the session driver in
``driver.py``); that folder is put on ``sys.path`` here so that both are imported, not copied. The
helpers that run ``smtpstep`` as a subprocess are in ``cli_runs.py`` beside this file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "protocol"))  # hostile.py and driver.py, shared with the transport tests


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
