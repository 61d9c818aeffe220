"""One DNS step's question, asked with dnspython: against a loopback DNS server the test starts (dnspython's
own resolver and sockets) and the lessons' zone in memory; every outcome, a failure too, is a plain answer
whose meaning for the route ``routing.route`` reads (RFC 5321 §5.1, RFC 7505)."""

from __future__ import annotations

import random

import pytest

from smtpstep.protocol.mailauth.zone import ZoneSet
from smtpstep.protocol.routing import route
from smtpstep.protocol.text import shown
from smtpstep.protocol.transport.mx import lookup
from tests.support.dns_server import LoopbackDnsServer

ZONES = {
    "example.test": "@ MX 20 backup.example.test.\n@ MX 10 mx.example.test.\n@ MX 10 mx2.example.test.\n"
                    "mx A 192.0.2.1\nbackup A 192.0.2.2\n",
    "plain.test": "@ A 192.0.2.3\n",
    "nomail.test": "@ MX 0 .\n",
    "odd.test": '@ MX 10 mx\\027[2J.odd.test.\n',
}


@pytest.fixture(scope="module")
def dns_server():
    with LoopbackDnsServer(ZoneSet.from_mapping(ZONES)) as server:
        yield server


def test_mx_records_come_lowest_preference_first_with_equal_ones_in_random_order(dns_server):
    where = f"{dns_server.host}@{dns_server.port}"
    orders = {lookup("example.test", "MX", where, rng=random.Random(seed)).records for seed in range(12)}
    assert all(order[-1] == "20 backup.example.test." for order in orders)
    assert len(orders) == 2  # the two of preference 10 come in both orders (RFC 5321 §5.1)
    answer = lookup("example.test", "MX", where)
    assert answer.rcode == "NOERROR" and answer.source == where
    assert "example.test MX" in dns_server.queries[-1].replace(". ", " ")


def test_a_domain_without_mx_records_answers_empty_and_is_its_own_implicit_mx(dns_server):
    where = f"{dns_server.host}@{dns_server.port}"
    answers = [lookup("plain.test", "MX", where)]
    assert answers[0].records == () and answers[0].rcode == "NOERROR"
    answers.append(lookup("plain.test", "A", where))
    found = route("plain.test", answers)
    assert (found.host, found.address, found.implicit) == ("plain.test", "192.0.2.3", True)


def test_nxdomain_a_silent_server_and_servfail_are_answers_not_exceptions(dns_server):
    where = f"{dns_server.host}@{dns_server.port}"
    assert lookup("missing.test", "MX", where).rcode == "NXDOMAIN"
    assert lookup("nomail.test", "MX", where).records == ("0 .",)
    with LoopbackDnsServer(mode="silent") as silent:
        timed_out = lookup("example.test", "MX", f"{silent.host}@{silent.port}", 0.5)
    assert (timed_out.rcode, timed_out.detail) == ("TIMEOUT", "0.5")
    assert route("example.test", [timed_out]).halt == ("The DNS lookup of the MX records of example.test timed "
                                                       "out after 0.5 seconds: no DNS server answered.")
    with LoopbackDnsServer(mode="servfail") as failing:
        assert lookup("example.test", "MX", f"{failing.host}@{failing.port}").rcode == "SERVFAIL"


def test_the_lessons_zone_is_asked_in_memory():
    answer = lookup("example.test", "MX", "zone")
    assert (answer.records, answer.source) == (("10 mx.example.test.",), "the lesson zone")
    assert lookup("mx.example.test", "A", "zone").records == ("127.0.0.1",)


def test_an_answer_with_control_characters_is_shown_escaped(dns_server):
    answer = lookup("odd.test", "MX", f"{dns_server.host}@{dns_server.port}")
    line = shown(answer.line())
    assert "\x1b" not in line and "[2J" in line
