"""No private ``ssl`` hook anywhere: the TLS lines come from the records that crossed the wire.

CPython's private message hook on ``SSLContext`` is for debugging; it may change with any Python release.
The engine reads the records themselves (``tls_records``) from the bytes ``memory_tls`` moves.
"""

from __future__ import annotations

from tests.support.env import REPO

PRIVATE_HOOK = "_msg" + "_callback"  # spelled in two pieces, so that this file does not match itself


def test_no_file_of_the_repository_uses_the_private_ssl_message_callback() -> None:
    found = []
    for folder in ("app", "protocol", "themes", "tests", "benchmarks", "docs"):
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".toml", ".txt", ".cfg"):
                if PRIVATE_HOOK in path.read_text(encoding="utf-8", errors="replace"):
                    found.append(str(path.relative_to(REPO)))
    assert found == []
