"""Whom a client connection trusts over TLS, and what it shows of the peer's certificates: the client's
``ssl.SSLContext`` (``client_context``), the system's roots read lazily, the chain the server presented
(``peer_chain``, ``parse_chain``), and the SNI actually sent (``sni_sent``).

Verification is on unless the user chose ``insecure``; ``server_hostname`` is always passed (``MemoryTls``),
so the host name is checked. It reads certificate files and the system's roots, and opens no connection.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from typing import Any

from smtpstep.protocol.transport.certificates import CertInfo, cert_info, cert_info_of
from smtpstep.protocol.transport.memory_tls import prepare_keylog
from smtpstep.protocol.transport.wire import Target

__all__ = ["client_context", "load_system_roots", "parse_chain", "peer_chain", "sni_sent"]


def client_context(target: Target) -> ssl.SSLContext:
    """The TLS context of a client connection to ``target``: its chain and host name verified unless the
    user chose ``insecure``; the built-in server trusted through its own CA only; keys written to a key
    log only when the target names one."""
    # The system's roots are looked up lazily by hash in their directory: create_default_context()
    # reads the whole bundle (~140 roots, 20-40 ms) on every handshake (benchmarks/results/
    # headless_session.md). The built-in server is trusted through its own CA only.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    if not (target.builtin and target.ca_pem and target.ca_file is None):
        load_system_roots(ctx)
    if target.ca_file is not None:
        ctx.load_verify_locations(cafile=str(target.ca_file))
    if target.ca_pem:
        ctx.load_verify_locations(cadata=target.ca_pem.decode("ascii"))
    if target.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if target.keylog:
        # Only on request: PROTOCOL_TLS_CLIENT contexts never read SSLKEYLOGFILE by themselves.
        prepare_keylog(target.keylog)
        ctx.keylog_filename = target.keylog
    return ctx


def load_system_roots(ctx: ssl.SSLContext) -> None:
    """Trust the system's roots as ``create_default_context`` does, but through the hashed directory
    when there is one: OpenSSL then reads a root only when a chain needs it, where a bundle file is
    parsed whole at once (20-40 ms). A bundle named in ``SSL_CERT_FILE`` is read as well, unless it
    is the system's own bundle, which holds the same roots as the directory."""
    paths = ssl.get_default_verify_paths()
    named = os.environ.get(paths.openssl_cafile_env)
    own_bundle = not named or os.path.realpath(named) == os.path.realpath(paths.openssl_cafile)
    if own_bundle and paths.capath and _has_hashed_roots(paths.capath):
        ctx.load_verify_locations(capath=paths.capath)
    else:
        ctx.load_default_certs()


def _has_hashed_roots(capath: str) -> bool:
    """Whether the directory holds OpenSSL's hash links (``5ad8a5d6.0``), not just loose PEM files."""
    try:
        with os.scandir(capath) as entries:
            return any(len(e.name) == 10 and e.name[8] == "." and e.name[9].isdigit() for e in entries)
    except OSError:
        return False


def peer_chain(ssl_object: Any, *, verified: bool = True) -> tuple[CertInfo, ...]:
    """The chain the peer presented: the verified chain when there is one, else the unverified one.

    After a failed verification only what the server sent is shown (``verified=False``): OpenSSL's
    verified chain is then what it had built so far, and must not be shown as verified."""
    if ssl_object is None:
        return ()
    sslobj = getattr(ssl_object, "_sslobj", ssl_object)
    names = ("get_verified_chain", "get_unverified_chain") if verified else ("get_unverified_chain",)
    for name in names:  # public from Python 3.13, private on 3.11
        getter = getattr(ssl_object, name, None) or getattr(sslobj, name, None)
        try:
            certs = list(getter() or ()) if getter is not None else []
        except Exception:  # noqa: BLE001 - fall back to the next source
            certs = []
        chain = tuple(info for info in (_info_of(cert) for cert in certs) if info is not None)
        if chain:
            return chain
    try:
        leaf = ssl_object.getpeercert(binary_form=True)
    except ValueError:  # no handshake yet (a failure before the certificate)
        return ()
    return parse_chain([leaf] if leaf else [])


def _info_of(cert: Any) -> CertInfo | None:
    try:
        return cert_info_of(cert) if not isinstance(cert, bytes) else cert_info(cert)
    except Exception:  # noqa: BLE001 - a certificate we cannot parse is shown as missing, not a crash
        return None


def sni_sent(name: str) -> str | None:
    """The SNI actually sent: none for an IP address (RFC 6066 §3), which is still checked against the certificate."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    return None


def parse_chain(ders: list[bytes]) -> tuple[CertInfo, ...]:
    chain = []
    for der in ders:
        try:
            chain.append(cert_info(der))
        except Exception:  # noqa: BLE001 - a certificate we cannot parse is shown as missing, not a crash
            continue
    return tuple(chain)
