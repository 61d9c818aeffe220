"""The mail-authentication libraries load only when the receiving MX checks a message: not when the server,
its scenarios or the lessons are imported and listed, but when the receiving-mx scenario is chosen."""

from __future__ import annotations

import json
import subprocess
import sys

LIBRARIES = ("smtpstep.protocol.mailauth", "dns", "spf", "dkim", "nacl", "authres")

CHILD = """
import json, sys
from smtpstep.protocol.server.server import LocalServer
from smtpstep.protocol.server.scenarios import SCENARIOS
from smtpstep.protocol.lessons.loader import catalog, load
names = [lesson.name for lesson in catalog()]
load("dmarc")
before = sorted(m for m in %r if m in sys.modules)
SCENARIOS["receiving-mx"]()
after = sorted(m for m in %r if m in sys.modules)
print(json.dumps({"before": before, "after": after, "scenarios": sorted(SCENARIOS), "lessons": names}))
""" % (LIBRARIES, LIBRARIES)


def test_server_scenarios_and_lessons_import_no_mail_authentication_library():
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["before"] == []
    assert report["after"] == sorted(LIBRARIES)  # the scenario itself does load them, when chosen
    assert "receiving-mx" in report["scenarios"]
    assert {"spf", "dkim", "dmarc"} <= set(report["lessons"])
