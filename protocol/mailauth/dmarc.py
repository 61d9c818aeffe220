"""DMARC (RFC 7489) evaluation and the Authentication-Results header field (RFC 8601).

A small evaluator of our own rather than authheaders' ``check_dmarc``, whose bundled Public Suffix List
makes the organizational domain of a ``.test`` name "test" and which reports an unsigned message as
``dkim=fail``: this one follows RFC 7489 §6.6 step by step, so each step can be narrated, and it asks
the lesson zone through the same resolver as SPF and DKIM. No I/O: DNS goes through the resolver given.

- §6.6.1: the RFC5322.From domain (exactly one author address, else no DMARC).
- §6.6.3: policy discovery: ``_dmarc.<from-domain>`` TXT, else ``_dmarc.<organizational domain>``;
  records not starting with ``v=DMARC1`` are dropped; none or several -> no policy.
- §3.2: organizational domain = public suffix + one label. The built-in MX only meets lesson
  domains, so the suffix list is tiny (``PUBLIC_SUFFIXES``, with the Public Suffix List's default
  rule "*": any unlisted top-level label is itself a public suffix).
- §3.1: identifier alignment, relaxed (same organizational domain) or strict (same name), for the
  DKIM d= of each passing signature and the SPF-authenticated MAIL FROM domain.
- §6.3, §6.6.4: p / sp (sp applies when the policy came from the organizational domain), pct.

The Authentication-Results field is built and can be parsed back with ``authres`` (the library
under authheaders), which knows the RFC 8601 syntax.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import getaddresses

import dns.exception
import dns.resolver

from smtpstep.protocol.mailauth.dkimcheck import DkimResult
from smtpstep.protocol.mailauth.spfcheck import SpfResult
from smtpstep.protocol.mailauth.zone import txt_strings

PUBLIC_SUFFIXES = frozenset({"test"})
"""Public suffixes the lesson world knows; unlisted top-level labels count as suffixes too."""
POLICIES = ("none", "quarantine", "reject")

REJECT_REPLY = ("550 5.7.26 Unauthenticated email from {domain} is not accepted due to its DMARC "
                "policy (p=reject)")
"""What the MX answers the final dot with when DMARC fails and the policy is reject. X.7.26 is
RFC 7372's "Multiple authentication checks failed" (DMARC fails only when SPF and DKIM both give no
aligned pass), and the code large receivers send for a DMARC rejection; RFC 7489 §10.3's example uses 5.7.1."""


def organizational_domain(domain: str, suffixes: Iterable[str] = PUBLIC_SUFFIXES) -> str:
    """RFC 7489 §3.2: the longest public suffix of ``domain`` plus one more label."""
    labels = domain.rstrip(".").lower().split(".")
    suffixes = set(suffixes)
    longest = 1  # the default rule "*": the top-level label alone is a public suffix
    for n in range(1, len(labels) + 1):
        if ".".join(labels[-n:]) in suffixes:
            longest = max(longest, n)
    if len(labels) <= longest:
        return ".".join(labels)  # the name is itself a public suffix
    return ".".join(labels[-(longest + 1):])


def aligned(a: str, b: str, mode: str) -> bool:
    """RFC 7489 §3.1.1 / §3.1.2: strict = identical names, relaxed = same organizational domain."""
    a, b = a.rstrip(".").lower(), b.rstrip(".").lower()
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


class DmarcRecordError(ValueError):
    pass


@dataclass(frozen=True)
class DmarcRecord:
    tags: dict[str, str]
    found_at: str
    """The domain whose _dmarc record this is."""

    @property
    def p(self) -> str:
        return self.tags["p"]

    @property
    def sp(self) -> str:
        return self.tags.get("sp", self.tags["p"])

    @property
    def adkim(self) -> str:
        return self.tags.get("adkim", "r")

    @property
    def aspf(self) -> str:
        return self.tags.get("aspf", "r")

    @property
    def pct(self) -> int:
        return int(self.tags.get("pct", "100"))


def parse_record(text: str, found_at: str) -> DmarcRecord:
    """RFC 7489 §6.3 tag=value list; v=DMARC1 first; p required (§6.6.3 step 6: a record with
    no valid p= but a valid rua= counts as p=none)."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise DmarcRecordError(f"“{part}” is not a tag=value pair")
        tags.setdefault(name.strip().lower(), value.strip())
    if tags.get("v") != "DMARC1":
        raise DmarcRecordError("it does not start with v=DMARC1")
    for tag, allowed in (("p", POLICIES), ("sp", POLICIES), ("adkim", ("r", "s")), ("aspf", ("r", "s"))):
        if tag in tags:
            tags[tag] = tags[tag].lower()
            if tags[tag] not in allowed:
                if tag == "p" and tags.get("rua", "").startswith("mailto:"):
                    tags["p"] = "none"
                    continue
                raise DmarcRecordError(f"{tag}={tags[tag]} is not one of {', '.join(allowed)}")
    if "p" not in tags:
        if tags.get("rua", "").startswith("mailto:"):
            tags["p"] = "none"
        else:
            raise DmarcRecordError("it has no p= tag")
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        raise DmarcRecordError(f"pct={tags['pct']} is not a number from 0 to 100")
    return DmarcRecord(tags, found_at)


@dataclass(frozen=True)
class DmarcResult:
    result: str
    """pass, fail, none (no policy), temperror, permerror (RFC 8601 §2.7.1 / RFC 7489 §11.2)."""
    from_domain: str = ""
    policy: str = "none"
    """The policy requested for this message (p, or sp for a subdomain), "none" if no record."""
    disposition: str = "none"
    """What the receiver does: none (deliver), quarantine, reject (§6.6.4, after pct)."""
    record: DmarcRecord | None = None
    spf_aligned: bool = False
    dkim_aligned: bool = False
    steps: tuple[str, ...] = field(default=())
    """The evaluation, one plain sentence a step, for the lesson."""


def author_domain(message: bytes) -> tuple[str | None, str]:
    """RFC 7489 §6.6.1: the domain of the single From address, or (None, why not)."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    values = []
    current = None
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and current is not None:
            values[-1] += line
            continue
        name, _, value = line.partition(":")
        current = name.strip().lower()
        if current == "from":
            values.append(value)
        else:
            current = None if current != "from" else current
    if len(values) != 1:
        return None, f"the message has {len(values)} From fields, not one (RFC 5322 §3.6)"
    addresses = [a for _, a in getaddresses(values) if a]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return None, "the From field does not hold exactly one address"
    return addresses[0].rpartition("@")[2].lower(), ""


def discover_policy(from_domain: str, resolver: dns.resolver.Resolver) -> tuple[DmarcRecord | None, list[str]]:
    """RFC 7489 §6.6.3 policy discovery. Raises dns.exception.DNSException on a DNS failure."""
    steps = []
    org = organizational_domain(from_domain)
    for domain in (from_domain, org) if org != from_domain else (from_domain,):
        records = [t.decode("utf-8", "replace") for t in txt_strings(resolver, f"_dmarc.{domain}")]
        dmarc = [r for r in records if r.startswith("v=DMARC1")]
        if len(dmarc) > 1:
            steps.append(f"_dmarc.{domain} has {len(dmarc)} DMARC records: none applies (§6.6.3 step 5)")
            return None, steps
        if dmarc:
            try:
                record = parse_record(dmarc[0], domain)
            except DmarcRecordError as error:
                steps.append(f"the record at _dmarc.{domain} is not valid: {error}; DMARC does not apply")
                return None, steps
            steps.append(f"policy found at _dmarc.{domain}: {dmarc[0]}")
            return record, steps
        steps.append(f"no DMARC record at _dmarc.{domain}")
    return None, steps


def evaluate(message: bytes, spf: SpfResult | None, dkim_results: list[DkimResult],
             resolver: dns.resolver.Resolver, rng: random.Random | None = None) -> DmarcResult:
    """RFC 7489 §6.6: is the From domain aligned with a passing SPF or DKIM identifier, and what
    does its owner ask the receiver to do if not."""
    from_domain, why = author_domain(message)
    if from_domain is None:
        return DmarcResult("permerror", steps=(why,))
    try:
        record, steps = discover_policy(from_domain, resolver)
    except dns.exception.DNSException as error:
        return DmarcResult("temperror", from_domain, steps=(f"DNS failed: {error}",))
    if record is None:
        return DmarcResult("none", from_domain, steps=tuple(steps))
    policy = record.sp if record.found_at != from_domain else record.p
    spf_ok = False
    if spf is not None and spf.result == "pass" and spf.identity == "mailfrom":
        spf_ok = aligned(spf.domain, from_domain, record.aspf)
        steps.append(f"SPF passed for {spf.domain}: {'aligned' if spf_ok else 'not aligned'} with "
                     f"{from_domain} ({'strict' if record.aspf == 's' else 'relaxed'}, §3.1.2)")
    elif spf is not None:
        steps.append(f"SPF gave {spf.result} for {spf.domain or '(none)'}: no SPF pass to align")
    dkim_ok = False
    for result in dkim_results:
        if result.result != "pass":
            if result.result != "none":
                steps.append(f"DKIM signature d={result.domain} gave {result.result}: not counted")
            continue
        ok = aligned(result.domain, from_domain, record.adkim)
        steps.append(f"DKIM passed for d={result.domain}: {'aligned' if ok else 'not aligned'} with "
                     f"{from_domain} ({'strict' if record.adkim == 's' else 'relaxed'}, §3.1.1)")
        dkim_ok = dkim_ok or ok
    if spf_ok or dkim_ok:
        steps.append("DMARC passes: at least one aligned identifier passed (§4.2)")
        return DmarcResult("pass", from_domain, policy, "none", record, spf_ok, dkim_ok, tuple(steps))
    disposition = policy
    if policy != "none" and record.pct < 100:
        sampled = (rng or random.Random()).randrange(100) < record.pct
        if not sampled:
            # §6.6.4: a message outside the sample gets the next policy down.
            disposition = "quarantine" if policy == "reject" else "none"
            steps.append(f"pct={record.pct}: this message is outside the sample, so {disposition}")
    steps.append(f"DMARC fails: no aligned pass; the domain asks for p={policy}")
    return DmarcResult("fail", from_domain, policy, disposition, record, False, False, tuple(steps))


# --- Authentication-Results ---------------------------------------------------------------------


def authentication_results(authserv_id: str, *, spf: SpfResult | None = None,
                           dkim_results: Iterable[DkimResult] = (), dmarc: DmarcResult | None = None,
                           helo: str | None = None) -> str:
    """``Authentication-Results: <authserv-id>; spf=...; dkim=...; dmarc=...`` (RFC 8601 §2.2),
    folded one result per line. Built with authres; properties per RFC 8601 §2.7 and RFC 7489
    §11.2 (header.from, policy.dmarc is not registered; the policy goes in a comment)."""
    import authres
    import authres.dmarc  # registers the dmarc method  # noqa: F401

    results = []
    if spf is not None:
        comment = spf.comment(authserv_id)
        if spf.identity == "helo":
            results.append(authres.SPFAuthenticationResult(result=spf.result, result_comment=comment,
                                                           smtp_helo=helo or spf.domain))
        else:
            results.append(authres.SPFAuthenticationResult(result=spf.result, result_comment=comment,
                                                           smtp_mailfrom=spf.domain))
    for r in dkim_results:
        if r.result == "none":
            results.append(authres.DKIMAuthenticationResult(result="none"))
            continue
        props = [authres.core.AuthenticationResultProperty("header", "d", r.domain),
                 authres.core.AuthenticationResultProperty("header", "s", r.selector)]
        if r.header_b:
            props.append(authres.core.AuthenticationResultProperty("header", "b", r.header_b))
        results.append(authres.DKIMAuthenticationResult(
            result=r.result, result_comment=r.reason or None, properties=props))
    if dmarc is not None:
        comment = None
        if dmarc.record is not None:
            comment = f"p={dmarc.record.p} sp={dmarc.record.sp} dis={dmarc.disposition}"
        results.append(authres.dmarc.DMARCAuthenticationResult(
            result=dmarc.result, result_comment=comment, header_from=dmarc.from_domain or None))
    header = str(authres.AuthenticationResultsHeader(authserv_id=authserv_id, results=results))
    # authres writes one line; fold after each ";" (RFC 5322 §2.2.3) so each result is a line.
    return header.replace("; ", ";\r\n\t")
