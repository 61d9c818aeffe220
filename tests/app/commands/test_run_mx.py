"""``smtpstep run --server mx``: the DNS lookups are steps printed as ``DNS:`` lines, then the best MX on port
25; a dead end in DNS is one plain sentence. In process, against a loopback DNS server the test starts
(``--dns``), never the machine's resolver."""

from __future__ import annotations

import io

import pytest

from smtpstep.app.cli import build_parser
from smtpstep.app.commands.run import run
from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.settings import UsageError
from smtpstep.protocol.mailauth.zone import ZoneSet
from tests.support.dns_server import LoopbackDnsServer

ZONES = {"example.test": "@ MX 10 mx.example.test.\nmx A 127.0.0.1\n", "nomail.test": "@ MX 0 .\n"}


@pytest.fixture(scope="module")
def dns_server():
    with LoopbackDnsServer(ZoneSet.from_mapping(ZONES)) as server:
        yield server


def run_mx(server: LoopbackDnsServer, *args: str) -> tuple[int, str, str]:
    argv = ["run", "--server", "mx", "--dns", f"127.0.0.1:{server.port}", "--security", "none", "--timeout", "5",
            *args]
    out, err = io.StringIO(), io.StringIO()
    code = run(settings_from_args(build_parser().parse_args(argv)), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_lookups_are_printed_as_their_own_lines_and_port_25_is_named_as_often_blocked(dns_server):
    code, out, err = run_mx(dns_server, "--to", "teacher@example.test")
    lines = out.splitlines()
    assert "DNS: MX example.test? → 10 mx.example.test." in lines
    assert "DNS: A mx.example.test? → 127.0.0.1" in lines
    assert any("connecting to mx.example.test (127.0.0.1:25)" in line and "block" in line for line in lines)
    assert code != 0 or "C: EHLO" in out  # a machine with its own MX on port 25 would take the session
    assert "Traceback" not in err


@pytest.mark.parametrize(("rcpt", "sentence"), [
    ("a@missing.test", "smtpstep: The domain missing.test does not exist in DNS (NXDOMAIN for the MX records of "
                       "missing.test)."),
    ("a@nomail.test", 'smtpstep: The domain nomail.test accepts no mail: its MX record is the null MX "0 ." '
                      "(RFC 7505)."),
])
def test_a_dead_end_in_dns_is_one_sentence_and_the_connect_exit_code(dns_server, rcpt, sentence):
    code, out, err = run_mx(dns_server, "--to", rcpt)
    assert err.strip() == sentence and code == 3
    assert "(connect)" not in out and "C:" not in out


def test_dns_is_refused_without_server_mx_and_must_be_an_address():
    for argv, said in ((["run", "--dns", "127.0.0.1"], "give --server mx too"),
                       (["run", "--server", "mx", "--dns", "dns.example.test"], "IP address"),
                       (["run", "--server", "mx", "--dns", "127.0.0.1:99999"], "port")):
        with pytest.raises(UsageError, match=said):
            settings_from_args(build_parser().parse_args(argv))
