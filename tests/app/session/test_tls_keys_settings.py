"""TLS keys only on request: ``--tls-keys FILE`` first, then SSLKEYLOGFILE, never by default."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from smtpstep.app.session.options import add_session_options, settings_from_args
from smtpstep.app.session.settings import UsageError


def settings(*argv: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_session_options(parser)
    return settings_from_args(parser.parse_args(list(argv)), environ=environ or {},
                              ask_password=lambda prompt: "unused")


class FakeServer:
    """The two things ``SessionSettings.target`` asks of a running built-in server."""

    ca_pem = b""

    def port_for(self, security: str) -> int:
        return 2525


def test_no_key_log_unless_asked(tmp_path: Path) -> None:
    chosen = settings(environ={"HOME": str(tmp_path)})
    assert chosen.tls_keys is None and chosen.target(FakeServer()).keylog is None  # type: ignore[arg-type]


def test_the_flag_comes_before_the_standard_variable(tmp_path: Path) -> None:
    flag, variable = str(tmp_path / "flag.txt"), str(tmp_path / "env.txt")
    assert settings("--tls-keys", flag, environ={"SSLKEYLOGFILE": variable}).tls_keys == flag
    chosen = settings(environ={"SSLKEYLOGFILE": variable})
    assert chosen.tls_keys == variable and chosen.target(FakeServer()).keylog == variable  # type: ignore[arg-type]


def test_a_folder_or_a_missing_folder_is_refused_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        settings("--tls-keys", str(tmp_path))
    with pytest.raises(UsageError, match="does not exist"):
        settings("--tls-keys", str(tmp_path / "nowhere" / "keys.txt"))
