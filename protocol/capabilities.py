"""What a server advertised in its EHLO reply (RFC 5321 §4.1.1.1), as a value.

Holds ``Capabilities``: parsed keywords and their parameters. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpstep.protocol.replies import Reply


@dataclass(frozen=True)
class Capabilities:
    """The EHLO keywords a server offered, upper-cased, each with its parameter string."""

    domain: str
    """The server's name from the first line of the EHLO reply."""
    keywords: tuple[tuple[str, str], ...]
    """(KEYWORD, parameters) in the order the server listed them."""

    @classmethod
    def from_reply(cls, reply: Reply) -> Capabilities:
        first, *rest = reply.lines or ("",)
        domain = first.split(" ", 1)[0] if first else ""
        keywords = []
        for line in rest:
            word, _, params = line.strip().partition(" ")
            if word:
                keywords.append((word.upper(), params.strip()))
        return cls(domain, tuple(keywords))

    @classmethod
    def none(cls) -> Capabilities:
        """What HELO gives: no extensions at all (RFC 5321 §4.1.1.1)."""
        return cls("", ())

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and any(k == keyword.upper() for k, _ in self.keywords)

    def params(self, keyword: str) -> str | None:
        for k, params in self.keywords:
            if k == keyword.upper():
                return params
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.keywords)

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """SASL mechanisms offered with AUTH (RFC 4954 §3); also reads the old ``AUTH=`` form."""
        mechs: list[str] = []
        for k, params in self.keywords:
            if k == "AUTH" or k.startswith("AUTH="):
                extra = k[5:] if k.startswith("AUTH=") else ""
                for mech in (extra + " " + params).upper().split():
                    if mech not in mechs:
                        mechs.append(mech)
        return tuple(mechs)

    @property
    def size_limit(self) -> int | None:
        """The SIZE the server declared (RFC 1870 §4); None if absent, 0 means no fixed limit."""
        params = self.params("SIZE")
        if params is None:
            return None
        try:
            return int(params.split()[0]) if params.split() else 0
        except ValueError:
            return 0


def compare(before: Capabilities | None, after: Capabilities | None) -> list[tuple[str, bool, bool]]:
    """Keywords of both lists as (keyword, in before, in after), for the before/after-STARTTLS view."""
    names: list[str] = []
    for caps in (before, after):
        for name in caps.names if caps else ():
            if name not in names:
                names.append(name)
    return [(n, bool(before and n in before), bool(after and n in after)) for n in names]
