"""The delivery status notification parameters of MAIL and RCPT (RFC 3461 §4) and REQUIRETLS (RFC 8689 §2),
as values: how they are written (xtext, §4) and read back, and the request a server keeps with the envelope.

- ``RET=FULL|HDRS`` and ``ENVID=<xtext>`` on MAIL FROM (RFC 3461 §4.3, §4.4);
- ``NOTIFY=NEVER`` or ``NOTIFY=`` a comma list of SUCCESS, FAILURE and DELAY, and
  ``ORCPT=rfc822;<xtext>`` on RCPT TO (RFC 3461 §4.1, §4.2);
- ``REQUIRETLS`` (no value) on MAIL FROM (RFC 8689 §2).
A client may use them only with a server whose EHLO reply lists DSN, or REQUIRETLS (RFC 3461 §4, RFC 8689 §2).

Pure: no I/O. The client builds commands from these (``commands.MailFrom``, ``commands.RcptTo``); the built-in
server reads them with ``read_mail`` and ``read_rcpt``.
"""

from __future__ import annotations

from dataclasses import dataclass

NOTIFY_WORDS = ("SUCCESS", "FAILURE", "DELAY")
"""What NOTIFY may list, in a comma-separated list; NEVER stands alone (RFC 3461 §4.1)."""
RET_VALUES = ("FULL", "HDRS")
"""RET=FULL returns the whole message in a failure report, RET=HDRS only its header (RFC 3461 §4.3)."""
ENVID_LIMIT = 100
"""ENVID's value, as xtext, is kept under this many characters: smtpstep's bound, as common servers keep (the
identifier only has to be returned in reports)."""
ORCPT_LIMIT = 500
"""Most characters of an ORCPT value (address type, ";" and the xtext) this code writes or reads: smtpstep's
bound, which common implementations share."""
ORCPT_TYPE = "rfc822"
"""The address type of an Internet mail address in ORCPT (RFC 3461 §4.2, RFC 3464 §2.1.2)."""
DSN_MAIL_KEYWORDS = ("RET", "ENVID")
DSN_RCPT_KEYWORDS = ("NOTIFY", "ORCPT")


class DsnSyntaxError(ValueError):
    """A DSN parameter's value does not follow RFC 3461 §4. ``str(error)`` is one plain sentence."""


# --- xtext (RFC 3461 §4) ----------------------------------------------------------------------------


def _printable(char: str) -> bool:
    """Printable US-ASCII, graphic or white space (SP, HTAB): what ENVID and ORCPT's address may hold before
    encoding (RFC 3461 §4.2, §4.4)."""
    return char == "\t" or " " <= char <= "~"


def _plain(byte: int) -> bool:
    """An xchar: "!" to "~" but neither "+" nor "=" (RFC 3461 §4)."""
    return 33 <= byte <= 126 and byte not in (0x2B, 0x3D)


def xtext(text: str) -> str:
    """``text`` as xtext: each octet outside "!".."~", and "+" and "=", becomes "+" and two upper-case
    hexadecimal digits (RFC 3461 §4); other characters stay as they are. The callers give ASCII only."""
    return "".join(chr(byte) if _plain(byte) else f"+{byte:02X}" for byte in text.encode("utf-8"))


def unxtext(value: str) -> str:
    """The text an xtext ``value`` stands for; ``DsnSyntaxError`` unless every character is an xchar or a "+"
    followed by two upper-case hexadecimal digits (RFC 3461 §4)."""
    out = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        if char == "+":
            digits = value[index + 1:index + 3]
            if len(digits) != 2 or any(d not in "0123456789ABCDEF" for d in digits):
                raise DsnSyntaxError("a “+” in xtext must be followed by two upper-case hexadecimal digits "
                                     "(RFC 3461 §4)")
            out.append(int(digits, 16))
            index += 3
            continue
        if not (char.isascii() and _plain(ord(char))):
            raise DsnSyntaxError("xtext holds only printable ASCII other than “+” and “=”, the rest written "
                                 "as +XX (RFC 3461 §4)")
        out.append(ord(char))
        index += 1
    return out.decode("utf-8", "replace")


# --- the values -------------------------------------------------------------------------------------


def notify_words(value: str) -> tuple[str, ...]:
    """The NOTIFY value as words (upper-case): ``("NEVER",)`` or some of SUCCESS, FAILURE, DELAY, a repeated
    word kept once (RFC 3461 §4.1); ``DsnSyntaxError`` otherwise."""
    words = tuple(word.strip().upper() for word in value.split(","))
    if words == ("NEVER",):
        return words
    if not all(word in NOTIFY_WORDS for word in words):
        raise DsnSyntaxError("NOTIFY is NEVER alone, or a comma list of SUCCESS, FAILURE and DELAY "
                             "(RFC 3461 §4.1)")
    return tuple(dict.fromkeys(words))


def ret_value(value: str) -> str:
    """RET's value, upper-case: FULL or HDRS (RFC 3461 §4.3); ``DsnSyntaxError`` otherwise."""
    if value.upper() not in RET_VALUES:
        raise DsnSyntaxError("RET is FULL (the whole message) or HDRS (only its header) (RFC 3461 §4.3)")
    return value.upper()


def check_envid(envid: str) -> str:
    """The envelope identifier as given, if it fits ENVID: printable ASCII before encoding (RFC 3461 §4.4), and
    under ``ENVID_LIMIT`` characters as xtext; ``DsnSyntaxError`` otherwise."""
    if not envid or not all(_printable(c) for c in envid):
        raise DsnSyntaxError("ENVID is one or more printable ASCII characters (RFC 3461 §4.4)")
    if len(xtext(envid)) >= ENVID_LIMIT:
        raise DsnSyntaxError(f"ENVID is kept under {ENVID_LIMIT} characters as xtext here")
    return envid


def orcpt_value(address: str) -> str:
    """``rfc822;`` and the address as xtext: ORCPT's value for an Internet mail address (RFC 3461 §4.2), whose
    address must be printable ASCII before encoding (§4.2)."""
    if not address or not all(_printable(c) for c in address):
        raise DsnSyntaxError("ORCPT's address must be printable ASCII (RFC 3461 §4.2)")
    value = f"{ORCPT_TYPE};{xtext(address)}"
    if len(value) > ORCPT_LIMIT:
        raise DsnSyntaxError(f"ORCPT is kept to {ORCPT_LIMIT} characters here")
    return value


def read_orcpt(value: str) -> tuple[str, str]:
    """(address type, original address) from an ORCPT value ``type;xtext`` (RFC 3461 §4.2)."""
    kind, semicolon, encoded = value.partition(";")
    if not semicolon or not kind or not encoded or not all(c.isalnum() or c in "-" for c in kind):
        raise DsnSyntaxError("ORCPT is an address type, “;” and the address as xtext, such as "
                             "rfc822;student+2Bx@example.test (RFC 3461 §4.2)")
    if len(value) > ORCPT_LIMIT:
        raise DsnSyntaxError(f"ORCPT is kept to {ORCPT_LIMIT} characters here")
    address = unxtext(encoded)
    if not all(_printable(c) for c in address):
        raise DsnSyntaxError("ORCPT's address must be printable ASCII (RFC 3461 §4.2)")
    return kind, address


# --- what the wire log says -------------------------------------------------------------------------


def wire_note(parameters: tuple[str, ...]) -> str | None:
    """One line for the wire log after a MAIL or RCPT that carried DSN or REQUIRETLS parameters: what each means,
    xtext decoded (RFC 3461 §4.1-4.4, RFC 8689 §2); None when it carried none."""
    said = []
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        try:
            if key == "RET":
                returned = "the whole message" if value == "FULL" else "only the header"
                said.append(f"RET={value}: a failure report returns {returned} (RFC 3461 §4.3)")
            elif key == "ENVID":
                said.append(f"ENVID: the reports quote the identifier “{unxtext(value)}”, written as xtext "
                            "(RFC 3461 §4.4)")
            elif key == "NOTIFY":
                asked = "no report at all" if value == "NEVER" else \
                    "a report on " + ", ".join(word.lower() for word in value.split(","))
                said.append(f"NOTIFY={value}: {asked} (RFC 3461 §4.1)")
            elif key == "ORCPT":
                kind, address = read_orcpt(value)
                said.append(f"ORCPT: the original recipient is {address} ({kind}), written as xtext (RFC 3461 §4.2)")
            elif key == "REQUIRETLS":
                said.append("REQUIRETLS: onward only over verified TLS, or the message comes back (RFC 8689 §2)")
        except DsnSyntaxError:
            continue
    return "; ".join(said) or None


# --- what a server keeps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DsnRecipient:
    """One accepted recipient's DSN request (RFC 3461 §4.1, §4.2)."""

    address: str
    notify: tuple[str, ...] | None = None
    """NEVER, or some of SUCCESS, FAILURE, DELAY; None when RCPT TO had no NOTIFY (the server may then act as
    for NOTIFY=FAILURE or FAILURE,DELAY, RFC 3461 §4.1)."""
    orcpt: tuple[str, str] | None = None
    """(address type, original recipient address, decoded), from ORCPT; None without it."""

    def wants(self, event: str) -> bool:
        """Whether a report of ``event`` (SUCCESS, FAILURE or DELAY) was asked for; without NOTIFY, failures only."""
        return event in (self.notify if self.notify is not None else ("FAILURE",))


@dataclass(frozen=True)
class DsnRequest:
    """What MAIL FROM asked for the transaction: RET and ENVID (RFC 3461 §4.3, §4.4) and REQUIRETLS (RFC 8689)."""

    ret: str | None = None
    """FULL or HDRS; None when MAIL FROM had no RET (the server chooses, RFC 3461 §4.3)."""
    envid: str | None = None
    """The envelope identifier, decoded from xtext; a report returns it as Original-Envelope-Id (RFC 3464 §2.2.1)."""
    requiretls: bool = False
    """MAIL FROM carried REQUIRETLS: the message must travel on only over verified TLS (RFC 8689 §4.1)."""


def read_mail(words: list[str], *, dsn: bool, requiretls: bool) -> tuple[list[str], DsnRequest]:
    """Split MAIL FROM's parameter ``words``: the DSN ones (if ``dsn`` is advertised) and REQUIRETLS (if
    advertised now) are read into a ``DsnRequest``, the others returned as they came. ``DsnSyntaxError`` for a bad
    value. A parameter of an extension not advertised is left among the others: the server does not know it."""
    rest: list[str] = []
    ret = envid = None
    tls = False
    for word in words:
        key, equals, value = word.partition("=")
        upper = key.upper()
        if dsn and upper == "RET" and equals:
            ret = ret_value(value)
        elif dsn and upper == "ENVID" and equals:
            envid = check_envid(unxtext(value))
        elif requiretls and upper == "REQUIRETLS" and not equals:
            tls = True
        else:
            rest.append(word)
    return rest, DsnRequest(ret, envid, tls)


RcptRequest = tuple[tuple[str, ...] | None, tuple[str, str] | None]
"""NOTIFY's words and ORCPT's (address type, address), each None when absent."""


def read_rcpt(words: list[str], *, dsn: bool) -> tuple[list[str], RcptRequest]:
    """Split RCPT TO's parameter ``words``: NOTIFY and ORCPT (when DSN is advertised) are read, the others
    returned as they came. ``DsnSyntaxError`` for a bad value."""
    rest: list[str] = []
    notify: tuple[str, ...] | None = None
    orcpt: tuple[str, str] | None = None
    for word in words:
        key, equals, value = word.partition("=")
        upper = key.upper()
        if dsn and upper == "NOTIFY" and equals:
            notify = notify_words(value)
        elif dsn and upper == "ORCPT" and equals:
            orcpt = read_orcpt(value)
        else:
            rest.append(word)
    return rest, (notify, orcpt)


__all__ = ["DSN_MAIL_KEYWORDS", "DSN_RCPT_KEYWORDS", "DsnRecipient", "DsnRequest", "DsnSyntaxError", "ENVID_LIMIT",
           "NOTIFY_WORDS", "ORCPT_LIMIT", "ORCPT_TYPE", "RET_VALUES", "check_envid", "notify_words", "orcpt_value",
           "read_mail", "read_orcpt", "read_rcpt", "ret_value", "unxtext", "wire_note", "xtext"]
