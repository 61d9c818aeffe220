"""The ``smtpstep`` command line as a user types it: exact stdout, stderr and exit code, in subprocesses.

Covers the parser and the error boundary (``app/cli.py``): ``--version``, usage errors as one line that
names the subcommand (argparse's own findings included), the ``--theme`` check of every subcommand that
has one, and what ``--help`` lists. The README's synopses are checked against the same parser.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from smtpstep.protocol.lessons.loader import catalog
from smtpstep.protocol.server.scenarios import SCENARIOS
from smtpstep.themes import THEMES
from tests.support.cli import Run, smtpstep
from tests.support.env import REPO, clean_env

THEME_LIST = ", ".join(theme.name for theme in THEMES)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


def refused(run: Run) -> str:
    """The one line of a usage error: exit 2, nothing on stdout."""
    assert (run.code, run.out) == (2, ""), (run.code, run.out, run.err)
    assert run.err.count("\n") == 1, run.err
    return run.err


# --- --version ------------------------------------------------------------------------------------


async def test_version_is_printed_on_stdout_with_exit_0(env: dict[str, str]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

    run = await smtpstep("--version", env=env)

    assert (run.code, run.out, run.err) == (0, f"smtpstep {version}\n", "")


# --- Usage errors: one line naming the subcommand -----------------------------------------------


async def test_an_unknown_option_of_run_names_run_and_its_help(env: dict[str, str]) -> None:
    run = await smtpstep("run", "--frobnicate", env=env)

    assert refused(run) == "smtpstep run: there is no option --frobnicate; `smtpstep run --help` lists the options.\n"


async def test_an_unknown_option_of_serve_names_serve(env: dict[str, str]) -> None:
    run = await smtpstep("serve", "--frobnicate", env=env)

    assert refused(run) == ("smtpstep serve: there is no option --frobnicate; "
                            "`smtpstep serve --help` lists the options.\n")


async def test_an_unknown_option_without_a_subcommand_points_to_the_options_of_step(env: dict[str, str]) -> None:
    run = await smtpstep("--frobnicate", env=env)

    assert refused(run) == "smtpstep: there is no option --frobnicate; `smtpstep step --help` lists the options.\n"


async def test_an_unknown_subcommand_lists_the_commands(env: dict[str, str]) -> None:
    run = await smtpstep("frobnicate", env=env)

    assert refused(run) == ("smtpstep: there is no command “frobnicate”; "
                            "the commands are step, run, serve, lessons, web, replay, shots.\n")


async def test_a_timeout_that_is_no_number_reads_like_one_out_of_range(env: dict[str, str]) -> None:
    word = await smtpstep("run", "--timeout", "abc", env=env)
    zero = await smtpstep("run", "--timeout", "0", env=env)

    rule = "smtpstep run: --timeout must be a number of seconds more than 0 and at most 3600, not "
    assert refused(word) == rule + "“abc”.\n"
    assert refused(zero) == rule + "0.\n"


async def test_an_option_without_its_value_says_so(env: dict[str, str]) -> None:
    run = await smtpstep("run", "--timeout", env=env)

    assert refused(run) == "smtpstep run: --timeout needs a value.\n"


async def test_a_choice_outside_the_list_names_the_list(env: dict[str, str]) -> None:
    run = await smtpstep("run", "--security", "carrier-pigeon", env=env)

    assert refused(run) == "smtpstep run: --security must be one of starttls, tls, none, not “carrier-pigeon”.\n"


async def test_body_and_body_file_together_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    run = await smtpstep("run", "--body", "hi", "--body-file", str(tmp_path / "body.txt"), env=env)

    assert refused(run) == "smtpstep run: give either --body or --body-file, not both.\n"


async def test_a_word_too_many_is_refused(env: dict[str, str]) -> None:
    run = await smtpstep("lessons", "basic", "starttls", env=env)

    assert refused(run) == ("smtpstep lessons: “starttls” is one argument too many; "
                            "`smtpstep lessons --help` shows what it takes.\n")


async def test_a_missing_required_option_is_named(env: dict[str, str]) -> None:
    run = await smtpstep("shots", env=env)

    assert refused(run) == "smtpstep shots: --out is required.\n"


async def test_a_flag_given_a_value_is_refused(env: dict[str, str]) -> None:
    run = await smtpstep("run", "--insecure=yes", env=env)

    assert refused(run) == "smtpstep run: --insecure takes no value.\n"


async def test_a_body_file_that_is_a_directory_is_called_one(env: dict[str, str], tmp_path: Path) -> None:
    run = await smtpstep("run", "--body-file", str(tmp_path), env=env)

    assert refused(run) == (f"smtpstep run: --body-file {tmp_path} is a directory; "
                            "give the file that holds the message text.\n")


# --- --theme, in every subcommand that has one ---------------------------------------------------


@pytest.mark.parametrize("command", [["step"], ["web", "--port", "0"], ["replay", "{recording}"],
                                     ["shots", "--out", "{out}"]], ids=lambda words: words[0])
async def test_an_unknown_theme_is_refused_with_the_list_of_themes(command: list[str], env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    words = [word.format(recording=tmp_path / "session.json", out=tmp_path / "shots") for word in command]

    run = await smtpstep(*words, "--theme", "nosuch", env=env)

    assert refused(run) == (f"smtpstep {command[0]}: --theme nosuch: there is no such theme; "
                            f"smtpstep has {THEME_LIST}.\n")
    assert not (tmp_path / "shots").exists()


# --- --help -------------------------------------------------------------------------------------


def sections(help_text: str) -> dict[str, str]:
    """``--help``'s sections by heading (``message:``, ``options:``, ...), each with its lines."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in help_text.splitlines():
        if re.fullmatch(r"[a-z][a-z ]*:", line):
            current = line[:-1]
            found[current] = []
        elif current:
            found[current].append(line)
    return {name: "\n".join(lines) for name, lines in found.items()}


async def test_serve_help_lists_every_scenario_the_server_accepts(env: dict[str, str]) -> None:
    run = await smtpstep("serve", "--help", env=env)

    assert (run.code, run.err) == (0, "")
    listed = sections(run.out)["scenarios"]
    for name, scenario in SCENARIOS.items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(scenario.summary)}$", listed, re.M), name
    assert len(listed.splitlines()) == len(SCENARIOS)


@pytest.mark.parametrize("command", ["step", "web", "run", "shots"])
async def test_help_shows_body_and_body_file_with_the_message_options(command: str, env: dict[str, str]) -> None:
    run = await smtpstep(command, "--help", env=env)

    assert (run.code, run.err) == (0, "")
    found = sections(run.out)
    assert "--body TEXT" in found["message"] and "--body-file FILE" in found["message"]
    assert "--body" not in found["options"]


async def test_web_help_shows_the_web_options_and_the_terminal_apps_own(env: dict[str, str]) -> None:
    run = await smtpstep("web", "--help", env=env)

    found = sections(run.out)
    assert all(flag in found["web"] for flag in ("--host", "--listen", "--port", "--max-tabs"))
    assert all(flag in found["screen"] for flag in ("--theme", "--screenshots", "--present"))


# --- The README against the parser --------------------------------------------------------------

README = (REPO / "README.md").read_text(encoding="utf-8")


def flags_of_run() -> set[str]:
    from smtpstep.app.cli import build_parser

    run = build_parser("run")._subparsers._group_actions[0].choices["run"]  # noqa: SLF001 - argparse keeps them here
    return {flag for action in run._actions for flag in action.option_strings if flag.startswith("--")} - {"--help"}


def test_the_readme_run_synopsis_names_every_option_of_run_and_no_other() -> None:
    synopsis = re.search(r"^`smtpstep run (\[.*?)`$", README, re.M | re.S)
    assert synopsis is not None

    assert set(re.findall(r"--[a-z-]+", synopsis[1])) == flags_of_run()


def test_the_readme_names_every_lesson_of_the_catalog_and_no_other() -> None:
    listed = re.search(r"The\s+built-in catalog: (.*?)\.\s", README, re.S)
    assert listed is not None

    assert re.findall(r"`([a-z0-9-]+)`", listed[1]) == [lesson.name for lesson in catalog()]
    for named in re.findall(r"--lesson ([a-z][a-z0-9-]*)(?=[\s`\]])", README):
        assert named in {lesson.name for lesson in catalog()}, named


def test_the_readme_links_and_paths_stay_inside_the_repository() -> None:
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links
    for link in links:
        assert not re.match(r"[a-z]+:", link), link
        assert (REPO / link).resolve().is_relative_to(REPO) and (REPO / link).exists(), link
    assert "../" not in README


@pytest.mark.parametrize("command", ["step", "replay"])
def test_quiz_is_a_flag_and_quiz_code_asks_for_the_whole_code(command: str) -> None:
    from smtpstep.app.cli import build_parser

    before = ["step"] if command == "step" else ["replay", "session.json"]
    parse = build_parser(command).parse_args
    assert parse(before).quiz is None
    assert parse([*before, "--quiz"]).quiz == "digit"
    assert parse([*before, "--quiz-code"]).quiz == "code"
    if command == "replay":  # a flag takes no value: the file after it is still the recording
        assert str(parse(["replay", "--quiz", "session.json"]).file) == "session.json"
