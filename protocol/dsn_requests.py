"""What a session asks of delivery status notifications and TLS on the way, and the MAIL and RCPT parameters
that follow from it in a given session: DSN's RET, ENVID, NOTIFY and ORCPT only where the server advertises DSN
(RFC 3461 §4), REQUIRETLS only where it advertises REQUIRETLS in a session under TLS (RFC 8689 §2, §4.2.1).

Pure: no I/O. The planner calls these when it builds MAIL FROM and RCPT TO; the rules that refuse a parameter
the server did not offer are in ``rules.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from smtpstep.protocol.commands import RcptTo

if TYPE_CHECKING:
    from smtpstep.protocol.client_values import ClientView


@dataclass(frozen=True)
class DsnAsk:
    """What the user or a lesson asks of delivery reports and TLS on the way (RFC 3461 §4, RFC 8689 §2); each is
    sent only when the server advertises its extension (``dsn_mail_params``, ``dsn_rcpt_params``)."""

    ret: str | None = None
    """RET=FULL or HDRS on MAIL FROM."""
    envid: str | None = None
    """ENVID= on MAIL FROM (before xtext encoding)."""
    notify: tuple[str, ...] | None = None
    """NOTIFY= on each RCPT TO: ("NEVER",) or some of SUCCESS, FAILURE, DELAY."""
    orcpt: bool = False
    """ORCPT=rfc822;<the recipient> on each RCPT TO."""
    requiretls: bool = False
    """REQUIRETLS on MAIL FROM, over TLS only."""


def dsn_mail_params(ask: DsnAsk, view: ClientView) -> dict[str, object]:
    """MailFrom's DSN and REQUIRETLS fields that fit this session: DSN advertised (RFC 3461 §4); REQUIRETLS
    advertised in a session under TLS (RFC 8689 §2, §4.2.1)."""
    caps = view.session.capabilities
    values: dict[str, object] = {}
    if caps is not None and "DSN" in caps:
        values.update(ret=ask.ret, envid=ask.envid)
    if ask.requiretls and caps is not None and "REQUIRETLS" in caps and view.session.tls:
        values["requiretls"] = True
    return values


def dsn_rcpt(address: str, ask: DsnAsk, view: ClientView) -> RcptTo:
    """RCPT TO ``address`` with NOTIFY and ORCPT when asked for and DSN is advertised (RFC 3461 §4.1, §4.2)."""
    caps = view.session.capabilities
    if caps is None or "DSN" not in caps or (ask.notify is None and not ask.orcpt):
        return RcptTo(address)
    return RcptTo(address, notify=ask.notify, orcpt=address if ask.orcpt and address.isascii() else None)


__all__ = ["DsnAsk", "dsn_mail_params", "dsn_rcpt"]
