"""The lessons' mail world: the built-in DNS zones, and what the receiving MX concludes about a message.

``ZONES`` is the zone data every lesson shares (zone-file syntax, RFC 1035 §5): who may send for which
domain (SPF), the DKIM key of client.smtpstep.test, and the DMARC policies. ``check()`` runs SPF on the
client's address and MAIL FROM, verifies every DKIM signature, evaluates DMARC, and returns the verdict:
the Authentication-Results field to add (RFC 8601) and, when DMARC fails under ``p=reject``, the reply
that refuses the message. Every DNS question asked on the way is kept, in order, as a line
("DNS: TXT bank.test? → ...").

No I/O: the zones are answered in memory. Imported only when the receiving MX checks a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtpstep.protocol.mailauth import dkimcheck, dmarc, spfcheck
from smtpstep.protocol.mailauth.zone import Lookup, ZoneSet, zone_resolver

DEMO_DKIM_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEICPDEpvFEisIffv3D4iJdiNYN2qrxPjJcWd9b96L7B8c
-----END PRIVATE KEY-----
"""
"""The Ed25519 key (RFC 8463) of ``s1._domainkey.client.smtpstep.test``, deliberately public like the demo
password: the dkim lesson's message was signed with it, and anyone may sign another."""

ZONES = {
    "example.test": """
@          MX   10 mx.example.test.
mx         A    127.0.0.1
""",
    "client.smtpstep.test": """
@                TXT  "v=spf1 ip4:127.0.0.1 -all"
_dmarc           TXT  "v=DMARC1; p=reject"
s1._domainkey    TXT  "v=DKIM1; k=ed25519; p=7kJl0ZH5bzyXX9fxWUb/g293vJG0S+wJto4/eGCovmI="
""",
    "bank.test": """
@          TXT  "v=spf1 ip4:192.0.2.10 -all"
_dmarc     TXT  "v=DMARC1; p=reject"
""",
    "soft.test": """
@          TXT  "v=spf1 ip4:192.0.2.20 ~all"
""",
}
"""The lesson zones. client.smtpstep.test lets 127.0.0.1 (the student's machine, on loopback) send for it
and publishes DKIM and ``p=reject``; bank.test sends only from 192.0.2.10 and also asks for rejection;
soft.test's ``~all`` asks only for suspicion. ``.test`` is reserved (RFC 6761 §6.2), so none of this
can clash with real DNS."""

_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class Verdict:
    """What the receiving MX concluded about one message."""

    spf: spfcheck.SpfResult
    dkim: tuple[dkimcheck.DkimResult, ...]
    dmarc: dmarc.DmarcResult
    header: bytes
    """The Authentication-Results field, folded, ending with CRLF."""
    reply: str | None
    """The refusal to send instead of storing (DMARC ``p=reject`` failed), or None to deliver."""
    lookups: tuple[str, ...]
    """Every DNS question and its answer, in the order asked."""


def zones() -> ZoneSet:
    """The built-in zones, parsed."""
    return ZoneSet.from_mapping(ZONES, source="the built-in lesson zone")


def check(message: bytes, *, peer_ip: str, mail_from: str, helo: str, authserv_id: str,
          zone_set: ZoneSet | None = None) -> Verdict:
    """SPF (RFC 7208 §4) for ``mail_from`` from ``peer_ip``, DKIM (RFC 6376 §6) for each signature,
    DMARC (RFC 7489 §6.6) for the From domain, against ``zone_set`` (the built-in zones by default)."""
    asked: list[Lookup] = []
    resolver = zone_resolver(zone_set or zones(), on_lookup=asked.append)
    spf = spfcheck.check(peer_ip, mail_from, helo, resolver, receiver=authserv_id)
    dkim_results = tuple(dkimcheck.verify_all(message, resolver))
    verdict = dmarc.evaluate(message, spf, list(dkim_results), resolver)
    field = dmarc.authentication_results(authserv_id, spf=spf, dkim_results=dkim_results, dmarc=verdict,
                                         helo=helo)
    reply = None
    if verdict.result == "fail" and verdict.disposition == "reject":
        # The From domain is the sender's text: only a plain domain name goes into the reply line.
        domain = verdict.from_domain if _DOMAIN.match(verdict.from_domain) else "the From: domain"
        reply = dmarc.REJECT_REPLY.format(domain=domain)
    return Verdict(spf, dkim_results, verdict, field.encode("utf-8") + b"\r\n", reply,
                   tuple(lookup.line() for lookup in asked))
