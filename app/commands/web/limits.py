"""The numbers and names ``smtpstep web`` and its tabs share: ports, graces, a tab's size limits, the
largest message a page may send, and the tab folders' names."""

from __future__ import annotations

PROG = "smtpstep web"

DEFAULT_PORT = 8000
"""textual-serve's own default."""

DEFAULT_MAX_TABS = 30
"""A class of students; each tab is an app process (about 28 MiB of PSS when forked, with a seat in the shared
built-in server; about 55 MiB spawned with a server process of its own)."""

LOOPBACK = "127.0.0.1"

TAB_ENV = "SMTPSTEP_WEB_TAB"
"""Set to 1 in a tab's environment: ``smtpstep web`` then runs the app instead of a server."""

QUIT_GRACE = 3.0
"""Seconds a tab's app has to quit by itself before its process group gets SIGTERM."""

TERM_GRACE = 2.0
"""Seconds after SIGTERM before SIGKILL."""

ORPHAN_GRACE = 3.0
"""Seconds a tab whose server went away gives its app to quit before it exits hard."""

HEARTBEAT = 15.0
"""WebSocket ping interval: a browser that vanished without closing is noticed within about this."""

WIDTH = (80, 10, 1000)
"""A tab's terminal width: default, least, most. The same for ``?width=`` and every ``resize``."""

HEIGHT = (24, 5, 500)
"""A tab's terminal height: default, least, most."""

MAX_MESSAGE = 64 * 1024
"""Largest WebSocket message from a page (typed or pasted input, a resize, a ping); larger ones close it."""

MAX_PING = 256
"""Longest ping payload echoed back."""

TAB_FOLDER_PREFIX = "smtpstep-web-tab-"
"""Each tab's TMPDIR, made in the server's temporary folder."""

SEATS_FOLDER_PREFIX = "smtpstep-web-seats-"
"""The shared built-in server's folder (its seats' Maildirs), made and locked as a tab's folder is."""

LOCK_NAME = ".smtpstep-web-tab.lock"
"""A file in each tab folder, locked by the server while the tab lives."""

FILES_FOLDER = "files"
"""Inside a tab's TMPDIR: where a confined tab saves exports and screenshots."""

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
