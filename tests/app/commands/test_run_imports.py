"""`smtpstep run` against a server stays lean: no event loop, no UI, no certificate library.

A headless session is one short process, and its start-up is most of its time
(benchmarks/results/headless_session.md). It runs on the blocking transport and reads certificates with
the standard library, so a whole STARTTLS + AUTH session must finish without importing asyncio,
Textual, aiosmtpd, trustme or cryptography, and without the modules of the other subcommands, nor the
small standard modules that only another path needs.
"""

from __future__ import annotations

import asyncio
import json
import sys

from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.server import LocalServer

HEAVY = ("asyncio", "textual", "rich", "aiosmtpd", "trustme", "cryptography",
         *(f"smtpstep.app.commands.{other}" for other in ("step", "serve", "lessons", "web", "replay", "shots")),
         "smtpstep.app.stepper_app", "smtpstep.protocol.transport.asyncio_driver", "importlib.metadata",
         # The receiving MX's mail authentication (DNS zone, SPF, DKIM, DMARC) is for its lessons only.
         "smtpstep.protocol.mailauth", "smtpstep.protocol.transport.mx", "dns", "spf", "dkim", "nacl", "authres",
         # Small, but each costs every run 1-4 ms: argparse's width (shutil), the certificate dates
         # (time.strptime's _strptime), the password prompt (getpass), a lesson's wrapped words (textwrap).
         "shutil", "_strptime", "getpass", "textwrap")

CHILD = """
import json, sys
from smtpstep.app.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
""" % (HEAVY,)


async def test_a_verified_starttls_auth_session_loads_no_heavy_module(local_server: LocalServer, module_env) -> None:  # type: ignore[no-untyped-def]
    argv = ["run", "--server", f"127.0.0.1:{local_server.port_for('starttls')}", "--ca", str(local_server.ca_path),
            "--user", DEMO_USER, "--from", "student@client.smtpstep.test",
            "--to", "teacher@example.test"]
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, *argv, env={**module_env, "SMTPSTEP_PASSWORD": DEMO_PASSWORD},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, err = await child.communicate()
    report = json.loads(err.decode().strip().splitlines()[-1])
    transcript = out.decode()

    assert report["code"] == 0, transcript + err.decode()
    assert report["loaded"] == []
    assert "S: 220 " in transcript and "TLS established" in transcript and "235 " in transcript
    assert "key:     EC " in transcript or "key:     RSA " in transcript  # the chain was still described
    assert len(local_server.received) == 1
