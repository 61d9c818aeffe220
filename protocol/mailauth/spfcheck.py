"""SPF (RFC 7208) with pyspf, answered from the lesson zone instead of the network.

pyspf has no ``dnsfunc`` parameter: every query object calls the module-level function
``spf.DNSLookup(name, qtype, strict, timeout)``. ``install()`` replaces it once with a dispatcher
that asks the zone resolver set for the current context (``use_resolver``), and falls back to
pyspf's own dnspython lookup otherwise. A contextvar (not a plain global) keeps two servers, or a
lesson and a test, from seeing each other's zone; asyncio tasks copy the context, so each SMTP
session of the built-in MX sees the zone its server set.

Result values are RFC 7208 §2.6's: pass, fail, softfail, neutral, none, temperror, permerror.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import dns.exception
import dns.resolver
import spf

_resolver: contextvars.ContextVar[dns.resolver.Resolver | None] = contextvars.ContextVar(
    "smtpstep_spf_resolver", default=None)
_pyspf_lookup = spf.DNSLookup
"""pyspf's own lookup (dnspython against the system resolver), used outside ``use_resolver``."""


def _zone_lookup(name: str, qtype: str, strict: bool = True, timeout: float = 20):
    """pyspf's DNSLookup contract: a list of ((name, type), value); [] for NXDOMAIN / no data;
    spf.TempError for a timeout or SERVFAIL. TXT values are lists of byte strings."""
    resolver = _resolver.get()
    if resolver is None:
        return _pyspf_lookup(name, qtype, strict, timeout)
    try:
        answer = resolver.resolve(name, qtype, lifetime=timeout, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
        raise spf.TempError(f"DNS {error}") from None
    result = []
    for rdata in answer:
        if qtype in ("A", "AAAA"):
            value = rdata.address
        elif qtype == "MX":
            value = (rdata.preference, rdata.exchange)
        elif qtype == "PTR":
            value = rdata.target.to_text(True)
        elif qtype in ("TXT", "SPF"):
            value = rdata.strings
        else:
            continue
        result.append(((name, qtype), value))
    return result


def install() -> None:
    """Route pyspf's DNS through ``_zone_lookup`` (idempotent)."""
    spf.DNSLookup = _zone_lookup


@contextlib.contextmanager
def use_resolver(resolver: dns.resolver.Resolver) -> Iterator[None]:
    install()
    token = _resolver.set(resolver)
    try:
        yield
    finally:
        _resolver.reset(token)


_WORDS = {
    "pass": "{domain} allows {ip} to send its mail",
    "fail": "{domain} does not allow {ip} to send its mail",
    "softfail": "{domain} discourages mail from {ip}",
    "neutral": "{domain} says nothing about {ip}",
    "none": "{domain} publishes no SPF record",
    "temperror": "the SPF record of {domain} could not be read for now",
    "permerror": "the SPF record of {domain} is broken",
}
"""The RFC 7208 §2.6 results in words."""


@dataclass(frozen=True)
class SpfResult:
    result: str
    """pass, fail, softfail, neutral, none, temperror or permerror (RFC 7208 §2.6)."""
    explanation: str
    identity: str
    """"mailfrom" or "helo" (RFC 7208 §2.3, §2.4)."""
    domain: str
    """The domain whose policy was checked."""
    sender: str
    """The checked address: MAIL FROM, or postmaster@HELO for a null reverse-path (§2.4)."""
    client_ip: str = ""
    """The address checked: the SMTP client's."""

    def comment(self, receiver: str) -> str:
        """The result in words, for a comment in Authentication-Results (RFC 8601 §2.2 allows comments)."""
        words = _WORDS.get(self.result, "{domain}: {result}")
        text = f"{receiver}: " + words.format(ip=self.client_ip, domain=self.domain or "the sender", result=self.result)
        # Inside a comment "(", ")" and "\" are written as quoted pairs (RFC 5322 §3.2.2).
        return "".join("\\" + c if c in "()\\" else c for c in text if c.isprintable())


def check(ip: str, mail_from: str, helo: str, resolver: dns.resolver.Resolver,
          receiver: str = "mx.example.test") -> SpfResult:
    """SPF for the MAIL FROM identity (or, with ``<>``, the HELO identity), RFC 7208 §4."""
    mail_from = "" if mail_from in ("<>", None) else mail_from
    with use_resolver(resolver):
        query = spf.query(i=ip, s=mail_from, h=helo, receiver=receiver, querytime=5)
        result, _code, explanation = query.check()
    return SpfResult(result, explanation, query.ident, query.o, query.s, ip)
