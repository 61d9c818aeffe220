"""Network and TLS errors in plain words, for the one sentence a failed step shows a student: no Python
class names, no errno brackets. Pure wording: it opens no connection and decides nothing.
"""

from __future__ import annotations

import ssl

__all__ = ["resolve_words", "socket_words"]


def resolve_words(host: str, error: BaseException) -> str:
    # strerror, not str(error): "[Errno -2] Name or service not known" is Python's text, not plain words.
    said = getattr(error, "strerror", None) or str(error)
    return f"the host name “{host}” could not be resolved; check its spelling ({said})"


_SOCKET_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionResetError, "the server reset the connection"),
    (BrokenPipeError, "the server had already closed the connection"),
    (ConnectionAbortedError, "the connection was aborted"),
)


def socket_words(error: BaseException) -> str:
    """An ``OSError`` or ``ssl.SSLError`` in plain words, without Python's class names and errno
    brackets (the Failure message is shown to a student as is; the style guide wants no Python text)."""
    if isinstance(error, ssl.SSLError):
        return f"TLS error {error.reason}" if error.reason else "a TLS error"
    for kind, words in _SOCKET_WORDS:
        if isinstance(error, kind):
            return words
    said = getattr(error, "strerror", None) or str(error)
    return said[:1].lower() + said[1:] if said else "an error of the operating system"
