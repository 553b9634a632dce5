"""The Lambda assets: what pip put in them, for which CPU, and what it left out."""

from __future__ import annotations

import os
import subprocess
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
    assert {"pynamodb", "pydantic", "uvicorn", "starlette"} <= names
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

        assert shared_objects, handler
        assert machines == {EM_AARCH64}, (handler, machines)
        core = list((folder / "pydantic_core").glob("_pydantic_core.*.so"))
        assert len(core) == 1 and "cpython-313-aarch64-linux-gnu" in core[0].name
        assert (folder / "pynamodb").is_dir() and (folder / "uvicorn").is_dir()


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
