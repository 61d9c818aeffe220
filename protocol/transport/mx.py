"""``smtpstep run --server mx``: find where mail for a domain goes, in real DNS, with dnspython.

RFC 5321 §5.1: look up MX; with no MX records, the domain itself is the "implicit MX" (its A/AAAA);
try MX hosts in order of preference, equal preferences in random order. RFC 7505: a single MX of
preference 0 and exchange "." (a "null MX") says the domain accepts no mail at all.

Every failure is one plain sentence naming the record (``MxError``); every lookup can be shown as a
step (``on_lookup``). ``lookup`` asks one question for a session's DNS step (``io_requests.Resolve``) and
returns its answer as a plain value, a failure included. The same function runs against a loopback DNS server in tests or the system's
resolver. This module does network I/O (DNS over UDP/TCP, through dnspython), hence its place in the
transport; it is imported only for ``--server mx``, so no other session loads dnspython.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from smtpstep.protocol.mailauth.zone import Lookup, describe
from smtpstep.protocol.routing import OK, TIMEOUT, DnsAnswer

DEFAULT_LIFETIME = 5.0
"""Seconds for one whole lookup, retries included (dnspython's ``lifetime``)."""


class MxError(Exception):
    """Mail for the domain cannot be routed; ``str()`` is one plain sentence."""


@dataclass(frozen=True)
class MxHost:
    preference: int
    host: str
    """Without the trailing dot."""
    addresses: tuple[str, ...]
    implicit: bool = False
    """True for the implicit MX (RFC 5321 §5.1): the domain had no MX records."""


def system_resolver(lifetime: float = DEFAULT_LIFETIME) -> dns.resolver.Resolver:
    """dnspython's resolver set up from /etc/resolv.conf (or the Windows registry)."""
    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        raise MxError("No DNS server is configured on this machine (/etc/resolv.conf lists none), "
                      "so --server mx cannot look up where the mail goes.") from None
    resolver.lifetime = lifetime
    return resolver


def _lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str, lifetime: float,
            on_lookup: Callable[[Lookup], None] | None) -> dns.resolver.Answer | None:
    """resolve() that reports the step, and turns dnspython's errors into MxError sentences.
    Returns the Answer, or None for NoAnswer (the name exists, no record of that type)."""
    what = f"the {rdtype} record{'s' if rdtype == 'MX' else ''} of {name}"
    try:
        answer = resolver.resolve(name, rdtype, lifetime=lifetime, search=False)
    except dns.resolver.NXDOMAIN:
        _report(on_lookup, Lookup(name + ".", rdtype, "NXDOMAIN", (), _source(resolver)))
        raise MxError(f"The domain {name} does not exist in DNS (NXDOMAIN for {what}).") from None
    except dns.resolver.NoAnswer:
        _report(on_lookup, Lookup(name + ".", rdtype, "NOERROR", (), _source(resolver)))
        return None
    except dns.resolver.LifetimeTimeout:
        _report(on_lookup, Lookup(name + ".", rdtype, "TIMEOUT", (), _source(resolver)))
        raise MxError(f"The DNS lookup of {what} timed out after {lifetime:g} seconds: "
                      f"no DNS server answered.") from None
    except dns.resolver.NoNameservers as error:
        _report(on_lookup, Lookup(name + ".", rdtype, "SERVFAIL", (), _source(resolver)))
        raise MxError(f"The DNS lookup of {what} failed: every DNS server answered with an error "
                      f"({_first_error(error)}).") from None
    except dns.exception.DNSException as error:
        raise MxError(f"The DNS lookup of {what} failed: {error}") from None
    if answer.response is not None:
        _report(on_lookup, describe(answer.response, _source(resolver)))
    return answer


def find_mx(domain: str, resolver: dns.resolver.Resolver, *, lifetime: float = DEFAULT_LIFETIME,
            on_lookup: Callable[[Lookup], None] | None = None,
            rng: random.Random | None = None) -> list[MxHost]:
    """The hosts to try for ``domain``, best first, each with its addresses (AAAA first, then A).

    Raises ``MxError`` for NXDOMAIN, a null MX, a timeout, a SERVFAIL, or no usable host at all.
    """
    domain = domain.rstrip(".").lower()
    rng = rng or random.Random()
    answer = _lookup(resolver, domain, "MX", lifetime, on_lookup)
    if answer is None:
        # RFC 5321 §5.1: no MX records -> the domain itself, preference 0 (the "implicit MX").
        addresses = _addresses(resolver, domain, lifetime, on_lookup)
        if not addresses:
            raise MxError(f"{domain} has no MX record and no A or AAAA record: mail for it has "
                          f"nowhere to go.")
        return [MxHost(0, domain, addresses, implicit=True)]
    records = [(r.preference, r.exchange) for r in answer]
    if any(exchange == dns.name.root for _, exchange in records):
        # RFC 7505 §3: a null MX is the only MX, preference 0, exchange ".".
        raise MxError(f"{domain} accepts no mail: its MX record is the null MX \"0 .\" (RFC 7505).")
    # Sort by preference; shuffle first so that equal preferences come in random order (§5.1).
    rng.shuffle(records)
    records.sort(key=lambda r: r[0])
    hosts = []
    for preference, exchange in records:
        host = exchange.to_text(omit_final_dot=True)
        try:
            addresses = _addresses(resolver, host, lifetime, on_lookup)
        except MxError:
            addresses = ()
        if addresses:
            hosts.append(MxHost(preference, host, addresses))
    if not hosts:
        names = ", ".join(r[1].to_text(omit_final_dot=True) for r in records)
        raise MxError(f"None of the MX hosts of {domain} ({names}) has an address in DNS.")
    return hosts


def _addresses(resolver: dns.resolver.Resolver, host: str, lifetime: float,
               on_lookup: Callable[[Lookup], None] | None) -> tuple[str, ...]:
    found: list[str] = []
    for rdtype in ("AAAA", "A"):
        answer = _lookup(resolver, host, rdtype, lifetime, on_lookup)
        if answer is not None:
            found.extend(r.address for r in answer)
    return tuple(found)


def _report(on_lookup: Callable[[Lookup], None] | None, lookup: Lookup) -> None:
    if on_lookup is not None:
        on_lookup(lookup)


def _source(resolver: dns.resolver.Resolver) -> str:
    servers = resolver.nameservers
    if not servers:
        return "?"
    first = servers[0]
    return f"{first}@{resolver.port}" if isinstance(first, str) else str(first)


def _first_error(error: dns.resolver.NoNameservers) -> str:
    # "All nameservers failed to answer the query example.test. IN MX: Server Do53:... answered SERVFAIL"
    text = str(error)
    return text.split(": ", 1)[1] if ": " in text else "SERVFAIL"


# --- One lookup as a step (``io_requests.Resolve``) -----------------------------------------------


def resolver_for(where: str, lifetime: float = DEFAULT_LIFETIME) -> dns.resolver.Resolver:
    """The resolver a DNS step asks: "zone" (the lessons' zone in memory), "system", or "HOST@PORT"."""
    if where == "zone":
        from smtpstep.protocol.mailauth.zone import zone_resolver

        return zone_resolver(_lesson_zones(), lifetime=lifetime)
    if where == "system":
        return system_resolver(lifetime)
    host, _, port = where.rpartition("@")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)
    resolver.lifetime = lifetime
    return resolver


@functools.cache
def _lesson_zones():  # type: ignore[no-untyped-def]
    """The lessons' zones, parsed once per process (they never change)."""
    from smtpstep.protocol.mailauth.world import zones

    return zones()


def lookup(name: str, rdtype: str, where: str, lifetime: float = DEFAULT_LIFETIME,
           rng: random.Random | None = None) -> DnsAnswer:
    """Ask for the ``rdtype`` records of ``name``; every outcome, a failure too, is a ``DnsAnswer``.

    An MX answer's records of equal preference come in random order (RFC 5321 §5.1: "the SMTP client
    SHOULD pick one at random"); ``routing.route`` then sorts by preference alone.
    """
    source = "the lesson zone" if where == "zone" else where
    try:
        resolver = resolver_for(where, lifetime)
        source = source if where != "system" else _source(resolver)
        answer = resolver.resolve(name, rdtype, lifetime=lifetime, search=False)
    except MxError as error:
        return DnsAnswer(name, rdtype, "ERROR", (), source, str(error))
    except dns.resolver.NXDOMAIN:
        return DnsAnswer(name, rdtype, "NXDOMAIN", (), source)
    except dns.resolver.NoAnswer:
        return DnsAnswer(name, rdtype, OK, (), source)
    except dns.resolver.LifetimeTimeout:
        return DnsAnswer(name, rdtype, TIMEOUT, (), source, f"{lifetime:g}")
    except dns.resolver.NoNameservers as error:
        rcode = "SERVFAIL" if "SERVFAIL" in str(error) else "ERROR"
        return DnsAnswer(name, rdtype, rcode, (), source, _first_error(error))
    except (dns.exception.DNSException, ValueError, OSError) as error:
        return DnsAnswer(name, rdtype, "ERROR", (), source, str(error) or type(error).__name__)
    records = [rdata.to_text() for rdata in answer if rdata.rdtype == dns.rdatatype.from_text(rdtype)]
    if rdtype == "MX":
        (rng or random.Random()).shuffle(records)
        records.sort(key=lambda text: int(text.split()[0]) if text.split()[0].isdigit() else 65536)
    return DnsAnswer(name, rdtype, OK, tuple(records), source)
