"""Where the mail goes: the DNS answers a session got before connecting, and the next lookup or the host
they lead to (RFC 5321 §5.1, RFC 7505).

``DnsAnswer`` is one question and its answer as plain values (the driver asked it, ``transport/mx.py``);
``route(domain, answers)`` reads the answers so far and says what comes next: the MX lookup, the address
lookup of the best host not yet tried, the address to connect to, or why the mail cannot go anywhere, in
one plain sentence.

RFC 5321 §5.1: "The lookup first attempts to locate an MX record associated with the name"; a non-existent
domain "MUST be reported as an error"; "If an empty list of MXs is returned, the address is treated as if it
was associated with an implicit MX RR, with a preference of 0, pointing to that host"; lower preferences
come first. RFC 7505 §3: a single MX of preference 0 and exchange "." (a null MX) says the domain takes no mail.

An answer's text came from the network: it is bounded here (``MAX_RECORDS``, ``MAX_RECORD_TEXT``) and
escaped by whoever shows it (``text.shown``). Pure: no I/O, no clock, no dnspython.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpstep.protocol.commands import DnsLookup, InvalidCommand

MAX_RECORDS = 16
"""Records of one answer kept: an MX set is a handful; a hostile server could send hundreds."""

MAX_RECORD_TEXT = 255
"""Characters of one record's text kept (a domain name is at most 253)."""

OK = "NOERROR"
TIMEOUT = "TIMEOUT"
"""No DNS server answered within the lookup's time (not a DNS rcode: what the resolver reports)."""


@dataclass(frozen=True)
class DnsAnswer:
    """One DNS question and what came back."""

    name: str
    """The name asked about, without the final dot."""
    rdtype: str
    rcode: str
    """NOERROR, NXDOMAIN, SERVFAIL, REFUSED..., or TIMEOUT when nothing came."""
    records: tuple[str, ...] = ()
    """The answer's records of the asked type as text ("10 mx.example.test.", "127.0.0.1"), at most
    ``MAX_RECORDS``, each cut at ``MAX_RECORD_TEXT``."""
    source: str = ""
    """Who answered: "the lesson zone" or a DNS server's address."""
    detail: str = ""
    """For a failed lookup, the resolver's own words (bounded), or the seconds waited for a timeout."""

    def __post_init__(self) -> None:
        records = tuple(str(r)[:MAX_RECORD_TEXT] for r in self.records[:MAX_RECORDS])
        object.__setattr__(self, "records", records)
        object.__setattr__(self, "name", str(self.name)[:MAX_RECORD_TEXT].rstrip("."))
        object.__setattr__(self, "detail", str(self.detail)[:200])

    @property
    def question(self) -> str:
        return f"{self.rdtype} {self.name}?"

    def line(self) -> str:
        """The wire log's line: "MX example.test? → 10 mx.example.test." (unescaped: show it with ``shown``)."""
        if self.rcode != OK:
            return f"{self.question} → {self.rcode}"
        if not self.records:
            return f"{self.question} → no {self.rdtype} record (NOERROR, empty answer)"
        return f"{self.question} → {' | '.join(self.records)}"

    @property
    def exchanges(self) -> tuple[tuple[int, str], ...]:
        """An MX answer's (preference, host) pairs, host without the final dot, in the order given;
        records that do not read as "preference host" are left out."""
        pairs = []
        for record in self.records:
            words = record.split()
            if len(words) == 2 and words[0].isdigit():
                pairs.append((int(words[0]), words[1] if words[1] == "." else words[1].rstrip(".").lower()))
        return tuple(pairs)


@dataclass(frozen=True)
class Route:
    """What the answers so far say: the next lookup, or the host and address to connect to, or why not."""

    lookup: DnsLookup | None = None
    host: str | None = None
    address: str | None = None
    preference: int | None = None
    implicit: bool = False
    """True when the domain had no MX records and is its own "implicit MX" (RFC 5321 §5.1)."""
    halt: str | None = None
    """Why the mail cannot be routed, one plain sentence."""

    @property
    def resolved(self) -> bool:
        return self.address is not None


def route(domain: str, answers: tuple[DnsAnswer, ...] | list[DnsAnswer]) -> Route:
    """The next step of finding where mail for ``domain`` goes, from the answers got so far."""
    domain = domain.rstrip(".").lower()
    found = {(a.name.lower(), a.rdtype): a for a in answers}
    mx = found.get((domain, "MX"))
    if mx is None:
        try:
            return Route(lookup=DnsLookup(domain, "MX"))
        except InvalidCommand as error:
            return Route(halt=f"The recipient's domain cannot be looked up in DNS: {error}.")
    failed = _failure(mx, f"the MX records of {domain}")
    if failed is not None:
        return Route(halt=failed)
    exchanges = mx.exchanges
    if any(host == "." for _, host in exchanges):
        return Route(halt=f"The domain {domain} accepts no mail: its MX record is the null MX \"0 .\" (RFC 7505).")
    implicit = not exchanges
    # Sorted by preference, lowest first; equal preferences keep the order the driver gave them (it
    # shuffles them, as RFC 5321 §5.1 asks).
    hosts = [(0, domain)] if implicit else sorted(exchanges, key=lambda pair: pair[0])
    for preference, host in hosts:
        for rdtype in ("A", "AAAA"):
            answer = found.get((host, rdtype))
            if answer is None:
                try:
                    return Route(lookup=DnsLookup(host, rdtype))
                except InvalidCommand:
                    break  # a name DNS cannot be asked about (an answer from the network): not usable
            addresses = [r for r in answer.records if _looks_like_address(r, rdtype)]
            if answer.rcode == OK and addresses:
                return Route(host=host, address=addresses[0], preference=preference, implicit=implicit)
            if answer.rcode == "NXDOMAIN":
                break  # no such host: no AAAA either
    if implicit:
        return Route(halt=f"The domain {domain} has no MX record and no A or AAAA record: mail for it has "
                          "nowhere to go (RFC 5321 §5.1).")
    names = ", ".join(host for _, host in hosts)
    return Route(halt=f"None of the MX hosts of {domain} ({names}) has an address in DNS (RFC 5321 §5.1).")


BEFORE_CONNECTING = ("a DNS step finds the server before the client connects to it (RFC 5321 §5.1); this session "
                     "is connected already")
"""Why a DNS step cannot be taken now. A DNS step sends nothing to any SMTP server, so the client's state
table (``states.ALLOWED``) has no place for it: the transport and the stepper check this instead."""


def _failure(answer: DnsAnswer, what: str) -> str | None:
    if answer.rcode == OK:
        return None
    if answer.rcode == "NXDOMAIN":
        return f"The domain {answer.name} does not exist in DNS (NXDOMAIN for {what})."
    if answer.rcode == TIMEOUT:
        waited = f" after {answer.detail} seconds" if answer.detail else ""
        return f"The DNS lookup of {what} timed out{waited}: no DNS server answered."
    if answer.rcode == "SERVFAIL":
        return f"The DNS lookup of {what} failed: the DNS server answered SERVFAIL (it could not find out)."
    detail = f" ({answer.detail})" if answer.detail else ""
    return f"The DNS lookup of {what} failed: the answer was {answer.rcode}{detail}."


def _looks_like_address(text: str, rdtype: str) -> bool:
    if rdtype == "A":
        parts = text.split(".")
        return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
    return ":" in text and all(c in "0123456789abcdefABCDEF:." for c in text)


__all__ = ["BEFORE_CONNECTING", "DnsAnswer", "MAX_RECORDS", "MAX_RECORD_TEXT", "OK", "Route", "TIMEOUT", "route"]
