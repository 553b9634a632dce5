"""Export from one backend, import into another: every ordered pair among memory, the
embedded default (SQLite + files), DynamoDB + S3 and PostgreSQL + files (issue 16).

Records must come back equal field by field, attachments byte by byte (their URIs
are the target's), and exporting the imported resource again must give the same
record and blob members, byte for byte.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.keys import resource_attachment_prefix
from storage.lifecycle import export_resource, import_archive
from tests.storage.conformance import raw
from tests.storage.conformance.archive_data import (
    attachment_uris,
    members,
    seed,
    snapshot,
)
from tests.storage.conformance.backends import BACKENDS, Backend
from tests.storage.fakes.pg import postgres_store


@contextmanager
def _postgres_files(tmp: Path) -> Iterator[Any]:
    # PostgreSQL for the records, a folder for the blobs (a deployment pairs it with S3).
    with postgres_store(tmp) as records:
        store = storage.CompositeStore(records, blobs=storage.open(f"file:///{tmp / 'blobs'}"))
        store.setup()
        yield store


_NAMES = ("memory", "sqlite+files", "dynamodb+s3", "postgres+files")
_BY_NAME = {b.name: b for b in BACKENDS}
_BY_NAME["postgres+files"] = Backend("postgres+files", _postgres_files,
                                     marks=(pytest.mark.postgres,))
PAIRS = [
    pytest.param(_BY_NAME[a], _BY_NAME[b], id=f"{a}->{b}",
                 marks=[*_BY_NAME[a].marks, *_BY_NAME[b].marks])
    for a, b in itertools.permutations(_NAMES, 2)
]


@pytest.mark.parametrize(("source_backend", "target_backend"), PAIRS)
def test_a_resource_moves_between_backends_without_loss(
    source_backend: Backend, target_backend: Backend, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        source = stack.enter_context(source_backend.factory(tmp_path / "a"))
        target = stack.enter_context(target_backend.factory(tmp_path / "b"))
        # Given the dataset in the source, and another resource already in the target
        seeded = seed(source)
        bystander = seed(target)
        before_other = raw.mentioning(target, bystander.resource, bystander.other)
        expected = snapshot(source, seeded.resource)

        # When it is exported and imported
        archive = io.BytesIO()
        manifest = export_resource(source, seeded.resource, archive)
        receipt = import_archive(target, io.BytesIO(archive.getvalue()))

        # Then every record is equal, every attachment too (by its bytes)
        assert snapshot(target, seeded.resource) == expected
        assert manifest.counts == {
            "resources": 1, "threads": 2, "messages": 4, "runs": 1, "spans": 2, "scores": 1,
            "blobs": 1,
        }
        assert receipt.counts == manifest.counts
        # the attachment lives in the target's blob store, under the resource's prefix
        for uri in attachment_uris(target, seeded.resource):
            assert target.blobs.key_of(uri).startswith(
                resource_attachment_prefix(seeded.resource))
        # the other resource's records in the target are as they were
        assert raw.mentioning(target, bystander.resource, bystander.other) == before_other

        # And a re-export gives the same records and blobs, byte for byte
        again = io.BytesIO()
        export_resource(target, seeded.resource, again)
        first, second = members(archive.getvalue()), members(again.getvalue())
        first.pop("manifest.json")
        second.pop("manifest.json")
        assert second == first
