"""The wheel: what ``pip install .`` puts into site-packages, and that it runs from there.

The repository keeps ``app/``, ``protocol/`` and ``themes/`` at its root; ``pyproject.toml`` maps them to
``smtpstep.app``, ``smtpstep.protocol`` and ``smtpstep.themes`` and lists every package by hand. These
tests build the wheel from a copy of the working tree (pip's own build, with build isolation, as
``pip install .`` does) and check that everything lands under ``smtpstep/``, that no module, style
sheet or lesson file is left behind, and that the installed copy, in a fresh virtual environment,
imports and runs from a folder outside the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support.env import REPO, clean_env

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DIST_INFO = f"{PROJECT['name']}-{PROJECT['version']}.dist-info"
SOURCES = {"app": "smtpstep/app", "protocol": "smtpstep/protocol", "themes": "smtpstep/themes"}
"""Each folder of the repository and where it lands in the wheel."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel`` builds from a copy of the working tree (the copy keeps build/ and
    *.egg-info out of the repository)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".hypothesis"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder / "dist"),
                           str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (folder / "dist").glob("*.whl")
    return built


def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist() if not name.endswith("/")]


def test_every_file_in_the_wheel_lies_under_smtpstep_or_its_dist_info(wheel: Path) -> None:
    outside = [name for name in names(wheel) if not name.startswith(("smtpstep/", f"{DIST_INFO}/"))]

    assert outside == []
    assert f"{DIST_INFO}/entry_points.txt" in names(wheel)


def test_the_wheel_holds_every_module_style_sheet_and_lesson_file_of_the_repository(wheel: Path) -> None:
    expected = {f"{target}/{path.relative_to(REPO / folder).as_posix()}"
                for folder, target in SOURCES.items()
                for path in (REPO / folder).rglob("*")
                if path.suffix in (".py", ".tcss", ".toml") and "__pycache__" not in path.parts}

    assert {name for name in expected if name.endswith(".tcss")}, "no style sheet found in the repository"
    assert {name for name in expected if name.startswith("smtpstep/protocol/lessons/files/")}
    assert sorted(expected - set(names(wheel))) == []


def test_the_installed_wheel_imports_and_runs_from_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    # A fresh environment holding only the wheel; the dependencies are found in this test's environment,
    # listed after the wheel's site-packages by a .pth file (whose folder's own .pth files, such as an
    # editable install's finder, are not run).
    home = tmp_path / "venv"
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(tmp_path)
    env.pop("PYTHONPATH", None)

    where = subprocess.run(
        [python, "-c", "import smtpstep.app.cli as cli, smtpstep.app.stepper_app as app; "
                       "from pathlib import Path; folder = Path(app.__file__).parent; "
                       "print(cli.__file__); print(all((folder / css).is_file() for css in app.SmtpStepApp.CSS_PATH))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    version = subprocess.run([home / "bin" / "smtpstep", "--version"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=60)
    lessons = subprocess.run([home / "bin" / "smtpstep", "lessons"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=60)

    module, styles = where.stdout.split()
    assert Path(module).is_relative_to(site / "smtpstep"), where.stdout + where.stderr
    assert styles == "True"
    assert (version.returncode, version.stdout, version.stderr) == (0, f"smtpstep {PROJECT['version']}\n", "")
    assert lessons.returncode == 0 and lessons.stdout.startswith("basic "), lessons.stderr
