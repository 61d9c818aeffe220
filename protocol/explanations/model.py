"""The catalog's values: one explanation ready to show, and the entries the catalog tables hold.

Pure: no I/O, no clock, no asyncio, ssl, socket or Textual imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Explanation:
    """One entry of the catalog, ready to show."""

    title: str
    """Short heading, such as "250: requested action completed"."""
    text: str
    """Plain words, one to three sentences."""
    rfc: str
    """Where it comes from, such as "RFC 5321 §4.2.3"; several are joined with "; "."""




class Entry(NamedTuple):
    """One row of a catalog table: a short title, plain words, and the RFC section they rest on."""

    title: str
    text: str
    rfc: str
