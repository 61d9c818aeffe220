"""The flags that ask for DSN parameters and REQUIRETLS become the session's request; a bad value is one sentence."""

from __future__ import annotations

import pytest

from smtpstep.app.cli import build_parser
from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.settings import UsageError
from smtpstep.protocol.dsn_requests import DsnAsk


def _settings(*flags: str):
    return settings_from_args(build_parser().parse_args(["run", *flags]))


def test_the_dsn_flags_reach_the_plan():
    settings = _settings("--notify", "failure,delay", "--ret", "hdrs", "--envid", "run 7", "--orcpt", "--requiretls")
    wanted = DsnAsk(ret="HDRS", envid="run 7", notify=("FAILURE", "DELAY"), orcpt=True, requiretls=True)
    assert settings.dsn == wanted
    assert settings.plan(date="Mon, 1 Jan 2024 00:00:00 +0000", message_id="<x@y.test>").dsn == wanted


def test_a_bad_envid_is_one_plain_sentence():
    with pytest.raises(UsageError, match=r"^--envid: ENVID is one or more printable ASCII characters"):
        _settings("--envid", "é")


def test_a_bad_notify_is_one_plain_sentence():
    with pytest.raises(UsageError, match=r"^--notify NOTIFY is NEVER alone, or a comma list"):
        _settings("--notify", "NEVER,SUCCESS")
