"""scripts/find-python: Python 3.13 first (PATH, then pyenv), 3.12 with a warning, anything older refused.

Each test runs the script with a PATH holding only fake interpreters (shell scripts that report a version),
and HOME and PYENV_ROOT in tmp_path, so this machine's own Pythons and pyenv are never found.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.support.events import ROOT

if TYPE_CHECKING:
    from pathlib import Path

FIND_PYTHON = ROOT / "scripts" / "find-python"
BASH = shutil.which("bash") or "/bin/bash"


def fake_python(directory: Path, name: str, version: str | None) -> Path:
    """A script that prints `version` as find-python's probe would ("3.12.1"), or, given None, fails
    as a pyenv shim does for a version that is installed but not selected."""
    directory.mkdir(parents=True, exist_ok=True)
    body = f"echo {version}" if version else 'echo "pyenv: $0: command not found" >&2; exit 127'
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def find_python(tmp_path: Path, pythons: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, version in pythons.items():
        fake_python(bin_dir, name, version)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home"), "PYENV_ROOT": str(tmp_path / "pyenv")}
    return subprocess.run([BASH, str(FIND_PYTHON)], capture_output=True, text=True, env=env, check=False, timeout=30)


def test_python_3_11_is_refused_with_one_line_and_exit_status_1(tmp_path):
    result = find_python(tmp_path, {"python3.11": "3.11.7", "python3": "3.11.7"})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {tmp_path}/bin/python3 is Python 3.11.7; the pinned requirements need Python 3.12 or later"
        " (install 3.13, the Lambda runtime)\n"
    )


def test_no_python_at_all_is_refused_with_one_line(tmp_path):
    result = find_python(tmp_path, {})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: no Python 3.12+ found; install Python 3.13 (the Lambda runtime)\n"


@pytest.mark.parametrize("name", ["python3.12", "python3"])
def test_python_3_12_the_minimum_is_accepted_with_a_warning_about_sam_build(tmp_path, name):
    result = find_python(tmp_path, {name: "3.12.0", "python3.11": "3.11.7"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path}/bin/{name}\n"
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: Python 3.13 not found")
    assert "'sam build'" in warning


def test_python_3_13_on_path_is_preferred_silently(tmp_path):
    result = find_python(tmp_path, {"python3.13": "3.13.0", "python3.12": "3.12.1", "python3": "3.14.0"})
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{tmp_path}/bin/python3.13\n", "")


def test_pyenv_3_13_is_used_when_the_path_has_only_an_unselected_shim(tmp_path):
    # GIVEN a pyenv whose 3.13 is installed but not selected, so its python3.13 shim fails
    pyenv_python = fake_python(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin", "python3.13", "3.13.0")
    pyenv = tmp_path / "bin" / "pyenv"
    pyenv.parent.mkdir()
    pyenv.write_text(
        '#!/bin/sh\ncase "$1" in\n  latest) echo 3.13.0 ;;\n  prefix) echo "$PYENV_ROOT/versions/$2" ;;\n'
        "  *) exit 1 ;;\nesac\n",
        encoding="utf-8",
    )
    pyenv.chmod(0o755)
    # WHEN find-python runs
    result = find_python(tmp_path, {"python3.13": None, "python3": "3.11.7"})
    # THEN it prints pyenv's interpreter
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{pyenv_python}\n", "")
