"""A line a person types (the insert and edit keys, a lesson's raw step) as the command it matches:
``parse_command`` gives the structured command when the line is one, and a ``Raw`` one otherwise, which
the server judges. AUTH typed by hand stays ``Raw``: credentials go through ``Auth``, which redacts them.
Pure: no I/O.
"""

from __future__ import annotations

from smtpstep.protocol.commands import (
    Bdat,
    Command,
    Data,
    Ehlo,
    Expn,
    Helo,
    Help,
    InvalidCommand,
    MailFrom,
    Noop,
    Quit,
    Raw,
    RcptTo,
    Rset,
    StartTls,
    Vrfy,
    check_field,
)

__all__ = ["parse_command"]


def parse_command(line: str, *, message_rest: bytes | None = None) -> Command:
    """Turn a typed line into the matching command, or a ``Raw`` one for anything else.

    AUTH typed by hand stays ``Raw``: credentials go through ``Auth`` so that they are redacted.
    ``BDAT <size> [LAST]`` takes its chunk from the start of ``message_rest`` (the part of the message
    not sent or queued yet); without it, or if the line is not of that form, it is refused.
    """
    check_field("the line", line)
    text = line.strip()
    word, _, rest = text.partition(" ")
    verb = word.upper()
    rest = rest.strip()
    if verb == "BDAT":
        return _bdat(rest, message_rest)
    try:
        return _structured(verb, text, rest)
    except InvalidCommand:
        return Raw(text)  # malformed on purpose, perhaps: let the server judge it


def _structured(verb: str, text: str, rest: str) -> Command:
    simple = {"STARTTLS": StartTls, "DATA": Data, "RSET": Rset, "NOOP": Noop, "QUIT": Quit}
    if verb in simple and not rest:
        return simple[verb]()
    if verb == "EHLO" and rest and " " not in rest:
        return Ehlo(rest)
    if verb == "HELO" and rest and " " not in rest:
        return Helo(rest)
    if verb == "VRFY" and rest:
        return Vrfy(rest)
    if verb == "EXPN" and rest:
        return Expn(rest)
    if verb == "HELP":
        return Help(rest)
    upper = text.upper()
    if upper.startswith("MAIL FROM:") and " " not in text[10:].strip():
        return MailFrom(text[10:].strip())
    if upper.startswith("RCPT TO:") and " " not in text[8:].strip():
        return RcptTo(text[8:].strip())
    return Raw(text)


def _bdat(arguments: str, message_rest: bytes | None) -> Bdat:
    """``BDAT <size> [LAST]`` (RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [SP end-marker]), its chunk
    the next ``size`` octets of the message."""
    words = arguments.split()
    if not words or not words[0].isdigit() or len(words) > 2 or (len(words) == 2 and words[1].upper() != "LAST"):
        raise InvalidCommand("write BDAT <size> or BDAT <size> LAST, the size in octets (RFC 3030 §2)")
    if message_rest is None:
        raise InvalidCommand("BDAT sends the next octets of the message, and there is no message to take them from")
    size = int(words[0])
    if size > len(message_rest):
        raise InvalidCommand(f"only {len(message_rest):,} octets of the message are left to send, not {size:,}")
    return Bdat(message_rest[:size], last=len(words) == 2)
