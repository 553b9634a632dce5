"""The README's storage snippets run as written (issue 11: the DynamoDB one did not)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from storage.urls import project_root

README = (project_root() / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_dynamodb_snippet_runs_offline_as_written() -> None:
    [snippet] = re.findall(r"```python\n(.*?)```", _section("DynamoDB and S3"), re.S)
    assert "import storage" in snippet and "setup()" in snippet and "bucket" in snippet
    # No AWS credentials or region in the environment: the snippet must bring its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STOWAGE_"))}
    env["PYTHONPATH"] = str(project_root())
    done = subprocess.run([sys.executable, "-c", snippet], cwd=project_root(), env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "500000"


def test_the_postgres_recipe_creates_the_database_first() -> None:
    recipe = re.findall(r"```bash\n(.*?)```", _section("PostgreSQL and Aurora"), re.S)[0]
    lines = recipe.splitlines()
    assert lines[0].startswith("createdb ") and lines[0].split("#")[0].split()[-1] == "app"
    assert any(line.endswith("/app") for line in lines)
