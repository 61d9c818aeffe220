"""The lesson zone answers through dnspython's own resolver, in process: MX, TXT, NXDOMAIN, an empty
non-terminal, and zone text that does not parse, refused in one sentence naming the zone and the line."""

from __future__ import annotations

import dns.resolver
import pytest

from smtpstep.protocol.mailauth import world
from smtpstep.protocol.mailauth.zone import ZoneError, ZoneSet, parse_zone, zone_resolver


def test_the_built_in_zone_resolves_mx_and_txt_through_dnspython_and_reports_each_lookup():
    asked = []
    resolver = zone_resolver(world.zones(), on_lookup=asked.append)
    answer = resolver.resolve("example.test", "MX")
    assert [(r.preference, r.exchange.to_text()) for r in answer] == [(10, "mx.example.test.")]
    assert [r.address for r in resolver.resolve("mx.example.test", "A")] == ["127.0.0.1"]
    assert asked[0].line() == "DNS: MX example.test? → 10 mx.example.test."
    assert asked[1].line() == "DNS: A mx.example.test? → 127.0.0.1"


def test_a_name_in_no_zone_is_nxdomain_and_an_empty_non_terminal_is_noerror_without_data():
    asked = []
    resolver = zone_resolver(world.zones(), on_lookup=asked.append)
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("_dmarc.nowhere.test", "TXT")
    with pytest.raises(dns.resolver.NoAnswer):  # RFC 8020: s1._domainkey exists below it
        resolver.resolve("_domainkey.client.smtpstep.test", "TXT")
    assert asked[0].line() == "DNS: TXT _dmarc.nowhere.test? → NXDOMAIN"
    assert asked[1].line() == "DNS: TXT _domainkey.client.smtpstep.test? → no TXT record (NOERROR, empty answer)"


def test_zone_text_that_does_not_parse_is_one_sentence_naming_the_zone_and_the_line():
    with pytest.raises(ZoneError) as error:
        parse_zone("example.test", "@ MX 10 mx.example.test.\nmx A 127.0.0.300\n", source="my.toml")
    text = str(error.value)
    assert text.startswith("my.toml: DNS zone “example.test”, line 2 (“mx A 127.0.0.300”): this record does not parse")
    assert "\n" not in text and "Traceback" not in text


def test_a_record_outside_its_zone_is_refused_rather_than_dropped():
    with pytest.raises(ZoneError, match="the record for x.other.test. is outside the zone"):
        parse_zone("example.test", "x.other.test. A 127.0.0.1\n")


def test_a_zone_name_that_is_not_a_domain_name_is_refused():
    with pytest.raises(ZoneError, match="is not a domain name"):
        ZoneSet.from_mapping({"exa mple.test": "@ A 127.0.0.1\n"})
