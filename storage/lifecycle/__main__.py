"""``python -m storage.lifecycle``: move one resource between stores from a shell.

    python -m storage.lifecycle export --store sqlite:///.stowage/stowage.db \\
        --blobs file:///.stowage/blobs --resource user-1 --out user-1.zip
    python -m storage.lifecycle import --store dynamodb://app --blobs s3://bucket/app \\
        --archive user-1.zip

``--store`` is any ``storage.open`` URL (``--blobs`` adds a blob store to it, as
``STOWAGE_BLOBS_URL`` does); without ``--store`` the store is ``storage.from_env()``.
``--out``/``--archive`` is a path or ``s3://bucket/key``. Prints the manifest's counts
or the import's receipt as JSON (no content). Exit status 2 for a refused archive or
bad arguments, 1 for any other storage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import storage
from storage.errors import StorageError, ValidationError
from storage.lifecycle.archive import export_resource, import_archive


def _store(args: argparse.Namespace) -> Any:
    if args.store is None:
        return storage.from_env()
    opened = storage.open(args.store)
    if args.blobs:
        return storage.CompositeStore(opened, blobs=storage.open(args.blobs))
    return opened


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m storage.lifecycle",
                                     description="Export or import one resource.")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write one resource to an archive")
    imp = commands.add_parser("import", help="recreate an archive's resource in a store")
    for sub in (export, imp):
        sub.add_argument("--store", help="storage URL (default: storage.from_env())")
        sub.add_argument("--blobs", help="blob store URL added to --store")
    export.add_argument("--resource", required=True, help="the resource id")
    export.add_argument("--out", required=True, help="a path or s3://bucket/key")
    imp.add_argument("--archive", required=True, help="a path or s3://bucket/key")
    args = parser.parse_args(argv)
    try:
        store = _store(args)
        try:
            store.setup()
            if args.command == "export":
                manifest = export_resource(store, args.resource, args.out)
                print(json.dumps({"resource": manifest.resource_id, "counts": manifest.counts,
                                  "out": args.out}))
            else:
                receipt = import_archive(store, args.archive)
                print(json.dumps({"resource": receipt.resource_id, "counts": receipt.counts,
                                  "seconds": round(receipt.seconds, 3)}))
        finally:
            store.close()
    except ValidationError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
