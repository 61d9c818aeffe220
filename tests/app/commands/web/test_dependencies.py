"""The textual-serve internals ``smtpstep web`` leans on are still what its code was written against.

textual-serve offers no public way to start a tab's process differently or to run its message loop with
another ``AppService``, so ``app/commands/web/__init__.py`` subclasses ``AppService`` and uses a few private names
(see ``TabService``'s docstring); it also patches textual-serve's page template. For each upstream
function it copies, replaces or relies on, ``assert_upstream_unchanged`` (``tests/conftest.py``)
compares a fingerprint of the installed code (without comments, docstrings or layout) with the ones
recorded here, and fails naming the function, our code that depends on it and what to re-check. The
template is compared byte for byte, and a last test checks that the private attributes still exist.
What tabs do end to end is tested in ``test_web_server.py``.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version

import pytest
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager
from textual_serve.server import Server

from smtpstep.app.commands import web

TAB_SERVICE = "app/commands/web/__init__.py TabService"

RELIANCES = [
    (
        "textual_serve.app_service.AppService.__init__",
        f"{TAB_SERVICE} reads the _process, _stdin and _task it sets up",
        "the names and meaning of those fields, and any new field _open_app_process or stop would set or read",
        frozenset({"a79904c9f99a8190"}),  # textual-serve 1.1.3
    ),
    (
        "textual_serve.app_service.AppService._open_app_process",
        f"{TAB_SERVICE}._open_app_process replaces it (no shell, a process group of its own, a private "
        "TMPDIR, the tab's environment) and must leave behind what it leaves: _process, _stdin, and pipes "
        "for stdin, stdout and stderr",
        "what it sets and how it starts the process; mirror anything new in TabService._open_app_process",
        frozenset({"a3aafa5a202b7e2d"}),  # textual-serve 1.1.3
    ),
    (
        "textual_serve.app_service.AppService._build_environment",
        f"{TAB_SERVICE}._open_app_process calls it for the app's environment, then adds the tab's own",
        "its arguments (width, height) and that it still returns the whole environment as a new dict",
        frozenset({"dea748a92d49af0b"}),  # textual-serve 1.1.3
    ),
    (
        "textual_serve.app_service.AppService.start",
        f"{TAB_SERVICE} relies on it calling _open_app_process(width, height) and keeping run()'s task in _task",
        "that it still does both, and nothing else TabService would have to mirror",
        frozenset({"18bb87f371b0e748"}),  # textual-serve 1.1.3
    ),
    (
        "textual_serve.app_service.AppService.stop",
        f"{TAB_SERVICE}.stop is replaced by end(), which does what this does (cancel the tab's downloads, "
        "send the quit meta packet, wait for the task) with time limits, then ends the process group",
        "any new step in stopping a tab; mirror it in TabService._end_process",
        frozenset({"cfd3d39b1e9a56d4"}),  # textual-serve 1.1.3
    ),
    (
        "textual_serve.app_service.AppService.run",
        f"{TAB_SERVICE}'s process is read by it through _process (stdout and stderr pipes), and "
        "TabService._end_process waits for it to end through _task",
        "that it still reads self._process and ends when the app's stdout ends",
        frozenset({"51ae14ea47a2098b"}),  # textual-serve 1.1.3
    ),
    (
        "textual_serve.server.Server._process_messages",
        "app/commands/web/__init__.py TabMessages replaces it: the same messages from textual-serve's page (stdin, resize, "
        "ping, blur, focus), each value's type checked and bounded before it reaches the app",
        "the messages the page sends and what each does; mirror a new one in TabMessages.one, bounded",
        frozenset({"beccf9776375ee81"}),  # textual-serve 1.1.3
    ),
    (
        "textual_serve.server.Server.handle_websocket",
        "app/commands/web/__init__.py WebServer._websocket replaces it (origin and host checks, --max-tabs, "
        "TabService, a process group that surely ends)",
        "how it makes and starts an AppService and cleans up; mirror anything new in WebServer._websocket",
        frozenset({"f0367a7c9847f8a7"}),  # textual-serve 1.1.3
    ),
]
"""(upstream code by dotted name, ours that copies, replaces or relies on it, what to re-check before
recording a new fingerprint, the fingerprints of the versions checked so far)."""

TEMPLATE_FINGERPRINTS = frozenset({"184d6d1bb1ed70bc"})  # textual-serve 1.1.3
"""sha256 (first 16 hex digits) of textual-serve's ``templates/app_index.html``, for each version checked."""


def _installed() -> str:
    return f"textual-serve {version('textual-serve')}"


@pytest.mark.parametrize(("upstream", "ours", "recheck", "fingerprints"), RELIANCES,
                         ids=[upstream for upstream, *_ in RELIANCES])
def test_upstream_code_the_web_command_leans_on_is_what_it_was_written_against(
    upstream: str, ours: str, recheck: str, fingerprints: frozenset[str], assert_upstream_unchanged  # type: ignore[no-untyped-def]
) -> None:
    assert_upstream_unchanged(upstream, ours=ours, recheck=recheck, fingerprints=fingerprints,
                              installed=_installed(), table="tests/app/commands/web/test_dependencies.py")


def test_the_page_template_is_the_one_the_offline_page_was_written_against() -> None:
    path = web.textual_serve_folder() / "templates" / "app_index.html"
    found = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    if found not in TEMPLATE_FINGERPRINTS:
        pytest.fail(
            f"textual-serve's templates/app_index.html changed (installed: {_installed()}; fingerprint {found}). "
            "Depending on it: app/commands/web/__init__.py offline_page (drops links and scripts from elsewhere, adds the "
            "local Roboto Mono before </head>) and WebServer._index (renders it with font_size, "
            "app_websocket_url, config.static.url and application.name). Re-check the variables it uses and "
            "what it loads from the network; then add "
            f"{found!r} to TEMPLATE_FINGERPRINTS in tests/app/commands/web/test_dependencies.py.",
            pytrace=False,
        )
    page = web.page_template()
    assert "//fonts.googleapis.com" not in page and "RobotoMono" in page


async def test_the_private_attributes_the_web_command_touches_still_exist() -> None:
    async def ignore(*args: object) -> None:
        return None

    service = AppService("true", write_bytes=ignore, write_str=ignore, close=ignore,
                         download_manager=DownloadManager())
    fields = vars(service)
    missing = [name for name in ("_process", "_stdin", "_task") if name not in fields]
    assert not missing, f"textual-serve's AppService no longer sets {missing}: re-check {TAB_SERVICE}"
    assert callable(AppService._open_app_process) and callable(AppService._build_environment)
    assert isinstance(service._build_environment(width=80, height=24), dict)
    server = Server("true", host="127.0.0.1", port=0)
    assert isinstance(server.download_manager, DownloadManager) and callable(server.handle_download)
    fonts = web.textual_serve_folder() / "static" / "fonts"
    assert all((fonts / name).is_file() for name in web.FONT_FILES.values())
    tab_service = web.tab_service_type()
    assert issubclass(tab_service, AppService) and "_open_app_process" in vars(tab_service)
