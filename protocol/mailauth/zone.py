"""An in-process DNS "world" for lessons: zones written in zone-file syntax, answered by dnspython
without any socket.

How it works: dnspython (>= 2.4) lets a ``Resolver``'s ``nameservers`` list hold
``dns.nameserver.Nameserver`` objects, not only IP addresses. ``ZoneNameserver`` is such an object
whose ``query()`` builds the authoritative answer from the zones in memory. Everything above it is
dnspython's own resolver: NXDOMAIN / NoAnswer exceptions, CNAME chasing, ``lifetime``, ``Answer``
objects. So the code that resolves MX, TXT (SPF, DMARC, DKIM) against the lesson zone is the very
same code that would resolve against real DNS; only the resolver object differs. No socket, no file, no clock.

Every query is reported to ``on_lookup`` as a ``Lookup``, whose ``line()`` is the step the app shows:
``DNS: MX example.test? → 10 mx.example.test.``

dnspython is imported here at module level: this module is itself imported lazily, only by the
built-in receiving MX (``smtpstep.protocol.server.scenarios``), so a session without it never loads dnspython.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.zone
import dns.zonefile

DEFAULT_TTL = 300
"""TTL of records written without one (lesson zones need not say)."""
MAX_CNAME_CHAIN = 8
_ZONE_NAME = re.compile(r"^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                        r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$")


class ZoneError(ValueError):
    """Lesson zone data that cannot be used; ``str()`` is one plain sentence naming the zone and line."""


@dataclass(frozen=True)
class Lookup:
    """One DNS question and its answer, as a lesson step shows it."""

    qname: str
    qtype: str
    rcode: str
    """NOERROR, NXDOMAIN, REFUSED..."""
    answers: tuple[str, ...]
    """The answer RRs' data as text (``10 mx.example.test.``); CNAMEs as ``CNAME target``."""
    source: str = "zone"
    """Who answered: "zone" (in process) or a server address."""

    def line(self) -> str:
        question = f"DNS: {self.qtype} {self.qname.rstrip('.')}?"
        if self.rcode != "NOERROR":
            return f"{question} → {self.rcode}"
        if not self.answers:
            return f"{question} → no {self.qtype} record (NOERROR, empty answer)"
        return f"{question} → {' | '.join(self.answers)}"


# --- Parsing ------------------------------------------------------------------------------------


def parse_zone(origin: str, text: str, *, source: str = "") -> dns.zone.Zone:
    """A zone for ``origin`` from zone-file text (RFC 1035 §5). Relative names are relative to
    ``origin``; records without a TTL get ``DEFAULT_TTL``; SOA and NS are optional.

    Raises ``ZoneError`` with the zone, the line and the record's text.
    """
    where = f"{source}: " if source else ""
    if not _ZONE_NAME.match(origin):
        raise ZoneError(f"{where}DNS zone name “{origin}” is not a domain name: use letters, digits, "
                        "hyphens and dots, such as example.test")
    try:
        origin_name = dns.name.from_text(origin)
    except dns.exception.DNSException as error:
        raise ZoneError(f"{where}DNS zone name “{origin}” is not a domain name ({error})") from None
    try:
        rrsets = _read_rrsets(text, origin_name)
    except dns.exception.DNSException as error:
        line = _failing_line(text, origin_name)
        bad = text.splitlines()[line - 1].strip() if line and line <= len(text.splitlines()) else ""
        detail = re.sub(r"^<string>:\d+: ", "", str(error))  # dnspython's own line number is off
        shown = f" (“{bad}”)" if bad else ""
        raise ZoneError(
            f"{where}DNS zone “{origin}”, line {line}{shown}: this record does not parse: {detail}"
        ) from None
    zone = dns.zone.Zone(origin_name, relativize=False)
    with zone.writer() as txn:
        for rrset in rrsets:
            if not rrset.name.is_subdomain(origin_name):
                # dns.zone.from_text silently drops such records; a lesson author deserves to know.
                raise ZoneError(f"{where}DNS zone “{origin}”: the record for {rrset.name} is outside "
                                f"the zone; put it under a zone named after its domain")
            txn.add(rrset)
    return zone


def _read_rrsets(text: str, origin: dns.name.Name) -> list[dns.rrset.RRset]:
    # Read as part of the root zone, with $ORIGIN set to the lesson zone: relative names are then
    # relative to the lesson zone (RFC 1035 §5.1), and a record outside it is kept, so it can be
    # reported; with origin=the zone, dnspython drops such records without a word.
    # $TTL gives records without a TTL a default. allow_include stays False: no $INCLUDE of files.
    root = dns.zone.from_text(f"$ORIGIN {origin}\n$TTL {DEFAULT_TTL}\n{text}\n", origin=dns.name.root,
                              relativize=False, check_origin=False)
    return [_rrset(name, rdataset) for name, node in root.nodes.items() for rdataset in node]


def _failing_line(text: str, origin: dns.name.Name) -> int:
    """The 1-based line where the text stops parsing: one after the longest prefix of whole lines
    that parses. (dnspython's own line number is one too high when the error is found after the
    end of the line was read, e.g. a bad A address.) A prefix that ends inside a "( ... )" record
    fails, so the longest good prefix, not the first bad one, is the answer."""
    lines = text.splitlines()
    good = 0
    for n in range(1, len(lines)):
        try:
            _read_rrsets("\n".join(lines[:n]) + "\n", origin)
        except dns.exception.DNSException:
            continue
        good = n
    return good + 1


# --- Answering ----------------------------------------------------------------------------------


class ZoneSet:
    """The lesson's zones; answers DNS questions like an authoritative server for all of them.

    Names under no zone get NXDOMAIN: in the lesson's world they do not exist (as a real resolver
    would say of ``*.test``, which the root zone does not delegate, RFC 6761 §6.2).
    """

    def __init__(self, zones: Iterable[dns.zone.Zone] = ()) -> None:
        self._zones: dict[dns.name.Name, dns.zone.Zone] = {z.origin: z for z in zones}

    @classmethod
    def from_mapping(cls, zones: Mapping[str, str], *, source: str = "") -> ZoneSet:
        """From zone name -> zone-file text (``world.ZONES``)."""
        return cls(parse_zone(origin, text, source=source) for origin, text in zones.items())

    @property
    def origins(self) -> list[str]:
        return sorted(str(o) for o in self._zones)

    def zone_for(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        best = None
        for origin, zone in self._zones.items():
            if qname.is_subdomain(origin) and (best is None or len(origin) > len(best.origin)):
                best = zone
        return best

    def answer(self, request: dns.message.Message) -> dns.message.Message:
        """The authoritative response to ``request`` (RFC 1034 §4.3.2, without delegations)."""
        response = dns.message.make_response(request)
        response.flags |= dns.flags.AA | dns.flags.RA
        if len(request.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = request.question[0]
        qname, qtype = question.name, question.rdtype
        for _ in range(MAX_CNAME_CHAIN):
            zone = self.zone_for(qname)
            if zone is None:
                if not response.answer:  # a CNAME out of our world: the answer stops there
                    response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            node = zone.get_node(qname)
            if node is None:
                if not _has_descendants(zone, qname):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                _add_soa(zone, response)
                return response
            rdataset = node.get_rdataset(dns.rdataclass.IN, qtype)
            if rdataset is not None:
                response.answer.append(_rrset(qname, rdataset))
                return response
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is not None and qtype != dns.rdatatype.CNAME:
                response.answer.append(_rrset(qname, cname))
                qname = cname[0].target
                continue
            _add_soa(zone, response)  # NODATA: the name exists, the type does not
            return response
        response.set_rcode(dns.rcode.SERVFAIL)  # CNAME loop
        return response


def _rrset(name: dns.name.Name, rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
    rrset.update(rdataset)
    return rrset


def _has_descendants(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """An empty non-terminal (``_domainkey.example.test`` when only ``s1._domainkey`` exists) is
    NOERROR with no data, not NXDOMAIN (RFC 8020)."""
    return any(n != name and n.is_subdomain(name) for n in zone.nodes)


def _add_soa(zone: dns.zone.Zone, response: dns.message.Message) -> None:
    soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
    if soa is not None:
        response.authority.append(_rrset(zone.origin, soa))


def describe(response: dns.message.Message, source: str) -> Lookup:
    question = response.question[0]
    answers = []
    for rrset in response.answer:
        for rdata in rrset:
            text = rdata.to_text()
            if rrset.rdtype == dns.rdatatype.CNAME:
                text = f"CNAME {text}"
            answers.append(text)
    return Lookup(
        qname=question.name.to_text(),
        qtype=dns.rdatatype.to_text(question.rdtype),
        rcode=dns.rcode.to_text(response.rcode()),
        answers=tuple(answers),
        source=source,
    )


class ZoneNameserver(dns.nameserver.Nameserver):
    """A dnspython nameserver that answers from a ``ZoneSet`` in process: no socket, no thread."""

    def __init__(self, zones: ZoneSet, on_lookup: Callable[[Lookup], None] | None = None) -> None:
        super().__init__()
        self.zones = zones
        self.on_lookup = on_lookup

    def __str__(self) -> str:
        return "zone:" + ",".join(self.zones.origins)

    def kind(self) -> str:
        return "zone"

    def is_always_max_size(self) -> bool:
        return True  # no UDP size limit, so dnspython never retries over "TCP"

    def answer_nameserver(self) -> str:
        return "in-process zone"

    def answer_port(self) -> int:
        return 0

    def query(self, request, timeout, source, source_port, max_size,
              one_rr_per_rrset=False, ignore_trailing=False) -> dns.message.Message:
        response = self.zones.answer(request)
        # Through the wire format and back: the caller gets its own copy, exactly what a real
        # server's bytes would have decoded to (and a too-long record fails here, as it would there).
        wire = response.to_wire()
        parsed = dns.message.from_wire(wire, one_rr_per_rrset=one_rr_per_rrset,
                                       ignore_trailing=ignore_trailing)
        if self.on_lookup is not None:
            self.on_lookup(describe(parsed, "zone"))
        return parsed

    async def async_query(self, request, timeout, source, source_port, max_size, backend,
                          one_rr_per_rrset=False, ignore_trailing=False) -> dns.message.Message:
        return self.query(request, timeout, source, source_port, max_size, one_rr_per_rrset,
                          ignore_trailing)


def zone_resolver(zones: ZoneSet, on_lookup: Callable[[Lookup], None] | None = None,
                  lifetime: float = 2.0) -> dns.resolver.Resolver:
    """A dnspython resolver that asks only the lesson zones: no /etc/resolv.conf, no cache
    (so every lookup is a step the student sees), no search list."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [ZoneNameserver(zones, on_lookup)]
    resolver.lifetime = lifetime
    resolver.cache = None
    resolver.search = []
    resolver.use_search_by_default = False
    return resolver


# --- Adapters for the mail-authentication libraries ---------------------------------------------


def txt_strings(resolver: dns.resolver.Resolver, name: str) -> list[bytes]:
    """Every TXT record at ``name``, each one's character-strings joined (RFC 7208 §3.3,
    RFC 6376 §3.6.2.2); [] for NXDOMAIN or no TXT."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(rdata.strings) for rdata in answer]
