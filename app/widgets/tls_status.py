"""The TLS status pane: plain text, STARTTLS or implicit TLS; version, cipher, SNI, the certificate
chain and the verification result (trusted by which CA, or why not)."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.stepper import SessionView
from smtpstep.protocol.transport.certificates import TlsInfo


def tls_summary(view: SessionView | None) -> str:
    """One line for the header: the lock and the state of TLS."""
    if view is None:
        return "…"
    tls = view.snapshot.tls
    session = view.snapshot.client.session
    if session.tls and tls is not None:
        mark = " ⚠ NOT VERIFIED" if tls.insecure else ""
        return f"🔒 {tls.version or 'TLS'}{mark}"
    if tls is not None and not tls.verified:
        return "🔓 TLS failed"
    return "🔓 plain"


class TlsStatus(Static):
    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view to render (bound from the screen); watch_view redraws only on change."""

    _shown: object = ()

    def watch_view(self, view: SessionView | None) -> None:
        # Redraw only when something this pane shows changed: every update costs a relayout.
        key = None if view is None else (view.snapshot.tls, view.snapshot.client.session.tls,
                                         view.snapshot.target.security)
        if key != self._shown:
            self._shown = key
            self.update(self._content(view))

    def _content(self, view: SessionView | None) -> Group | Text:
        if view is None:
            return Text("…")
        snapshot = view.snapshot
        security = snapshot.target.security
        tls = snapshot.tls
        if tls is None:
            plan = {"starttls": "STARTTLS is planned after EHLO (RFC 3207).",
                    "tls": "TLS starts right after the TCP connection (implicit TLS, RFC 8314).",
                    "none": "No TLS is planned: everything, including any password, travels in clear text."}
            return Group(Text("🔓 Plain text: nothing is encrypted yet.", style="bold"), Text(plan[security]))
        return Group(*self._tls_lines(tls, snapshot.client.session.tls))

    @staticmethod
    def _tls_lines(tls: TlsInfo, up: bool) -> list[Text]:
        lines: list[Text] = []
        mode = "implicit TLS (RFC 8314)" if tls.mode == "tls" else "STARTTLS (RFC 3207)"
        if up:
            lines.append(Text(f"🔒 {mode}: {tls.version} · {tls.cipher} ({tls.cipher_bits} bits)", style="bold"))
        else:
            lines.append(Text(f"🔓 {mode}: the handshake failed", style="bold"))
        lines.append(Text.assemble(("SNI: ", "bold"), tls.sni or "none sent (the server was given as an IP address)"))
        if tls.verified:
            lines.append(Text(f"✓ {tls.verification}"))
        else:
            lines.append(Text(f"✗ {tls.verification}", style="bold"))
        for index, cert in enumerate(tls.chain, 1):
            lines.append(Text.assemble((f"Certificate {index}: ", "bold"), cert.subject))
            lines.append(Text(f"  issuer: {cert.issuer}" + ("  (self-signed)" if cert.self_signed else "")))
            if cert.san:
                lines.append(Text(f"  names: {', '.join(cert.san)}"))
            lines.append(Text(f"  valid: {cert.not_before:%Y-%m-%d} → {cert.not_after:%Y-%m-%d} · key {cert.key_type}"))
            lines.append(Text(f"  SHA-256: {cert.fingerprint_sha256}"))
        if tls.handshake:
            lines.append(Text.assemble(("Handshake: ", "bold"), "  ".join(tls.handshake)))
        return lines
