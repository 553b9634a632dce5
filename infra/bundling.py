"""No-Docker bundling: one Lambda asset folder built with pip, cached by content hash.

The functions run on Lambda's Python 3.13 runtime on arm64 (Graviton), so the
dependencies are installed as aarch64/CPython 3.13 wheels whatever the machine that
synthesizes (``--only-binary=:all:`` makes pip refuse anything it would have to
compile for the wrong CPU). boto3/botocore and their companions ship with the runtime
and Powertools (with pydantic and cryptography) comes from its public layer, so none
of them goes into the asset.

Two caches under ``build/lambda/`` (git-ignored) keep repeated synths fast:
``deps-<hash>`` (the pip step, keyed by the requirements and the target platform) and
``asset-<hash>`` (deps + our packages' source + ``run.sh``, keyed by both). Each is
built in a temporary folder and renamed into place, so concurrent synths never see a
half-built folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# Provided by the Lambda Python runtime (boto3 and its dependency closure).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)
# Provided by the Powertools public layer (infra.constants.POWERTOOLS_VERSION): it is
# ``aws-lambda-powertools[all]``, so pydantic and cryptography (JWT verification) come
# with it. Shipping them in the asset too would double ~20 MB and leave two versions
# side by side (the asset's would win). tests/infra/test_bundling.py checks this list
# against what pip resolves for that extra.
LAYER_PROVIDED = frozenset(
    {
        "aws-lambda-powertools",
        "annotated-types",
        "attrs",
        "aws-encryption-sdk",
        "aws-xray-sdk",
        "cffi",
        "cryptography",
        "fastjsonschema",
        "jsonpath-ng",
        "pycparser",
        "pydantic",
        "pydantic-core",
        "pydantic-settings",
        "python-dotenv",
        "typing-extensions",
        "typing-inspection",
        "wrapt",
    }
)
SOURCE_PACKAGES = ("storage", "agents", "handlers")
STREAM_HANDLER = "run.sh"
# The Lambda Web Adapter runs this as the function's "handler": it starts the ASGI app
# on $PORT and proxies each invocation to it. -m keeps /var/task (the cwd) on sys.path.
RUN_SH = """#!/bin/bash
# Started by the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap).
PATH=$PATH:$LAMBDA_TASK_ROOT/bin \\
    PYTHONPATH=$PYTHONPATH:/opt/python:$LAMBDA_RUNTIME_DIR \\
    exec python -m uvicorn --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log \\
    handlers.stream:app
"""
_IGNORED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")
_STALE_AFTER_S = 3600.0


class BundlingError(RuntimeError):
    """pip could not build the asset (no aarch64 wheel, registry unreachable, ...)."""


@dataclass(frozen=True)
class LambdaAsset:
    """A built asset folder and the hash CDK should use for it."""

    path: Path
    asset_hash: str


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise BundlingError(f"cannot parse requirement {requirement!r}")
    return _normalize(match.group(1))


def function_requirements(root: Path, *, extras: Sequence[str] = ()) -> list[str]:
    """The runtime requirements of ``pyproject.toml`` (plus ``extras``) minus what Lambda provides.

    Args:
        root: the project root (the folder holding ``pyproject.toml``).
        extras: optional-dependency groups to add, e.g. ``("postgres",)``.
    """
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements: list[str] = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise BundlingError(f"pyproject.toml has no optional group {extra!r}")
        requirements.extend(optional[extra])
    skipped = RUNTIME_PROVIDED | LAYER_PROVIDED
    return sorted({r for r in requirements if _requirement_name(r) not in skipped})


def _digest(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()


def _source_files(root: Path, packages: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for package in packages:
        base = root / package
        if not base.is_dir():
            raise BundlingError(f"source package {package!r} not found under {root}")
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS)
            files.extend(
                Path(dirpath) / f for f in sorted(filenames) if not f.endswith(_IGNORED_SUFFIXES)
            )
    return files


def _publish(tmp: Path, final: Path) -> None:
    """Move a fully built folder into place; another process may have won the race."""
    try:
        tmp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _strip_provided(target: Path) -> None:
    """Delete every distribution Lambda already provides, file by file from its RECORD."""
    provided = RUNTIME_PROVIDED | LAYER_PROVIDED
    for dist in metadata.distributions(path=[str(target)]):
        if _normalize(dist.metadata["Name"]) not in provided:
            continue
        for file in dist.files or ():
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                path.unlink()
    # Remove the folders those deletions emptied (deepest first).
    for dirpath, _dirnames, _filenames in sorted(os.walk(target), reverse=True):
        folder = Path(dirpath)
        if folder != target and not any(folder.iterdir()):
            folder.rmdir()


def install_dependencies(requirements: Sequence[str], cache: Path) -> Path:
    """pip-install ``requirements`` for aarch64/CPython 3.13 into a cached folder.

    Raises:
        BundlingError: pip failed (its output is in the message).
    """
    key = _digest(
        [PYTHON_VERSION.encode(), *(p.encode() for p in PLATFORMS)]
        + [r.encode() for r in requirements]
    )[:16]
    final = cache / f"deps-{key}"
    if final.is_dir():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".deps-", dir=cache))
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--target",
        str(tmp),
        *requirements,
    ]
    started = time.monotonic()
    done = (
        subprocess.run(command, capture_output=True, text=True, check=False)
        if requirements
        else subprocess.CompletedProcess(command, 0)  # nothing to install: an empty folder
    )
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundlingError(f"pip failed ({done.returncode}):\n{done.stderr or done.stdout}")
    _strip_provided(tmp)
    shutil.rmtree(tmp / "bin", ignore_errors=True)  # console scripts with a host shebang
    log.info(
        "bundling: installed %d requirements in %.1fs",
        len(requirements),
        time.monotonic() - started,
    )
    _publish(tmp, final)
    return final


def _link_tree(source: Path, destination: Path) -> None:
    # Hard links: the asset shares the cached wheels' bytes instead of copying ~40 MB.
    def _link(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, destination, copy_function=_link, dirs_exist_ok=True)


def _prune(cache: Path, keep: Path) -> None:
    cutoff = time.time() - _STALE_AFTER_S
    for old in cache.glob("asset-*"):
        if old != keep and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


def build_asset(
    root: Path,
    requirements: Sequence[str],
    *,
    packages: Sequence[str] = SOURCE_PACKAGES,
    cache: Path | None = None,
) -> LambdaAsset:
    """Build (or reuse) the asset folder every function deploys: deps, our packages, run.sh.

    Args:
        root: the project root; ``packages`` are folders under it.
        requirements: pip requirement strings (see ``function_requirements``).
        packages: source packages copied into the asset.
        cache: where the cached folders live; ``<root>/build/lambda`` by default.

    Returns:
        The folder and a content hash (deps key + every source file), stable across runs.
    """
    cache = cache or root / "build" / "lambda"
    deps = install_dependencies(requirements, cache)
    sources = _source_files(root, packages)
    asset_hash = _digest(
        [deps.name.encode(), RUN_SH.encode()]
        + [p for f in sources for p in (str(f.relative_to(root)).encode(), f.read_bytes())]
    )
    final = cache / f"asset-{asset_hash[:16]}"
    if not final.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix=".asset-", dir=cache))
        _link_tree(deps, tmp)
        for file in sources:
            target = tmp / file.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
        run_sh = tmp / STREAM_HANDLER
        run_sh.write_text(RUN_SH, encoding="utf-8")
        run_sh.chmod(0o755)
        _publish(tmp, final)
    os.utime(final)
    _prune(cache, final)
    return LambdaAsset(path=final, asset_hash=asset_hash)


def asset_sizes(asset: LambdaAsset) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes) of an asset, the zip built as CDK uploads it."""
    unzipped = 0
    with tempfile.TemporaryFile() as buffer:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(asset.path.rglob("*")):
                if path.is_file():
                    unzipped += path.stat().st_size
                    archive.write(path, path.relative_to(asset.path))
        return unzipped, buffer.tell()


def main() -> None:
    """``python -m infra.bundling``: build the asset and print its sizes (README figures)."""
    root = Path(__file__).resolve().parent.parent
    asset = build_asset(root, function_requirements(root))
    unzipped, zipped = asset_sizes(asset)
    print(f"{asset.path}\n  unzipped {unzipped / 1e6:.1f} MB, zipped {zipped / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
