"""``--server mx`` finds the best MX in real DNS: against a loopback DNS server the test starts, through
dnspython's own resolver and sockets (RFC 5321 §5.1, RFC 7505), each failure one plain sentence."""

from __future__ import annotations

import random

import dns.resolver
import pytest

from smtpstep.protocol.mailauth.zone import ZoneSet
from smtpstep.protocol.transport.mx import MxError, find_mx
from tests.support.dns_server import LoopbackDnsServer

ZONES = {
    "example.test": "@ MX 20 backup.example.test.\n@ MX 10 mx.example.test.\nmx A 192.0.2.1\nbackup A 192.0.2.2\n",
    "plain.test": "@ A 192.0.2.3\n",
    "nomail.test": "@ MX 0 .\n",
    "odd.test": '@ MX 10 mx\\027[2J.odd.test.\n',
}


def resolver_for(server: LoopbackDnsServer) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)  # never the machine's resolv.conf in a test
    resolver.nameservers = [server.host]
    resolver.port = server.port
    return resolver


@pytest.fixture(scope="module")
def dns_server():
    with LoopbackDnsServer(ZoneSet.from_mapping(ZONES)) as server:
        yield server


def test_the_mx_with_the_lowest_preference_comes_first_and_every_lookup_is_reported(dns_server):
    asked = []
    hosts = find_mx("example.test", resolver_for(dns_server), on_lookup=asked.append, rng=random.Random(1))
    assert [(h.preference, h.host, h.addresses) for h in hosts] == [
        (10, "mx.example.test", ("192.0.2.1",)), (20, "backup.example.test", ("192.0.2.2",))]
    assert asked[0].line() in ("DNS: MX example.test? → 10 mx.example.test. | 20 backup.example.test.",
                               "DNS: MX example.test? → 20 backup.example.test. | 10 mx.example.test.")
    assert "DNS: A mx.example.test? → 192.0.2.1" in [lookup.line() for lookup in asked]


def test_a_domain_without_mx_records_is_its_own_implicit_mx(dns_server):
    hosts = find_mx("plain.test", resolver_for(dns_server))
    assert [(h.host, h.addresses, h.implicit) for h in hosts] == [("plain.test", ("192.0.2.3",), True)]


def test_a_null_mx_nxdomain_and_a_silent_server_are_one_sentence_each(dns_server):
    with pytest.raises(MxError, match=r'^nomail.test accepts no mail: its MX record is the null MX "0 ." \(RFC 7505\)\.$'):
        find_mx("nomail.test", resolver_for(dns_server))
    with pytest.raises(MxError, match=r"^The domain missing.test does not exist in DNS \(NXDOMAIN for the MX records"):
        find_mx("missing.test", resolver_for(dns_server))
    with LoopbackDnsServer(mode="silent") as silent:
        with pytest.raises(MxError, match=r"^The DNS lookup of the MX records of example.test timed out after 0.5 "
                                          r"seconds: no DNS server answered\.$"):
            find_mx("example.test", resolver_for(silent), lifetime=0.5)


def test_a_server_failure_is_named_in_a_sentence():
    with LoopbackDnsServer(mode="servfail") as failing:
        with pytest.raises(MxError, match=r"^The DNS lookup of the MX records of example.test failed: every DNS "
                                          r"server answered with an error"):
            find_mx("example.test", resolver_for(failing))


def test_an_answer_with_control_characters_is_shown_escaped(dns_server):
    from smtpstep.protocol.text import shown

    asked = []
    with pytest.raises(MxError):  # the host has no address
        find_mx("odd.test", resolver_for(dns_server), on_lookup=asked.append)
    line = shown(asked[0].line())
    assert "\x1b" not in line and "[2J" in line
