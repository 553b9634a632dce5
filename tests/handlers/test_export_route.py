"""``POST /api/memory/resources/{resourceId}/export``: who may export, where the archive
goes, and that the link downloads an archive that imports equal to the source."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

import storage
from agents import App
from handlers.local import app as local_app
from storage.errors import UnavailableError
from storage.keys import EXPORTS_PREFIX, resource_export_prefix
from storage.lifecycle import import_archive
from tests.handlers.conftest import Call
from tests.handlers.test_auth import as_user, jwt_api  # noqa: F401 (fixture)
from tests.storage.conformance.archive_data import Seeded, seed, snapshot

ZERO = {"resources": 0, "threads": 0, "messages": 0, "runs": 0, "spans": 0, "scores": 0,
        "blobs": 0}
FULL = {"resources": 1, "threads": 2, "messages": 4, "runs": 1, "spans": 2, "scores": 1,
        "blobs": 1}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    """The reference store with its blobs in a folder (the embedded default's blob store)."""
    opened = storage.CompositeStore(storage.open("memory://"),
                                    blobs=storage.open(f"file:///{tmp_path / 'blobs'}"))
    opened.setup()
    return opened


@pytest.fixture
def seeded(app: App) -> Seeded:
    return seed(app.storage, resource="alice")


def _exports(store: Any) -> list[str]:
    """Every key under ``exports/``, listed from the blob store itself."""
    return list(store.blobs.list_keys(EXPORTS_PREFIX))


def _download_local(url: str) -> bytes:
    """GET the dev server's signed URL through the dev server's own route."""
    parts = urlsplit(url)
    reply = TestClient(local_app).get(f"{parts.path}?{parts.query}")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    return reply.content


def _imports_equal(data: bytes, source: Any, resource: str) -> None:
    target = storage.open("memory://")
    import_archive(target, io.BytesIO(data))
    assert snapshot(target, resource) == snapshot(source, resource)


def test_a_jwt_caller_exports_itself_and_the_link_imports_equal(
    jwt_api: Call, seeded: Seeded, app: App  # noqa: F811
) -> None:
    before = time.time()
    reply = as_user(jwt_api, "alice")("POST", "/api/memory/resources/alice/export")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["method"] == "GET"
    assert before + 900 - 5 <= body["expiresAt"] <= time.time() + 900  # STOWAGE_URL_TTL
    manifest = body["manifest"]
    assert manifest["resourceId"] == "alice" and manifest["counts"] == FULL
    assert manifest["format"] == "stowage-archive" and manifest["version"] == 1
    # The answer is a link, not the archive: none of the resource's content is in it
    assert "likes tea" not in str(body) and "hello" not in str(body)
    (key,) = _exports(app.storage)
    assert key.startswith(resource_export_prefix("alice")) and key.endswith(".zip")
    assert int(parse_qs(urlsplit(body["url"]).query)["expires"][0]) >= body["expiresAt"]
    data = _download_local(body["url"])
    assert len(data) == manifest["size"]
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    _imports_equal(data, app.storage, "alice")
    # The link is for that archive only: a forged signature or another key is refused
    forged = body["url"].replace("signature=", "signature=0")
    parts = urlsplit(forged)
    assert TestClient(local_app).get(f"{parts.path}?{parts.query}").status_code == 403


@pytest.mark.parametrize("target", ["bob", "nobody"])
def test_a_jwt_caller_cannot_export_another_and_learns_nothing(
    jwt_api: Call, seeded: Seeded, app: App, target: str  # noqa: F811
) -> None:
    existing = as_user(jwt_api, "bob")("POST", f"/api/memory/resources/{seeded.resource}/export")
    other = as_user(jwt_api, "alice")("POST", f"/api/memory/resources/{seeded.other}/export")
    missing = as_user(jwt_api, "alice")("POST", f"/api/memory/resources/{target}/export")
    # An existing stranger and a missing one get the same answer other routes give
    assert existing.status == other.status == missing.status == 404
    assert existing.body == other.body == missing.body == {"error": "Resource not found"}
    assert _exports(app.storage) == []


def test_without_a_token_nothing_is_exported(jwt_api: Call, seeded: Seeded,  # noqa: F811
                                             app: App) -> None:
    reply = jwt_api("POST", "/api/memory/resources/alice/export")
    assert reply.status == 401
    assert _exports(app.storage) == []


def test_an_unknown_resource_exports_an_empty_archive(
    jwt_api: Call, seeded: Seeded, app: App  # noqa: F811
) -> None:
    # A caller with nothing stored (a new user) exporting itself: an archive with no
    # records, as the library and erase's empty receipt answer, not a 404.
    reply = as_user(jwt_api, "newcomer")("POST", "/api/memory/resources/newcomer/export")
    assert reply.status == 200, reply.body
    assert reply.body["manifest"]["counts"] == ZERO
    target = storage.open("memory://")
    receipt = import_archive(target, io.BytesIO(_download_local(reply.body["url"])))
    assert receipt.counts == ZERO
    assert target.memory.list_threads(resource_id="newcomer").items == []


def test_an_iam_operator_exports_any_resource_each_call_its_own_archive(
    api: Call, seeded: Seeded, app: App
) -> None:
    first = api("POST", f"/api/memory/resources/{seeded.other}/export")
    again = api("POST", f"/api/memory/resources/{seeded.other}/export")
    assert first.status == again.status == 200
    assert first.body["manifest"]["counts"] == dict(ZERO, resources=1, threads=1, messages=1)
    # A retried request gets a new archive; both links work, neither is alice's data
    assert first.body["url"] != again.body["url"]
    assert len(_exports(app.storage)) == 2
    for reply in (first, again):
        data = _download_local(reply.body["url"])
        assert b"likes tea" not in data
        _imports_equal(data, app.storage, seeded.other)


@pytest.mark.parametrize("bad", ["x" * 600, "\u00e9" * 600, "a\x00b", "a\nb", ""])
def test_hostile_resource_ids_are_a_4xx_json_and_export_nothing(
    api: Call, seeded: Seeded, app: App, bad: str
) -> None:
    reply = api("POST", f"/api/memory/resources/{bad}/export")
    assert 400 <= reply.status < 500 and isinstance(reply.body["error"], str), reply
    assert _exports(app.storage) == []


def test_a_failing_upload_leaves_no_archive_and_answers_a_json_503(
    api: Call, seeded: Seeded, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = app.storage.blobs
    original = blobs.put

    def half_then_fail(key: str, data: Any, **kwargs: Any) -> str:
        data.read(100)  # the upload had begun
        raise UnavailableError("files: disk full")

    monkeypatch.setattr(blobs, "put", half_then_fail)
    reply = api("POST", "/api/memory/resources/alice/export")
    assert reply.status == 503 and reply.body == {"error": "storage is unavailable, retry later"}
    assert _exports(app.storage) == []
    monkeypatch.setattr(blobs, "put", original)
    assert api("POST", "/api/memory/resources/alice/export").status == 200  # a retry works


def test_a_failing_read_midway_leaves_no_archive(
    api: Call, seeded: Seeded, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise UnavailableError("storage went away")

    monkeypatch.setattr(app.storage.memory, "list_messages", broken)
    reply = api("POST", "/api/memory/resources/alice/export")
    assert reply.status == 503
    assert _exports(app.storage) == []


@pytest.mark.parametrize("blobs", ["memory", "none"])
def test_without_a_blob_store_that_links_the_answer_is_501_json(
    api: Call, app: App, blobs: str
) -> None:
    # The in-memory blob store's URLs are data: URLs: the archive itself in the answer
    base = storage.open("memory://")
    app.storage = base if blobs == "memory" else storage.CompositeStore(
        memory=base.memory)
    seed(app.storage, resource="alice")
    reply = api("POST", "/api/memory/resources/alice/export")
    assert reply.status == 501
    assert "not supported" in reply.body["error"] and "blob store" in reply.body["error"]


@pytest.fixture
def s3_app(aws_store: Any) -> Iterator[App]:
    from handlers import _wiring
    from tests.handlers.conftest import make_app

    served = make_app(aws_store)
    _wiring.use_app(served)
    yield served


def test_on_s3_the_link_is_a_presigned_get_of_the_exports_prefix(
    s3_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    import requests

    from handlers import _wiring
    from tests.handlers.conftest import call_api

    monkeypatch.setenv("STOWAGE_URL_TTL", "120")
    _wiring.settings.cache_clear()
    seed(s3_app.storage, resource="alice")
    reply = call_api("POST", "/api/memory/resources/alice/export")
    assert reply.status == 200, reply.body
    url = urlsplit(reply.body["url"])
    query = parse_qs(url.query)
    assert url.scheme == "https" and query["X-Amz-Expires"] == ["120"]
    assert url.path.startswith("/blobs/exports/alice/")  # under the store's prefix
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(
        Bucket="stowage-test", Prefix="blobs/exports/")
    assert [o["Key"] for o in listed["Contents"]] == [url.path.lstrip("/")]
    head = boto3.client("s3", region_name="us-east-1").head_object(
        Bucket="stowage-test", Key=url.path.lstrip("/"))
    assert head["ServerSideEncryption"] == "AES256" and head["ContentType"] == "application/zip"
    download = requests.get(reply.body["url"], timeout=30)  # moto answers it
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == reply.body["manifest"]["sha256"]
    _imports_equal(download.content, s3_app.storage, "alice")


def test_the_readme_http_snippet_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import re
    import subprocess
    import sys

    from handlers import _wiring
    from storage.urls import project_root
    from tests.handlers.servers import free_port, serve

    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Moving a resource between stores\n", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```bash\n(.*?)```", section.split("**Over HTTP**", 1)[1], re.S)
    port = free_port()
    monkeypatch.setenv("STOWAGE_STORAGE_URL", f"sqlite:///{tmp_path}/stowage.db")
    monkeypatch.setenv("STOWAGE_BLOBS_URL", f"file:///{tmp_path}/blobs")
    monkeypatch.setenv("STOWAGE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    _wiring.reset()
    work = tmp_path / "shell"
    work.mkdir()
    with serve(local_app, port) as base:
        _wiring.get_app().storage.memory.update_resource("user-1", working_memory="# Alice")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STOWAGE_"))}
        env.update(API=f"{base}/api", PYTHONPATH=str(project_root()),
                   TARGET=f"sqlite:///{work / 'moved.db'}",
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", snippet], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "user-1.zip: OK" in done.stdout
    moved = storage.open(f"sqlite:///{work / 'moved.db'}")
    moved.setup()
    resource = moved.memory.get_resource("user-1")
    assert resource is not None and resource.working_memory == "# Alice"


def test_erasing_the_resource_deletes_its_exports(
    jwt_api: Call, seeded: Seeded, app: App  # noqa: F811
) -> None:
    # An archive is the resource's personal data: erase takes it with the rest, and only hers
    alice, bob = as_user(jwt_api, "alice"), as_user(jwt_api, seeded.other)
    assert alice("POST", "/api/memory/resources/alice/export").status == 200
    assert bob("POST", f"/api/memory/resources/{seeded.other}/export").status == 200
    receipt = alice("DELETE", "/api/memory/resources/alice")
    assert receipt.status == 200, receipt.body
    assert receipt.body["counts"]["blobs"] >= 2  # the attachment and the archive
    (left,) = _exports(app.storage)
    assert left.startswith(resource_export_prefix(seeded.other))
