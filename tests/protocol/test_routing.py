"""Finding where the mail goes, one DNS step at a time (RFC 5321 §5.1, RFC 7505): the next lookup, the host
chosen, or one plain sentence when the mail has nowhere to go; and the planner puts those steps first."""

from __future__ import annotations

import pytest

from smtpstep.protocol.client import SmtpClient
from smtpstep.protocol.commands import DnsLookup, InvalidCommand, Verb
from smtpstep.protocol.planner import SessionPlan, propose
from smtpstep.protocol.routing import MAX_RECORDS, DnsAnswer, route


def mx(*records: str, rcode: str = "NOERROR", name: str = "example.test") -> DnsAnswer:
    return DnsAnswer(name, "MX", rcode, records)


def test_the_mx_lookup_comes_first_then_the_address_of_the_lowest_preference():
    assert route("Example.TEST.", ()).lookup == DnsLookup("example.test", "MX")
    answers = [mx("20 backup.example.test.", "10 mx.example.test.")]
    assert route("example.test", answers).lookup == DnsLookup("mx.example.test", "A")
    answers.append(DnsAnswer("mx.example.test", "A", "NOERROR", ("192.0.2.1",)))
    found = route("example.test", answers)
    assert (found.host, found.address, found.preference, found.resolved) == ("mx.example.test", "192.0.2.1", 10, True)


def test_a_host_without_an_a_record_is_asked_for_aaaa_and_then_the_next_host_is_tried():
    answers = [mx("10 mx.example.test.", "20 backup.example.test."),
               DnsAnswer("mx.example.test", "A", "NOERROR", ())]
    assert route("example.test", answers).lookup == DnsLookup("mx.example.test", "AAAA")
    answers.append(DnsAnswer("mx.example.test", "AAAA", "NOERROR", ()))
    assert route("example.test", answers).lookup == DnsLookup("backup.example.test", "A")
    answers.append(DnsAnswer("backup.example.test", "A", "NXDOMAIN"))
    assert route("example.test", answers).halt == ("None of the MX hosts of example.test (mx.example.test, "
                                                   "backup.example.test) has an address in DNS (RFC 5321 §5.1).")


def test_a_domain_without_mx_records_is_its_own_implicit_mx():
    answers = [mx(), DnsAnswer("example.test", "A", "NOERROR", ("192.0.2.3",))]
    found = route("example.test", answers)
    assert (found.host, found.address, found.preference, found.implicit) == ("example.test", "192.0.2.3", 0, True)
    no_address = [mx(), DnsAnswer("example.test", "A", "NOERROR"), DnsAnswer("example.test", "AAAA", "NOERROR")]
    assert route("example.test", no_address).halt.startswith(
        "The domain example.test has no MX record and no A or AAAA")


@pytest.mark.parametrize(("answer", "sentence"), [
    (mx(rcode="NXDOMAIN"), "The domain example.test does not exist in DNS (NXDOMAIN for the MX records of "
                           "example.test)."),
    (mx("0 ."), 'The domain example.test accepts no mail: its MX record is the null MX "0 ." (RFC 7505).'),
    (DnsAnswer("example.test", "MX", "TIMEOUT", (), detail="5"),
     "The DNS lookup of the MX records of example.test timed out after 5 seconds: no DNS server answered."),
    (mx(rcode="SERVFAIL"), "The DNS lookup of the MX records of example.test failed: the DNS server answered "
                           "SERVFAIL (it could not find out)."),
])
def test_each_dead_end_is_one_plain_sentence(answer, sentence):
    found = route("example.test", [answer])
    assert found.halt == sentence and found.lookup is None and not found.resolved


def test_an_answer_from_the_network_is_bounded_and_its_line_is_the_wire_log_line():
    flood = DnsAnswer("example.test", "MX", "NOERROR", tuple(f"10 mx{n}.example.test." for n in range(500)))
    assert len(flood.records) == MAX_RECORDS
    long = DnsAnswer("example.test", "TXT", "NOERROR", ("x" * 5000,))
    assert len(long.records[0]) == 255
    assert mx("10 mx.example.test.").line() == "MX example.test? → 10 mx.example.test."
    assert mx(rcode="NXDOMAIN").line() == "MX example.test? → NXDOMAIN"


def test_an_mx_host_name_that_cannot_be_asked_about_is_skipped_not_a_crash():
    odd = "x" * 70 + ".example.test."
    found = route("example.test", [mx(f"10 {odd}", "20 mx.example.test.")])
    assert found.lookup == DnsLookup("mx.example.test", "A")
    assert "has an address in DNS" in route("example.test", [mx(f"10 {odd}")]).halt
    assert route("x" * 70 + ".test", []).halt.startswith("The recipient's domain cannot be looked up in DNS: ")


def test_a_dns_step_checks_its_name_and_type_and_sends_nothing():
    step = DnsLookup("MX.Example.Test.", "a")
    assert (step.name, step.rdtype, step.label, step.render().data) == ("mx.example.test", "A",
                                                                         "(DNS: A mx.example.test?)", b"")
    for bad in (("example.test", "TXT"), ("a..test", "MX"), ("x" * 64 + ".test", "MX"), ("a\r\nQUIT", "MX")):
        with pytest.raises(InvalidCommand):
            DnsLookup(*bad)


def test_the_planner_puts_the_next_lookup_before_connect_and_stops_with_no_steps_at_a_dead_end():
    plan = SessionPlan(security="none", rcpt_tos=("teacher@example.test",), mx_lookup=True)
    view = SmtpClient().view()
    first = propose(plan, view).commands
    assert first[0] == DnsLookup("example.test", "MX") and first[1].verb == Verb.CONNECT
    after = propose(plan, view, dns=(mx("10 mx.example.test."),)).commands
    assert after[0] == DnsLookup("mx.example.test", "A")
    resolved = (mx("10 mx.example.test."), DnsAnswer("mx.example.test", "A", "NOERROR", ("127.0.0.1",)))
    assert propose(plan, view, dns=resolved).commands[0].verb == Verb.CONNECT
    dead = propose(plan, view, dns=(mx("0 ."),))
    assert dead.steps == () and dead.failed_phase == "connect" and dead.explanation_key == "dns-failed"
    assert "null MX" in dead.halt

