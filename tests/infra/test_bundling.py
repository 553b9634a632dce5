"""The Lambda assets: what pip put in them, for which CPU, and what it left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import bundling
from infra.app import ROOT
from infra.constants import API_HANDLER, STREAM_HANDLER, WORKER_HANDLER

from .conftest import Synth

EM_AARCH64 = 183
EM_X86_64 = 62


def _elf_machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little")


def _function_assets(synth: Synth) -> dict[str, tuple[str, Path]]:
    """Handler -> (handler, asset folder in the cloud assembly) for our three functions."""
    assets = {}
    for props in (r["Properties"] for r in synth.resources("AWS::Lambda::Function").values()):
        if props["Handler"] in (API_HANDLER, STREAM_HANDLER, WORKER_HANDLER):
            asset_hash = props["Code"]["S3Key"].removesuffix(".zip")
            assets[props["Handler"]] = (props["Handler"], synth.outdir / f"asset.{asset_hash}")
    return assets


def test_requirements_leave_out_what_lambda_provides() -> None:
    requirements = bundling.function_requirements(ROOT)
    names = {bundling._requirement_name(r) for r in requirements}

    assert "boto3" not in names
    assert "aws-lambda-powertools" not in names
    assert "pydantic" not in names  # the Powertools layer has it
    assert {"pynamodb", "uvicorn", "starlette", "pyjwt"} <= names
    assert not any(n.startswith("psycopg") for n in names)
    with_postgres = bundling.function_requirements(ROOT, extras=("postgres",))
    assert any(r.startswith("psycopg") for r in with_postgres)


def test_unknown_extra_is_an_error() -> None:
    with pytest.raises(bundling.BundlingError, match="no optional group"):
        bundling.function_requirements(ROOT, extras=("nope",))


def test_every_function_gets_an_asset_with_its_handler(synth: Synth) -> None:
    assets = _function_assets(synth)

    assert set(assets) == {API_HANDLER, STREAM_HANDLER, WORKER_HANDLER}
    for handler, folder in assets.values():
        assert folder.is_dir(), handler
        # Every module of our packages ships. Only .py files that existed before the synth
        # started count: the tree is shared with people editing it meanwhile.
        for package in ("storage", "agents", "handlers"):
            expected = {
                p.relative_to(ROOT)
                for p in bundling._source_files(ROOT, [package])
                if p.suffix == ".py" and p.stat().st_mtime < synth.started
            }
            shipped = {
                p.relative_to(folder) for p in (folder / package).rglob("*.py") if p.is_file()
            }
            assert expected <= shipped, (handler, package, expected - shipped)
        if handler == STREAM_HANDLER:
            run_sh = folder / "run.sh"
            assert os.access(run_sh, os.X_OK)
            assert "uvicorn" in run_sh.read_text() and "handlers.stream:app" in run_sh.read_text()
        else:
            module = Path(*handler.split(".")[:-1]).with_suffix(".py")
            # The handler modules are another part's work; when they exist they ship.
            source = ROOT / module
            if source.is_file() and source.stat().st_mtime < synth.started:
                assert (folder / module).is_file(), handler


def test_dependencies_are_aarch64_cpython313_builds(synth: Synth) -> None:
    for handler, folder in _function_assets(synth).values():
        shared_objects = list(folder.rglob("*.so")) + list(folder.rglob("*.so.*"))
        machines = {_elf_machine(p) for p in shared_objects}

        # Whatever compiled code remains (the layer brings pydantic_core, cryptography)
        # is built for Lambda's CPU.
        assert machines <= {EM_AARCH64}, (handler, machines)
        assert (folder / "pynamodb").is_dir() and (folder / "uvicorn").is_dir()
        assert (folder / "jwt").is_dir()  # pyjwt: not in the layer, shipped once here


def test_what_the_powertools_layer_brings_ships_once(synth: Synth) -> None:
    # pydantic and cryptography come with the pinned layer (aws-lambda-powertools[all]).
    for handler, folder in _function_assets(synth).values():
        top_level = {p.name.lower() for p in folder.iterdir()}
        for provided in ("pydantic", "pydantic_core", "cryptography", "cffi", "typing_extensions"):
            assert provided not in top_level, (handler, provided)
            assert not any(n.startswith(f"{provided}-") for n in top_level), (handler, provided)


def test_the_layer_list_matches_what_powertools_all_installs(tmp_path: Path) -> None:
    # pip resolves aws-lambda-powertools[all] at the pinned version for Lambda's platform:
    # every distribution it brings (less what the runtime has) is in LAYER_PROVIDED.
    from infra.constants import POWERTOOLS_VERSION

    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--dry-run", "--ignore-installed", "--report", str(report), "--only-binary=:all:",
         "--implementation", "cp", "--python-version", bundling.PYTHON_VERSION,
         *(a for p in bundling.PLATFORMS for a in ("--platform", p)),
         "--target", str(tmp_path / "t"), f"aws-lambda-powertools[all]=={POWERTOOLS_VERSION}"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    if done.returncode != 0:
        from tests.conftest import skip_or_fail

        skip_or_fail(f"pip could not resolve the Powertools layer: {done.stderr[-500:]}")
    resolved = {
        bundling._normalize(i["metadata"]["name"])
        for i in json.loads(report.read_text())["install"]
    }
    assert resolved - bundling.RUNTIME_PROVIDED == bundling.LAYER_PROVIDED


def test_assets_hold_no_runtime_provided_packages(synth: Synth) -> None:
    for handler, folder in _function_assets(synth).values():
        top_level = {p.name.lower() for p in folder.iterdir()}

        for provided in ("boto3", "botocore", "s3transfer", "aws_lambda_powertools"):
            assert provided not in top_level, (handler, provided)
            assert not any(n.startswith(f"{provided}-") for n in top_level), (handler, provided)
        assert not list(folder.rglob("__pycache__")), handler


def test_postgres_deployments_need_no_driver_in_the_asset(dev: Synth, full: Synth) -> None:
    # The functions reach Aurora through the Data API (boto3): no psycopg, same asset.
    (_, dev_folder), *_ = _function_assets(dev).values()
    (_, full_folder), *_ = _function_assets(full).values()

    for folder in (dev_folder, full_folder):
        assert not (folder / "psycopg").exists()
        assert not (folder / "psycopg_binary").exists()
        assert (folder / "storage" / "postgres" / "data_api.py").is_file()


def test_a_cached_build_does_not_run_pip_again(monkeypatch: pytest.MonkeyPatch, dev: Synth) -> None:
    # Given the dev synth already built this asset
    requirements = bundling.function_requirements(ROOT)
    first = bundling.build_asset(ROOT, requirements)

    # When pip would fail if it ran
    def _no_pip(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise AssertionError("pip ran although the requirements are cached")

    monkeypatch.setattr(bundling.subprocess, "run", _no_pip)
    second = bundling.build_asset(ROOT, requirements)

    # Then the same folder and hash come back
    assert second == first


def test_a_source_change_gives_a_new_asset_hash(tmp_path: Path) -> None:
    # Given a project with one package and no dependencies
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = []\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("A = 1\n")
    cache = tmp_path / "cache"

    first = bundling.build_asset(tmp_path, [], packages=("pkg",), cache=cache)
    (tmp_path / "pkg" / "mod.py").write_text("A = 2\n")
    second = bundling.build_asset(tmp_path, [], packages=("pkg",), cache=cache)

    assert first.asset_hash != second.asset_hash
    assert (second.path / "pkg" / "mod.py").read_text() == "A = 2\n"
    assert (first.path / "pkg" / "mod.py").read_text() == "A = 1\n"


def test_missing_source_package_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(bundling.BundlingError, match="not found"):
        bundling.build_asset(tmp_path, [], packages=("absent",), cache=tmp_path / "c")


def test_asset_fits_lambdas_unzipped_limit_with_room_for_layers(dev: Synth) -> None:
    asset = bundling.build_asset(ROOT, bundling.function_requirements(ROOT))

    unzipped, zipped = bundling.asset_sizes(asset)

    # Lambda allows 250 MB unzipped for code plus layers (Powertools, the web adapter).
    assert 0 < zipped < unzipped < 100 * 1024 * 1024
