"""The two setup paths (pip via `make`, conda via environment.yml) must install the same thing.

Only torch==2.14.1 / torchvision==0.29.1 are allowed: any other torch pin is a multi-GB
download and changes the numbers the committed notebook outputs were produced with.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXPECTED_PINS = {"torch": "2.14.1", "torchvision": "0.29.1"}
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;#]+)")


def parse_requirements(text: str) -> dict[str, str]:
    """``name -> version`` for every requirement line; fails on anything not pinned with ``==``."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if match is None:
            raise ValueError(f"requirement {line!r} is not pinned exactly with '=='")
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


@pytest.fixture(scope="module")
def requirements(repo_root: Path) -> dict[str, str]:
    return parse_requirements((repo_root / "requirements.txt").read_text())


@pytest.fixture(scope="module")
def environment(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "environment.yml").read_text())


def test_parse_requirements_rejects_unpinned() -> None:
    assert parse_requirements("torch==2.14.1  # why\n\n# comment\n") == {"torch": "2.14.1"}
    with pytest.raises(ValueError, match="not pinned"):
        parse_requirements("torch>=2.0\n")


def test_requirements_are_exact_pins(requirements: dict[str, str]) -> None:
    # parse_requirements already raised on any unpinned line; check it found the core set
    for name in ("torch", "torchvision", "papermill", "nbval", "pytest", "ruff", "ipykernel"):
        assert name in requirements, f"{name} missing from requirements.txt"


def test_torch_pins_are_the_supported_ones(requirements: dict[str, str]) -> None:
    for name, version in EXPECTED_PINS.items():
        assert requirements.get(name) == version, (
            f"requirements.txt pins {name}=={requirements.get(name)}; it must be {version} "
            "(other versions are a multi-GB download and change committed notebook outputs)"
        )


def test_environment_yml_is_python311_named(environment: dict) -> None:
    assert environment["name"] == "tiny-mnist-cnn"
    deps = environment["dependencies"]
    pythons = [d for d in deps if isinstance(d, str) and re.match(r"python\s*[=<>]", d)]
    assert pythons, "environment.yml must pin python"
    assert all(re.fullmatch(r"python\s*=+\s*3\.11(\.\*|\.\d+)?", p) for p in pythons), pythons
    assert "pip" in deps


def test_environment_yml_matches_requirements(environment: dict, requirements: dict[str, str],
                                              repo_root: Path) -> None:
    """Either it installs requirements.txt itself, or it lists identical pins."""
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one `pip:` section"
    pip_lines = [str(line).strip() for line in pip_sections[0]]
    references = [line for line in pip_lines if re.fullmatch(r"-r\s+\S+", line)]
    if references:
        targets = {(repo_root / line.split()[1]).resolve() for line in references}
        assert targets == {(repo_root / "requirements.txt").resolve()}, references
        others = [line for line in pip_lines if line not in references and line != "-e ."]
        assert not others, f"pins outside requirements.txt drift: {others}"
        assert "-e ." in pip_lines, "environment.yml must install the project itself (-e .)"
    else:
        assert parse_requirements("\n".join(pip_lines)) == requirements
    conda_names = {
        re.split(r"[=<>\s]", d, maxsplit=1)[0].lower()
        for d in environment["dependencies"] if isinstance(d, str)
    }
    assert not conda_names & set(requirements), (
        f"{conda_names & set(requirements)} are installed by conda AND pip; keep them in "
        "requirements.txt only"
    )


def test_the_project_is_installed_so_utils_imports_from_any_folder(tmp_path: Path,
                                                                   repo_root: Path) -> None:
    """`make` installs the project in editable mode: notebooks need no sys.path code."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run([sys.executable, "-c", "import utils; print(utils.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert found.returncode == 0, f"utils is not installed in this venv (make venv): {found.stderr}"
