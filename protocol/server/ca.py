"""The built-in server's certificates: a throwaway trustme CA, the server's own certificate, and the
bad ones (expired, for the wrong host, from a CA nobody trusts) that lessons show a client refusing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import trustme

from smtpstep.protocol.server.facts import BANNER_NAME

CERTIFICATE_VARIANTS = ("valid", "expired", "wrong-host", "untrusted")
"""What the server can present, for lessons and tests on the client's certificate checks."""
SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1", BANNER_NAME)
"""Subject alternative names of the valid certificate."""
WRONG_HOST_IDENTITY = "wrong.example"
"""The only name in the "wrong-host" certificate (RFC 2606 §3 reserves ``example``)."""

@dataclass(frozen=True)
class Certificates:
    ca_pem: bytes
    """The CA that ``ca_path`` holds, which clients should trust."""
    server: trustme.LeafCert
    """What the server presents."""
    ca: trustme.CA | None = None
    """The CA itself, to issue the certificates a scenario presents by SNI."""


def make_certificates(variant: str) -> Certificates:
    ca = trustme.CA(organization_name="smtpstep", organization_unit_name="smtpstep local CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    common = {"organization_name": "smtpstep", "organization_unit_name": "smtpstep local server"}
    if variant == "valid":
        leaf = ca.issue_cert(*SERVER_IDENTITIES, common_name=BANNER_NAME, **common)
    elif variant == "expired":
        leaf = ca.issue_cert(
            *SERVER_IDENTITIES,
            common_name=BANNER_NAME,
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
            **common,
        )
    elif variant == "wrong-host":
        leaf = ca.issue_cert(WRONG_HOST_IDENTITY, common_name=WRONG_HOST_IDENTITY, **common)
    elif variant == "untrusted":
        stranger = trustme.CA(organization_name="smtpstep", organization_unit_name="untrusted CA")
        leaf = stranger.issue_cert(*SERVER_IDENTITIES, common_name=BANNER_NAME, **common)
    else:
        raise ValueError(f"certificate must be one of {', '.join(CERTIFICATE_VARIANTS)}, not {variant!r}")
    return Certificates(ca_pem=ca.cert_pem.bytes(), server=leaf, ca=ca)


def variant_leaf(ca: trustme.CA, variant: str, name: str) -> trustme.LeafCert:
    """A certificate for ``name`` that fails the client's check in one way only: the variant's."""
    common = {"organization_name": "smtpstep", "organization_unit_name": f"smtpstep {variant} certificate"}
    if variant == "expired":
        now = datetime.datetime.now(datetime.timezone.utc)
        return ca.issue_cert(name, common_name=name, not_before=now - datetime.timedelta(days=30),
                             not_after=now - datetime.timedelta(days=1), **common)
    if variant == "wrong-host":
        return ca.issue_cert(WRONG_HOST_IDENTITY, common_name=WRONG_HOST_IDENTITY, **common)
    if variant == "untrusted":
        stranger = trustme.CA(organization_name="smtpstep", organization_unit_name="untrusted CA")
        return stranger.issue_cert(name, common_name=name, **common)
    return ca.issue_cert(name, common_name=name, **common)
