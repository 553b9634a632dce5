"""The ``python -c`` snippets of the README's Agents section run as written.

Each runs in a copy of the project (so the embedded default, ``.stowage/`` under the
project root, is the copy's and not the developer's) with nothing configured.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storage.urls import project_root

README = project_root() / "README.md"


def _snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Agents\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(python -c '.*?')\n```", section, re.S)


SNIPPETS = _snippets()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme") / "project"
    root.mkdir()
    shutil.copy(project_root() / "pyproject.toml", root / "pyproject.toml")
    for package in ("storage", "agents"):
        shutil.copytree(project_root() / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_section_has_snippets() -> None:
    assert len(SNIPPETS) >= 6


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{n}" for n in range(len(SNIPPETS))])
def test_snippet_runs_on_the_embedded_default(project: Path, snippet: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}
    env["PYTHONPATH"] = str(project)
    # `python` in the snippet is the interpreter running the tests (the venv's).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", snippet], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "every snippet prints something"
    if "readme-1" in snippet:
        assert done.stdout.startswith("Echo: hello readme-1")
    if "readme-seed" in snippet:
        shared, private = done.stdout.splitlines()
        assert "my invoice is wrong" in shared and "refund it please" in shared
        assert "private note" not in shared and "private note" in private
    if "readme-title" in snippet:
        assert done.stdout.strip() == "Echo: Plan a weekend in Lisbon"
    if "readme-files" in snippet:
        assert done.stdout.startswith((project / ".stowage" / "blobs").as_uri())
        assert done.stdout.rstrip().endswith("b'hello file'")
    if "readme-recall" in snippet:  # turn 1, three turns back, found by meaning
        assert done.stdout.strip() == "My sister Clara is getting married in Lisbon in June."
    if "stream me" in snippet:
        assert done.stdout.splitlines()[0] == "start "
    assert (project / ".stowage" / "stowage.db").is_file() or "from_env" not in snippet
