"""The throughput reference: bare aiosmtpd writing each message to a Maildir, as a person would set it up.

Usage: bare_aiosmtpd.py MAILDIR

One listener on 127.0.0.1 (a free port): STARTTLS offered (certificate from a throwaway trustme CA),
AUTH PLAIN/LOGIN for student/classroom after TLS, every message stored with ``mailbox.Maildir.add``
(which fsyncs the file) before the 250, in the handler, on the event loop. Prints
"port N", "ca PATH" and "ready", then serves until SIGTERM.
"""
import asyncio
import logging
import mailbox
import signal
import ssl
import sys
import tempfile

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

logging.getLogger("mail.log").setLevel(logging.CRITICAL)
maildir = mailbox.Maildir(sys.argv[1], create=True)


class Handler:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        maildir.add(envelope.original_content)
        return "250 OK"


def authenticate(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
    ok = isinstance(data, LoginPassword) and data.login == b"student" and data.password == b"classroom"
    return AuthResult(success=ok, handled=False)


async def main() -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    ca_file = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)
    ca_file.write(ca.cert_pem.bytes())
    ca_file.close()
    handler = Handler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="bare.smtpstep.test", tls_context=context, authenticator=authenticate,
                     auth_require_tls=True, decode_data=False, data_size_limit=64 * 1024 * 1024),
        "127.0.0.1", 0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    print(f"ca {ca_file.name}", flush=True)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


asyncio.run(main())
