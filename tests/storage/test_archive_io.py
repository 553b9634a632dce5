"""Where archives go: local paths (atomically), file objects (even unseekable), S3 (moto),
and the ``python -m storage.lifecycle`` command line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

import storage
from storage.errors import ArchiveError, ValidationError
from storage.lifecycle import export_resource, import_archive
from storage.lifecycle.__main__ import main
from storage.urls import project_root
from tests.storage.conformance.archive_data import seed, snapshot


def _embedded(folder: Path) -> Any:
    folder.mkdir(exist_ok=True)
    store = storage.CompositeStore(storage.open(f"sqlite:///{folder / 'stowage.db'}"),
                                   blobs=storage.open(f"file:///{folder / 'blobs'}"))
    store.setup()
    return store


class _WriteOnly(io.RawIOBase):
    """A pipe: write-only, no seek, no tell."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(b)


class _ReadOnce(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._source.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_a_path_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    source = storage.open("memory://")
    seeded = seed(source)
    out = tmp_path / "user.zip"
    with pytest.raises(ValidationError):
        export_resource(source, "", out)  # a bad resource id: nothing at the path
    assert list(tmp_path.iterdir()) == []
    manifest = export_resource(source, seeded.resource, out)
    assert [p.name for p in tmp_path.iterdir()] == ["user.zip"]  # no temporary left
    target = storage.open("memory://")
    assert import_archive(target, out).counts == manifest.counts
    assert snapshot(target, seeded.resource) == snapshot(source, seeded.resource)
    with pytest.raises(ValidationError, match="does not exist"):
        export_resource(source, seeded.resource, tmp_path / "missing" / "x.zip")
    with pytest.raises(ValidationError, match="no archive"):
        import_archive(target, tmp_path / "nothing.zip")


def test_unseekable_streams_work_both_ways() -> None:
    source = storage.open("memory://")
    seeded = seed(source)
    pipe = _WriteOnly()
    export_resource(source, seeded.resource, pipe)
    target = storage.open("memory://")
    import_archive(target, _ReadOnce(bytes(pipe.data)))
    assert snapshot(target, seeded.resource) == snapshot(source, seeded.resource)


def test_an_archive_goes_to_s3_and_comes_back() -> None:
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="exports")
        source = storage.open("memory://")
        seeded = seed(source)
        url = "s3://exports/archives/user.zip?region=us-east-1"
        export_resource(source, seeded.resource, url)
        head = boto3.client("s3", region_name="us-east-1").head_object(
            Bucket="exports", Key="archives/user.zip")
        assert head["ServerSideEncryption"] == "AES256"
        target = storage.open("memory://")
        import_archive(target, url)
        assert snapshot(target, seeded.resource) == snapshot(source, seeded.resource)
        with pytest.raises(ValidationError, match="names no object key"):
            import_archive(target, "s3://exports/")


def test_the_command_line_moves_a_resource(tmp_path: Path, capsys: Any) -> None:
    source, target = _embedded(tmp_path / "a"), _embedded(tmp_path / "b")
    seeded = seed(source)
    out = tmp_path / "user.zip"
    args = ["--store", f"sqlite:///{tmp_path / 'a' / 'stowage.db'}",
            "--blobs", f"file:///{tmp_path / 'a' / 'blobs'}"]
    assert main(["export", *args, "--resource", seeded.resource, "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"]["messages"] == 4 and printed["resource"] == seeded.resource
    into = ["--store", f"sqlite:///{tmp_path / 'b' / 'stowage.db'}",
            "--blobs", f"file:///{tmp_path / 'b' / 'blobs'}"]
    assert main(["import", *into, "--archive", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["blobs"] == 1
    assert snapshot(target, seeded.resource) == snapshot(source, seeded.resource)
    # A corrupt archive: exit status 2, the member named, nothing written
    data = bytearray(out.read_bytes())
    data[len(data) // 3] ^= 1
    out.write_bytes(bytes(data))
    assert main(["import", *into, "--archive", str(out)]) == 2
    assert "refused:" in capsys.readouterr().err


def test_python_dash_m_runs(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    env = {**os.environ, "PYTHONPATH": str(project_root())}
    done = subprocess.run(
        [sys.executable, "-m", "storage.lifecycle", "export", "--store", f"sqlite:///{db}",
         "--resource", "nobody", "--out", str(tmp_path / "x.zip")],
        cwd=project_root(), env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["threads"] == 0
    with pytest.raises(ArchiveError):
        # An archive of nobody is valid and empty; a truncated one is not.
        truncated = (tmp_path / "x.zip").read_bytes()[:-30]
        import_archive(storage.open("memory://"), io.BytesIO(truncated))


def test_the_readme_snippet_runs_as_written(tmp_path: Path) -> None:
    import re

    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Moving a resource between stores\n", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.*?)```", section, re.S)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STOWAGE_"))}
    env["PYTHONPATH"] = str(project_root())
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1 # Alice\n- likes tea\n"
    assert (tmp_path / "user-1.zip").is_file()
