"""DNS for the session's DNS steps, with dnspython: ``smtpstep step|run --server mx`` (real DNS) and lesson
parts with ``mx = true`` (the lessons' zone, in memory).

``lookup`` asks one question for a DNS step (``io_requests.Resolve``) and returns its answer as a plain
``routing.DnsAnswer``, a failure included (NXDOMAIN, a timeout, SERVFAIL): what the answers mean for the
route (RFC 5321 §5.1, RFC 7505) is ``routing.route``'s, in the pure core. The same function asks the
lessons' zone, the machine's resolver, or one DNS server (a loopback one in tests). This module does network
I/O (DNS over UDP/TCP, through dnspython), hence its place in the transport; the drivers import it only for
a DNS step, so no other session loads dnspython.
"""

from __future__ import annotations

import functools
import random

import dns.exception
import dns.rdatatype
import dns.resolver

from smtpstep.protocol.routing import OK, TIMEOUT, DnsAnswer

DEFAULT_LIFETIME = 5.0
"""Seconds for one whole lookup, retries included (dnspython's ``lifetime``)."""


class MxError(Exception):
    """DNS cannot be asked at all (no resolver configured); ``str()`` is one plain sentence."""


def system_resolver(lifetime: float = DEFAULT_LIFETIME) -> dns.resolver.Resolver:
    """dnspython's resolver set up from /etc/resolv.conf (or the Windows registry)."""
    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        raise MxError("No DNS server is configured on this machine (/etc/resolv.conf lists none), "
                      "so --server mx cannot look up where the mail goes.") from None
    resolver.lifetime = lifetime
    return resolver


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
